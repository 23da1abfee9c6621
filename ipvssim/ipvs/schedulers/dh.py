"""dh: destination hashing (net/netfilter/ipvs/ip_vs_dh.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView, hash_32

__all__ = ["DHScheduler", "IP_VS_DH_TAB_BITS", "IP_VS_DH_TAB_SIZE"]

# ip_vs_dh.c, CONFIG_IP_VS_DH_TAB_BITS default
IP_VS_DH_TAB_BITS = 8
IP_VS_DH_TAB_SIZE = 1 << IP_VS_DH_TAB_BITS


class DHScheduler(Scheduler):
    """256 buckets dealt round robin over the list (weights ignored), keyed by destination IP.

    For an ordinary VIP service every packet has the same destination, so one
    server takes everything: dh is meant for cache clusters / fwmark services.
    """
    name = "dh"

    def __init__(self, service: ServiceView, rng=None):
        super().__init__(service, rng)
        self.buckets: list[Dest | None] = []
        self._reassign(service)

    def _reassign(self, service: ServiceView) -> None:
        # ip_vs_dh_reassign()
        dests = service.dests
        n = len(dests)
        self.buckets = [dests[i % n] if n else None for i in range(IP_VS_DH_TAB_SIZE)]

    def add_dest(self, service: ServiceView, dest: Dest) -> None:
        self._reassign(service)

    def del_dest(self, service: ServiceView, dest: Dest) -> None:
        self._reassign(service)

    # ip_vs_dh.c has no upd_dest: the table ignores weights.

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        d = self.buckets[hash_32(daddr, IP_VS_DH_TAB_BITS)]
        if d is None or not d.available or d.weight <= 0 or d.overloaded:
            return None
        return d
