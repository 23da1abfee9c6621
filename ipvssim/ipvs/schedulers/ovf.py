"""ovf: overflow connection (net/netfilter/ipvs/ip_vs_ovf.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView

__all__ = ["OVFScheduler"]


class OVFScheduler(Scheduler):
    """The highest weight among servers whose active count does not exceed their weight.

    Only active connections count, so UDP (never active) always stays on the
    top server until it is overloaded by thresholds.
    """
    name = "ovf"

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        best = None
        hw = 0
        for d in service.dests:
            w = d.weight
            if d.overloaded or d.activeconns > w or w == 0:
                continue
            if best is None or w > hw:
                best, hw = d, w
        return best
