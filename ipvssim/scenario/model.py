"""Frozen, typed scenario objects: the only form in which the rest of ipvssim sees a scenario.

The loader (`ipvssim.scenario.loader`) is the one place that reads YAML; it validates
everything and produces these objects.  Addresses are `ipaddress` objects, times are
seconds, rates bits/s, sizes bytes.  Every object carries `loc` (file and line) and
`path` (the YAML path, e.g. ``topology.hosts.rs1``) so that later checks (the
validator, expectations) can point at the source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Mapping

__all__ = [
    "Loc", "SegmentSpec", "InterfaceSpec", "RouteSpec", "SysctlSpec", "IpvsSettings",
    "CpuSpec", "AppSpec", "HostSpec", "TopologySpec", "RealServerSpec", "ServiceSpec",
    "TrafficSpec", "ExpectSpec", "EventSpec", "Scenario", "MODES", "SCHEDULERS",
    "SCHEDULER_FLAGS", "DEFAULT_TCP_TIMEOUTS",
]

MODES = ("dr", "nat", "tun", "fullnat")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "dh", "sh", "mh",
              "lblc", "lblcr")
SCHEDULER_FLAGS = ("sh-port", "sh-fallback", "mh-port", "mh-fallback")

# ip_vs_proto_tcp.c tcp_timeouts[] (seconds), the kernel's defaults.
DEFAULT_TCP_TIMEOUTS: Mapping[str, float] = {
    "NONE": 2, "ESTABLISHED": 900, "SYN_SENT": 120, "SYN_RECV": 60, "FIN_WAIT": 120,
    "TIME_WAIT": 120, "CLOSE": 10, "CLOSE_WAIT": 60, "LAST_ACK": 30, "LISTEN": 120,
    "SYNACK": 120,
}


@dataclass(frozen=True)
class Loc:
    """Where something was written: file and 1-based line."""
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    subnet: IPv4Network
    bandwidth_bps: float = 1e9
    delay_s: float = 10e-6
    loss: float = 0.0
    queue: int = 1000
    mtu: int = 1500
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class SysctlSpec:
    """Per-host (`conf/all`) or per-interface values; None = not set (kernel default 0).

    Linux takes max(all, interface) for arp_ignore, arp_announce and rp_filter.
    """
    arp_ignore: int | None = None
    arp_announce: int | None = None
    rp_filter: int | None = None


@dataclass(frozen=True)
class InterfaceSpec:
    name: str
    kind: str                       # "ether" | "loopback" (lo) | "ipip" (tunl0)
    segment: str | None             # None for lo / tunl0
    addresses: tuple[IPv4Interface, ...]   # prefix from the segment unless written /N
    mac: str | None = None          # None = deterministic default
    mtu: int | None = None          # None = segment's (ether), 65536 (lo), 1480 (tunl0)
    sysctl: SysctlSpec = field(default_factory=SysctlSpec)
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class RouteSpec:
    dest: IPv4Network               # "default" -> 0.0.0.0/0
    via: IPv4Address | None = None
    dev: str | None = None
    src: IPv4Address | None = None
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class IpvsSettings:
    """Director sysctls (net.ipv4.vs.*) with the kernel's defaults."""
    conn_reuse_mode: int = 1
    expire_nodest_conn: int = 0
    expire_quiescent_template: int = 0
    sloppy_tcp: int = 0
    sloppy_udp: int = 0
    conntrack: int = 0
    pmtu_disc: int = 1
    timeouts_tcp: float = 900.0      # ipvsadm --set tcp
    timeouts_tcpfin: float = 120.0   # ipvsadm --set tcpfin
    timeouts_udp: float = 300.0      # ipvsadm --set udp
    # Kernel version whose behaviour to follow where it changed: before 5.9 a SYN
    # reusing a port whose entry is in TIME_WAIT was dropped when conntrack=1.
    kernel: tuple[int, int] = (6, 6)
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class CpuSpec:
    """Director processing capacity: cores and per-packet cost (seconds) per operation."""
    cores: int = 1
    costs: Mapping[str, float] = field(default_factory=dict)  # overrides of ipvssim.ipvs.cpu.DEFAULT_COSTS
    backlog: int = 1000            # net.core.netdev_max_backlog
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class AppSpec:
    listen: tuple[tuple[str, int], ...]   # (("tcp", 80), ("udp", 53))
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class HostSpec:
    name: str
    interfaces: tuple[InterfaceSpec, ...]
    routes: tuple[RouteSpec, ...] = ()
    forwarding: bool = False
    sysctl: SysctlSpec = field(default_factory=SysctlSpec)
    app: AppSpec | None = None
    ipvs: IpvsSettings | None = None       # set when the scenario gave `ipvs:` on this host
    cpu: CpuSpec | None = None
    loc: Loc | None = None
    path: str = ""
    # Director data plane: "ipvs", or "iptables" (kube-proxy's iptables mode, ipvssim.dataplane).
    dataplane: str = "ipvs"

    def interface(self, name: str) -> InterfaceSpec | None:
        for i in self.interfaces:
            if i.name == name:
                return i
        return None


@dataclass(frozen=True)
class TopologySpec:
    segments: tuple[SegmentSpec, ...]
    hosts: tuple[HostSpec, ...]
    file: str = ""                  # the file it was read from (scenario file when inline)

    def host(self, name: str) -> HostSpec | None:
        for h in self.hosts:
            if h.name == name:
                return h
        return None

    def segment(self, name: str) -> SegmentSpec | None:
        for s in self.segments:
            if s.name == name:
                return s
        return None


@dataclass(frozen=True)
class RealServerSpec:
    address: IPv4Address            # resolved: `address:` or the host's address on the service's path
    port: int                       # default: the service port (0 for an all-ports service)
    host: str | None = None         # the host name when known (given, or found by address)
    weight: int = 1
    mode: str | None = None         # per-server override of the service's mode
    upper: int = 0                  # -x u-threshold (0 = none)
    lower: int = 0                  # -y l-threshold
    loc: Loc | None = None
    path: str = ""

    @property
    def label(self) -> str:
        return self.host or f"{self.address}:{self.port}"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    director: str
    vip: IPv4Address
    port: int
    protocol: str                   # "tcp" | "udp"
    scheduler: str = "wlc"
    flags: tuple[str, ...] = ()
    persistence: float = 0.0        # seconds; 0 = not persistent
    persistence_netmask: int = 32   # prefix length of -M
    mode: str = "dr"
    local_addresses: tuple[IPv4Address, ...] = ()
    real_servers: tuple[RealServerSpec, ...] = ()
    loc: Loc | None = None
    path: str = ""
    # FULLNAT local port range (lo, hi) lent on each local address; None = DPVS's default.
    local_ports: tuple[int, int] | None = None


@dataclass(frozen=True)
class TrafficSpec:
    name: str
    sources: tuple[str, ...]        # client host names
    dst: IPv4Address
    port: int
    protocol: str = "tcp"
    connections: int = 1
    rate: float = 10.0              # new connections per second (over all sources)
    arrival: str = "constant"       # "constant" | "poisson"
    request: int = 100
    response: int = 1000
    start: float = 0.0              # seconds
    loc: Loc | None = None
    path: str = ""
    requests: int = 1               # requests per connection, one after the other
    think: float = 0.0              # idle seconds between a response and the next request
    source_port: int | None = None  # every connection from this client port (None: ephemeral)


@dataclass(frozen=True)
class ExpectSpec:
    kind: str                       # "connections" | "path" | "distribution" | "finding"
    params: Mapping[str, Any]       # the mapping as written, values already type-checked
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class EventSpec:
    at: float                       # simulated seconds
    action: str                     # "weight" | "remove" | "add"
    service: str                    # service name
    server: str                     # real server: host name or "ADDR:PORT" / ADDR
    weight: int | None = None
    mode: str | None = None         # for "add"
    port: int | None = None         # for "add"
    address: IPv4Address | None = None   # the real server's address, resolved by the loader
    loc: Loc | None = None
    path: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    topology: TopologySpec
    services: tuple[ServiceSpec, ...] = ()
    traffic: tuple[TrafficSpec, ...] = ()
    expect: tuple[ExpectSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    description: str = ""
    seed: int = 1
    duration: float = 60.0
    file: str = ""
