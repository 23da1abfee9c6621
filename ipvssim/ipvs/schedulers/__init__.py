"""The kernel's fourteen IPVS schedulers, one module each, and the registry.

Every scheduler has the hooks of ``struct ip_vs_scheduler``: ``add_dest``,
``del_dest``, ``upd_dest`` (called by the service after it changed its list,
as ip_vs_ctl.c does) and ``schedule(service, saddr, sport, daddr, dport)``
returning a `Dest` or None ("no destination available").
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ipvssim.ipvs.schedulers.common import SchedService, Scheduler, ServiceView
from ipvssim.ipvs.schedulers.dh import DHScheduler
from ipvssim.ipvs.schedulers.fo import FOScheduler
from ipvssim.ipvs.schedulers.lblc import LBLCScheduler
from ipvssim.ipvs.schedulers.lblcr import LBLCRScheduler
from ipvssim.ipvs.schedulers.lc import LCScheduler
from ipvssim.ipvs.schedulers.mh import MHScheduler
from ipvssim.ipvs.schedulers.nq import NQScheduler
from ipvssim.ipvs.schedulers.ovf import OVFScheduler
from ipvssim.ipvs.schedulers.rr import RRScheduler
from ipvssim.ipvs.schedulers.sed import SEDScheduler
from ipvssim.ipvs.schedulers.sh import SHScheduler
from ipvssim.ipvs.schedulers.twos import TwosScheduler
from ipvssim.ipvs.schedulers.wlc import WLCScheduler
from ipvssim.ipvs.schedulers.wrr import WRRScheduler

if TYPE_CHECKING:
    import random

__all__ = ["SCHEDULERS", "make_scheduler", "Scheduler", "ServiceView", "SchedService",
           "SCHEDULER_FLAGS"]

SCHEDULERS: dict[str, type[Scheduler]] = {cls.name: cls for cls in (
    RRScheduler, WRRScheduler, LCScheduler, WLCScheduler, SEDScheduler, NQScheduler,
    FOScheduler, OVFScheduler, TwosScheduler, DHScheduler, SHScheduler, MHScheduler,
    LBLCScheduler, LBLCRScheduler)}

# ipvsadm -b flags and the scheduler that reads them (IP_VS_SVC_F_SCHED1/2 per scheduler).
SCHEDULER_FLAGS = {"sh-fallback": "sh", "sh-port": "sh", "mh-fallback": "mh", "mh-port": "mh"}


def make_scheduler(name: str, service: ServiceView, rng: random.Random | None = None,
                   clock: Callable[[], float] | None = None) -> Scheduler:
    """A scheduler bound to ``service`` (its init_service over the current servers).

    ``rng`` is the run's generator (only twos draws from it); ``clock``
    returns the simulated time (only lblc/lblcr use it, for cache expiry).

    >>> svc = SchedService("wrr")
    >>> type(make_scheduler("wrr", svc)).__name__
    'WRRScheduler'
    """
    try:
        cls = SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; one of {', '.join(SCHEDULERS)}") from None
    if cls in (LBLCScheduler, LBLCRScheduler):
        return cls(service, rng, clock=clock)
    return cls(service, rng)
