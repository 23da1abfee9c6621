"""wlc: weighted least connection, ipvsadm's default (net/netfilter/ipvs/ip_vs_wlc.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView, overhead

__all__ = ["WLCScheduler", "weighted_least"]


def weighted_least(dests: list[Dest]) -> Dest | None:
    """Least overhead/weight, compared as loh * w_d > doh * w_least; ties keep the earlier server.

    Shared with lblc/lblcr, whose fallback (__ip_vs_lblc_schedule) is this loop.
    Only the first candidate must have weight > 0: a later weight-0 server can
    never satisfy ``loh * 0 > doh * w``.
    """
    it = iter(dests)
    for d in it:
        if not d.overloaded and d.weight > 0:
            least, loh = d, overhead(d)
            break
    else:
        return None
    for d in it:
        if d.overloaded:
            continue
        doh = overhead(d)
        if loh * d.weight > doh * least.weight:
            least, loh = d, doh
    return least


class WLCScheduler(Scheduler):
    """Least (active * 256 + inactive) / weight."""
    name = "wlc"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        return weighted_least(service.dests)
