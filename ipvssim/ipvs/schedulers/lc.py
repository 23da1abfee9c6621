"""lc: least connection (net/netfilter/ipvs/ip_vs_lc.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView, overhead

__all__ = ["LCScheduler"]


class LCScheduler(Scheduler):
    """Least ``active * 256 + inactive``, weights ignored except 0 = quiesced; ties: list order."""
    name = "lc"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        least = None
        loh = 0
        for d in service.dests:
            # Per new connection and server: Dest._weight is the weight property without its call.
            if d.overloaded or d._weight == 0:
                continue
            doh = overhead(d)
            if least is None or doh < loh:
                least, loh = d, doh
        return least
