"""nq: never queue (net/netfilter/ipvs/ip_vs_nq.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView

__all__ = ["NQScheduler"]


class NQScheduler(Scheduler):
    """The first server (list order) with no active connection, else as sed."""
    name = "nq"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        least = None
        loh = 0
        for d in service.dests:
            if d.overloaded or not d.weight:
                continue
            doh = d.activeconns + 1
            if d.activeconns == 0:
                return d
            if least is None or loh * d.weight > doh * least.weight:
                least, loh = d, doh
        return least
