"""sh: source hashing (net/netfilter/ipvs/ip_vs_sh.c)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import U32, Scheduler, ServiceView, hash_32

__all__ = ["SHScheduler", "IP_VS_SH_TAB_BITS", "IP_VS_SH_TAB_SIZE"]

# ip_vs_sh.c, CONFIG_IP_VS_SH_TAB_BITS default
IP_VS_SH_TAB_BITS = 8
IP_VS_SH_TAB_SIZE = 1 << IP_VS_SH_TAB_BITS
IP_VS_SH_TAB_MASK = IP_VS_SH_TAB_SIZE - 1


def _unavailable(d: Dest) -> bool:
    return d.weight <= 0 or d.overloaded


class SHScheduler(Scheduler):
    """256 buckets, each server repeated ``weight`` times round robin, keyed by source IP.

    Flags: ``sh-port`` adds the source port to the key, ``sh-fallback`` probes
    other buckets when the chosen server is quiesced or overloaded (without
    it that is "no destination available").
    """
    name = "sh"

    def __init__(self, service: ServiceView, rng=None):
        super().__init__(service, rng)
        self.buckets: list[Dest | None] = []
        self._reassign(service)

    def _reassign(self, service: ServiceView) -> None:
        # ip_vs_sh_reassign(): a weight-0 server still takes one bucket, because
        # the "++d_count >= weight" test moves on only after assigning it.
        dests = service.dests
        if not dests:
            self.buckets = [None] * IP_VS_SH_TAB_SIZE
            return
        buckets = []
        i = 0
        count = 0
        for _ in range(IP_VS_SH_TAB_SIZE):
            d = dests[i]
            buckets.append(d)
            count += 1
            if count >= d.weight:
                i = (i + 1) % len(dests)
                count = 0
        self.buckets = buckets

    def add_dest(self, service: ServiceView, dest: Dest) -> None:
        self._reassign(service)

    del_dest = upd_dest = add_dest

    @staticmethod
    def hashkey(addr: int, port: int, offset: int = 0) -> int:
        """ip_vs_sh_hashkey(): (offset + hash_32(port + addr, 8)) & mask, all u32 arithmetic."""
        return (offset + hash_32((port + addr) & U32, IP_VS_SH_TAB_BITS)) & IP_VS_SH_TAB_MASK

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        port = sport if "sh-port" in service.flags else 0
        ihash = self.hashkey(saddr, port)
        d = self.buckets[ihash]
        if d is None:
            return None
        if not _unavailable(d):
            return d
        if "sh-fallback" not in service.flags:
            return None
        # ip_vs_sh_get_fallback(): the probe key is hashkey(offset=roffset), which
        # adds the original hash a second time -- bucket (offset + 2 * ihash) mod 256.
        for offset in range(IP_VS_SH_TAB_SIZE):
            roffset = (offset + ihash) % IP_VS_SH_TAB_SIZE
            d = self.buckets[self.hashkey(saddr, port, roffset)]
            if d is None:
                return None
            if not _unavailable(d):
                return d
        return None
