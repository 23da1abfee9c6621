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
        it = iter(service.dests)
        for d in it:
            if not d.overloaded and d.weight > 0:
                least, loh = d, d.activeconns + 1
                break
        else:
            return None
        for d in it:
            if d.overloaded:
                continue
            doh = d.activeconns + 1
            if loh * d.weight > doh * least.weight:
                least, loh = d, doh
        return least
