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
from functools import partial
from heapq import heappush

from simpy.events import NORMAL

from ipvssim.net.events import Wake

_MACS = struct.Struct("6s6s").unpack_from     # destination, source: both as bytes in one call

__all__ = ["Segment", "Port", "TxQueue"]


class TxQueue:
    """One direction of a link: a drop-tail transmit queue, serialization and propagation.

    An analytic busy-until time instead of a process: a frame starts at max(now, busy),
    and one event carries it to the far end: `arrive(pkt)`, the packet being the event
    (see `Packet`; a lost frame's event is a `Wake`).  `waiting` holds the start times
    of frames queued but not yet on the wire (all of them are <= `busy`, so an idle
    queue has none that matter).
    The link's parameters are the segment's, copied here: they are fixed for a run.
    """

    __slots__ = ("segment", "busy", "waiting", "arrive", "lost", "drop", "ifname", "limit",
                 "bandwidth", "delay", "loss", "_env", "_heap", "_eid", "_on_arrival", "_on_loss")

    def __init__(self, segment: "Segment", arrive, drop, ifname: str):
        self.segment = segment
        self.busy = 0.0                   # serialization of the last frame queued ends at
        self.waiting: deque[float] = deque()
        self.arrive = arrive              # the far end's callback(pkt)
        self.drop = drop                  # whose books a full queue drops on: (pkt, reason, iface)
        self.ifname = ifname
        self.lost = segment._lost_on_link
        # The callback lists of this queue's events, made once: the event loop (simpy's
        # and Simulation._run) takes an event's list and iterates it without changing
        # it, and nothing else sees these events, so every frame's event can share one.
        self._on_arrival = [arrive]
        self._on_loss = [self.lost]
        self.limit = segment.queue
        self.bandwidth = segment.bandwidth
        self.delay = segment.delay
        self.loss = segment.loss
        env = self._env = segment.env
        self._heap = env._queue           # simpy's event heap and id counter, looked up once
        self._eid = env._eid

    def put(self, pkt) -> None:
        """Queue a frame: it arrives at the far end after its wait, serialization and delay."""
        now = self._env._now
        start = self.busy
        if start > now:
            waiting = self.waiting
            while waiting and waiting[0] <= now:
                waiting.popleft()
            if len(waiting) >= self.limit:
                self.drop(pkt, "queue-full", self.ifname)
                return
            waiting.append(start)
        else:
            start = now                   # idle: every frame that waited is on its way
        self.busy = finish = start + len(pkt.data) * 8 / self.bandwidth
        if self.loss > 0 and self.segment.rng.random() < self.loss:
            ev = Wake()
            ev._value = (self.ifname, pkt)
            ev.callbacks = self._on_loss
        else:
            ev = pkt                      # the frame is its own arrival event (see Packet)
            ev.callbacks = self._on_arrival
        # now + (arrival - now): the time env.timeout(arrival - now) gave (float rounding).
        heappush(self._heap, (now + (finish + self.delay - now), NORMAL, next(self._eid), ev))


class Port:
    """The link between one interface and the switch: a `TxQueue` each way."""

    __slots__ = ("segment", "iface", "up", "down")

    def __init__(self, segment: "Segment", iface):
        self.segment = segment
        self.iface = iface
        # host NIC -> switch (a full NIC queue is the host's drop), switch -> host (the segment's)
        self.up = TxQueue(segment, partial(segment._at_switch, self), iface.host_drop, iface.name)
        self.down = TxQueue(segment, iface.arrived, segment.drop, iface.name)

    def __repr__(self) -> str:
        return f"<Port {self.segment.name}:{self.iface!r}>"


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

    def _at_switch(self, ingress: Port, pkt) -> None:
        """A frame reached the switch from `ingress`: learn its source, forward or flood it."""
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
                egress.down.put(pkt)
            return
        others = [p for p in self.ports if p is not ingress]
        if not others:
            self.drop(pkt, "switch-no-port", ingress.iface.name)
            return
        copy = self.ctx.ledger.copy
        frames = [pkt] + [copy(pkt) for _ in others[1:]]
        for p, f in zip(others, frames):
            p.down.put(f)

    def _lost_on_link(self, ev) -> None:
        ifname, pkt = ev._value
        self.drop(pkt, "link-loss", ifname)
