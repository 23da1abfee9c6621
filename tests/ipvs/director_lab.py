"""A small lab for the director tests: one topology, scenario text builders, trace readers.

The topology (MAC addresses fixed so that golden frames are readable)::

    client 198.51.100.10 --wan-- gw 198.51.100.1 / 10.0.0.1 --lan-- lb 10.0.0.2 (+VIP, LIP 10.0.0.50)
                                                                  rs1 10.0.0.11, rs2 10.0.0.12
                                                                  r2 10.0.0.3 / 10.2.0.1 --far-- rs3 10.2.0.11

Real server host blocks are given per test, so each scenario states exactly how
its servers are configured (VIP on lo/tunl0, ARP sysctls, default gateway).
"""
from __future__ import annotations

import textwrap

from ipvssim.packet import wire
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim.simulation import RunResult, Simulation

__all__ = ["A", "MAC", "CIP", "VIP", "GW_WAN", "GW_LAN", "DIP", "LIP", "RIP1", "RIP2", "R2_LAN",
           "RIP3", "scenario_text", "run", "rs_block", "received", "tcp_steps", "lb_out",
           "client_sent", "drops", "TH"]

A = wire.ip_aton
CIP, GW_WAN, GW_LAN = A("198.51.100.10"), A("198.51.100.1"), A("10.0.0.1")
DIP, VIP, LIP = A("10.0.0.2"), A("10.0.0.100"), A("10.0.0.50")
RIP1, RIP2, R2_LAN, RIP3 = A("10.0.0.11"), A("10.0.0.12"), A("10.0.0.3"), A("10.2.0.11")

MAC = {
    ("client", "eth0"): "02:00:00:00:00:0a",
    ("gw", "eth0"): "02:00:00:00:01:01",
    ("gw", "eth1"): "02:00:00:00:01:02",
    ("lb", "eth0"): "02:00:00:00:00:02",
    ("rs1", "eth0"): "02:00:00:00:00:11",
    ("rs2", "eth0"): "02:00:00:00:00:12",
    ("r2", "eth0"): "02:00:00:00:02:01",
    ("r2", "eth1"): "02:00:00:00:02:02",
    ("rs3", "eth0"): "02:00:00:00:00:13",
}

TH = {"S": wire.TH_SYN, "SA": wire.TH_SYN | wire.TH_ACK, "A": wire.TH_ACK,
      "PA": wire.TH_PSH | wire.TH_ACK, "R": wire.TH_RST, "RA": wire.TH_RST | wire.TH_ACK}

_BASE_HOSTS = {
    "client": """\
        interfaces: {eth0: {segment: wan, ip: 198.51.100.10, mac: "02:00:00:00:00:0a"}}
        routes: [{to: default, via: 198.51.100.1}]""",
    "gw": """\
        forwarding: true
        interfaces:
          eth0: {segment: wan, ip: 198.51.100.1, mac: "02:00:00:00:01:01"}
          eth1: {segment: lan, ip: 10.0.0.1, mac: "02:00:00:00:01:02"}
        routes: [{to: 10.2.0.0/24, via: 10.0.0.3}]""",
    "lb": """\
        forwarding: true
        interfaces: {eth0: {segment: lan, ip: [10.0.0.2, 10.0.0.100/32, 10.0.0.50/32], mac: "02:00:00:00:00:02"}}
        routes: [{to: default, via: 10.0.0.1}, {to: 10.2.0.0/24, via: 10.0.0.3}]""",
    "r2": """\
        forwarding: true
        interfaces:
          eth0: {segment: lan, ip: 10.0.0.3, mac: "02:00:00:00:02:01"}
          eth1: {segment: far, ip: 10.2.0.1, mac: "02:00:00:00:02:02"}
        routes: [{to: default, via: 10.0.0.1}]""",
}


def rs_block(name: str, *, vip_on: str | None = "lo", gateway: str = "10.0.0.1",
             arp: bool = True, rp_filter: int | None = None, listen: str = "[tcp/80]",
             tunl0: bool = False, extra: str = "") -> tuple[str, str]:
    """(host name, YAML body) of a real server: rs1/rs2 on lan, rs3 on far (behind r2).

    ``vip_on``: "lo", "tunl0" or None (no VIP on the server); ``gateway``: its
    default route; ``arp``: arp_ignore=1/arp_announce=2; ``tunl0``: an IPIP device
    without the VIP.
    """
    seg, ip = {"rs1": ("lan", "10.0.0.11"), "rs2": ("lan", "10.0.0.12"),
               "rs3": ("far", "10.2.0.11")}[name]
    lines = ["interfaces:",
             f'  eth0: {{segment: {seg}, ip: {ip}, mac: "{MAC[(name, "eth0")]}"}}']
    if vip_on:
        lines.append(f"  {vip_on}: {{ip: [10.0.0.100/32]}}")
    if tunl0 and vip_on != "tunl0":
        lines.append("  tunl0: {}")
    sysctl = []
    if arp:
        sysctl += ["arp_ignore: 1", "arp_announce: 2"]
    if rp_filter is not None:
        sysctl.append(f"rp_filter: {rp_filter}")
    if sysctl:
        lines.append(f"sysctl: {{{', '.join(sysctl)}}}")
    lines.append(f"routes: [{{to: default, via: {gateway}}}]")
    lines.append(f"app: {{listen: {listen}}}")
    if extra:
        lines += extra.splitlines()
    return name, "\n".join(lines)


def scenario_text(services: str, traffic: str, servers: list[tuple[str, str]], *,
                  extra_hosts: dict[str, str] | None = None, lb: str | None = None,
                  events: str = "", duration: str = "10s", seed: int = 1,
                  lan_extra: str = "", lb_extra: str = "") -> str:
    """A whole scenario: the lab topology with `servers`, plus services/traffic/events YAML.

    ``lb`` replaces the director's host block; ``lb_extra`` appends lines to it
    (``ipvs:``, ``cpu:``); ``lan_extra`` adds keys to the lan segment.
    """
    hosts = dict(_BASE_HOSTS)
    if lb is not None:
        hosts["lb"] = lb
    if lb_extra:
        hosts["lb"] = textwrap.dedent(hosts["lb"]) + "\n" + textwrap.dedent(lb_extra).strip("\n")
    hosts.update(extra_hosts or {})
    hosts.update(dict(servers))
    if not any(n == "rs3" for n, _ in servers) and "r2" not in (extra_hosts or {}):
        hosts.pop("r2")
    out = [f"name: lab\nseed: {seed}\nduration: {duration}\ntopology:\n  segments:",
           "    wan: {subnet: 198.51.100.0/24, delay: 1ms}",
           f"    lan: {{subnet: 10.0.0.0/24, delay: 50us{lan_extra}}}",
           "    far: {subnet: 10.2.0.0/24, delay: 50us}",
           "  hosts:"]
    for name, body in hosts.items():
        out.append(f"    {name}:")
        out.append(textwrap.indent(textwrap.dedent(body), "      "))
    out.append("services:")
    out.append(textwrap.indent(textwrap.dedent(services).strip("\n"), "  "))
    out.append("traffic:")
    out.append(textwrap.indent(textwrap.dedent(traffic).strip("\n"), "  "))
    if events:
        out.append("events:")
        out.append(textwrap.indent(textwrap.dedent(events).strip("\n"), "  "))
    return "\n".join(out) + "\n"


def run(text: str, **kw) -> RunResult:
    """Load and run with trace and pcap on."""
    kw.setdefault("trace", True)
    kw.setdefault("pcap", True)
    return Simulation(load_scenario_text(text), **kw).run()


def _is_tcp(d: bytes, l3: int = wire.ETH_HLEN) -> bool:
    return len(d) > l3 + 20 and d[12:14] == b"\x08\x00" and d[l3 + 9] == wire.IPPROTO_TCP


def tcp_steps(res: RunResult, action: str = "received"):
    """Trace steps of TCP packets (IPIP-wrapped ones included) with the given action."""
    out = []
    for s in res.ctx.observer.steps:
        if s.action != action or len(s.data) < 34 or s.data[12:14] != b"\x08\x00":
            continue
        proto = s.data[23]
        if proto == wire.IPPROTO_TCP or (proto == wire.IPPROTO_IPIP and _is_tcp(s.data, 34)):
            out.append(s)
    return out


def received(res: RunResult, pid: int) -> list[tuple[str, str, bytes]]:
    """(host, iface, frame) of every "received" step of packet `pid`: its bytes on each link."""
    return [(s.host, s.iface, s.data) for s in res.ctx.observer.steps
            if s.pid == pid and s.action == "received"]


def client_sent(res: RunResult, flags: int, nth: int = 0, host: str = "client"):
    """The nth TCP packet the client created with exactly these flags: its trace step."""
    hits = [s for s in res.ctx.observer.steps
            if s.action == "sent" and s.host == host and _is_tcp(s.data)
            and wire.tcp_flags(s.data) == flags]
    return hits[nth]


def lb_out(res: RunResult, pred, host: str = "lb", iface: str = "eth0") -> list[bytes]:
    """Frames the director transmitted on iface (pcap capture: bytes as on the wire)."""
    mac = wire.mac_aton(MAC[(host, iface)])
    return [f for _, f in res.ctx.observer.captures[(host, iface)]
            if f[6:12] == mac and f[12:14] == b"\x08\x00" and pred(f)]


def drops(res: RunResult, reason: str | None = None, host: str | None = None):
    """Trace steps of dropped IPv4 packets (ARP left out), optionally by reason and host."""
    return [s for s in res.ctx.observer.steps if s.action == "dropped" and s.data[12:14] == b"\x08\x00"
            and (reason is None or s.reason == reason) and (host is None or s.host == host)]
