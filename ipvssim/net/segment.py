"""An Ethernet segment: one learning switch and a full-duplex link per attached interface.

Timing model (exact; the tests assert these times):

* Every attached interface has a `Port`: the cable between the interface and the
  switch, with one transmit queue at each end: the host NIC's egress queue
  (toward the switch) and the switch's egress queue (toward the host).
* A frame entering a queue starts serialization at max(now, the time the
  previous frame on that queue finishes); serialization takes
  ``len(frame) * 8 / bandwidth`` (frame bytes as captured: no preamble, no FCS,
  no minimum-size padding), then the frame propagates for ``delay``.
* At the switch the source MAC is learnt on the ingress port and the destination
  looked up: a known unicast address goes to its port, anything else (unknown,
  broadcast, multicast) is flooded to every other port -- the original frame to
  the first, a `Ledger.copy` to each of the others.  The switch itself adds no
  latency (cut-through of a store-and-forward frame: its time is the second
  serialization).
* So host A -> host B, both queues idle: ``2 * L * 8 / bandwidth + 2 * delay``.
* Drop-tail: a queue holds at most ``queue`` frames *waiting* behind the one being
  serialized; a frame arriving at a full queue is dropped ("queue-full") -- on the
  host's books for the NIC queue, on the segment's for a switch port.
* Loss: each transmission (host->switch and switch->host) loses the frame with
  probability ``loss``, decided by exactly one draw from ``ctx.rng`` when the frame
  is queued, and only when ``loss > 0`` (so lossless runs draw nothing).  A lost
  frame still occupies the link and is dropped ("link-loss", on the segment's
  books) at the time it would have arrived.

Cost: no simpy process per frame.  Each queue keeps an analytic busy-until time;
one timeout event per transmission carries the frame to the far end, so a
host-to-host hop costs two events.

>>> from ipvssim.net.context import SimContext
>>> ctx = SimContext()
>>> seg = Segment(ctx, "lan", bandwidth=1e6, delay=1e-3)
>>> seg.transit_time(100)      # 2 * 800us + 2 * 1ms
0.0036
"""
from __future__ import annotations

from collections import deque

__all__ = ["Segment", "Port"]


class Port:
    """The link between one interface and the switch: two drop-tail queues, one per direction."""

    __slots__ = ("segment", "iface", "_up_busy", "_down_busy", "_up_waiting", "_down_waiting")

    def __init__(self, segment: "Segment", iface):
        self.segment = segment
        self.iface = iface
        self._up_busy = 0.0               # host NIC -> switch: serialization ends at
        self._down_busy = 0.0             # switch -> host
        self._up_waiting: deque[float] = deque()     # start times of frames not yet on the wire
        self._down_waiting: deque[float] = deque()

    def __repr__(self) -> str:
        return f"<Port {self.segment.name}:{self.iface!r}>"

    def send(self, pkt) -> None:
        """The host's NIC queues a frame toward the switch."""
        arrive, lost = self._queue(pkt, up=True)
        if arrive is None:
            self.iface.host.drop(pkt, "queue-full", self.iface.name)
            return
        self.segment._schedule(arrive, pkt, self._lost if lost else self._at_switch)

    def forward(self, pkt) -> None:
        """The switch queues a frame toward this port's interface."""
        arrive, lost = self._queue(pkt, up=False)
        if arrive is None:
            self.segment.drop(pkt, "queue-full", self.iface.name)
            return
        self.segment._schedule(arrive, pkt, self._lost if lost else self._at_iface)

    def _queue(self, pkt, up: bool) -> tuple[float | None, bool]:
        """Place the frame on one direction's queue: (arrival time, lost on the way);
        (None, False) when the queue is full."""
        seg = self.segment
        now = seg.env.now
        waiting = self._up_waiting if up else self._down_waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()
        if len(waiting) >= seg.queue:
            return None, False
        busy = self._up_busy if up else self._down_busy
        if busy > now:
            start = busy
            waiting.append(start)
        else:
            start = now
        finish = start + len(pkt.data) * 8 / seg.bandwidth
        if up:
            self._up_busy = finish
        else:
            self._down_busy = finish
        return finish + seg.delay, seg.loss > 0 and seg.rng.random() < seg.loss

    def _at_switch(self, ev) -> None:
        self.segment._switch(self, ev._value)

    def _at_iface(self, ev) -> None:
        self.iface.receive(ev._value)

    def _lost(self, ev) -> None:
        self.segment.drop(ev._value, "link-loss", self.iface.name)


class Segment:
    """A broadcast domain: a learning switch and one `Port` per attached interface.

    Parameters
    ----------
    ctx : SimContext
    name : str
    bandwidth : float
        bits/s of every link (both directions).
    delay : float
        one-way propagation, interface <-> switch, seconds.
    loss : float
        per-transmission frame loss probability.
    queue : int
        frames that may wait in each transmit queue.
    mtu : int
        default MTU of interfaces attached to it.
    """

    def __init__(self, ctx, name: str, bandwidth: float = 1e9, delay: float = 10e-6,
                 loss: float = 0.0, queue: int = 1000, mtu: int = 1500, subnet=None):
        if bandwidth <= 0:
            raise ValueError(f"segment {name}: bandwidth must be positive")
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"segment {name}: loss must be within [0, 1]")
        self.ctx = ctx
        self.env = ctx.env
        self.rng = ctx.rng
        self.name = name
        self.bandwidth = float(bandwidth)
        self.delay = float(delay)
        self.loss = float(loss)
        self.queue = int(queue)
        self.mtu = int(mtu)
        self.subnet = subnet
        self.ports: list[Port] = []
        self.fdb: dict[bytes, Port] = {}      # learnt MAC -> port (no ageing: runs are short)
        self.frames = 0                       # frames the switch handled

    @classmethod
    def from_spec(cls, ctx, spec) -> "Segment":
        """Build from a `SegmentSpec`."""
        return cls(ctx, spec.name, bandwidth=spec.bandwidth_bps, delay=spec.delay_s,
                   loss=spec.loss, queue=spec.queue, mtu=spec.mtu, subnet=spec.subnet)

    def __repr__(self) -> str:
        return f"<Segment {self.name} {len(self.ports)} ports>"

    def attach(self, iface) -> Port:
        """Plug an interface in: it gets a Port (and the segment's MTU unless it has its own)."""
        if iface.port is not None:
            raise ValueError(f"{iface!r} is already attached")
        port = Port(self, iface)
        self.ports.append(port)
        iface.port = port
        return port

    def transit_time(self, frame_len: int) -> float:
        """Host-to-host time of a frame of frame_len bytes across idle queues."""
        return 2 * (frame_len * 8 / self.bandwidth) + 2 * self.delay

    def drop(self, pkt, reason: str, iface: str | None = None) -> None:
        """A frame ends on the segment (queue overflow at a switch port, loss on a link)."""
        self.ctx.ledger.dropped(pkt, self.name, reason)
        obs = self.ctx.observer
        if obs.tracing:
            obs.step(pkt, self.name, iface, "dropped", reason)

    def _schedule(self, at: float, pkt, callback) -> None:
        ev = self.env.timeout(at - self.env.now, pkt)
        ev.callbacks.append(callback)

    def _switch(self, ingress: Port, pkt) -> None:
        self.frames += 1
        d = pkt.data
        src = bytes(d[6:12])
        if not src[0] & 1:
            self.fdb[src] = ingress
        dst = bytes(d[0:6])
        egress = None if dst[0] & 1 else self.fdb.get(dst)
        if egress is not None:
            if egress is ingress:
                # A bridge never sends a frame back out of the port it came in on.
                self.drop(pkt, "switch-same-port", ingress.iface.name)
            else:
                egress.forward(pkt)
            return
        others = [p for p in self.ports if p is not ingress]
        if not others:
            self.drop(pkt, "switch-no-port", ingress.iface.name)
            return
        copy = self.ctx.ledger.copy
        frames = [pkt] + [copy(pkt) for _ in others[1:]]
        for p, f in zip(others, frames):
            p.forward(f)
