"""mh: Maglev hashing (net/netfilter/ipvs/ip_vs_mh.c, NSDI'16 Maglev section 3.4)."""
from __future__ import annotations

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers.common import U32, Scheduler, ServiceView, gcd

__all__ = ["MHScheduler", "hsiphash_u32", "IP_VS_MH_TAB_SIZE", "MH_PRIMES"]

# ip_vs_mh.c: table sizes, CONFIG_IP_VS_MH_TAB_INDEX default 12 -> primes[12 - 8] = 4093.
MH_PRIMES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)
CONFIG_IP_VS_MH_TAB_INDEX = 12
IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX // 2
IP_VS_MH_TAB_SIZE = MH_PRIMES[CONFIG_IP_VS_MH_TAB_INDEX - 8]

# ip_vs_mh.c generate_hash_secret(): fixed keys, so every director builds the same table.
HASH1_KEY = (2654435761, 2654435761)
HASH2_KEY = (2654446892, 2654446892)

# lib/siphash.c: "somepseudorandomlygeneratedbytes"
_SIP_C0 = 0x736F6D6570736575
_SIP_C1 = 0x646F72616E646F6D
_SIP_C2 = 0x6C7967656E657261
_SIP_C3 = 0x7465646279746573
_M64 = 0xFFFFFFFFFFFFFFFF


def _rol(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M64


def hsiphash_u32(v: int, key: tuple[int, int]) -> int:
    """lib/siphash.c hsiphash() of one 4-byte little-endian word, as built for 64-bit kernels.

    On BITS_PER_LONG == 64 the kernel makes "HalfSipHash-1-3" really
    SipHash-1-3 with a 2 x u64 key, truncated to u32.
    """
    k0, k1 = key
    v0 = _SIP_C0 ^ k0
    v1 = _SIP_C1 ^ k1
    v2 = _SIP_C2 ^ k0
    v3 = _SIP_C3 ^ k1
    b = (4 << 56) | (v & U32)
    v3 ^= b
    rounds = 1
    for phase in (0, 1):
        for _ in range(rounds):
            v0 = (v0 + v1) & _M64
            v1 = _rol(v1, 13) ^ v0
            v0 = _rol(v0, 32)
            v2 = (v2 + v3) & _M64
            v3 = _rol(v3, 16) ^ v2
            v0 = (v0 + v3) & _M64
            v3 = _rol(v3, 21) ^ v0
            v2 = (v2 + v1) & _M64
            v1 = _rol(v1, 17) ^ v2
            v2 = _rol(v2, 32)
        if phase == 0:
            v0 ^= b
            v2 ^= 0xFF
            rounds = 3
    return (v0 ^ v1 ^ v2 ^ v3) & U32


def _unavailable(d: Dest) -> bool:
    return d.weight <= 0 or d.overloaded


class MHScheduler(Scheduler):
    """A 4093-slot lookup table filled Maglev-style; key = source IP (+ source port with mh-port).

    Each server gets offset = h1(rip + rport) mod M and skip = h2(...) mod
    (M - 1) + 1 and claims its next free preferred slot ``turns`` times per
    round, turns = (last_weight / gcd) >> rshift (at least 1 for a non-zero
    weight).  The table uses ``last_weight``: a server edited to weight 0 keeps
    its slots and makes them "no destination" unless mh-fallback.
    """
    name = "mh"

    def __init__(self, service: ServiceView, rng=None, table_size: int = IP_VS_MH_TAB_SIZE):
        super().__init__(service, rng)
        if table_size not in MH_PRIMES:
            raise ValueError(f"mh table size must be one of {MH_PRIMES}")
        self.size = table_size
        self.lookup: list[Dest | None] = [None] * table_size
        self._dest_changed(service, None)

    def _dest_changed(self, service: ServiceView, dest: Dest | None) -> None:
        # ip_vs_mh_dest_changed(): gcd and shift from last_weight, then reassign.
        dests = service.dests
        if len(dests) > self.size:
            raise ValueError(f"mh: {len(dests)} servers exceed the table size {self.size}")
        g = gcd(d.last_weight for d in dests)
        rshift = 0
        if g >= 1:
            mw = max(d.last_weight for d in dests) // g
            rshift = max(mw.bit_length() - IP_VS_MH_TAB_BITS, 0)   # fls(mw) - IP_VS_MH_TAB_BITS
        self.gcd, self.rshift = g, rshift
        self._populate(dests)

    add_dest = del_dest = upd_dest = _dest_changed

    def _populate(self, dests: list[Dest]) -> None:
        size = self.size
        if self.gcd < 1:
            self.lookup = [None] * size
            return
        # ip_vs_mh_permutate()
        offsets, skips, turns = [], [], []
        for d in dests:
            key = (d.port + d.addr) & U32
            offsets.append(hsiphash_u32(key, HASH1_KEY) % size)
            skips.append(hsiphash_u32(key, HASH2_KEY) % (size - 1) + 1)
            lw = d.last_weight
            turns.append(((lw // self.gcd) >> self.rshift) or int(lw != 0))
        perm = list(offsets)
        # ip_vs_mh_populate(): rounds over the list; dt_count carries across servers
        # skipped for zero turns, exactly as the kernel's loop does.
        taken = bytearray(size)
        lookup = self.lookup
        n = 0
        dt_count = 0
        nd = len(dests)
        while n < size:
            i = 0
            while i < nd:
                if turns[i] < 1:
                    i += 1
                    continue
                c = perm[i]
                while taken[c]:
                    c += skips[i]
                    if c >= size:
                        c -= size
                perm[i] = c
                taken[c] = 1
                lookup[c] = dests[i]
                n += 1
                if n == size:
                    self.lookup = lookup
                    return
                dt_count += 1
                if dt_count >= turns[i]:
                    dt_count = 0
                    i += 1

    def _hash(self, addr: int, port: int, offset: int) -> int:
        # ip_vs_mh_hashkey(): v = offset + port + addr as u32, hashed with hash1.
        return hsiphash_u32((offset + port + addr) & U32, HASH1_KEY) % self.size

    def schedule(self, service: ServiceView, saddr: int, sport: int, daddr: int,
                 dport: int) -> Dest | None:
        port = sport if "mh-port" in service.flags else 0
        ihash = self._hash(saddr, port, 0)
        d = self.lookup[ihash]
        if d is None:
            return None
        if not _unavailable(d):
            return d
        if "mh-fallback" not in service.flags:
            return None
        # ip_vs_mh_get_fallback(): rehash with offsets starting at the original slot.
        for offset in range(self.size):
            roffset = (offset + ihash) % self.size
            d = self.lookup[self._hash(saddr, port, roffset)]
            if d is None:
                return None
            if not _unavailable(d):
                return d
        return None
