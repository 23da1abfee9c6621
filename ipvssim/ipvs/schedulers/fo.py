"""fo: weighted fail over (net/netfilter/ipvs/ip_vs_fo.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView

__all__ = ["FOScheduler"]


class FOScheduler(Scheduler):
    """The non-overloaded server with the highest weight; ties: first in list order."""
    name = "fo"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        best = None
        hw = 0
        for d in service.dests:
            if not d.overloaded and d.weight > hw:
                best, hw = d, d.weight
        return best
