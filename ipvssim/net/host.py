"""A host's IPv4 stack: interfaces, routing, ARP, input, forwarding, ICMP, IPIP decapsulation.

Behaviour follows the Linux receive and output paths (net/ipv4/ip_input.c,
route.c, ip_forward.c, ip_output.c, icmp.c, ipip.c, fib_frontend.c):

Input (`receive`, after the NIC's MAC filter):
  1. The host's name is added to the packet's path (once per visit), and, when
     `cpu` is set, the frame waits for the CPU (`cpu.reserve`).
  2. ARP frames go to the neighbour table (`ipvssim.net.arp`).
  3. Martian sources are dropped: one of our own addresses, 0/8, 127/8, multicast
     or limited broadcast arriving on a real interface ("martian-source").
  4. Weak host model: a destination configured on *any* interface (lo and tunl0
     included) is local.  Local packets pass rp_filter, are reassembled, go
     through `local_in_hook` (IPVS), then to ICMP / TCP / UDP / IPIP.
  5. Otherwise: not forwarding -> dropped "not-forwarding" without ICMP; no route
     -> ICMP net unreachable, "no-route"; rp_filter; then forwarding: TTL <= 1 ->
     ICMP time exceeded, "ttl-exceeded"; too big with DF -> ICMP fragmentation
     needed with the next-hop MTU, "frag-needed"; TTL decremented;
     `forward_hook` (IPVS NAT replies); output.
  rp_filter (max of conf/all and conf/IFACE): 1 strict -- the route back to the
  source must leave through the incoming interface; 2 loose -- some route back
  must exist; failure drops "rp_filter".  A decapsulated IPIP packet is checked
  against tunl0, its incoming interface (see docs: TUN needs rp_filter 0 or 2).

Output (`ip_send` for local packets, `output` for built ones): route lookup
(longest prefix match, cached per destination), source selection as
fib_result_prefsrc()/inet_select_addr(), MTU (fragment, or "fragmentation
needed" when DF is set), neighbour resolution, transmit.  ICMP errors follow
icmp_send(): never about ICMP errors, non-first fragments or non-unicast
sources; from the offending packet's destination when that is ours, else from
the address routing picks; TOS 0xc0 (IPTOS_PREC_INTERNETCONTROL); quoting the IP
header and 8 bytes (RFC 792).  An error about a packet this host sent itself is
handed straight to the transport, as the kernel's ICMP-to-self would be.

Not modelled: ICMP rate limiting (icmp_ratelimit) and redirects, IP options,
multicast, broadcast forwarding, route metrics and multipath.

>>> from ipvssim.net.context import SimContext
>>> from ipvssim.net.segment import Segment
>>> from ipvssim.packet.wire import ip_aton
>>> ctx = SimContext()
>>> lan = Segment(ctx, "lan", bandwidth=1e6, delay=1e-3)
>>> a, b = Host(ctx, "a"), Host(ctx, "b")
>>> _ = a.add_interface(Interface(ctx, "eth0"), lan, [(ip_aton("10.0.0.1"), 24)])
>>> _ = b.add_interface(Interface(ctx, "eth0"), lan, [(ip_aton("10.0.0.2"), 24)])
>>> rtts = []
>>> _ = a.ping(ip_aton("10.0.0.2"), on_reply=lambda pkt, seq, rtt: rtts.append(rtt))
>>> ctx.env.run()
>>> round(rtts[0], 6)      # ARP request + reply, then echo request + reply (98-byte frames)
0.01248
"""
from __future__ import annotations

import struct

from ipvssim.net.arp import NeighbourTable
from ipvssim.net.interface import Interface
from ipvssim.net.routing import Route, RouteTable, prefix_mask
from ipvssim.net.events import call_later
from ipvssim.net.tcp import TcpStack
from ipvssim.net.udp import UdpStack
from ipvssim.packet.wire import (
    ETH_HLEN, ETH_P_ARP, ETH_P_IP, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY,
    ICMP_ERROR_TYPES, ICMP_EXC_FRAGTIME, ICMP_EXC_TTL, ICMP_FRAG_NEEDED, ICMP_HOST_UNREACH,
    ICMP_NET_UNREACH, ICMP_PORT_UNREACH, ICMP_PROT_UNREACH, ICMP_TIME_EXCEEDED, IP_DF, IP_FRAG_TIME,
    IP_HLEN, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, ZERO_MAC, Reassembler,
    ethernet_frame, icmp_error_payload, icmp_message, ip_df, ip_dst, ip_frag_offset, ip_id,
    ip_src, ip_total_len, ipip_decap, ipv4_fragment, ipv4_header_checksum, ipv4_packet, mac_aton,
)
from ipvssim.scenario.model import SysctlSpec

__all__ = ["Host", "DEFAULT_TTL", "IPTOS_PREC_INTERNETCONTROL"]

DEFAULT_TTL = 64                       # net.ipv4.ip_default_ttl
IPTOS_PREC_INTERNETCONTROL = 0xC0      # include/uapi/linux/ip.h; icmp_send() marks errors with it
IPTOS_TOS_MASK = 0x1E                  # RT_TOS(): the bits of the original TOS an error keeps
LOOPBACK_ADDR = 0x7F000001             # 127.0.0.1
LIMITED_BROADCAST = 0xFFFFFFFF
_MTU_FIELD = struct.Struct("!HH")      # ICMP "rest": unused, next-hop MTU (RFC 1191)
_ETH_IP = struct.Struct("!6s6sHBBHHHBBHII")   # Ethernet II header + option-less IPv4 header
_SRC_DST = struct.Struct("!II").unpack_from
# Writes a neighbour's 12 Ethernet address bytes onto a frame: a third of the cost of
# `data[0:12] = hh` (a slice assignment), once per hop.
_PUT_HH = struct.Struct("12s").pack_into
_UNCACHED = object()                    # a route cache miss (None is a cached "no route")


def _martian_source(src: int) -> bool:
    """0/8, 127/8, multicast/class E, limited broadcast (ip_route_input_slow's checks)."""
    top = src >> 24
    return top == 0 or top == 127 or top >= 224


class Host:
    """One IPv4 node (client, router, director, real server).

    Parameters
    ----------
    ctx : SimContext
    name : str
    forwarding : bool
        net.ipv4.ip_forward.
    sysctl : SysctlSpec
        conf/all values (arp_ignore, arp_announce, rp_filter); each interface
        may raise them (Linux uses the maximum of the two).

    `tcp` and `udp` are the transport stacks (see DESIGN.md).  Attributes other
    modules set: `local_in_hook`, `forward_hook` (callables ``(host, iface, pkt) -> bool``,
    True = stolen), `cpu` (object with ``reserve(now, cost) -> float | None``),
    `cpu_cost` (callable ``pkt -> seconds``; default ``cpu_costs["rx"]``).
    """

    def __init__(self, ctx, name: str, forwarding: bool = False, sysctl: SysctlSpec | None = None):
        self.ctx = ctx
        self.env = ctx.env
        self.name = name
        self.forwarding = forwarding
        self.interfaces: dict[str, Interface] = {}
        self.sysctl = sysctl or SysctlSpec()
        self.routes = RouteTable()
        self.neigh = NeighbourTable(self)
        self.tcp = TcpStack(self)
        self.udp = UdpStack(self)
        self.local_in_hook = None
        self.forward_hook = None
        self.cpu = None
        self.cpu_cost = None
        self.cpu_costs: dict[str, float] = {"rx": 0.0}
        self._local: dict[int, Interface] = {}          # every configured address -> its interface
        self._local_nets: list[tuple[int, int]] = []    # whole prefixes on lo (127.0.0.0/8): (net, mask)
        self._more_local_nets = False                   # any prefix on lo beyond 127.0.0.0/8
        self._rcache: dict[int, tuple | None] = {}      # dst -> (iface, nexthop, src) or None
        # Bumped on every address or route change: whoever caches a route (a socket's
        # output route, as the kernel's sk_dst_cache) re-resolves when it moved.
        self.route_gen = 0
        self._ip_id = 0
        self._reasm: dict[tuple[int, int, int, int], tuple[Reassembler, list]] = {}
        self._pings: dict[int, tuple] = {}              # echo identifier -> (callback, {seq: sent at})
        self._next_ping_id = 0
        self.tunl = None                # the IPIP device (tunl0) that decapsulates, if any
        self.lo = Interface(ctx, "lo", "loopback")
        self.add_interface(self.lo, addresses=[(LOOPBACK_ADDR, 8)])

    def __repr__(self) -> str:
        return f"<Host {self.name}>"

    @property
    def sysctl(self) -> SysctlSpec:
        """conf/all; setting it updates what each interface derives from it."""
        return self._sysctl

    @sysctl.setter
    def sysctl(self, value: SysctlSpec) -> None:
        self._sysctl = value
        for iface in self.interfaces.values():
            iface.sysctl_changed()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, ctx, spec, segments: dict) -> "Host":
        """Build a host from a `HostSpec`, attaching its interfaces to `segments` by name.

        lo always exists (127.0.0.1/8); addresses given for lo are added to it;
        tunl0 exists only when the spec has it.
        """
        host = cls(ctx, spec.name, forwarding=spec.forwarding, sysctl=spec.sysctl)
        for ispec in spec.interfaces:
            addrs = [(int(a.ip), a.network.prefixlen) for a in ispec.addresses]
            if ispec.kind == "loopback":
                host.lo.sysctl = ispec.sysctl
                if ispec.mtu is not None:
                    host.lo.mtu = ispec.mtu
                for addr, plen in addrs:
                    host.add_address("lo", addr, plen)
                continue
            segment = None
            mtu = ispec.mtu
            if ispec.kind == "ether":
                segment = segments[ispec.segment]
                if mtu is None:
                    mtu = segment.mtu
            mac = mac_aton(ispec.mac) if ispec.mac else None
            iface = Interface(ctx, ispec.name, ispec.kind, mac=mac, mtu=mtu, sysctl=ispec.sysctl)
            host.add_interface(iface, segment, addrs)
        for r in spec.routes:
            host.add_route(int(r.dest.network_address), r.dest.prefixlen,
                           int(r.via) if r.via is not None else None, r.dev,
                           int(r.src) if r.src is not None else None)
        return host

    def add_interface(self, iface: Interface, segment=None,
                      addresses: list[tuple[int, int]] = ()) -> Interface:
        """Add iface (attaching it to `segment` if given) and configure `addresses` [(addr, plen)]."""
        if iface.name in self.interfaces:
            raise ValueError(f"{self.name}: duplicate interface {iface.name}")
        iface.host = self
        iface.sysctl_changed()
        iface.capture = self.ctx.observer.capture_for(self.name, iface.name)
        self.interfaces[iface.name] = iface
        if iface.kind == "ipip" and self.tunl is None:
            self.tunl = iface
        if segment is not None:
            segment.attach(iface)
        existing = [(a.addr, a.plen) for a in iface.addresses]
        iface.addresses.clear()
        for addr, plen in existing + list(addresses):
            self.add_address(iface.name, addr, plen)
        return iface

    def add_address(self, ifname: str, addr: int, plen: int) -> None:
        """`ip addr add addr/plen dev ifname`: local address, and its connected route.

        As fib_add_ifaddr(): a primary address of prefix < 32 adds the prefix route
        (on lo the whole prefix becomes local: 127.0.0.0/8); secondaries and /32s add none.
        """
        iface = self.interfaces[ifname]
        a = iface.add_address(addr, plen)
        self._local.setdefault(addr, iface)
        if a.primary and plen < 32:
            if iface.kind == "loopback":
                self._local_nets.append((a.net, a.mask))
                self._more_local_nets = any(net != LOOPBACK_ADDR & 0xFF000000
                                            for net, _ in self._local_nets)
            else:
                self.routes.add(Route(a.net, plen, dev=ifname, src=addr, kind="connected"))
        self._rcache.clear()
        self.route_gen += 1

    def add_route(self, dest_net: int, plen: int, via: int | None = None, dev: str | None = None,
                  src: int | None = None) -> None:
        """`ip route add dest_net/plen [via V] [dev D] [src S]`.

        Raises ValueError like `ip route` would: unknown device, a gateway that no
        connected route reaches, a prefix already present.
        """
        if dev is not None and dev not in self.interfaces:
            raise ValueError(f"{self.name}: route via unknown device {dev}")
        if via is not None and dev is None and self.routes.lookup_connected(via) is None:
            raise ValueError(f"{self.name}: gateway {via:#010x} is not on a connected network")
        if not self.routes.add(Route(dest_net & prefix_mask(plen), plen, via, dev, src)):
            raise ValueError(f"{self.name}: route {dest_net:#010x}/{plen} exists")
        self._rcache.clear()
        self.route_gen += 1

    def remove_route(self, dest_net: int, plen: int) -> None:
        self.routes.remove(dest_net & prefix_mask(plen), plen)
        self._rcache.clear()
        self.route_gen += 1

    def conf(self, iface: Interface, key: str) -> int:
        """Effective arp_ignore / arp_announce / rp_filter: max(conf/all, conf/IFACE)."""
        return max(getattr(self.sysctl, key) or 0, getattr(iface.sysctl, key) or 0)

    # -- addresses and routes --------------------------------------------------------------------
    def is_local(self, ip: int) -> bool:
        """ip is configured on this host (any interface: the weak host model) or in a lo prefix."""
        if ip in self._local:
            return True
        for net, mask in self._local_nets:
            if ip & mask == net:
                return True
        return False

    @property
    def addresses(self) -> list[int]:
        """All configured addresses, lo's 127.0.0.1 excepted."""
        return [a for a in self._local if a >> 24 != 127]

    def _resolve(self, dst: int) -> tuple | None:
        """(out interface, next hop, preferred source) toward dst, or None (no usable route)."""
        try:
            return self._rcache[dst]
        except KeyError:
            pass
        res = None
        r = self.routes.lookup(dst)
        if r is not None:
            if r.dev is not None:
                iface = self.interfaces[r.dev]
            else:
                c = self.routes.lookup_connected(r.via)
                iface = self.interfaces[c.dev] if c is not None else None
            if iface is not None:
                src = r.src if r.src is not None else self._select_source(iface, r.via)
                res = (iface, r.via if r.via is not None else dst, src)
        self._rcache[dst] = res
        return res

    def _select_source(self, iface: Interface, gateway: int | None) -> int | None:
        """inet_select_addr(dev, gw, RT_SCOPE_UNIVERSE): the device's primary in the gateway's
        subnet, its first primary, else the first global primary of any device (lo first)."""
        a = iface.select_address(gateway)
        if a is not None:
            return a
        for other in self.interfaces.values():
            a = other.select_address(None)
            if a is not None:
                return a
        return None

    def route_source(self, dst: int) -> int | None:
        """The source address Linux would pick toward dst (None: no route)."""
        route = self.output_route(dst)
        return None if route is None else route[2]

    def route_mtu(self, dst: int) -> int | None:
        """MTU of the interface the route to dst leaves through (None: no route)."""
        route = self.output_route(dst)
        return None if route is None else route[0].mtu

    def output_route(self, dst: int) -> tuple[Interface, int, int] | None:
        """(interface, next hop, preferred source) a packet to dst leaves by (lo for local
        addresses), or None: no route.  Valid while `route_gen` stays the same."""
        if self.is_local(dst):
            return self.lo, dst, dst
        return self._resolve(dst)

    def next_ip_id(self) -> int:
        """The IP identification of the next packet this host sends (one counter per host)."""
        self._ip_id = ident = (self._ip_id + 1) & 0xFFFF
        return ident

    def route_interface(self, dst: int) -> Interface | None:
        """The interface toward dst (lo for local addresses), or None."""
        route = self.output_route(dst)
        return None if route is None else route[0]

    # -- packet ends -------------------------------------------------------------------------------
    def deliver(self, pkt, iface: str | None = None) -> None:
        """The packet ends here, consumed by this host's stack."""
        self.ctx.ledger.delivered(pkt, self.name)
        obs = self.ctx.observer
        if obs.tracing:
            obs.step(pkt, self.name, iface, "delivered")

    def drop(self, pkt, reason: str, iface: str | None = None) -> None:
        """The packet ends here, dropped for `reason`."""
        self.ctx.ledger.dropped(pkt, self.name, reason)
        obs = self.ctx.observer
        if obs.tracing:
            obs.flush(pkt)
            obs.step(pkt, self.name, iface, "dropped", reason)

    def _new_packet(self, frame: bytearray, flow=None, parent=None):
        return self.ctx.ledger.new(frame, self.name, flow, parent)

    def send_frame(self, iface: Interface, frame: bytearray, flow=None):
        """Transmit a complete frame this host made (ARP): a new packet, traced as sent."""
        pkt = self._new_packet(frame, flow)
        obs = self.ctx.observer
        if obs.tracing:
            obs.step(pkt, self.name, iface.name, "sent")
        iface.transmit(pkt)
        return pkt

    # -- output ------------------------------------------------------------------------------------
    def ip_send(self, dst: int, proto: int, l4: bytes, *, src: int | None = None, ttl: int = DEFAULT_TTL,
                df: bool = True, tos: int = 0, flow=None):
        """Send a locally generated IPv4 packet; returns it, or None when there is no route.

        The no-route packet is still created and dropped ("no-route") so that the
        attempt is on the books, like the kernel's OutNoRoutes counter.
        """
        if self.is_local(dst):
            iface, nexthop, rsrc = self.lo, dst, dst
        else:
            res = self._resolve(dst)
            if res is None:
                frame = ethernet_frame(ZERO_MAC, ZERO_MAC, ETH_P_IP,
                                       ipv4_packet(src or 0, dst, proto, l4, ttl=ttl, df=df, tos=tos))
                self.drop(self._new_packet(frame, flow), "no-route")
                return None
            iface, nexthop, rsrc = res
        ident = self.next_ip_id()
        # Ethernet + IPv4 headers packed at once, then the payload appended: the same
        # bytes as ethernet_frame(ipv4_packet(...)) without the two intermediate copies.
        if src is None:
            src = rsrc
        total = IP_HLEN + len(l4)
        flags = IP_DF if df else 0
        frame = bytearray(_ETH_IP.pack(ZERO_MAC, iface.mac, ETH_P_IP, 0x45, tos, total, ident, flags,
                                       ttl, proto,
                                       ipv4_header_checksum(tos, total, ident, flags, ttl, proto, src, dst),
                                       src, dst))
        frame += l4
        return self.send_built(frame, iface, nexthop, flow)

    def send_built(self, frame: bytearray, iface: Interface, nexthop: int, flow=None):
        """Send a whole frame this host built (IP header complete, MACs filled in on output)
        out of iface toward nexthop, as `output_route` gave them; returns the packet."""
        pkt = self.ctx.ledger.new(frame, self.name, flow)
        obs = self.ctx.observer
        if obs.tracing:
            obs.step_at_transmit(pkt, self.name, iface.name, "sent")
        self.output_via(pkt, iface, nexthop)
        return pkt

    def output(self, pkt, nexthop_dst: int | None = None, ignore_df: bool = False) -> None:
        """Route and transmit a built IP packet (Ethernet addresses are filled in here).

        `nexthop_dst` routes toward another address than the IP destination (IPVS DR).
        `ignore_df` is skb->ignore_df: fragment a too-big packet even with DF set
        (IPVS xmit sets it, "avoid icmp_send in ip_fragment", ip_vs_xmit.c).
        """
        route = self.output_route(ip_dst(pkt.data) if nexthop_dst is None else nexthop_dst)
        if route is None:
            self.drop(pkt, "no-route")
            return
        self.output_via(pkt, route[0], route[1], ignore_df)

    def output_via(self, pkt, iface: Interface, nexthop: int, ignore_df: bool = False) -> None:
        """`output` on a route already looked up (`output_route`): MTU, neighbour, transmit."""
        d = pkt.data
        if (d[16] << 8 | d[17]) > iface.mtu:          # the IP total length (ETH_HLEN + 2)
            if ip_df(d) and not ignore_df:
                # ip_fragment(): DF set and too big -> "fragmentation needed" to the source.
                self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu=iface.mtu)
                self.drop(pkt, "frag-needed", iface.name)
                return
            for p in self._fragment(pkt, iface.mtu):
                self.output_via(p, iface, nexthop)     # each fragment fits
            return
        if iface.is_ether:
            hh = iface.neigh_hh.get(nexthop)
            if hh is None:
                self.neigh.output(iface, nexthop, pkt)  # resolve first (ARP), then transmit
                return
            # A resolved neighbour: its Ethernet addresses straight onto the frame (the
            # kernel's neigh_hh_output fast path).
            _PUT_HH(d, 0, hh)
        iface.transmit(pkt)

    def _fragment(self, pkt, mtu: int) -> list:
        """Split pkt; the original packet carries the first fragment, new packets the rest."""
        frames = ipv4_fragment(pkt.data, mtu)
        pkt.data = frames[0]
        out = [pkt]
        for f in frames[1:]:
            p = self.ctx.ledger.new(f, pkt.origin, pkt.flow, pkt.pid)
            p.path = list(pkt.path)
            p.born = pkt.born
            out.append(p)
        return out

    def neighbour_failed(self, pkt, iface: Interface) -> None:
        """ARP gave up on pkt's next hop: host unreachable to its source (arp_error_report), drop."""
        self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH)
        self.drop(pkt, "arp-failed", iface.name)

    # -- ICMP --------------------------------------------------------------------------------------
    def icmp_error(self, pkt, type: int, code: int, mtu: int = 0) -> None:
        """Send an ICMP error about pkt to its source, under icmp_send()'s rules (see module doc)."""
        d = pkt.data
        if ip_frag_offset(d):
            return
        if d[ETH_HLEN + 9] == IPPROTO_ICMP:
            l4 = ETH_HLEN + ((d[ETH_HLEN] & 0x0F) << 2)
            inner = d[l4] if l4 < len(d) else ICMP_DEST_UNREACH
            if inner in ICMP_ERROR_TYPES or inner > 18:     # NR_ICMP_TYPES: unknown types too
                return
        src = ip_src(d)
        if _martian_source(src):
            return
        if self.is_local(src):
            self._icmp_to_transport(pkt, ETH_HLEN, type, code, mtu)
            return
        quoted = icmp_error_payload(memoryview(d)[ETH_HLEN:ETH_HLEN + ip_total_len(d)])
        dst = ip_dst(d)
        msg = icmp_message(type, code, _MTU_FIELD.pack(0, mtu), quoted)
        tos = (d[ETH_HLEN + 1] & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL
        self.ip_send(src, IPPROTO_ICMP, msg, src=dst if self.is_local(dst) else None,
                     df=False, tos=tos, flow=pkt.flow)

    def _icmp_to_transport(self, pkt, l3: int, type: int, code: int, mtu: int) -> None:
        """Tell the transport about an error on the packet whose IP header is at l3 in pkt.data
        (inside a received ICMP error, or a packet of ours that could not be sent)."""
        proto = pkt.data[l3 + 9]
        stack = self.tcp if proto == IPPROTO_TCP else self.udp if proto == IPPROTO_UDP else None
        handler = getattr(stack, "icmp_error", None)
        if handler is not None:
            handler(pkt, l3, type, code, mtu)

    def ping(self, dst: int, seq: int = 1, ident: int | None = None, size: int = 56,
             on_reply=None, src: int | None = None, flow=None):
        """Send an ICMP echo request (`ping -s size`); returns the packet or None (no route).

        `on_reply(pkt, seq, rtt)` is called when the matching echo reply arrives.
        """
        if ident is None:
            self._next_ping_id += 1
            ident = self._next_ping_id
        waiter = self._pings.get(ident)
        if waiter is None:
            waiter = self._pings[ident] = (on_reply, {})
        waiter[1][seq] = self.env.now
        msg = icmp_message(ICMP_ECHO, 0, _MTU_FIELD.pack(ident, seq), bytes(size))
        return self.ip_send(dst, IPPROTO_ICMP, msg, src=src, df=True, flow=flow)

    def _icmp_input(self, iface: Interface, pkt, l4: int) -> None:
        d = pkt.data
        end = ETH_HLEN + ip_total_len(d)
        t = d[l4]
        if t == ICMP_ECHO:
            # icmp_echo() -> icmp_reply(): same identifier, sequence and data, from the
            # address that was pinged.
            reply = icmp_message(ICMP_ECHOREPLY, 0, bytes(d[l4 + 4:l4 + 8]), bytes(d[l4 + 8:end]))
            self.deliver(pkt, iface.name)
            self.ip_send(ip_src(d), IPPROTO_ICMP, reply, src=ip_dst(d), df=False, flow=pkt.flow)
            return
        if t == ICMP_ECHOREPLY:
            ident, seq = _MTU_FIELD.unpack_from(d, l4 + 4)
            waiter = self._pings.get(ident)
            self.deliver(pkt, iface.name)
            if waiter is not None:
                sent = waiter[1].pop(seq, None)
                if sent is not None and waiter[0] is not None:
                    waiter[0](pkt, seq, self.env.now - sent)
            return
        if t in ICMP_ERROR_TYPES and end - (l4 + 8) >= 28:
            mtu = _MTU_FIELD.unpack_from(d, l4 + 4)[1] if t == ICMP_DEST_UNREACH else 0
            self._icmp_to_transport(pkt, l4 + 8, t, d[l4 + 1], mtu)
            self.deliver(pkt, iface.name)
            return
        self.deliver(pkt, iface.name)

    # -- input -------------------------------------------------------------------------------------
    def receive(self, iface: Interface, pkt) -> None:
        """A frame for this host arrived on iface (past the MAC filter)."""
        path = pkt.path
        if path[-1] != self.name:
            path.append(self.name)
        obs = self.ctx.observer
        if obs.tracing:
            obs.step(pkt, self.name, iface.name, "received")
        cpu = self.cpu
        if cpu is not None and iface.is_ether:
            now = self.env._now
            cost = self.cpu_cost(pkt) if self.cpu_cost is not None else self.cpu_costs["rx"]
            done = cpu.reserve(now, cost)
            if done is None:
                self.drop(pkt, "cpu-backlog", iface.name)
                return
            if done > now:
                call_later(self.env, done - now, (iface, pkt), self._cpu_done)
                return
        d = pkt.data
        if d[12] == 8 and d[13] == 0:           # ETH_P_IP, the common case first
            self._ip_input(iface, pkt)
        else:
            self._process(iface, pkt)

    def _cpu_done(self, ev) -> None:
        iface, pkt = ev._value
        self._process(iface, pkt)

    def _process(self, iface: Interface, pkt) -> None:
        d = pkt.data
        etype = (d[12] << 8) | d[13]
        if etype == ETH_P_IP:
            self._ip_input(iface, pkt)
        elif etype == ETH_P_ARP and iface.is_ether:
            self.neigh.receive(iface, pkt)
        else:
            self.drop(pkt, "unknown-ethertype", iface.name)

    def _ip_input(self, iface: Interface, pkt) -> None:
        d = pkt.data
        if len(d) < ETH_HLEN + 20 or d[ETH_HLEN] >> 4 != 4:
            self.drop(pkt, "bad-ip-header", iface.name)
            return
        src, dst = _SRC_DST(d, ETH_HLEN + 12)
        real = iface.kind != "loopback"
        if real:
            top = src >> 24                      # _martian_source(), inlined: every packet
            if top == 0 or top == 127 or top >= 224 or src in self._local:
                self.drop(pkt, "martian-source", iface.name)
                return
            if dst >> 24 == 127:
                self.drop(pkt, "martian-destination", iface.name)
                return
        # is_local(dst), without the call for the common cases: a real interface has
        # already refused 127/8, so only other prefixes on lo need the prefix check.
        if dst in self._local or ((self._more_local_nets or not real) and self.is_local(dst)):
            if real and iface.rp_filter and not self._rp_filter_ok(iface, src):
                self.drop(pkt, "rp_filter", iface.name)
                return
            self._local_deliver(iface, pkt)
            return
        if dst == LIMITED_BROADCAST or dst >> 28 == 0xE:
            self.deliver(pkt, iface.name)        # no broadcast/multicast listeners modelled
            return
        if not self.forwarding or not real:
            self.drop(pkt, "not-forwarding", iface.name)
            return
        res = self._rcache.get(dst, _UNCACHED)
        if res is _UNCACHED:
            res = self._resolve(dst)
        if res is None:
            self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_NET_UNREACH)
            self.drop(pkt, "no-route", iface.name)
            return
        if iface.rp_filter and not self._rp_filter_ok(iface, src):
            self.drop(pkt, "rp_filter", iface.name)
            return
        self._forward(iface, pkt, res)

    def _rp_filter_ok(self, iface: Interface, src: int) -> bool:
        """fib_validate_source() with rp_filter on (`iface.rp_filter` 1 or 2): strict needs
        the route back via iface, loose any route back."""
        res = self._resolve(src)
        if res is None:
            return False
        return iface.rp_filter != 1 or res[0] is iface

    def _forward(self, iface: Interface, pkt, res: tuple) -> None:
        """ip_forward(): TTL, MTU, TTL decrement, FORWARD hook, output."""
        d = pkt.data
        if d[ETH_HLEN + 8] <= 1:
            self.icmp_error(pkt, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL)
            self.drop(pkt, "ttl-exceeded", iface.name)
            return
        out, nexthop, _ = res
        if (d[16] << 8 | d[17]) > out.mtu and d[20] & 0x40:      # IP total length; DF
            self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu=out.mtu)
            self.drop(pkt, "frag-needed", iface.name)
            return
        # dec_ttl(d), inlined (every forwarded packet): ip_decrease_ttl's checksum update.
        c = (d[24] << 8 | d[25]) + 0x0100
        c = (c + (c >= 0xFFFF)) & 0xFFFF
        d[24] = c >> 8
        d[25] = c & 0xFF
        d[22] -= 1
        hook = self.forward_hook
        if hook is not None and hook(self, iface, pkt):
            return
        obs = self.ctx.observer
        if obs.tracing:
            obs.step_at_transmit(pkt, self.name, out.name, "forwarded")
        self.output_via(pkt, out, nexthop)

    def _local_deliver(self, iface: Interface, pkt) -> None:
        """ip_local_deliver(): reassemble, LOCAL_IN hook, protocol handler."""
        d = pkt.data
        if d[20] & 0x3F or d[21]:             # ip_is_fragment(): MF or a fragment offset
            pkt = self._reassemble(iface, pkt)
            if pkt is None:
                return
        hook = self.local_in_hook
        if hook is not None and hook(self, iface, pkt):
            return
        d = pkt.data
        proto = d[ETH_HLEN + 9]
        l4 = ETH_HLEN + ((d[ETH_HLEN] & 0x0F) << 2)
        if proto == IPPROTO_TCP:
            if self.tcp.receive(pkt, ETH_HLEN, l4):
                self.deliver(pkt, iface.name)
            else:
                self.drop(pkt, "no-socket", iface.name)
        elif proto == IPPROTO_UDP:
            if self.udp.receive(pkt, ETH_HLEN, l4):
                self.deliver(pkt, iface.name)
            else:
                self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)
                self.drop(pkt, "port-unreachable", iface.name)
        elif proto == IPPROTO_ICMP:
            self._icmp_input(iface, pkt, l4)
        elif proto == IPPROTO_IPIP:
            self._ipip_input(iface, pkt)
        else:
            self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH)
            self.drop(pkt, "proto-unreachable", iface.name)

    def _ipip_input(self, iface: Interface, pkt) -> None:
        """ipip_rcv(): strip the outer header and receive the inner packet again, on tunl0."""
        tunl = self.tunl
        if tunl is None:
            self.icmp_error(pkt, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH)
            self.drop(pkt, "no-ipip-device", iface.name)
            return
        pkt.data = ipip_decap(pkt.data)
        if tunl.capture is not None:
            tunl.capture(self.env.now, pkt.data)
        obs = self.ctx.observer
        if obs.tracing:
            obs.step(pkt, self.name, tunl.name, "received", "ipip decapsulated")
        self._ip_input(tunl, pkt)

    def _reassemble(self, iface: Interface, pkt):
        """ip_defrag(): hold fragments; the completed datagram continues as the packet that
        carried the first fragment, the others end here (consumed by reassembly)."""
        d = pkt.data
        key = (ip_src(d), ip_dst(d), ip_id(d), d[ETH_HLEN + 9])
        entry = self._reasm.get(key)
        if entry is None:
            entry = self._reasm[key] = (Reassembler(), [])
            ev = self.env.timeout(IP_FRAG_TIME, (key, entry))
            ev.callbacks.append(self._reassembly_timeout)
        entry[1].append(pkt)
        whole = entry[0].add(d, self.env.now)
        if whole is None:
            return None
        del self._reasm[key]
        first = next(p for p in entry[1] if ip_frag_offset(p.data) == 0)
        for p in entry[1]:
            if p is not first:
                self.deliver(p, iface.name)
        first.data = whole
        return first

    def _reassembly_timeout(self, ev) -> None:
        key, entry = ev._value
        if self._reasm.get(key) is not entry:
            return                                # completed in time
        del self._reasm[key]
        held = entry[1]
        first = next((p for p in held if ip_frag_offset(p.data) == 0), None)
        if first is not None:
            # ip_expire(): time exceeded (reassembly) only when the first fragment came in.
            self.icmp_error(first, ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME)
        for p in held:
            self.drop(p, "reassembly-timeout")
