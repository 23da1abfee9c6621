"""Everything one simulation run shares: clock, seeded randomness, packet books, observer."""
from __future__ import annotations

import random
from os import PathLike

import simpy

from ipvssim.net.events import FarEvents
from ipvssim.net.ledger import Ledger
from ipvssim.net.observe import Observer

__all__ = ["SimContext"]


class SimContext:
    """One per run; passed explicitly to every element (no global state).

    `rng` is the run's only source of randomness (seeded), so the same seed gives
    the same run.  `hops` counts frames carried from one host to the next.  `far`
    holds the timers scheduled far ahead (see `ipvssim.net.events.FarEvents`).
    """

    def __init__(self, seed: int = 1, pcap: bool | str | PathLike = False, trace: bool = False,
                 trace_flows: set[int] | None = None):
        self.env = simpy.Environment()
        self.far = FarEvents(self.env)      # timers far ahead, off the main event heap
        self.rng = random.Random(seed)
        self.ledger = Ledger(self.env)
        self.observer = Observer(self.env, pcap=pcap, trace=trace, trace_flows=trace_flows)
        self.hops = 0
        self.mac_counter = 0

    def next_mac(self) -> bytes:
        """Deterministic locally administered MACs: 02:00:00:00:00:01, :02, ... in build order."""
        self.mac_counter += 1
        return bytes((0x02, 0, 0, (self.mac_counter >> 16) & 0xFF, (self.mac_counter >> 8) & 0xFF,
                      self.mac_counter & 0xFF))
