"""Network interfaces: Ethernet (on a Segment), loopback (`lo`) and the IPIP device (`tunl0`).

An Interface is the host's side of one link.  It owns the addresses configured
on it (in configuration order: the first address of a subnet is that subnet's
primary, later ones in the same subnet are secondaries, as inet_insert_ifa()
decides in net/ipv4/devinet.c), its MTU, its per-interface sysctls, and the
capture that plays the part of `tcpdump -i NAME`.

Frames leave through `transmit` (captured when the host hands them to the NIC)
and arrive through `arrived` (captured on arrival, before the MAC filter, like
a promiscuous tcpdump).  Timing lives in `ipvssim.net.segment`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ipvssim.net.routing import prefix_mask
from ipvssim.net.events import call_later
from ipvssim.packet.wire import ETH_HLEN
from ipvssim.scenario.model import SysctlSpec

__all__ = ["Interface", "IfAddress", "KINDS", "DEFAULT_MTU", "LOOPBACK_MTU", "IPIP_MTU"]

KINDS = ("ether", "loopback", "ipip")
DEFAULT_MTU = 1500            # Ethernet (RFC 894)
LOOPBACK_MTU = 65536          # drivers/net/loopback.c LOOPBACK_MTU (64 KiB)
IPIP_MTU = 1480               # net/ipv4/ipip.c: Ethernet MTU minus the 20-byte outer header

LOOPBACK_NET = 0x7F000000     # 127.0.0.0/8 (RFC 1122 3.2.1.3): scope host


@dataclass(frozen=True, slots=True)
class IfAddress:
    """One address on an interface (`ip addr add addr/plen dev X`)."""
    addr: int
    plen: int
    primary: bool

    @property
    def mask(self) -> int:
        return prefix_mask(self.plen)

    @property
    def net(self) -> int:
        return self.addr & prefix_mask(self.plen)

    def covers(self, ip: int) -> bool:
        """ip lies in this address's subnet (inet_ifa_match)."""
        return (ip ^ self.addr) & prefix_mask(self.plen) == 0

    @property
    def host_scope(self) -> bool:
        """127/8 addresses are scope host: never chosen as the source toward another host."""
        return self.addr >> 24 == LOOPBACK_NET >> 24


class Interface:
    """A host's network device.

    Parameters
    ----------
    ctx : SimContext
    name : str
        "eth0", "lo", "tunl0" ...
    kind : str
        "ether", "loopback" or "ipip".
    mac : bytes, optional
        Defaults to the context's next deterministic MAC (ether only; lo and tunl0 use
        00:00:00:00:00:00 as Linux shows them).
    mtu : int, optional
        Defaults by kind: 1500, 65536, 1480.
    sysctl : SysctlSpec
        This interface's `conf/NAME/` values; the host combines them with `conf/all/`.
    """

    __slots__ = ("ctx", "name", "kind", "mac", "mtu", "_sysctl", "rp_filter", "addresses", "host",
                 "port", "capture", "is_ether", "neigh_hh")

    def __init__(self, ctx, name: str, kind: str = "ether", mac: bytes | None = None,
                 mtu: int | None = None, sysctl: SysctlSpec | None = None):
        if kind not in KINDS:
            raise ValueError(f"interface kind {kind!r} not one of {KINDS}")
        self.ctx = ctx
        self.name = name
        self.kind = kind
        self.is_ether = kind == "ether"
        if mac is None:
            mac = ctx.next_mac() if self.is_ether else b"\x00" * 6
        self.mac = bytes(mac)
        if mtu is None:
            mtu = {"ether": DEFAULT_MTU, "loopback": LOOPBACK_MTU, "ipip": IPIP_MTU}[kind]
        self.mtu = mtu
        self.host = None              # set by Host.add_interface
        self.sysctl = sysctl or SysctlSpec()
        self.addresses: list[IfAddress] = []
        self.port = None              # set by Segment.attach (ether only)
        self.capture = None           # set when the host is known: observer's capture_for
        # Resolved neighbours on this link: next hop -> its MAC + ours, the 12 bytes an
        # output frame starts with (kept by the host's NeighbourTable).
        self.neigh_hh: dict[int, bytes] = {}

    @property
    def sysctl(self) -> SysctlSpec:
        return self._sysctl

    @sysctl.setter
    def sysctl(self, value: SysctlSpec) -> None:
        self._sysctl = value
        self.sysctl_changed()

    def sysctl_changed(self) -> None:
        """Recompute `rp_filter`, the effective value (max of conf/all and this
        interface's) the receive path reads for every packet: on a change of either."""
        host = self.host
        if host is not None:
            self.rp_filter = host.conf(self, "rp_filter")
        else:
            self.rp_filter = self._sysctl.rp_filter or 0

    def __repr__(self) -> str:
        return f"<Interface {self.host.name if self.host else '?'}:{self.name} {self.kind}>"

    # -- addresses --------------------------------------------------------------------
    def add_address(self, addr: int, plen: int) -> IfAddress:
        """Configure addr/plen; secondary if a primary with the same prefix already covers it.

        Only the interface's own list: once the interface belongs to a host, use
        `Host.add_address`, which also updates local addresses and connected routes.
        """
        primary = not any(a.primary and a.plen == plen and a.covers(addr) for a in self.addresses)
        a = IfAddress(addr, plen, primary)
        self.addresses.append(a)
        return a

    def has_address(self, ip: int) -> bool:
        return any(a.addr == ip for a in self.addresses)

    def select_address(self, dst: int | None, allow_host_scope: bool = False) -> int | None:
        """inet_select_addr(): the first primary address whose subnet holds dst, else the first primary.

        `dst` None (or 0) takes the first primary.  127/8 addresses only when
        `allow_host_scope` (traffic that stays on this host).
        """
        first = None
        for a in self.addresses:
            if not a.primary or (a.host_scope and not allow_host_scope):
                continue
            if not dst or a.covers(dst):
                return a.addr
            if first is None:
                first = a.addr
        return first

    # -- frames -----------------------------------------------------------------------
    def transmit(self, pkt) -> None:
        """Hand a complete frame to the device (MACs already set)."""
        host = self.host
        obs = self.ctx.observer
        if obs.tracing:
            obs.transmitted(pkt, self.name)     # the "sent"/"forwarded" step, MACs now set
        if len(pkt.data) - ETH_HLEN > self.mtu:
            # The IP layer fragments or answers "fragmentation needed" before this point;
            # a frame still too big is refused by the device, as a driver would.
            host.drop(pkt, "mtu-exceeded", self.name)
            return
        if self.capture is not None:
            self.capture(self.ctx.env._now, pkt.data)
        if self.is_ether:
            if self.port is None:
                host.drop(pkt, "no-carrier", self.name)
                return
            self.port.up.put(pkt)
        elif self.kind == "loopback":
            # loopback_xmit() hands the frame straight back to the receive path; a
            # zero-delay event keeps the stack from re-entering itself.
            call_later(self.ctx.env, 0, pkt, self._looped)
        else:
            # tunl0 without a remote end has nowhere to send (ipip_tunnel_xmit needs a dst).
            host.drop(pkt, "tunnel-no-remote", self.name)

    def _looped(self, ev) -> None:
        self.host.receive(self, ev._value)

    def host_drop(self, pkt, reason: str, ifname: str) -> None:
        """A frame ends at this interface on its host's books (the NIC queue was full)."""
        self.host.drop(pkt, reason, ifname)

    def arrived(self, pkt) -> None:
        """A frame arrived from the wire: the callback of the link's arrival event, which
        is the packet itself (the Port schedules it; one call per hop, no wrapper)."""
        ctx = self.ctx
        ctx.hops += 1
        if self.capture is not None:
            self.capture(ctx.env._now, pkt.data)
        d = pkt.data
        # NIC MAC filter: our unicast address, broadcast or multicast (group bit).
        # (startswith compares in place; a d[0:6] slice would copy first.)
        if not (d[0] & 1 or d.startswith(self.mac)):
            self.host.drop(pkt, "mac-filter", self.name)
            return
        self.host.receive(self, pkt)
