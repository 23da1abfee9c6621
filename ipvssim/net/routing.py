"""IPv4 routing table: longest-prefix match over connected and static routes.

Mirrors the part of the kernel FIB (net/ipv4/fib_trie.c) a simulated host needs:
one table, lookups by destination, the most specific prefix wins; among routes
with the same prefix the one added first wins (the kernel refuses an exact
duplicate in the main table, so a scenario cannot rely on anything else).
Local addresses are not in this table: the host checks them first, as the
kernel's `local` table is consulted before `main`.

>>> from ipvssim.packet.wire import ip_aton, ip_ntoa
>>> t = RouteTable()
>>> t.add(Route(ip_aton("10.0.0.0"), 24, dev="eth0", src=ip_aton("10.0.0.2"), kind="connected"))
True
>>> t.add(Route(0, 0, via=ip_aton("10.0.0.1")))
True
>>> ip_ntoa(t.lookup(ip_aton("10.0.0.7")).net), t.lookup(ip_aton("8.8.8.8")).plen
('10.0.0.0', 0)
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route", "RouteTable", "prefix_mask"]

_MASKS = tuple((0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF for p in range(33))


def prefix_mask(plen: int) -> int:
    """Netmask of a prefix length: 24 -> 0xffffff00."""
    return _MASKS[plen]


@dataclass(frozen=True, slots=True)
class Route:
    """One route: `net/plen`, optional gateway `via`, output device `dev`, preferred source `src`.

    `kind` is "connected" (made from an interface address, `proto kernel scope link`)
    or "static" (configured).
    """
    net: int
    plen: int
    via: int | None = None
    dev: str | None = None
    src: int | None = None
    kind: str = "static"

    def __post_init__(self) -> None:
        if not 0 <= self.plen <= 32:
            raise ValueError(f"prefix length {self.plen} out of range")
        if self.net & ~_MASKS[self.plen] & 0xFFFFFFFF:
            raise ValueError(f"route {self.net:#010x}/{self.plen} has host bits set")
        if self.via is None and self.dev is None:
            raise ValueError("a route needs a gateway (via) or a device (dev)")


class RouteTable:
    """Routes by prefix length; `lookup` caches its answers until the table changes."""

    def __init__(self) -> None:
        self._by_plen: dict[int, dict[int, Route]] = {}
        self._plens: list[int] = []          # present prefix lengths, longest first
        self._cache: dict[int, Route | None] = {}
        self.version = 0                     # bumped on every change (callers cache on it)

    def __iter__(self):
        for plen in self._plens:
            yield from self._by_plen[plen].values()

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_plen.values())

    def add(self, route: Route) -> bool:
        """Add a route; False (and no change) when one for the same prefix exists."""
        routes = self._by_plen.get(route.plen)
        if routes is None:
            routes = self._by_plen[route.plen] = {}
            self._plens = sorted(self._by_plen, reverse=True)
        if route.net in routes:
            return False
        routes[route.net] = route
        self._changed()
        return True

    def remove(self, net: int, plen: int) -> Route | None:
        """Delete the route for net/plen; returns it (None if there was none)."""
        routes = self._by_plen.get(plen)
        if not routes or net not in routes:
            return None
        route = routes.pop(net)
        if not routes:
            del self._by_plen[plen]
            self._plens = sorted(self._by_plen, reverse=True)
        self._changed()
        return route

    def lookup(self, dst: int) -> Route | None:
        """The most specific route covering dst, or None."""
        cache = self._cache
        if dst in cache:
            return cache[dst]
        found = None
        for plen in self._plens:
            r = self._by_plen[plen].get(dst & _MASKS[plen])
            if r is not None:
                found = r
                break
        cache[dst] = found
        return found

    def lookup_connected(self, addr: int) -> Route | None:
        """The most specific on-link (no gateway) route covering addr: how a gateway is reached."""
        for plen in self._plens:
            r = self._by_plen[plen].get(addr & _MASKS[plen])
            if r is not None and r.via is None:
                return r
        return None

    def _changed(self) -> None:
        self._cache.clear()
        self.version += 1
