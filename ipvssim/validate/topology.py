"""Static reasoning over a scenario's topology: who owns an address, routes, ARP, paths.

Nothing here simulates.  The helpers answer the questions the validator asks the
way the Linux stack would answer them for the configured hosts:

- local addresses follow the weak host model (an address on any device is local);
- a route lookup is a longest-prefix match over the connected subnets of the
  ether interfaces and the configured routes (the local table is consulted first);
- conf/all and conf/<iface> sysctls combine as ``max(all, iface)``
  (``IN_DEV_MAXCONF`` in include/linux/inetdevice.h for arp_ignore, arp_announce
  and rp_filter), where *iface* is the device the packet arrives on;
- a frame for an on-link address goes to the host whose interface on that segment
  carries it, else to a host that answers ARP for it (net/ipv4/arp.c arp_ignore()).
"""
from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from ipvssim.scenario.model import HostSpec, InterfaceSpec, RouteSpec, SegmentSpec, TopologySpec

__all__ = [
    "Route", "Walk", "TopologyView", "effective_sysctl", "answers_arp_for_any_local",
    "IPIP_OVERHEAD", "MAX_WALK_HOPS",
]

# RFC 2003 section 3: IP-in-IP adds one 20-byte outer IPv4 header.
IPIP_OVERHEAD = 20
# Long enough for any sane topology; a longer path is a routing loop in practice.
MAX_WALK_HOPS = 32
# net/ipv4/arp.c arp_ignore(): 1 and 2 reply only for addresses on the receiving
# device, 8 never replies; 0, 3 (the VIP is not scope host) and the reserved 4..7
# reply for any local address.
_ARP_IGNORE_ON_IFACE_ONLY = (1, 2)
_ARP_IGNORE_NEVER = 8
# Default MTUs of the non-ether devices (model.InterfaceSpec.mtu).
_LOOPBACK_MTU = 65536
_IPIP_MTU = 1480


def effective_sysctl(host: HostSpec, iface: InterfaceSpec | None, name: str) -> int:
    """max(conf/all, conf/<iface>) with unset values at the kernel default 0."""
    host_value = getattr(host.sysctl, name) or 0
    iface_value = (getattr(iface.sysctl, name) or 0) if iface is not None else 0
    return max(host_value, iface_value)


def answers_arp_for_any_local(host: HostSpec, iface: InterfaceSpec) -> bool:
    """Whether `iface` answers ARP for local addresses configured on *other* devices."""
    value = effective_sysctl(host, iface, "arp_ignore")
    return value not in _ARP_IGNORE_ON_IFACE_ONLY and value != _ARP_IGNORE_NEVER


@dataclass(frozen=True)
class Route:
    """The result of a route lookup on one host."""
    iface: InterfaceSpec
    via: IPv4Address | None         # None = destination on-link
    prefixlen: int
    mtu: int
    spec: RouteSpec | None = None   # None = connected route of the interface
    src: IPv4Address | None = None

    @property
    def segment(self) -> str | None:
        return self.iface.segment


@dataclass(frozen=True)
class Walk:
    """Hop-by-hop static path of a packet toward `dst`.

    `hops` are host names in order, starting with the sender; `reached` is the
    host that accepted the packet as local (None when it died on the way, then
    `failure` says why and `cause` classifies it: "no-route", "no-forwarding",
    "no-neighbour", "dead-end" or "loop", the last host in `hops` being where).
    `mtu` is the smallest egress MTU met on the way.
    """
    dst: IPv4Address
    hops: tuple[str, ...]
    reached: str | None
    failure: str | None
    mtu: int
    cause: str | None = None

    @property
    def ok(self) -> bool:
        return self.reached is not None


class TopologyView:
    """Read-only questions about a `TopologySpec`, answered as Linux would."""

    def __init__(self, topology: TopologySpec):
        self.topology = topology
        self._segments = {s.name: s for s in topology.segments}
        self._hosts = {h.name: h for h in topology.hosts}

    # -- lookups ------------------------------------------------------------------------
    def host(self, name: str | None) -> HostSpec | None:
        return self._hosts.get(name) if name is not None else None

    def segment(self, name: str | None) -> SegmentSpec | None:
        return self._segments.get(name) if name is not None else None

    def host_path(self, host: HostSpec) -> str:
        return host.path or f"topology.hosts.{host.name}"

    def iface_path(self, host: HostSpec, iface: InterfaceSpec) -> str:
        return iface.path or f"{self.host_path(host)}.interfaces.{iface.name}"

    @staticmethod
    def local_addresses(host: HostSpec) -> list[IPv4Address]:
        return [a.ip for i in host.interfaces for a in i.addresses]

    def is_local(self, host: HostSpec, addr: IPv4Address) -> bool:
        return any(a.ip == addr for i in host.interfaces for a in i.addresses)

    def devices_with(self, host: HostSpec, addr: IPv4Address) -> list[InterfaceSpec]:
        return [i for i in host.interfaces if any(a.ip == addr for a in i.addresses)]

    def owners(self, addr: IPv4Address) -> list[HostSpec]:
        """Hosts that have `addr` configured on any device, in topology order."""
        return [h for h in self.topology.hosts if self.is_local(h, addr)]

    def iface_mtu(self, iface: InterfaceSpec) -> int:
        if iface.mtu is not None:
            return iface.mtu
        if iface.kind == "loopback":
            return _LOOPBACK_MTU
        if iface.kind == "ipip":
            return _IPIP_MTU
        seg = self.segment(iface.segment)
        return seg.mtu if seg is not None else 1500

    def on_segment(self, host: HostSpec, segment: str) -> list[InterfaceSpec]:
        return [i for i in host.interfaces if i.kind == "ether" and i.segment == segment]

    def segments_containing(self, addr: IPv4Address) -> list[SegmentSpec]:
        return [s for s in self.topology.segments if addr in s.subnet]

    # -- routing ------------------------------------------------------------------------
    def route(self, host: HostSpec, dst: IPv4Address) -> Route | None:
        """Longest-prefix match over connected subnets and configured routes.

        Equal prefixes: connected routes first, then routes in the order written
        (the kernel's metric 0 tie-break is insertion order).
        """
        best: Route | None = None
        for iface in host.interfaces:
            if iface.kind != "ether":
                continue
            for a in iface.addresses:
                if dst in a.network and (best is None or a.network.prefixlen > best.prefixlen):
                    best = Route(iface, None, a.network.prefixlen, self.iface_mtu(iface), None, a.ip)
        for spec in host.routes:
            if dst not in spec.dest or (best is not None and spec.dest.prefixlen <= best.prefixlen):
                continue
            iface = self._route_iface(host, spec)
            if iface is not None:
                best = Route(iface, spec.via, spec.dest.prefixlen, self.iface_mtu(iface), spec, spec.src)
        return best

    def _route_iface(self, host: HostSpec, spec: RouteSpec) -> InterfaceSpec | None:
        if spec.dev is not None:
            return host.interface(spec.dev)
        if spec.via is None:
            return None
        # The kernel only accepts a gateway that is on-link on some device.
        for iface in host.interfaces:
            if iface.kind == "ether" and any(spec.via in a.network for a in iface.addresses):
                return iface
        return None

    def source_address(self, host: HostSpec, dst: IPv4Address) -> IPv4Address | None:
        """The source Linux picks toward `dst`: the route's src, else the primary
        address of the egress device in the next hop's subnet, else its first one."""
        if self.is_local(host, dst):
            return dst
        r = self.route(host, dst)
        if r is None:
            return None
        if r.src is not None:
            return r.src
        target = r.via or dst
        for a in r.iface.addresses:
            if target in a.network:
                return a.ip
        return r.iface.addresses[0].ip if r.iface.addresses else None

    # -- layer 2 ------------------------------------------------------------------------
    def arp_answerers(self, segment: str, addr: IPv4Address) -> list[tuple[HostSpec, InterfaceSpec]]:
        """Hosts (with the receiving interface) that answer an ARP request for `addr`."""
        found = []
        for h in self.topology.hosts:
            if not self.is_local(h, addr):
                continue
            for iface in self.on_segment(h, segment):
                on_iface = any(a.ip == addr for a in iface.addresses)
                arp_ignore = effective_sysctl(h, iface, "arp_ignore")
                if arp_ignore == _ARP_IGNORE_NEVER:
                    continue
                if on_iface or answers_arp_for_any_local(h, iface):
                    found.append((h, iface))
        return found

    def resolve(self, segment: str, addr: IPv4Address, prefer: str | None = None) -> HostSpec | None:
        """The host that receives a frame for on-link `addr` on `segment`.

        A host with `addr` on its interface on that segment wins over hosts that
        merely answer ARP for it; with several claimants `prefer` breaks the tie
        (the real outcome is a race, which DR-ARP reports).
        """
        answerers = self.arp_answerers(segment, addr)
        if not answerers:
            return None
        direct = [h for h, i in answerers if any(a.ip == addr for a in i.addresses)]
        pool = direct or [h for h, _ in answerers]
        for h in pool:
            if h.name == prefer:
                return h
        return pool[0]

    # -- paths --------------------------------------------------------------------------
    def walk(self, src: HostSpec, dst: IPv4Address, prefer: str | None = None) -> Walk:
        """Follow routing from `src` until a host accepts `dst` as local or the packet dies."""
        hops = [src.name]
        mtu = 1 << 30
        cur = src
        while True:
            if self.is_local(cur, dst):
                return Walk(dst, tuple(hops), cur.name, None, mtu)
            if len(hops) > 1 and not cur.forwarding:
                return Walk(dst, tuple(hops), None,
                            f"{cur.name} is not the owner of {dst} and does not forward (forwarding: false)",
                            mtu, "no-forwarding")
            r = self.route(cur, dst)
            if r is None:
                return Walk(dst, tuple(hops), None, f"{cur.name} has no route to {dst}", mtu, "no-route")
            if r.iface.kind != "ether" or r.segment is None:
                return Walk(dst, tuple(hops), None,
                            f"{cur.name} routes {dst} into {r.iface.name}, which leads nowhere here", mtu,
                            "dead-end")
            mtu = min(mtu, r.mtu)
            nexthop = r.via or dst
            nxt = self.resolve(r.segment, nexthop, prefer=prefer)
            if nxt is None:
                return Walk(dst, tuple(hops), None,
                            f"no host on segment {r.segment} answers ARP for {nexthop} "
                            f"(next hop of {cur.name} toward {dst})", mtu, "no-neighbour")
            if nxt.name in hops or len(hops) >= MAX_WALK_HOPS:
                loop = " -> ".join(hops + [nxt.name])
                return Walk(dst, tuple(hops + [nxt.name]), None,
                            f"routing loop toward {dst}: {loop} (dies when its TTL runs out)", mtu, "loop")
            hops.append(nxt.name)
            cur = nxt
