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
        loh = lw = 0
        for d in service.dests:
            # Per new connection and server: Dest._weight is the weight property without its call.
            w = d._weight
            if d.overloaded or not w:
                continue
            doh = d.activeconns + 1
            if d.activeconns == 0:
                return d
            if least is None or loh * w > doh * lw:
                least, loh, lw = d, doh, w
        return least
