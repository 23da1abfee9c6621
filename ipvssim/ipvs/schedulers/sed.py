"""sed: shortest expected delay (net/netfilter/ipvs/ip_vs_sed.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView

__all__ = ["SEDScheduler"]


class SEDScheduler(Scheduler):
    """Least (active + 1) / weight: the new connection is counted in (inactive ignored)."""
    name = "sed"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        # Per new connection and server: Dest._weight is the weight property without its call.
        it = iter(service.dests)
        for d in it:
            if not d.overloaded and d._weight > 0:
                least, loh, lw = d, d.activeconns + 1, d._weight
                break
        else:
            return None
        for d in it:
            if d.overloaded:
                continue
            doh = d.activeconns + 1
            w = d._weight
            if loh * w > doh * lw:
                least, loh, lw = d, doh, w
        return least
