"""rr: round robin (net/netfilter/ipvs/ip_vs_rr.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView

__all__ = ["RRScheduler"]


class RRScheduler(Scheduler):
    """The next server after the last pick with weight > 0 and no overload.

    The kernel keeps a list cursor (``svc->sched_data``): the last server
    picked, or the list head.  The walk continues from it to the end, then
    wraps from the head up to and including the cursor.
    """
    name = "rr"

    def __init__(self, service: ServiceView, rng=None):
        super().__init__(service, rng)
        self._cursor: Dest | None = None     # None = the list head
        # The list as last seen by a hook: del_dest runs after the server is
        # unlinked, and needs the server's old predecessor.
        self._order: list[Dest] = list(service.dests)

    def add_dest(self, service: ServiceView, dest: Dest) -> None:
        self._order = list(service.dests)

    def upd_dest(self, service: ServiceView, dest: Dest) -> None:
        self._order = list(service.dests)

    def del_dest(self, service: ServiceView, dest: Dest) -> None:
        # ip_vs_rr_del_dest(): a cursor on the removed server moves back to
        # its predecessor (p->next->prev), so the walk resumes at its successor.
        if self._cursor is dest:
            i = self._order.index(dest)
            self._cursor = self._order[i - 1] if i > 0 else None
        self._order = list(service.dests)

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        dests = service.dests
        n = len(dests)
        last = -1 if self._cursor is None else dests.index(self._cursor)
        start = last
        for _pass in range(2):
            for j in range(start + 1, n):
                d = dests[j]
                if not d.overloaded and d.weight > 0:
                    self._cursor = d
                    return d
                if j == last:
                    return None
            # Starting from the head, one pass saw every server.
            if last == -1:
                break
            start = -1
        return None
