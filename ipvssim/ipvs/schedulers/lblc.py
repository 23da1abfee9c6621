"""lblc: locality-based least connection (net/netfilter/ipvs/ip_vs_lblc.c)."""
from __future__ import annotations

from typing import Callable

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView
from ipvssim.ipvs.schedulers.wlc import weighted_least

__all__ = ["LBLCScheduler", "LBLC_EXPIRATION", "locality_overloaded"]

# ip_vs_lblc.c DEFAULT_EXPIRATION (sysctl lblc_expiration): 24 h unused -> entry collected.
LBLC_EXPIRATION = 24 * 60 * 60.0


def locality_overloaded(dest: Dest, dests: list[Dest]) -> bool:
    """ip_vs_lblc.c is_overloaded(): busier than its weight while some server is under half of its own."""
    if dest.activeconns > dest.weight:
        for d in dests:
            if d.activeconns * 2 < d.weight:
                return True
    return False


class LBLCScheduler(Scheduler):
    """Per destination IP, keep the last server unless it is gone, quiesced or overloaded; else wlc.

    Simplification: the kernel collects entries with a 60 s timer (unused for
    ``lblc_expiration`` = 24 h, or for 6 min once the table holds more than
    16384 entries).  Here an entry unused for 24 h is dropped when next looked
    up, and the 16384-entry pressure rule is not modelled.  Without a
    ``clock`` entries never expire.
    """
    name = "lblc"

    def __init__(self, service: ServiceView, rng=None, clock: Callable[[], float] | None = None):
        super().__init__(service, rng)
        self.clock = clock
        self.expiration = LBLC_EXPIRATION
        self.table: dict[int, tuple[Dest, float]] = {}    # daddr -> (server, lastuse)

    def _now(self) -> float:
        return self.clock() if self.clock is not None else 0.0

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        now = self._now()
        en = self.table.get(daddr)
        if en is not None:
            dest, lastuse = en
            if now - lastuse >= self.expiration:
                del self.table[daddr]
            else:
                self.table[daddr] = (dest, now)
                if dest.available and dest.weight > 0 and not locality_overloaded(dest, service.dests):
                    return dest
        dest = weighted_least(service.dests)
        if dest is None:
            return None
        # ip_vs_lblc_new(): replace the entry (lastuse = now) unless it already maps here.
        old = self.table.get(daddr)
        if old is None or old[0] is not dest:
            self.table[daddr] = (dest, now)
        return dest
