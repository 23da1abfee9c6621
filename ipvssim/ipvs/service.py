"""A virtual service: VIP:port/protocol, its scheduler and its real servers (ipvsadm -A / -a)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest, find_dest
from ipvssim.ipvs.schedulers import make_scheduler
from ipvssim.packet import wire
from ipvssim.scenario.model import RealServerSpec, ServiceSpec

__all__ = ["Service", "PROTO_NUMBERS"]

PROTO_NUMBERS = {"tcp": wire.IPPROTO_TCP, "udp": wire.IPPROTO_UDP}


class Service:
    """Kernel `struct ip_vs_service`: dests kept in the kernel's list order."""

    def __init__(self, spec: ServiceSpec, rng, clock=None):
        self.spec = spec
        self.name = spec.name
        self.protocol = PROTO_NUMBERS[spec.protocol]
        self.vaddr = int(spec.vip)
        self.port = spec.port
        self.flags = set(spec.flags)
        self.mode = spec.mode
        self.persistent = spec.persistence > 0
        self.timeout = spec.persistence
        self.netmask = (0xFFFFFFFF << (32 - spec.persistence_netmask)) & 0xFFFFFFFF
        self.dests: list[Dest] = []
        self.scheduler = make_scheduler(spec.scheduler, self, rng, clock)
        self.conns = 0               # ipvsadm --stats counters of the service
        self.inpkts = self.outpkts = self.inbytes = self.outbytes = 0
        for rs in spec.real_servers:
            self.add_dest(rs)

    def add_dest(self, rs: RealServerSpec) -> Dest:
        dest = Dest(addr=int(rs.address), port=rs.port, weight=rs.weight, mode=rs.mode or self.mode,
                    u_threshold=rs.upper, l_threshold=rs.lower, label=rs.label)
        # ip_vs_ctl.c __ip_vs_update_dest(): list_add_rcu(&dest->n_list, &svc->destinations)
        # puts a new server at the head, so the kernel walks them newest first.
        self.dests.insert(0, dest)
        self.scheduler.add_dest(self, dest)
        return dest

    def remove_dest(self, dest: Dest) -> None:
        self.dests.remove(dest)
        dest.available = False
        self.scheduler.del_dest(self, dest)

    def edit_dest(self, dest: Dest, weight: int) -> None:
        dest.update(weight)
        self.scheduler.upd_dest(self, dest)

    def find_dest(self, key: str) -> Dest | None:
        return find_dest(self.dests, key)

    def schedule(self, saddr: int, sport: int, daddr: int, dport: int) -> Dest | None:
        return self.scheduler.schedule(self, saddr, sport, daddr, dport)
