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

    Run for every new connection: the loop reads ``Dest._weight`` (the ``weight``
    property without its call).
    """
    it = iter(dests)
    for d in it:
        if not d.overloaded and d._weight > 0:
            least, loh, lw = d, overhead(d), d._weight
            break
    else:
        return None
    for d in it:
        if d.overloaded:
            continue
        doh = overhead(d)
        w = d._weight
        if loh * w > doh * lw:
            least, loh, lw = d, doh, w
    return least


class WLCScheduler(Scheduler):
    """Least (active * 256 + inactive) / weight."""
    name = "wlc"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        return weighted_least(service.dests)
