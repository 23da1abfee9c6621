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

import struct
from collections import deque
from heapq import heappush

from simpy.events import NORMAL

_MACS = struct.Struct("6s6s").unpack_from     # destination, source: both as bytes in one call

__all__ = ["Segment", "Port", "Wake", "call_later"]


class Wake:
    """The cheapest event simpy will step: a value and one callback, already triggered.

    `simpy.Environment.step` needs only ``callbacks``, ``_ok`` and ``_value``; a
    Timeout also runs Event.__init__ and Environment.schedule (about half the cost
    of a hop's event).  Scheduling goes straight onto the environment's heap with
    the same (time, priority, id) key Timeout uses, so the order of events -- and
    so every result -- is the same as with ``env.timeout``.
    """

    __slots__ = ("callbacks", "_value")
    _ok = True

    def __init__(self, value, callback):
        self._value = value
        self.callbacks = [callback]


def call_later(env, delay: float, value, callback) -> Wake:
    """``env.timeout(delay, value).callbacks.append(callback)``, without the Timeout."""
    ev = Wake(value, callback)
    # The time is now + delay exactly as Environment.schedule computes it.
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), ev))
    return ev


class Port:
    """The link between one interface and the switch: two drop-tail queues, one per direction."""

    __slots__ = ("segment", "iface", "_up_busy", "_down_busy", "_up_waiting", "_down_waiting",
                 "_to_switch", "_to_iface", "_lost")

    def __init__(self, segment: "Segment", iface):
        self.segment = segment
        self.iface = iface
        self._up_busy = 0.0               # host NIC -> switch: serialization ends at
        self._down_busy = 0.0             # switch -> host
        self._up_waiting: deque[float] = deque()     # start times of frames not yet on the wire
        self._down_waiting: deque[float] = deque()
        # Bound once: a bound method made per frame would be an allocation per hop.
        self._to_switch = self._at_switch
        self._to_iface = self._at_iface
        self._lost = self._lost_on_link

    def __repr__(self) -> str:
        return f"<Port {self.segment.name}:{self.iface!r}>"

    def send(self, pkt) -> None:
        """The host's NIC queues a frame toward the switch."""
        seg = self.segment
        env = seg.env
        now = env._now
        waiting = self._up_waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()
        if len(waiting) >= seg.queue:
            self.iface.host.drop(pkt, "queue-full", self.iface.name)
            return
        start = self._up_busy
        if start > now:
            waiting.append(start)
        else:
            start = now
        finish = start + len(pkt.data) * 8 / seg.bandwidth
        self._up_busy = finish
        lost = seg.loss > 0 and seg.rng.random() < seg.loss
        ev = Wake(pkt, self._lost if lost else self._to_switch)
        # now + (arrival - now): the time env.timeout(arrival - now) gave (float rounding).
        heappush(env._queue, (now + (finish + seg.delay - now), NORMAL, next(env._eid), ev))

    def forward(self, pkt) -> None:
        """The switch queues a frame toward this port's interface."""
        seg = self.segment
        env = seg.env
        now = env._now
        waiting = self._down_waiting
        while waiting and waiting[0] <= now:
            waiting.popleft()
        if len(waiting) >= seg.queue:
            seg.drop(pkt, "queue-full", self.iface.name)
            return
        start = self._down_busy
        if start > now:
            waiting.append(start)
        else:
            start = now
        finish = start + len(pkt.data) * 8 / seg.bandwidth
        self._down_busy = finish
        lost = seg.loss > 0 and seg.rng.random() < seg.loss
        ev = Wake(pkt, self._lost if lost else self._to_iface)
        heappush(env._queue, (now + (finish + seg.delay - now), NORMAL, next(env._eid), ev))

    def _at_switch(self, ev) -> None:
        self.segment._switch(self, ev._value)

    def _at_iface(self, ev) -> None:
        self.iface.receive(ev._value)

    def _lost_on_link(self, ev) -> None:
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

    def _switch(self, ingress: Port, pkt) -> None:
        self.frames += 1
        dst, src = _MACS(pkt.data)
        if not src[0] & 1:
            self.fdb[src] = ingress
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
