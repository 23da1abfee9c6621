"""Small topologies and capture readers shared by the L2/L3 tests."""
from __future__ import annotations

from ipvssim.net.context import SimContext
from ipvssim.net.host import Host
from ipvssim.net.interface import Interface
from ipvssim.net.segment import Segment
from ipvssim.packet.wire import (
    ETH_P_ARP, ETH_P_IP, IPPROTO_ICMP, arp_fields, eth_type, icmp_code, icmp_type, ip_aton,
    ip_proto,
)
from ipvssim.scenario.model import SysctlSpec

BW = 1e6          # 1 Mbps: a 98-byte ping frame serializes in 784 us
DELAY = 1e-3      # 1 ms one-way interface <-> switch
PING_FRAME = 98   # 14 Ethernet + 20 IP + 8 ICMP + 56 data
ARP_FRAME = 42    # 14 Ethernet + 28 ARP


def ser(nbytes: int, bw: float = BW) -> float:
    return nbytes * 8 / bw


def hop(nbytes: int, bw: float = BW, delay: float = DELAY) -> float:
    """Host-to-host time across one idle segment."""
    return 2 * ser(nbytes, bw) + 2 * delay


def ip(s: str) -> int:
    return ip_aton(s)


def new_ctx(**kw) -> SimContext:
    kw.setdefault("pcap", True)
    return SimContext(**kw)


def segment(ctx, name: str, **kw) -> Segment:
    kw.setdefault("bandwidth", BW)
    kw.setdefault("delay", DELAY)
    return Segment(ctx, name, **kw)


def host(ctx, name: str, links: dict, forwarding: bool = False, routes=(), sysctl: SysctlSpec | None = None,
         iface_sysctl: dict | None = None) -> Host:
    """links: {"eth0": (segment, ["10.0.0.1/24", ...])}; routes: [("0.0.0.0/0", "10.0.0.254"), ...]."""
    h = Host(ctx, name, forwarding=forwarding, sysctl=sysctl)
    for ifname, (seg, addrs) in links.items():
        kind = "ether" if seg is not None else ("loopback" if ifname == "lo" else "ipip")
        parsed = []
        for a in addrs:
            addr, plen = a.split("/")
            parsed.append((ip(addr), int(plen)))
        if ifname == "lo":
            for addr, plen in parsed:
                h.add_address("lo", addr, plen)
            if iface_sysctl and "lo" in iface_sysctl:
                h.lo.sysctl = iface_sysctl["lo"]
            continue
        sc = (iface_sysctl or {}).get(ifname)
        h.add_interface(Interface(ctx, ifname, kind, sysctl=sc), seg, parsed)
    for dest, via in routes:
        net, plen = dest.split("/")
        h.add_route(ip(net), int(plen), ip(via))
    return h


def run(ctx, until: float | None = None) -> None:
    ctx.env.run(until=until)
    ctx.ledger.check()


def frames(ctx, hostname: str, ifname: str = "eth0") -> list[tuple[float, bytes]]:
    return ctx.observer.captures.get((hostname, ifname), [])


def arp_frames(ctx, hostname: str, ifname: str = "eth0") -> list[tuple[float, tuple]]:
    return [(t, arp_fields(f)) for t, f in frames(ctx, hostname, ifname) if eth_type(f) == ETH_P_ARP]


def icmp_frames(ctx, hostname: str, ifname: str = "eth0") -> list[tuple[float, int, int, bytes]]:
    return [(t, icmp_type(f), icmp_code(f), f) for t, f in frames(ctx, hostname, ifname)
            if eth_type(f) == ETH_P_IP and ip_proto(f) == IPPROTO_ICMP]
