"""wrr: weighted round robin (net/netfilter/ipvs/ip_vs_wrr.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView, gcd

__all__ = ["WRRScheduler"]


class WRRScheduler(Scheduler):
    """Passes over the list with a falling weight bar ``cw``.

    di = gcd of the positive weights, mw = max weight - (di - 1); each pass
    picks servers with weight >= cw, then cw -= di, wrapping to mw when it
    reaches 0 (kernel comment in ip_vs_wrr.c explains the di - 1).
    """
    name = "wrr"

    def __init__(self, service: ServiceView, rng=None):
        super().__init__(service, rng)
        self._cl: Dest | None = None         # current server, None = list head
        self.di = gcd(d.weight for d in service.dests) or 1
        self.mw = max((d.weight for d in service.dests), default=0) - (self.di - 1)
        self.cw = self.mw

    def _dest_changed(self, service: ServiceView, dest: Dest) -> None:
        # ip_vs_wrr_dest_changed(): restart at the head; keep cw when still valid,
        # aligned to the new step.
        self._cl = None
        self.di = gcd(d.weight for d in service.dests) or 1
        self.mw = max((d.weight for d in service.dests), default=0) - (self.di - 1)
        if self.cw > self.mw or not self.cw:
            self.cw = self.mw
        elif self.di > 1:
            self.cw = (self.cw // self.di) * self.di + 1

    add_dest = del_dest = upd_dest = _dest_changed

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        dests = service.dests
        n = len(dests)
        pos = -1 if self._cl is None else dests.index(self._cl)
        if self.mw == 0:
            return None
        last = pos
        stop = None                       # index that ends the final partial pass
        last_pass = restarted = False
        while True:
            for j in range(pos + 1, n):
                d = dests[j]
                if not d.overloaded and d.weight >= self.cw:
                    self._cl = d
                    return d
                if j == stop:
                    self._cl = d
                    return None           # all overloaded
            pos = -1
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                # Every server was already checked against weight >= 1.
                if last_pass or last == -1:
                    self._cl = None
                    return None
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last != -1:
                # The first weight >= 1 pass only covered servers after 'last'.
                stop = last
