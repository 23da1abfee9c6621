"""Read a scenario file (YAML) into the frozen objects of `ipvssim.scenario.model`.

This is the only module that reads YAML.  It checks everything a user can get wrong in
the file itself -- syntax, unknown keys, types, units, addresses, names that refer to
nothing, duplicate addresses -- and reports *all* problems at once as a `ScenarioError`
whose problems print as ``FILE:LINE: key.path: what is wrong``.  Whether the network
will actually work (ARP settings, return routes, ...) is the validator's business.

Examples
--------
>>> scn = load_scenario_text('''
... name: tiny
... topology:
...   segments: {lan: {subnet: 10.0.0.0/24}}
...   hosts:
...     a: {interfaces: {eth0: {segment: lan, ip: 10.0.0.1}}}
... ''')
>>> scn.topology.host("a").interfaces[0].addresses
(IPv4Interface('10.0.0.1/24'),)
"""
from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, NetmaskValueError, \
    AddressValueError
from typing import Any, Iterable

from yaml.nodes import MappingNode, Node, ScalarNode

from ipvssim import units
from ipvssim.dataplane import DATAPLANES
from ipvssim.scenario._yaml import MISSING, Reader, describe, file_of, index, is_null, \
    join, line_of, suggest
from ipvssim.scenario.errors import Problem, ScenarioError
from ipvssim.scenario.model import (
    MODES, SCHEDULER_FLAGS, SCHEDULERS, AppSpec, CpuSpec, EventSpec, ExpectSpec, HostSpec,
    InterfaceSpec, IpvsSettings, Loc, RealServerSpec, RouteSpec, Scenario, SegmentSpec,
    ServiceSpec, SysctlSpec, TopologySpec, TrafficSpec,
)

__all__ = ["load_scenario", "load_scenario_text", "ScenarioError", "Problem",
           "DEFAULT_PERSISTENCE_S", "DEFAULT_DURATION_S", "APP_HEADER_LEN", "MAX_CONNECTIONS"]

# ipvsadm/keepalived IPVS_SVC_PERSISTENT_TIMEOUT (6*60): `-p` without a value.
DEFAULT_PERSISTENCE_S = 360.0
# ipvsadm.c MAX_TIMEOUT (86400*31): the longest persistence it accepts.
MAX_PERSISTENCE_S = 86400 * 31
DEFAULT_DURATION_S = 60.0
# DESIGN.md app protocol: every request starts with `!II` (request length, response length).
APP_HEADER_LEN = 8
MAX_APP_LENGTH = 2 ** 32 - 1
DEFAULT_TOLERANCE = 0.05
# Every connection of a traffic is simulated packet by packet and keeps a Flow record for
# the report (a few hundred bytes each, plus its packets while alive): beyond this the
# run would exhaust memory long before it finished, so the file is refused up front.
MAX_CONNECTIONS = 10_000_000
# Linux IFNAMSIZ (16) including the terminating NUL.
MAX_IFNAME_LEN = 15
# RFC 791: every host must accept 68-byte datagrams; 65535 is the largest IPv4 datagram.
MIN_MTU, MAX_MTU = 68, 65535
MAX_WEIGHT = 65535          # ipvsadm: weight 0..65535
MAX_THRESHOLD = 2 ** 31 - 1  # ipvsadm: thresholds 0..INT_MAX
LOOPBACK_MTU = 65536
IPIP_MTU = 1480             # tunl0: 1500 - 20 (RFC 2003 outer header)

_TOP_KEYS = ("name", "description", "seed", "duration", "topology", "services", "traffic",
             "expect", "events")
_TOPO_KEYS = ("segments", "hosts", "description")
_TOPO_FILE_KEYS = ("topology", "name", "description")
_SEGMENT_KEYS = ("subnet", "bandwidth", "delay", "loss", "queue", "mtu", "description")
_HOST_KEYS = ("interfaces", "routes", "forwarding", "sysctl", "app", "ipvs", "cpu",
              "dataplane", "description")
_DATAPLANES = DATAPLANES
_IFACE_KEYS = ("segment", "ip", "mac", "mtu", "sysctl")
_ROUTE_KEYS = ("to", "via", "dev", "src")
_SYSCTL_RANGES = {"arp_ignore": (0, 8), "arp_announce": (0, 2), "rp_filter": (0, 2)}
# net.ipv4.vs.* (Documentation/networking/ipvs-sysctl.rst): allowed values.
_IPVS_SYSCTLS = {"conn_reuse_mode": (0, 3), "expire_nodest_conn": (0, 1),
                 "expire_quiescent_template": (0, 1), "sloppy_tcp": (0, 1),
                 "sloppy_udp": (0, 1), "conntrack": (0, 1), "pmtu_disc": (0, 1)}
_IPVS_KEYS = (*_IPVS_SYSCTLS, "timeouts", "kernel")
_TIMEOUT_KEYS = ("tcp", "tcpfin", "udp")
_CPU_KEYS = ("cores", "costs", "backlog")
_APP_KEYS = ("listen",)
_PROTOCOLS = ("tcp", "udp")
_SERVICE_KEYS = ("name", "director", "vip", "port", "protocol", "scheduler", "flags",
                 "persistence", "persistence_netmask", "mode", "local_addresses",
                 "local_ports", "real_servers")
_SERVICE_ALIASES = {"netmask": "persistence_netmask"}
_RS_KEYS = ("host", "address", "port", "weight", "mode", "upper", "lower")
_RS_ALIASES = {"u_threshold": "upper", "l_threshold": "lower"}
_TRAFFIC_KEYS = ("name", "from", "to", "protocol", "connections", "rate", "arrival",
                 "request", "response", "start", "requests", "think", "source_port")
_ARRIVALS = ("constant", "poisson")
_EXPECT_KEYS = {
    "connections": ("traffic", "succeeded", "failed"),
    "path": ("traffic", "request_includes", "request_excludes", "reply_includes",
             "reply_excludes", "request_hops", "reply_hops"),
    "distribution": ("service", "shares", "tolerance"),
    "finding": ("rule", "severity"),
    "drops": ("reason", "host", "count"),
    "latency": ("traffic", "p50", "p90", "p99", "max"),
}
_SEVERITIES = ("error", "warning", "info")
_EVENT_KEYS = ("at", "service", "server", "weight", "remove", "add")
_ADD_KEYS = ("host", "address", "port", "weight", "mode")


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Load and check a scenario file.

    Parameters
    ----------
    path : str or PathLike
        The scenario file.  A `topology:` given as a path is relative to this file.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With every problem found, each printing as ``FILE:LINE: message``.
    """
    path = os.fspath(path)
    text, line, why = _read_text(path)
    if text is None:
        raise ScenarioError([Problem(path, line, f"cannot read scenario file: {why}")])
    return load_scenario_text(text, path)


def _read_text(path: str) -> tuple[str | None, int, str]:
    """(text, 0, "") or (None, line of the problem or 0, why the file cannot be read)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None, 0, "no such file"
    except IsADirectoryError:
        return None, 0, "it is a directory, not a YAML file"
    except (OSError, ValueError) as e:   # ValueError: a NUL byte in the path
        return None, 0, getattr(e, "strerror", None) or str(e)
    try:
        return data.decode("utf-8"), 0, ""
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return None, line, (f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {column} "
                            "(save the file as UTF-8)")


def load_scenario_text(text: str, filename: str = "<string>") -> Scenario:
    """Load a scenario from YAML text; `filename` is used in messages and to find topology files."""
    return _ScenarioLoader(filename).load(text)


def _loc(node: Node) -> Loc:
    return Loc(file_of(node), line_of(node))


class _ScenarioLoader:
    def __init__(self, filename: str) -> None:
        self.file = filename
        self.r = Reader()
        # Names known to exist even when their definition had problems, so that a broken
        # segment does not also make every reference to it "unknown".
        self.segment_names: set[str] = set()
        self.host_names: set[str] = set()
        self.segments: dict[str, SegmentSpec] = {}
        self.hosts: dict[str, HostSpec] = {}
        self.services: dict[str, ServiceSpec] = {}
        self.service_names: set[str] = set()
        self.traffic: dict[str, TrafficSpec] = {}
        self.traffic_names: set[str] = set()
        self.topology_file = filename

    # -- top level -------------------------------------------------------------------
    def load(self, text: str) -> Scenario:
        r = self.r
        root = r.compose(text, self.file)
        scenario = None
        if root is None and not r.problems:
            r.problem_at(self.file, 1, "", "the file is empty; a scenario needs at least "
                                            "`name` and `topology`")
        elif root is not None:
            scenario = self._scenario(root)
        if r.problems:
            raise ScenarioError(self._ordered(r.problems))
        assert scenario is not None
        return scenario

    def _ordered(self, problems: list[Problem]) -> list[Problem]:
        first_seen: dict[str, int] = {}
        for p in problems:
            first_seen.setdefault(p.file, len(first_seen))
        first_seen[self.file] = -1
        return sorted(problems, key=lambda p: (first_seen[p.file], p.line))

    def _scenario(self, root: Node) -> Scenario | None:
        r = self.r
        if not isinstance(root, MappingNode):
            r.problem(root, "", f"a scenario file must be a mapping of keys "
                                f"(name, topology, ...), got {describe(root)}")
            return None
        m = r.mapping(root, "", _TOP_KEYS, required=("name", "topology"))
        name = r.name(m.get("name"), "name", "")
        description = r.text(m.get("description"), "description", "")
        seed = r.integer(m.get("seed"), "seed", 1, lo=0)
        duration = r.quantity(m.get("duration"), "duration", units.parse_time,
                              DEFAULT_DURATION_S, positive=True)
        topology = self._topology(m.get("topology"))
        services = self._services(m.get("services"))
        traffic = self._traffic(m.get("traffic"))
        expect = self._expect(m.get("expect"))
        events = self._events(m.get("events"))
        return Scenario(name=name, topology=topology, services=services, traffic=traffic,
                        expect=expect, events=events, description=description, seed=seed,
                        duration=duration, file=self.file)

    # -- topology --------------------------------------------------------------------
    def _topology(self, node: Node | None) -> TopologySpec:
        body = None
        if node is not None:
            body = self._topology_body(node, self.file, [self.file])
        if body is not None:
            m = self.r.mapping(body, "topology", _TOPO_KEYS, required=("hosts",))
            if m is not None:
                segments = self._segments(m.get("segments"))
                hosts = self._hosts(m.get("hosts"))
                self._check_addresses(hosts)
                return TopologySpec(segments, hosts, file=self.topology_file)
        return TopologySpec((), (), file=self.topology_file)

    def _topology_body(self, node: Node, from_file: str, chain: list[str]) -> Node | None:
        """The mapping holding segments/hosts, following `topology: PATH` includes."""
        r = self.r
        if isinstance(node, MappingNode) or is_null(node):
            return node
        if not isinstance(node, ScalarNode) or not node.value.strip() or "\0" in node.value:
            r.problem(node, "topology", f"expected a mapping or a file path, got {describe(node)}")
            return None
        target = os.path.normpath(os.path.join(os.path.dirname(from_file), node.value))
        real = os.path.realpath(target)
        if real in {os.path.realpath(f) for f in chain}:
            cycle = " -> ".join([*chain, target])
            r.problem(node, "topology", f"circular include: {cycle}")
            return None
        text, bad_line, why = _read_text(target)
        if text is None and not os.path.exists(target):
            r.problem(node, "topology", f"topology file not found: {node.value!r} "
                                        f"(looked for {target})")
            return None
        if text is None and bad_line:
            r.problem_at(target, bad_line, "", f"cannot read topology file: {why}")
            return None
        if text is None:
            r.problem(node, "topology", f"cannot read topology file {target}: {why}")
            return None
        self.topology_file = target
        root = r.compose(text, target)
        if root is None:
            if not r.problems or r.problems[-1].file != target:
                r.problem_at(target, 1, "", "the topology file is empty")
            return None
        if not isinstance(root, MappingNode):
            r.problem(root, "", f"a topology file must be a mapping (segments, hosts), "
                                f"got {describe(root)}")
            return None
        keys = {k.value for k, _ in root.value if isinstance(k, ScalarNode)}
        if "topology" in keys:
            m = r.mapping(root, "", _TOPO_FILE_KEYS)
            if m is None or "topology" not in m:
                return None
            return self._topology_body(m["topology"], target, [*chain, target])
        return root

    def _segments(self, node: Node | None) -> tuple[SegmentSpec, ...]:
        r = self.r
        out = []
        for name, knode, vnode in r.entries(node, "topology.segments"):
            p = join("topology.segments", name)
            self.segment_names.add(name)
            m = r.mapping(vnode, p, _SEGMENT_KEYS, required=("subnet",))
            if m is None:
                continue
            subnet = self._network(m.get("subnet"), join(p, "subnet"))
            bandwidth = r.quantity(m.get("bandwidth"), join(p, "bandwidth"), units.parse_rate,
                                   1e9, positive=True)
            delay = r.quantity(m.get("delay"), join(p, "delay"), units.parse_time, 10e-6)
            loss = self._fraction(m.get("loss"), join(p, "loss"), 0.0, below_one=True)
            queue = r.integer(m.get("queue"), join(p, "queue"), 1000, lo=1)
            mtu = r.integer(m.get("mtu"), join(p, "mtu"), 1500, lo=MIN_MTU, hi=MAX_MTU)
            if subnet is None:
                continue
            spec = SegmentSpec(name, subnet, bandwidth, delay, loss, queue, mtu, _loc(knode), p)
            self.segments[name] = spec
            out.append(spec)
        return tuple(out)

    def _hosts(self, node: Node | None) -> tuple[HostSpec, ...]:
        r = self.r
        entries = r.entries(node, "topology.hosts")
        self.host_names.update(name for name, _, _ in entries)
        out = []
        for name, knode, vnode in entries:
            p = join("topology.hosts", name)
            m = r.mapping(vnode, p, _HOST_KEYS, required=("interfaces",))
            if m is None:
                continue
            interfaces = self._interfaces(m.get("interfaces"), join(p, "interfaces"))
            routes = self._routes(m.get("routes"), join(p, "routes"), name, interfaces)
            forwarding = r.boolean(m.get("forwarding"), join(p, "forwarding"), False)
            sysctl = self._sysctl(m.get("sysctl"), join(p, "sysctl"))
            app = self._app(m["app"], join(p, "app")) if "app" in m else None
            ipvs = self._ipvs(m["ipvs"], join(p, "ipvs")) if "ipvs" in m else None
            cpu = self._cpu(m["cpu"], join(p, "cpu")) if "cpu" in m else None
            dataplane = r.choice(m.get("dataplane"), join(p, "dataplane"), _DATAPLANES, "ipvs")
            spec = HostSpec(name, interfaces, routes, forwarding, sysctl, app, ipvs, cpu,
                            _loc(knode), p, dataplane)
            self.hosts[name] = spec
            out.append(spec)
        return tuple(out)

    def _interfaces(self, node: Node | None, path: str) -> tuple[InterfaceSpec, ...]:
        r = self.r
        out = []
        for name, knode, vnode in r.entries(node, path):
            p = join(path, name)
            if len(name) > MAX_IFNAME_LEN or "/" in name or any(c.isspace() for c in name):
                r.problem(knode, p, f"not a Linux interface name (at most {MAX_IFNAME_LEN} "
                                    "characters, no '/' or spaces)")
            kind = {"lo": "loopback", "tunl0": "ipip"}.get(name, "ether")
            m = r.mapping(vnode, p, _IFACE_KEYS, required=("segment",) if kind == "ether" else ())
            if m is None:
                continue
            segment = None
            if kind != "ether":
                if "segment" in m:
                    r.problem(m["segment"], join(p, "segment"),
                              f"{name} is a {kind} device and is not attached to a segment")
            elif "segment" in m:
                segment = r.name(m["segment"], join(p, "segment"))
                if segment is not None and segment not in self.segment_names:
                    r.problem(m["segment"], join(p, "segment"), f"unknown segment {segment!r}"
                                                                f"{suggest(segment, self.segment_names)}")
            seg = self.segments.get(segment) if segment else None
            addresses = self._iface_addresses(m.get("ip"), join(p, "ip"), kind, seg)
            mac = self._mac(m.get("mac"), join(p, "mac"))
            if mac is not None and kind != "ether":
                r.problem(m["mac"], join(p, "mac"), f"{name} has no MAC address ({kind} device)")
                mac = None
            mtu = r.integer(m.get("mtu"), join(p, "mtu"), None, lo=MIN_MTU,
                            hi=LOOPBACK_MTU if kind == "loopback" else MAX_MTU)
            sysctl = self._sysctl(m.get("sysctl"), join(p, "sysctl"))
            out.append(InterfaceSpec(name, kind, segment, addresses, mac, mtu, sysctl,
                                     _loc(knode), p))
        return tuple(out)

    def _iface_addresses(self, node: Node | None, path: str, kind: str,
                         seg: SegmentSpec | None) -> tuple[IPv4Interface, ...]:
        r = self.r
        out: list[IPv4Interface] = []
        for i, anode in enumerate(r.one_or_more(node, path)):
            raw = r.text(anode, path)
            if raw is None:
                continue
            if "/" in raw:
                try:
                    addr = IPv4Interface(raw)
                except (AddressValueError, NetmaskValueError, ValueError):
                    r.problem(anode, path, f"expected an IPv4 address like 10.0.0.1 or "
                                           f"10.0.0.1/24, got {raw!r}")
                    continue
            else:
                try:
                    ip = IPv4Address(raw)
                except AddressValueError:
                    r.problem(anode, path, f"expected an IPv4 address like 10.0.0.1 or "
                                           f"10.0.0.1/24, got {raw!r}")
                    continue
                if kind != "ether" or seg is None:
                    # `ip addr add VIP dev lo` gives a /32, as Linux does without a prefix.
                    addr = IPv4Interface(f"{ip}/32")
                else:
                    addr = IPv4Interface(f"{ip}/{seg.subnet.prefixlen}")
                    if ip not in seg.subnet:
                        r.problem(anode, path, f"{ip} is not in segment {seg.name}'s subnet "
                                               f"{seg.subnet} (write a prefix length, e.g. "
                                               f"{ip}/32, to add it anyway)")
                        continue
                    if seg.subnet.prefixlen <= 30 and ip in (seg.subnet.network_address,
                                                             seg.subnet.broadcast_address):
                        which = "network" if ip == seg.subnet.network_address else "broadcast"
                        r.problem(anode, path, f"{ip} is the {which} address of {seg.subnet}")
                        continue
            ip = addr.ip
            if ip.is_multicast or ip.is_unspecified or ip == IPv4Address("255.255.255.255"):
                r.problem(anode, path, f"{ip} is not a unicast address")
                continue
            if any(a.ip == ip for a in out):
                r.problem(anode, path, f"address {ip} is listed twice")
                continue
            out.append(addr)
        return tuple(out)

    def _mac(self, node: Node | None, path: str) -> str | None:
        raw = self.r.text(node, path)
        if raw is None:
            return None
        parts = raw.replace("-", ":").split(":")
        if len(parts) != 6 or not all(len(x) == 2 and all(c in "0123456789abcdefABCDEF" for c in x)
                                      for x in parts):
            self.r.problem(node, path, f"expected a MAC address like 02:00:00:00:00:01, got {raw!r}")
            return None
        mac = ":".join(parts).lower()
        if int(parts[0], 16) & 1:
            # IEEE 802: the I/G bit of the first octet marks group (multicast) addresses.
            self.r.problem(node, path, f"{mac} is a multicast MAC address; an interface needs "
                                       "a unicast one")
            return None
        return mac

    def _routes(self, node: Node | None, path: str, host: str,
                interfaces: tuple[InterfaceSpec, ...]) -> tuple[RouteSpec, ...]:
        r = self.r
        out: list[RouteSpec] = []
        seen: dict[IPv4Network, int] = {}
        for i, rnode in enumerate(r.items(node, path)):
            p = index(path, i)
            m = r.mapping(rnode, p, _ROUTE_KEYS, required=("to",))
            if m is None:
                continue
            dest = None
            if "to" in m:
                raw = r.text(m["to"], join(p, "to"))
                if raw == "default":
                    dest = IPv4Network("0.0.0.0/0")
                elif raw is not None:
                    dest = self._network(m["to"], join(p, "to"), host_ok=True)
            via = r.address(m.get("via"), join(p, "via"))
            dev = r.name(m.get("dev"), join(p, "dev"))
            src = r.address(m.get("src"), join(p, "src"))
            names = [i.name for i in interfaces]
            if dev is not None and dev not in names:
                r.problem(m["dev"], join(p, "dev"), f"host {host} has no interface {dev!r}"
                                                    f"{suggest(dev, names)}")
                dev = None
            if "via" not in m and "dev" not in m:
                r.problem(rnode, p, "a route needs `via` (a gateway) or `dev` (on-link)")
            if via is not None:
                self._check_gateway(m["via"], join(p, "via"), host, via, dev, interfaces)
            if src is not None and not any(a.ip == src for i in interfaces for a in i.addresses):
                r.problem(m["src"], join(p, "src"), f"{src} is not an address of host {host}")
            if dest is not None:
                if dest in seen:
                    r.problem(rnode, p, f"a route to {dest} is already given at line "
                                        f"{seen[dest]}")
                    continue
                seen[dest] = line_of(rnode)
                out.append(RouteSpec(dest, via, dev, src, _loc(rnode), p))
        return tuple(out)

    def _check_gateway(self, node: Node, path: str, host: str, via: IPv4Address,
                       dev: str | None, interfaces: tuple[InterfaceSpec, ...]) -> None:
        # Linux (fib_check_nh) wants the gateway on a connected, non-host route of the
        # device: with no such subnet the route is rejected ("Nexthop has invalid gateway").
        candidates = [i for i in interfaces if dev is None or i.name == dev]
        connected = [a.network for i in candidates if i.kind != "loopback"
                     for a in i.addresses if a.network.prefixlen < 32]
        if any(a.ip == via for i in interfaces for a in i.addresses):
            self.r.problem(node, path, f"gateway {via} is an address of host {host} itself")
        elif not any(via in net for net in connected):
            where = f"interface {dev}" if dev else f"host {host}"
            have = ", ".join(str(n) for n in dict.fromkeys(connected)) or "none"
            self.r.problem(node, path, f"gateway {via} is not on a connected subnet of "
                                       f"{where} (connected: {have})")

    def _sysctl(self, node: Node | None, path: str) -> SysctlSpec:
        m = self.r.mapping(node, path, tuple(_SYSCTL_RANGES)) if node is not None else None
        if not m:
            return SysctlSpec()
        values = {k: self.r.integer(m.get(k), join(path, k), None, lo=lo, hi=hi)
                  for k, (lo, hi) in _SYSCTL_RANGES.items()}
        return SysctlSpec(**values)

    def _app(self, node: Node, path: str) -> AppSpec | None:
        r = self.r
        m = r.mapping(node, path, _APP_KEYS, required=("listen",))
        if m is None:
            return None
        p = join(path, "listen")
        listen: list[tuple[str, int]] = []
        for item in r.one_or_more(m.get("listen"), p):
            raw = r.text(item, p)
            if raw is None:
                continue
            proto, _, port = raw.partition("/")
            if proto.lower() not in _PROTOCOLS or not port.isdigit() or not 1 <= int(port) <= 65535:
                r.problem(item, p, f"expected PROTOCOL/PORT like tcp/80 or udp/53, got {raw!r}")
                continue
            sock = (proto.lower(), int(port))
            if sock in listen:
                r.problem(item, p, f"{raw} is listed twice")
                continue
            listen.append(sock)
        return AppSpec(tuple(listen), _loc(node), path)

    def _ipvs(self, node: Node, path: str) -> IpvsSettings:
        r = self.r
        m = r.mapping(node, path, _IPVS_KEYS) or {}
        values: dict[str, Any] = {}
        for key, (lo, hi) in _IPVS_SYSCTLS.items():
            if key in m:
                v = r.integer(m[key], join(path, key), MISSING, lo=lo, hi=hi) \
                    if not _looks_bool(m[key]) else int(r.boolean(m[key], join(path, key), False))
                if v is not MISSING:
                    values[key] = v
        tp = join(path, "timeouts")
        t = r.mapping(m["timeouts"], tp, _TIMEOUT_KEYS) if "timeouts" in m else None
        for key in _TIMEOUT_KEYS:
            if t and key in t:
                v = r.quantity(t[key], join(tp, key), units.parse_time, MISSING, positive=True)
                if v is not MISSING:
                    values[f"timeouts_{key}"] = v
        if "kernel" in m:
            raw = r.text(m["kernel"], join(path, "kernel"))
            parts = (raw or "").split(".")
            if len(parts) >= 2 and all(x.isdigit() for x in parts[:2]):
                values["kernel"] = (int(parts[0]), int(parts[1]))
            elif raw is not None:
                r.problem(m["kernel"], join(path, "kernel"),
                          f"expected a kernel version like 5.4 or 6.6, got {raw!r}")
        return IpvsSettings(**values, loc=_loc(node), path=path)

    def _cpu(self, node: Node, path: str) -> CpuSpec:
        r = self.r
        m = r.mapping(node, path, _CPU_KEYS) or {}
        cores = r.integer(m.get("cores"), join(path, "cores"), 1, lo=1)
        backlog = r.integer(m.get("backlog"), join(path, "backlog"), 1000, lo=1)
        known = _known_cpu_ops()
        costs: dict[str, float] = {}
        cp = join(path, "costs")
        for op, knode, vnode in r.entries(m.get("costs"), cp):
            if known is not None and op not in known:
                r.problem(knode, cp, f"unknown operation {op!r}{suggest(op, known)}; known: "
                                     f"{', '.join(sorted(known))}")
                continue
            cost = r.quantity(vnode, join(cp, op), units.parse_time)
            if cost is not None:
                costs[op] = cost
        return CpuSpec(cores, costs, backlog, _loc(node), path)

    def _check_addresses(self, hosts: tuple[HostSpec, ...]) -> None:
        """Duplicate addresses on one segment and duplicate MACs anywhere.

        Only ether interfaces count: the VIP on a real server's lo or tunl0 is how DR and
        TUN are meant to be set up, not a conflict.
        """
        on_segment: dict[tuple[str, IPv4Address], tuple[InterfaceSpec, str]] = {}
        macs: dict[str, tuple[InterfaceSpec, str]] = {}
        for host in hosts:
            for iface in host.interfaces:
                if iface.kind != "ether" or iface.segment is None:
                    continue
                where = f"{host.name} {iface.name}"
                for addr in iface.addresses:
                    key = (iface.segment, addr.ip)
                    if key in on_segment:
                        other, other_where = on_segment[key]
                        self.r.problem_at(iface.loc.file, iface.loc.line, join(iface.path, "ip"),
                                          f"address {addr.ip} is also on {other_where} (line "
                                          f"{other.loc.line}), on the same segment {iface.segment}")
                    else:
                        on_segment[key] = (iface, where)
                if iface.mac is not None:
                    if iface.mac in macs:
                        other, other_where = macs[iface.mac]
                        self.r.problem_at(iface.loc.file, iface.loc.line, join(iface.path, "mac"),
                                          f"MAC {iface.mac} is also used by {other_where} "
                                          f"(line {other.loc.line})")
                    else:
                        macs[iface.mac] = (iface, where)

    # -- services --------------------------------------------------------------------
    def _services(self, node: Node | None) -> tuple[ServiceSpec, ...]:
        r = self.r
        out = []
        seen_vs: dict[tuple, int] = {}
        for i, snode in enumerate(r.items(node, "services")):
            p = index("services", i)
            m = r.mapping(snode, p, _SERVICE_KEYS, required=("director", "vip", "port"),
                          aliases=_SERVICE_ALIASES)
            if m is None:
                continue
            name = r.name(m.get("name"), join(p, "name"), f"svc{i + 1}")
            if name in self.service_names:
                r.problem(m.get("name", snode), join(p, "name"), f"duplicate service name {name!r}")
            self.service_names.add(name)
            director = self._host_ref(m.get("director"), join(p, "director"))
            vip = r.address(m.get("vip"), join(p, "vip"))
            written_port = r.integer(m.get("port"), join(p, "port"), None, lo=0, hi=65535)
            port = written_port or 0
            protocol = r.choice(m.get("protocol"), join(p, "protocol"), _PROTOCOLS, "tcp")
            scheduler = r.choice(m.get("scheduler"), join(p, "scheduler"), SCHEDULERS, "wlc")
            flags = []
            for fnode in r.one_or_more(m.get("flags"), join(p, "flags")):
                flag = r.choice(fnode, join(p, "flags"), SCHEDULER_FLAGS)
                if flag is not None and flag not in flags:
                    flags.append(flag)
            persistence = self._persistence(m.get("persistence"), join(p, "persistence"))
            netmask = self._netmask(m.get("persistence_netmask"), join(p, "persistence_netmask"))
            mode = r.choice(m.get("mode"), join(p, "mode"), MODES, "dr")
            lips = []
            for anode in r.one_or_more(m.get("local_addresses"), join(p, "local_addresses")):
                lip = r.address(anode, join(p, "local_addresses"))
                if lip is not None:
                    lips.append(lip)
            local_ports = self._port_range(m.get("local_ports"), join(p, "local_ports"))
            if written_port == 0 and persistence == 0:
                # ipvsadm: "Zero port specified for non-persistent service".
                r.problem(m["port"], join(p, "port"), "port 0 (all ports) needs persistence")
            if vip is not None and "port" in m and director is not None:
                key = (director, vip, port, protocol)
                if key in seen_vs:
                    r.problem(snode, p, f"{protocol} {vip}:{port} on {director} is already "
                                        f"defined at line {seen_vs[key]}")
                seen_vs[key] = line_of(snode)
            rss = self._real_servers(m.get("real_servers"), join(p, "real_servers"), director,
                                     vip, port)
            spec = ServiceSpec(name, director or "", vip, port, protocol, scheduler,
                               tuple(flags), persistence, netmask, mode, tuple(lips), rss,
                               _loc(snode), p, local_ports)
            self.services[name] = spec
            out.append(spec)
        return tuple(out)

    def _port_range(self, node: Node | None, path: str) -> tuple[int, int] | None:
        """"LO-HI" (both 1..65535, LO <= HI), as DPVS's sa_pool port range."""
        raw = self.r.text(node, path)
        if raw is None:
            return None
        lo_s, sep, hi_s = raw.partition("-")
        lo_s, hi_s = lo_s.strip(), hi_s.strip()
        if sep and lo_s.isdigit() and hi_s.isdigit() and 0 < int(lo_s) <= int(hi_s) <= 65535:
            return int(lo_s), int(hi_s)
        self.r.problem(node, path, f"expected a port range LO-HI within 1-65535, got {raw!r}")
        return None

    def _persistence(self, node: Node | None, path: str) -> float:
        if node is None:
            return 0.0
        if _looks_bool(node):
            return DEFAULT_PERSISTENCE_S if self.r.boolean(node, path, False) else 0.0
        value = self.r.quantity(node, path, units.parse_time, 0.0)
        if value > MAX_PERSISTENCE_S:
            self.r.problem(node, path, f"at most {MAX_PERSISTENCE_S} seconds (31 days), as ipvsadm")
            return 0.0
        return value

    def _netmask(self, node: Node | None, path: str) -> int:
        raw = self.r.text(node, path)
        if raw is None:
            return 32
        try:
            if raw.isdigit():
                plen = int(raw)
                if plen > 32:
                    raise ValueError
                return plen
            return IPv4Network(f"0.0.0.0/{raw}").prefixlen
        except (ValueError, NetmaskValueError):
            self.r.problem(node, path, f"expected a prefix length 0..32 or a netmask like "
                                       f"255.255.255.0, got {raw!r}")
            return 32

    def _real_servers(self, node: Node | None, path: str, director: str | None,
                      vip: IPv4Address | None, vport: int) -> tuple[RealServerSpec, ...]:
        r = self.r
        out: list[RealServerSpec] = []
        for i, rnode in enumerate(r.items(node, path)):
            p = index(path, i)
            m = r.mapping(rnode, p, _RS_KEYS, aliases=_RS_ALIASES)
            if m is None:
                continue
            if "host" not in m and "address" not in m:
                r.problem(rnode, p, "a real server needs `host` or `address`")
                continue
            host = self._host_ref(m.get("host"), join(p, "host"))
            address = r.address(m.get("address"), join(p, "address"))
            port = r.integer(m.get("port"), join(p, "port"), vport, lo=0, hi=65535)
            weight = r.integer(m.get("weight"), join(p, "weight"), 1, lo=0, hi=MAX_WEIGHT)
            mode = r.choice(m.get("mode"), join(p, "mode"), MODES)
            upper = r.integer(m.get("upper"), join(p, "upper"), 0, lo=0, hi=MAX_THRESHOLD)
            lower = r.integer(m.get("lower"), join(p, "lower"), 0, lo=0, hi=MAX_THRESHOLD)
            if upper and lower > upper:
                r.problem(m["lower"], join(p, "lower"), f"lower threshold {lower} is above the "
                                                        f"upper threshold {upper}")
            hspec = self.hosts.get(host) if host else None
            if address is None and hspec is not None:
                address = self._host_address(hspec, self.hosts.get(director or ""))
                if address is None:
                    r.problem(m["host"], join(p, "host"), f"host {host} has no address on any "
                                                          "segment")
            elif address is not None and hspec is not None:
                if not any(a.ip == address for i in hspec.interfaces for a in i.addresses):
                    r.problem(m["address"], join(p, "address"), f"{address} is not an address "
                                                                f"of host {host}")
            elif address is not None and "host" not in m:
                host = self._host_by_address(address)
            if address is None:
                continue
            if vip is not None and address == vip:
                r.problem(m.get("address", m.get("host", rnode)), p,
                          f"the real server's address {address} is the service's VIP")
            elif vip is not None and host in self.hosts and self._ether_has(self.hosts[host], vip):
                r.problem(m.get("host", m.get("address", rnode)), p,
                          f"host {host} has the VIP {vip} on an Ethernet interface; a real "
                          "server may only hold the VIP on lo or tunl0")
            if any(o.address == address and o.port == port for o in out):
                r.problem(rnode, p, f"real server {address}:{port} is listed twice")
                continue
            out.append(RealServerSpec(address, port, host, weight, mode, upper, lower,
                                      _loc(rnode), p))
        return tuple(out)

    # -- traffic ---------------------------------------------------------------------
    def _traffic(self, node: Node | None) -> tuple[TrafficSpec, ...]:
        r = self.r
        out = []
        for i, tnode in enumerate(r.items(node, "traffic")):
            p = index("traffic", i)
            m = r.mapping(tnode, p, _TRAFFIC_KEYS, required=("from", "to"))
            if m is None:
                continue
            name = r.name(m.get("name"), join(p, "name"), f"traffic{i + 1}")
            if name in self.traffic_names:
                r.problem(m.get("name", tnode), join(p, "name"), f"duplicate traffic name {name!r}")
            self.traffic_names.add(name)
            sources = []
            for snode in r.one_or_more(m.get("from"), join(p, "from")):
                src = self._host_ref(snode, join(p, "from"))
                if src is not None:
                    sources.append(src)
            dst, port = self._endpoint(m.get("to"), join(p, "to"))
            protocol = r.choice(m.get("protocol"), join(p, "protocol"), _PROTOCOLS, None)
            if protocol is None:
                protocol = self._service_protocol(dst, port)
            connections = self._connections(m.get("connections"), join(p, "connections"))
            rate = r.quantity(m.get("rate"), join(p, "rate"), units.parse_per_second, 10.0)
            arrival = r.choice(m.get("arrival"), join(p, "arrival"), _ARRIVALS, "constant")
            request = self._app_size(m.get("request"), join(p, "request"), 100, APP_HEADER_LEN)
            response = self._app_size(m.get("response"), join(p, "response"), 1000, 0)
            start = r.quantity(m.get("start"), join(p, "start"), units.parse_time, 0.0)
            requests = r.integer(m.get("requests"), join(p, "requests"), 1, lo=1, hi=1_000_000)
            think = r.quantity(m.get("think"), join(p, "think"), units.parse_time, 0.0)
            source_port = (r.integer(m["source_port"], join(p, "source_port"), 0, lo=1, hi=65535)
                           if "source_port" in m else None)
            if dst is None or not sources:
                continue
            spec = TrafficSpec(name, tuple(sources), dst, port, protocol, connections, rate,
                               arrival, request, response, start, _loc(tnode), p,
                               requests=requests, think=think, source_port=source_port or None)
            self.traffic[name] = spec
            out.append(spec)
        return tuple(out)

    def _connections(self, node: Node | None, path: str) -> int:
        count = self.r.integer(node, path, 1, lo=1)
        if count > MAX_CONNECTIONS:
            self.r.problem(node, path, f"at most {MAX_CONNECTIONS} connections, got {count}: "
                                       "each is simulated packet by packet and kept for the "
                                       "report, so more would run out of memory")
            return 1
        return count

    def _endpoint(self, node: Node | None, path: str) -> tuple[IPv4Address | None, int]:
        raw = self.r.text(node, path)
        if raw is None:
            return None, 0
        addr, _, port = raw.rpartition(":")
        try:
            ip = IPv4Address(addr)
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError
        except ValueError:
            self.r.problem(node, path, f"expected ADDRESS:PORT like 10.0.0.100:80, got {raw!r}")
            return None, 0
        return ip, int(port)

    def _app_size(self, node: Node | None, path: str, default: int, least: int) -> int:
        size = self.r.quantity(node, path, units.parse_size, default)
        if node is not None and size < least:
            self.r.problem(node, path, f"at least {least} bytes (the application header "
                                       f"is {APP_HEADER_LEN} bytes)")
            return default
        if size > MAX_APP_LENGTH:
            self.r.problem(node, path, f"at most {MAX_APP_LENGTH} bytes (a 32-bit length "
                                       "in the application header)")
            return default
        return size

    def _service_protocol(self, dst: IPv4Address | None, port: int) -> str:
        """A traffic without `protocol` speaks the protocol of the one service it targets."""
        protos = {s.protocol for s in self.services.values() if s.vip == dst and s.port == port}
        return protos.pop() if len(protos) == 1 else "tcp"

    # -- expectations ----------------------------------------------------------------
    def _expect(self, node: Node | None) -> tuple[ExpectSpec, ...]:
        r = self.r
        out = []
        for i, enode in enumerate(r.items(node, "expect")):
            p = index("expect", i)
            entries = r.entries(enode, p, "a mapping with one key (connections, path, "
                                          "distribution, finding, drops or latency)")
            if len(entries) != 1:
                if entries:
                    r.problem(enode, p, "each expectation is a mapping with exactly one key "
                                        "(connections, path, distribution, finding, drops "
                                        "or latency)")
                continue
            kind, knode, vnode = entries[0]
            if kind not in _EXPECT_KEYS:
                r.problem(knode, p, f"unknown expectation {kind!r}{suggest(kind, _EXPECT_KEYS)}; "
                                    f"expected one of {', '.join(_EXPECT_KEYS)}")
                continue
            kp = join(p, kind)
            params = getattr(self, f"_expect_{kind}")(vnode, kp)
            if params is not None:
                out.append(ExpectSpec(kind, params, _loc(knode), kp))
        return tuple(out)

    def _traffic_ref(self, node: Node | None, path: str) -> str | None:
        name = self.r.name(node, path)
        if name is not None and name not in self.traffic_names:
            self.r.problem(node, path, f"unknown traffic {name!r}"
                                       f"{suggest(name, self.traffic_names)}")
            return None
        return name

    def _expect_connections(self, node: Node, path: str) -> dict | None:
        r = self.r
        m = r.mapping(node, path, _EXPECT_KEYS["connections"], required=("traffic",))
        if m is None:
            return None
        params: dict[str, Any] = {"traffic": self._traffic_ref(m.get("traffic"), join(path, "traffic"))}
        if "succeeded" not in m and "failed" not in m:
            r.problem(node, path, "say what to expect: `succeeded` and/or `failed`")
        spec = self.traffic.get(params["traffic"] or "")
        for key in ("succeeded", "failed"):
            if key in m:
                params[key] = self._count(m[key], join(path, key), spec)
        return params

    def _count(self, node: Node, path: str, traffic: TrafficSpec | None) -> str | int | float:
        """`all`, `none`, a count, a fraction (0.9 or 90%) or a bound (">= 95", "< 0.1")."""
        raw = self.r.text(node, path)
        if raw is None:
            return "all"
        if raw in ("all", "none"):
            return raw
        for op in (">=", "<=", "==", ">", "<"):
            # A bound, kept as text for the expectation checker: ">= 95" or ">= 0.9".
            if raw.startswith(op):
                try:
                    if float(raw[len(op):]) >= 0:
                        return raw
                except ValueError:
                    break
        try:
            if raw.endswith("%"):
                value: int | float = float(raw[:-1]) / 100
            elif raw.isdigit():
                value = int(raw)
            else:
                value = float(raw)
        except ValueError:
            value = -1
        if isinstance(value, float) and not 0 <= value <= 1:
            value = -1
        if value == -1:
            self.r.problem(node, path, f"expected all, none, a count like 95, a fraction "
                                       f"like 0.9 or a bound like '>= 0.9', got {raw!r}")
            return "all"
        if isinstance(value, int) and traffic is not None and value > traffic.connections:
            self.r.problem(node, path, f"traffic {traffic.name} makes only "
                                       f"{traffic.connections} connections")
        return value

    def _expect_path(self, node: Node, path: str) -> dict | None:
        r = self.r
        m = r.mapping(node, path, _EXPECT_KEYS["path"], required=("traffic",))
        if m is None:
            return None
        params: dict[str, Any] = {"traffic": self._traffic_ref(m.get("traffic"), join(path, "traffic"))}
        if len(m) == 1 and "traffic" in m:
            r.problem(node, path, "say what to check: request/reply includes, excludes or hops")
        for key in _EXPECT_KEYS["path"][1:5]:
            if key in m:
                hosts = [self._host_ref(h, join(path, key)) for h in r.one_or_more(m[key], join(path, key))]
                params[key] = tuple(h for h in hosts if h is not None)
        for key in ("request_hops", "reply_hops"):
            if key in m:
                params[key] = r.integer(m[key], join(path, key), 0, lo=1)
        return params

    def _expect_distribution(self, node: Node, path: str) -> dict | None:
        r = self.r
        m = r.mapping(node, path, _EXPECT_KEYS["distribution"], required=("service", "shares"))
        if m is None:
            return None
        sp = join(path, "service")
        service = r.name(m.get("service"), sp)
        if service is not None and service not in self.service_names:
            r.problem(m["service"], sp, f"unknown service {service!r}"
                                        f"{suggest(service, self.service_names)}")
        spec = self.services.get(service or "")
        shares: dict[str, float] = {}
        hp = join(path, "shares")
        for label, knode, vnode in r.entries(m.get("shares"), hp):
            share = r.number(vnode, join(hp, label), None, lo=0.0, hi=1.0)
            if spec is not None and self._match_server(label, spec.real_servers) is None:
                labels = [rs.label for rs in spec.real_servers]
                r.problem(knode, hp, f"{label!r} is not a real server of service {spec.name}"
                                     f"{suggest(label, labels)}")
            if share is not None:
                shares[label] = share
        tolerance = r.number(m.get("tolerance"), join(path, "tolerance"), DEFAULT_TOLERANCE,
                             lo=0.0, hi=1.0)
        return {"service": service, "shares": shares, "tolerance": tolerance}

    def _expect_finding(self, node: Node, path: str) -> dict | None:
        r = self.r
        if isinstance(node, ScalarNode) and not is_null(node):
            return {"rule": r.text(node, path)}     # `finding: DR-ARP`
        m = r.mapping(node, path, _EXPECT_KEYS["finding"], required=("rule",))
        if m is None:
            return None
        params: dict[str, Any] = {"rule": r.text(m.get("rule"), join(path, "rule"))}
        if "severity" in m:
            params["severity"] = r.choice(m["severity"], join(path, "severity"), _SEVERITIES)
        return params

    def _expect_drops(self, node: Node, path: str) -> dict | None:
        """`drops: {reason: rp_filter, host: rs1, count: ">= 1"}` (count default ">= 1")."""
        r = self.r
        m = r.mapping(node, path, _EXPECT_KEYS["drops"], required=("reason",))
        if m is None:
            return None
        params: dict[str, Any] = {"reason": r.text(m.get("reason"), join(path, "reason"))}
        if "host" in m:
            params["host"] = self._host_ref(m["host"], join(path, "host"))
        params["count"] = self._count(m["count"], join(path, "count"), None) if "count" in m else ">= 1"
        return params

    def _expect_latency(self, node: Node, path: str) -> dict | None:
        """`latency: {traffic: web, p50: "< 20ms", max: 2s}` (a bare time means <=)."""
        r = self.r
        m = r.mapping(node, path, _EXPECT_KEYS["latency"], required=("traffic",))
        if m is None:
            return None
        params: dict[str, Any] = {"traffic": self._traffic_ref(m.get("traffic"), join(path, "traffic"))}
        for key in _EXPECT_KEYS["latency"][1:]:
            if key not in m:
                continue
            raw = (r.text(m[key], join(path, key)) or "").strip()
            op = next((o for o in (">=", "<=", ">", "<") if raw.startswith(o)), "<=")
            try:
                params[key] = (op, units.parse_time(raw[len(op):].strip() if raw.startswith(op) else raw))
            except ValueError as err:
                r.problem(m[key], join(path, key), f"expected a bound like '< 20ms', got {raw!r}: {err}")
        if len(params) == 1:
            r.problem(node, path, "say which latency to bound: p50, p90, p99 or max")
        return params

    # -- events ----------------------------------------------------------------------
    def _events(self, node: Node | None) -> tuple[EventSpec, ...]:
        r = self.r
        out = []
        added: dict[str, list[RealServerSpec]] = {}
        for i, enode in enumerate(r.items(node, "events")):
            p = index("events", i)
            m = r.mapping(enode, p, _EVENT_KEYS, required=("at", "service"))
            if m is None:
                continue
            at = r.quantity(m.get("at"), join(p, "at"), units.parse_time, 0.0)
            sname = r.name(m.get("service"), join(p, "service"))
            if sname is not None and sname not in self.service_names:
                r.problem(m["service"], join(p, "service"), f"unknown service {sname!r}"
                                                            f"{suggest(sname, self.service_names)}")
            svc = self.services.get(sname or "")
            actions = [k for k in ("weight", "remove", "add") if k in m]
            if "add" in m and len(actions) > 1 or "add" not in m and "remove" in m and "weight" in m:
                r.problem(enode, p, "an event does one thing: `weight`, `remove: true` or `add`")
                continue
            if not actions:
                r.problem(enode, p, "say what happens: `weight: N`, `remove: true` or `add: {...}`")
                continue
            if "add" in m:
                if "server" in m:
                    r.problem(m["server"], join(p, "server"), "`add` names its server inside "
                                                              "(host or address)")
                ev = self._event_add(m["add"], join(p, "add"), at, sname, svc, added, enode, p)
            else:
                ev = self._event_change(m, enode, p, at, sname, svc, added)
            if ev is not None and sname is not None:
                out.append(ev)
        return tuple(out)

    def _event_change(self, m: dict[str, Node], enode: Node, p: str, at: float,
                      sname: str | None, svc: ServiceSpec | None,
                      added: dict[str, list[RealServerSpec]]) -> EventSpec | None:
        r = self.r
        if "server" not in m:
            r.problem(enode, p, "missing required key 'server'")
            return None
        server = r.text(m["server"], join(p, "server"))
        if "remove" in m:
            action, weight = "remove", None
            if r.boolean(m["remove"], join(p, "remove"), True) is not True:
                r.problem(m["remove"], join(p, "remove"), "write `remove: true` (or leave it out)")
                return None
        else:
            action = "weight"
            weight = r.integer(m["weight"], join(p, "weight"), None, lo=0, hi=MAX_WEIGHT)
        rs = None
        if svc is not None and server is not None:
            pool = [*svc.real_servers, *added.get(svc.name, [])]
            rs = self._match_server(server, pool)
            if rs is None:
                labels = [x.label for x in pool]
                r.problem(m["server"], join(p, "server"), f"{server!r} is not a real server of "
                                                          f"service {svc.name}{suggest(server, labels)}")
                return None
        if server is None or sname is None:
            return None
        return EventSpec(at, action, sname, rs.label if rs else server, weight, None,
                         rs.port if rs else None, rs.address if rs else None, _loc(enode), p)

    def _event_add(self, node: Node, path: str, at: float, sname: str | None,
                   svc: ServiceSpec | None, added: dict[str, list[RealServerSpec]],
                   enode: Node, p: str) -> EventSpec | None:
        r = self.r
        m = r.mapping(node, path, _ADD_KEYS)
        if m is None:
            return None
        if "host" not in m and "address" not in m:
            r.problem(node, path, "a real server needs `host` or `address`")
            return None
        host = self._host_ref(m.get("host"), join(path, "host"))
        address = r.address(m.get("address"), join(path, "address"))
        vport = svc.port if svc else 0
        port = r.integer(m.get("port"), join(path, "port"), vport, lo=0, hi=65535)
        weight = r.integer(m.get("weight"), join(path, "weight"), 1, lo=0, hi=MAX_WEIGHT)
        mode = r.choice(m.get("mode"), join(path, "mode"), MODES)
        if address is None and host in self.hosts:
            director = self.hosts.get(svc.director) if svc else None
            address = self._host_address(self.hosts[host], director)
        elif address is not None and host is None and "host" not in m:
            host = self._host_by_address(address)
        if address is None or svc is None or sname is None:
            return None
        rs = RealServerSpec(address, port, host, weight, mode)
        pool = [*svc.real_servers, *added.get(svc.name, [])]
        if any(o.address == address and o.port == port for o in pool):
            r.problem(node, path, f"{rs.label} is already a real server of service {svc.name}")
            return None
        added.setdefault(svc.name, []).append(rs)
        return EventSpec(at, "add", sname, rs.label, weight, mode, port, address, _loc(enode), p)

    # -- shared helpers --------------------------------------------------------------
    def _host_ref(self, node: Node | None, path: str) -> str | None:
        name = self.r.name(node, path)
        if name is not None and name not in self.host_names:
            self.r.problem(node, path, f"unknown host {name!r}{suggest(name, self.host_names)}")
            return None
        return name

    def _host_by_address(self, address: IPv4Address) -> str | None:
        for h in self.hosts.values():
            if self._ether_has(h, address):
                return h.name
        return None

    @staticmethod
    def _ether_has(host: HostSpec, address: IPv4Address) -> bool:
        return any(a.ip == address for i in host.interfaces if i.kind == "ether"
                   for a in i.addresses)

    def _host_address(self, host: HostSpec, director: HostSpec | None) -> IPv4Address | None:
        """The host's address on the service's path.

        Its ether address on a segment the director is also on (DR needs exactly that),
        else its first ether address.  On an interface, an address inside the segment's
        subnet wins over extra ones (a /32 VIP on the director's eth0, say).
        """
        ether = [i for i in host.interfaces if i.kind == "ether" and i.addresses]
        shared_segments = {i.segment for i in director.interfaces if i.kind == "ether"} \
            if director else set()
        shared = [i for i in ether if i.segment in shared_segments]
        for iface in shared or ether:
            seg = self.segments.get(iface.segment or "")
            for addr in iface.addresses:
                if seg is None or addr.network == seg.subnet:
                    return addr.ip
            return iface.addresses[0].ip
        return None

    @staticmethod
    def _match_server(text: str, pool: Iterable[RealServerSpec]) -> RealServerSpec | None:
        """The real server `text` names: a host name, ADDRESS or ADDRESS:PORT."""
        pool = list(pool)
        for rs in pool:
            if rs.host == text or rs.label == text:
                return rs
        addr, _, port = text.partition(":")
        try:
            ip = IPv4Address(addr)
        except ValueError:
            return None
        found = [rs for rs in pool if rs.address == ip and (not port or str(rs.port) == port)]
        return found[0] if len(found) == 1 else None

    def _network(self, node: Node | None, path: str, host_ok: bool = False) -> IPv4Network | None:
        """A prefix like 10.0.0.0/24; host bits set is a problem (with the fix shown)."""
        raw = self.r.text(node, path)
        if raw is None:
            return None
        if host_ok and "/" not in raw:
            raw = f"{raw}/32"
        try:
            return IPv4Network(raw)
        except ValueError as e:
            if "has host bits set" in str(e):
                fixed = IPv4Network(raw, strict=False)
                self.r.problem(node, path, f"{raw} has host bits set (did you mean {fixed}?)")
            else:
                self.r.problem(node, path, f"expected a prefix like 10.0.0.0/24, got {raw!r}")
            return None

    def _fraction(self, node: Node | None, path: str, default: float,
                  below_one: bool = False) -> float:
        raw = self.r.text(node, path) if node is not None else None
        if raw is None:
            return default
        try:
            value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value < (1 if below_one else 1.0000001):
            self.r.problem(node, path, f"expected a probability from 0 up to (not including) 1, "
                                       f"like 0.01 or 1%, got {raw!r}")
            return default
        return value


def _looks_bool(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.style is None and \
        node.value.lower() in ("true", "false", "yes", "no", "on", "off")


def _known_cpu_ops() -> frozenset[str] | None:
    """Operation names the CPU model knows, when that module is present."""
    try:
        from ipvssim.dataplane.iptables import IPTABLES_COSTS
        from ipvssim.ipvs.cpu import DEFAULT_COSTS
    except ImportError:
        return None
    return frozenset(DEFAULT_COSTS) | frozenset(IPTABLES_COSTS)
