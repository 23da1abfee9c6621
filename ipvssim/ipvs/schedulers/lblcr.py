"""lblcr: locality-based least connection with replication (net/netfilter/ipvs/ip_vs_lblcr.c)."""
from __future__ import annotations

from typing import Callable

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView, overhead
from ipvssim.ipvs.schedulers.lblc import locality_overloaded
from ipvssim.ipvs.schedulers.wlc import weighted_least

__all__ = ["LBLCRScheduler", "LBLCR_EXPIRATION"]

# ip_vs_lblcr.c DEFAULT_EXPIRATION (sysctl lblcr_expiration)
LBLCR_EXPIRATION = 24 * 60 * 60.0


class _DestSet:
    """struct ip_vs_dest_set: newest member first (list_add_rcu at the head)."""
    __slots__ = ("members", "lastmod", "lastuse")

    def __init__(self, now: float):
        self.members: list[Dest] = []
        self.lastmod = now
        self.lastuse = now

    def insert(self, dest: Dest, now: float) -> None:
        if any(m is dest for m in self.members):
            return
        self.members.insert(0, dest)
        self.lastmod = now

    def erase(self, dest: Dest, now: float) -> None:
        for i, m in enumerate(self.members):
            if m is dest:
                del self.members[i]
                self.lastmod = now
                return

    def min(self) -> Dest | None:
        """ip_vs_dest_set_min(): weighted least among available, non-overloaded members."""
        it = iter(self.members)
        for least in it:
            if least.overloaded:
                continue
            if least.weight > 0 and least.available:
                loh = overhead(least)
                break
        else:
            return None
        for d in it:
            if d.overloaded:
                continue
            doh = overhead(d)
            if loh * d.weight > doh * least.weight and d.available:
                least, loh = d, doh
        return least

    def max(self) -> Dest | None:
        """ip_vs_dest_set_max(): weighted most loaded member with weight > 0 (overload ignored)."""
        it = iter(self.members)
        for most in it:
            if most.weight > 0:
                moh = overhead(most)
                break
        else:
            return None
        for d in it:
            doh = overhead(d)
            if moh * d.weight < doh * most.weight and d.weight > 0:
                most, moh = d, doh
        return most


class LBLCRScheduler(Scheduler):
    """Per destination IP a set of servers: use its least loaded member, grow it when overloaded.

    A set with more than one member that has not changed for
    ``lblcr_expiration`` (24 h) loses its most loaded member.  Expiry of whole
    entries is simplified as in lblc (dropped on lookup after 24 h unused).
    Without a ``clock`` time stands still, so sets never shrink.
    """
    name = "lblcr"

    def __init__(self, service: ServiceView, rng=None, clock: Callable[[], float] | None = None):
        super().__init__(service, rng)
        self.clock = clock
        self.expiration = LBLCR_EXPIRATION
        self.table: dict[int, _DestSet] = {}

    def _now(self) -> float:
        return self.clock() if self.clock is not None else 0.0

    def members(self, daddr: int) -> list[Dest]:
        """The server set cached for a destination address (newest first)."""
        en = self.table.get(daddr)
        return list(en.members) if en is not None else []

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        now = self._now()
        en = self.table.get(daddr)
        if en is not None and now - en.lastuse >= self.expiration:
            del self.table[daddr]
            en = None
        if en is not None:
            en.lastuse = now
            dest = en.min()
            if len(en.members) > 1 and now > en.lastmod + self.expiration:
                m = en.max()
                if m is not None:
                    en.erase(m, now)
            if dest is not None and not locality_overloaded(dest, service.dests):
                return dest
            dest = weighted_least(service.dests)
            if dest is None:
                return None
            en.insert(dest, now)
            return dest
        dest = weighted_least(service.dests)
        if dest is None:
            return None
        en = _DestSet(now)
        en.insert(dest, now)
        self.table[daddr] = en
        return dest
