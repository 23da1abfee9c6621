"""What the fourteen schedulers share: kernel helpers, the base class, a test service.

Addresses are host-order ints (``int(IPv4Address(...))``), which is exactly
the ``ntohl(addr)`` value the kernel hashes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Protocol

from ipvssim.ipvs.dest import Dest

if TYPE_CHECKING:
    import random

__all__ = ["GOLDEN_RATIO_32", "hash_32", "gcd", "overhead", "ServiceView", "Scheduler",
           "SchedService", "NO_NETMASK"]

# include/linux/hash.h
GOLDEN_RATIO_32 = 0x61C88647
U32 = 0xFFFFFFFF
NO_NETMASK = 0xFFFFFFFF


def hash_32(val: int, bits: int) -> int:
    """include/linux/hash.h hash_32(): multiplicative hash, top ``bits`` of a u32 product.

    >>> hash_32(0x0A000001, 8)
    39
    """
    return ((val * GOLDEN_RATIO_32) & U32) >> (32 - bits)


def gcd(values: Iterable[int]) -> int:
    """GCD of the positive values, 0 if there are none (ip_vs_wrr_gcd_weight / ip_vs_mh_gcd_weight).

    >>> gcd([4, 0, 6])
    2
    """
    g = 0
    for v in values:
        if v > 0:
            a, b = v, g
            while b:
                a, b = b, a % b
            g = a
    return g


def overhead(dest: Dest) -> int:
    """include/net/ip_vs.h ip_vs_dest_conn_overhead(): an active connection costs 256 inactive ones."""
    return (dest.activeconns << 8) + dest.inactconns


class ServiceView(Protocol):
    """What a scheduler may look at in its service."""
    dests: list[Dest]      # kernel list order: the most recently added first
    flags: set[str]        # "sh-port" "sh-fallback" "mh-port" "mh-fallback"
    port: int
    netmask: int


class Scheduler:
    """Base of every scheduler: the kernel hooks a module leaves NULL are no-ops here.

    The service calls ``add_dest`` after linking a new server at the head of
    ``dests``, ``del_dest`` after unlinking one (``dest.available`` already
    False), ``upd_dest`` after editing one -- the order of ip_vs_ctl.c.
    """
    name = ""

    def __init__(self, service: ServiceView, rng: random.Random | None = None):
        self.rng = rng

    def add_dest(self, service: ServiceView, dest: Dest) -> None:
        pass

    def del_dest(self, service: ServiceView, dest: Dest) -> None:
        pass

    def upd_dest(self, service: ServiceView, dest: Dest) -> None:
        pass

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        raise NotImplementedError


class SchedService:
    """A bare service for driving a scheduler the way ip_vs_ctl.c does (tests, tools).

    Examples
    --------
    >>> svc = SchedService("rr")
    >>> for i, name in enumerate("ABC"):
    ...     _ = svc.add_dest(Dest(addr=0x0A000001 + i, port=80, label=name))
    >>> [svc.schedule(1, 1000, 2, 80).label for _ in range(4)]
    ['C', 'B', 'A', 'C']
    """

    def __init__(self, scheduler: str = "wlc", flags: Iterable[str] = (),
                 rng: random.Random | None = None, port: int = 80, netmask: int = NO_NETMASK):
        self.dests: list[Dest] = []
        self.flags = set(flags)
        self.port = port
        self.netmask = netmask
        self.set_scheduler(scheduler, rng)

    def set_scheduler(self, name: str, rng: random.Random | None = None) -> None:
        """ipvsadm -E -s NAME: a fresh scheduler initialised over the servers already present.

        This differs from adding the servers one by one under the scheduler:
        wrr, for instance, starts its first pass at the full maximum weight
        only in this case.
        """
        from ipvssim.ipvs.schedulers import make_scheduler   # the registry imports this module
        self.scheduler = make_scheduler(name, self, rng)

    def add_dest(self, dest: Dest) -> Dest:
        # ip_vs_ctl.c __ip_vs_update_dest(): list_add_rcu(&dest->n_list, &svc->destinations)
        # links the new server right after the list head, i.e. at the front.
        self.dests.insert(0, dest)
        dest.available = True
        self.scheduler.add_dest(self, dest)
        return dest

    def remove_dest(self, dest: Dest) -> None:
        # __ip_vs_unlink_dest(): clear AVAILABLE, unlink, then the del_dest hook.
        dest.available = False
        self.dests.remove(dest)
        self.scheduler.del_dest(self, dest)

    def edit_dest(self, dest: Dest, weight: int, u_threshold: int | None = None,
                  l_threshold: int | None = None) -> None:
        dest.update(weight, u_threshold, l_threshold)
        self.scheduler.upd_dest(self, dest)

    def schedule(self, saddr: int, sport: int, daddr: int, dport: int) -> Dest | None:
        return self.scheduler.schedule(self, saddr, sport, daddr, dport)
