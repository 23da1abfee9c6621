"""twos: power of two choices (net/netfilter/ipvs/ip_vs_twos.c)."""
from __future__ import annotations

import random

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import Scheduler, ServiceView, overhead

__all__ = ["TwosScheduler"]


class TwosScheduler(Scheduler):
    """Two weighted random picks; the second wins if its overhead/weight is lower.

    The kernel draws get_random_u32() (prandom_u32() before 6.1); here each
    draw is ``rng.getrandbits(32)`` from the run's generator, two per
    scheduling decision, so a seeded run is reproducible.
    """
    name = "twos"

    def __init__(self, service: ServiceView, rng: random.Random | None = None):
        if rng is None:
            raise ValueError("twos needs the run's random.Random (rng)")
        super().__init__(service, rng)

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        total = 0
        for d in service.dests:
            if not d.overloaded and d.weight > 0:
                total += d.weight
        if total == 0:
            return None
        # total + 1: the kernel's draws are inclusive of the total, so the first
        # usable server is slightly favoured (r = 0 and r = w both pick it).
        total += 1
        r1 = self.rng.getrandbits(32) % total
        r2 = self.rng.getrandbits(32) % total
        c1 = c2 = None
        w1 = w2 = -1
        o1 = o2 = 0
        for d in service.dests:
            if d.overloaded:
                continue
            w = d.weight
            if w <= 0:
                continue
            r1 -= w
            r2 -= w
            if r1 <= 0 and w1 == -1:
                c1, w1, o1 = d, w, overhead(d)
            if r2 <= 0 and w2 == -1:
                c2, w2, o2 = d, w, overhead(d)
            if w1 != -1 and w2 != -1:
                break
        if c2 is not None and w2 * o1 > w1 * o2:
            return c2
        return c1
