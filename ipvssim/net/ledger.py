"""Conservation of packets: every packet is delivered, dropped with a reason, or in flight."""
from __future__ import annotations

from collections import Counter

from ipvssim.net.packet import Packet

__all__ = ["Ledger", "ConservationError"]

_make_packet = object.__new__


class ConservationError(AssertionError):
    """A packet was ended twice, or the books do not balance."""


class Ledger:
    """Creates packets and records how each one ends.

    Every `Packet` must be made by `new` (or `copy`), and must end exactly once via
    `delivered` (consumed by a host's stack: a socket, ICMP, ARP, the IPVS hook's
    own answer) or `dropped` (with a reason string and the host where it happened).
    """

    def __init__(self, env):
        self.env = env
        self.next_pid = 0
        self.sent = 0
        self.delivered_count = 0
        self.dropped_count = 0
        self.drops: Counter[tuple[str, str]] = Counter()   # (host, reason) -> count
        self.live: dict[int, Packet] = {}                 # pid -> packet in flight
        self.on_end = []                                  # callbacks(pkt, host, reason|None)
        self.on_empty = None            # callable(): the last packet in flight just ended

    def new(self, data: bytearray, origin: str, flow=None, parent: int | None = None) -> Packet:
        pid = self.next_pid
        self.next_pid = pid + 1
        # Packet(data, pid, origin, now, flow, parent) without the __init__ call (one per packet).
        pkt = _make_packet(Packet)
        pkt.data = data
        pkt.pid = pid
        pkt.flow = flow
        pkt.path = [origin]
        pkt.origin = origin
        pkt.fate = None
        pkt.born = self.env._now
        pkt.parent = parent
        self.sent += 1
        self.live[pid] = pkt
        return pkt

    def copy(self, pkt: Packet) -> Packet:
        """A second packet with the same bytes and history (a switch flooding a frame)."""
        c = self.new(bytearray(pkt.data), pkt.origin, pkt.flow, pkt.pid)
        c.path = list(pkt.path)
        c.born = pkt.born
        return c

    def delivered(self, pkt: Packet, host: str) -> None:
        if pkt.fate is not None:
            raise ConservationError(f"{pkt!r} delivered at {host} after being {pkt.fate}")
        pkt.fate = "delivered"
        del self.live[pkt.pid]
        self.delivered_count += 1
        for cb in self.on_end:
            cb(pkt, host, None)
        if not self.live and self.on_empty is not None:
            self.on_empty()

    def dropped(self, pkt: Packet, host: str, reason: str) -> None:
        if pkt.fate is not None:
            raise ConservationError(f"{pkt!r} dropped at {host} ({reason}) after being {pkt.fate}")
        pkt.fate = "dropped"
        del self.live[pkt.pid]
        self.dropped_count += 1
        self.drops[(host, reason)] += 1
        for cb in self.on_end:
            cb(pkt, host, reason)
        if not self.live and self.on_empty is not None:
            self.on_empty()

    @property
    def in_flight(self) -> int:
        return len(self.live)

    def check(self) -> None:
        """Raise ConservationError unless sent == delivered + dropped + in flight."""
        if self.sent != self.delivered_count + self.dropped_count + self.in_flight:
            raise ConservationError(
                f"sent {self.sent} != delivered {self.delivered_count} + dropped "
                f"{self.dropped_count} + in flight {self.in_flight}")
