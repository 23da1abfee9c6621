"""kube-proxy's iptables mode on a director host: a linear rule chain, conntrack and DNAT.

What it models (docs/ipvs-reference.md section 1):

- The nat table as kube-proxy (pkg/proxy/iptables/proxier.go) writes it: PREROUTING
  jumps to KUBE-SERVICES, which holds one rule per service VIP:port in creation
  order; each jumps to a KUBE-SVC-<hash> chain whose endpoint rules carry
  ``-m statistic --mode random --probability 1/(n-i)`` (the last none), each
  jumping to a KUBE-SEP-<hash> chain that DNATs to the endpoint.  A service with
  no ready endpoint has a REJECT rule in the filter table instead (ICMP port
  unreachable).  Chain names are kube-proxy's: base32(sha256(...))[:16].
- Only a packet without a conntrack entry (the first of a connection) walks the
  rules; the walk stops at the first matching KUBE-SERVICES rule, so its cost is
  proportional to the service's position.  Later packets -- both directions --
  follow the conntrack entry (a hash lookup), and replies are un-DNATed on their
  way back, so the real servers must route replies through this host, as in
  IPVS NAT.  The rewrites are `ipvssim.ipvs.modes.nat`'s.
- The DNAT happens in PREROUTING, so the packet is then forwarded: TTL-1 (the
  director needs ``forwarding: true``, for the requests and the replies).
- Rule updates (`events:`) are not incremental: the whole table is written
  again (iptables-restore under the xtables lock) and the new rules take effect
  only when the write is done; until then the old ones stay in force.

Deviations, on purpose: the VIP must be an address of the director (as for
IPVS; a ClusterIP that is only routed to the node is not intercepted); a TCP
packet other than SYN without a conntrack entry is left to the local stack
(conntrack's loose pick-up of mid-stream connections is not modelled); hairpin
masquerade (an endpoint reaching its own service) is listed, not simulated; a
full conntrack table drops new connections without early-drop.
"""
from __future__ import annotations

import base64
import hashlib
import heapq
from dataclasses import dataclass
from typing import Mapping

from ipvssim.dataplane.base import DataPlane, flow_key
from ipvssim.ipvs.dest import Dest, find_dest
from ipvssim.ipvs.modes import IcmpNeeded, nat
from ipvssim.ipvs.service import PROTO_NUMBERS
from ipvssim.packet import wire
from ipvssim.scenario.model import CpuSpec, EventSpec, RealServerSpec, ServiceSpec

__all__ = [
    "IptablesDirector", "KubeService", "Ruleset", "build_ruleset", "Conntrack", "ConntrackEntry",
    "IPTABLES_COSTS", "REWRITE_S_PER_RULE2", "rewrite_time", "statistic_threshold",
    "probability_text", "chain_hash", "CT_TCP_TIMEOUTS", "CT_UDP_TIMEOUT", "CT_UDP_STREAM_TIMEOUT",
    "CONNTRACK_MAX", "NAMESPACE",
]

# Per-packet CPU costs (seconds) on top of ipvssim.ipvs.cpu.DEFAULT_COSTS ("rx", "nat").
# Order-of-magnitude figures, not measurements:
# - "rule": ipt_do_table() (net/ipv4/netfilter/ip_tables.c) checks each rule's
#   ipt_ip header (addresses/masks, interfaces, protocol) and then its matches;
#   a few dozen instructions and cache misses per rule, i.e. tens of ns on a
#   current server core.  The O(rules) walk is what Tigera's "Comparing
#   kube-proxy modes: iptables or IPVS?" (2019) measured growing with the
#   number of services.
# - "conntrack": nf_conntrack_in() hash lookup of an existing entry.
# - "conntrack_new": allocating the entry and binding its NAT mapping
#   (nf_nat_setup_info) for the first packet.
IPTABLES_COSTS: Mapping[str, float] = {
    "conntrack": 0.15e-6,
    "conntrack_new": 0.4e-6,
    "rule": 30e-9,
}

# Rewrite time model: t = k * rules**2 seconds for writing the whole table.
# Calibrated on the published figures (Huawei, KubeCon 2017; reference section 1):
# 40,000 rules -> 11 min gives k = 660 / 40000**2 = 4.125e-7 s; the same k gives
# 160,000 rules -> 10,560 s = 2.9 h against the published 5 h -- the growth is
# superlinear as published (a linear model would give 44 min), the model is
# within a factor of two at the big end.
REWRITE_S_PER_RULE2 = 660.0 / 40_000 ** 2

# nf_conntrack_proto_tcp.c tcp_timeouts[] and nf_conntrack_proto_udp.c (seconds).
CT_TCP_TIMEOUTS: Mapping[str, float] = {
    "SYN_SENT": 120, "SYN_RECV": 60, "ESTABLISHED": 432000, "FIN_WAIT": 120,
    "CLOSE_WAIT": 60, "LAST_ACK": 30, "TIME_WAIT": 120, "CLOSE": 10,
}
CT_UDP_TIMEOUT = 30.0           # nf_conntrack_udp_timeout: one direction seen
CT_UDP_STREAM_TIMEOUT = 120.0   # nf_conntrack_udp_timeout_stream: replies seen
# kube-proxy sets nf_conntrack_max to max(conntrack.min 131072, 32768 per core).
CONNTRACK_MAX = 131072

# Services of a scenario become Kubernetes services in this namespace; the port is
# unnamed, so kube-proxy's ServicePortName is "default/NAME".
NAMESPACE = "default"

# xt_statistic: the kernel matches when (get_random_u32() & 0x7FFFFFFF) < probability,
# which libxt_statistic stores as lround(0x80000000 * p) and prints with "%.11f".
_STATISTIC_SCALE = 0x80000000
_KUBE_MARK_MASQ = "0x4000"

_ORIGINAL, _REPLY = 0, 1
_SYN_ONLY_MASK = wire.TH_SYN | wire.TH_ACK | wire.TH_RST | wire.TH_FIN
_REOPENABLE = ("TIME_WAIT", "CLOSE")


def chain_hash(text: str) -> str:
    """kube-proxy's chain name suffix: the first 16 base32 characters of sha256(text).

    >>> "KUBE-SVC-" + chain_hash("default/kubernetes:https" + "tcp")
    'KUBE-SVC-NPX46M4PTMTKRN6Y'
    """
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def statistic_threshold(n: int) -> int:
    """The 31-bit threshold the kernel compares for kube-proxy's ``1/n`` rule.

    kube-proxy writes ``%0.10f`` of 1/n; iptables stores lround(2**31 * p).

    >>> statistic_threshold(2), statistic_threshold(3)
    (1073741824, 715827883)
    """
    return round(_STATISTIC_SCALE * float(f"{1.0 / n:0.10f}"))


def probability_text(n: int) -> str:
    """``--probability`` as iptables-save prints it back.

    >>> probability_text(3)
    '0.33333333349'
    """
    return f"{statistic_threshold(n) / _STATISTIC_SCALE:.11f}"


def rewrite_time(rules: int) -> float:
    """Seconds until a rewritten table of `rules` rules is in force (see REWRITE_S_PER_RULE2).

    >>> round(rewrite_time(40_000) / 60, 1)
    11.0
    """
    return REWRITE_S_PER_RULE2 * rules * rules


class KubeService:
    """One Kubernetes service port: what KUBE-SERVICES matches and its endpoints.

    ``dests`` are the configured endpoints (what kube-proxy was told, weight 0 =
    not ready), with ipvsadm-style counters so reports read it like an IPVS
    service; what the kernel does at a moment is the director's loaded `Ruleset`.
    """

    def __init__(self, spec: ServiceSpec):
        self.spec = spec
        self.name = spec.name
        self.protocol = PROTO_NUMBERS[spec.protocol]
        self.vaddr = int(spec.vip)
        self.port = spec.port
        self.mode = "nat"                  # kube-proxy always DNATs
        self.port_name = f"{NAMESPACE}/{spec.name}"
        self.svc_chain = "KUBE-SVC-" + chain_hash(self.port_name + spec.protocol)
        self.dests: list[Dest] = []
        self.conns = 0
        self.inpkts = self.outpkts = self.inbytes = self.outbytes = 0
        for rs in spec.real_servers:
            self.add_dest(rs)

    def add_dest(self, rs: RealServerSpec) -> Dest:
        dest = Dest(addr=int(rs.address), port=rs.port, weight=rs.weight, mode="nat", label=rs.label)
        self.dests.append(dest)
        return dest

    def find_dest(self, key: str) -> Dest | None:
        return find_dest(self.dests, key)

    def sep_chain(self, dest: Dest) -> str:
        return "KUBE-SEP-" + chain_hash(self.port_name + self.spec.protocol +
                                        f"{wire.ip_ntoa(dest.addr)}:{dest.port}")


@dataclass(frozen=True)
class Ruleset:
    """One loaded version of the tables: immutable, replaced whole by a rewrite.

    ``position`` maps (proto, VIP, port) to the 0-based index of the service's rule
    in KUBE-SERVICES; a first-match walk over exact VIP:port rules stops exactly
    there, so the dictionary gives the walk's result and its length.
    """
    services: tuple[KubeService, ...]            # the KUBE-SERVICES rules, in order
    endpoints: Mapping[str, tuple[Dest, ...]]    # service name -> ready endpoints, chain order
    position: Mapping[tuple[int, int, int], int]
    reject: Mapping[tuple[int, int, int], KubeService]   # services without endpoints (filter table)
    nat_rules: tuple[str, ...]                   # "-A ..." lines of the nat table
    filter_rules: tuple[str, ...]                # "-A ..." lines of the filter table

    @property
    def rules(self) -> int:
        return len(self.nat_rules) + len(self.filter_rules)


def _ready(svc: KubeService) -> tuple[Dest, ...]:
    # kube-proxy has no weights: weight 0 stands for an endpoint that is not ready.
    return tuple(d for d in sorted(svc.dests, key=lambda d: (d.addr, d.port)) if d.weight > 0)


def build_ruleset(services) -> Ruleset:
    """The tables kube-proxy's syncProxyRules() would write for `services` (creation order)."""
    nat_rules = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {_KUBE_MARK_MASQ}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {_KUBE_MARK_MASQ}/{_KUBE_MARK_MASQ} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {_KUBE_MARK_MASQ}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ]
    filter_rules = [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
    ]
    endpoints: dict[str, tuple[Dest, ...]] = {}
    position: dict[tuple[int, int, int], int] = {}
    reject: dict[tuple[int, int, int], KubeService] = {}
    in_chain: list[KubeService] = []
    for svc in services:
        eps = _ready(svc)
        endpoints[svc.name] = eps
        key = (svc.protocol, svc.vaddr, svc.port)
        proto = svc.spec.protocol
        match = f"-d {wire.ip_ntoa(svc.vaddr)}/32 -p {proto}"
        if not eps:
            reject[key] = svc
            filter_rules.append(f'-A KUBE-SERVICES {match} -m comment --comment "{svc.port_name} has no '
                                f'endpoints" -m {proto} --dport {svc.port} -j REJECT --reject-with '
                                "icmp-port-unreachable")
            continue
        position[key] = len(in_chain)
        in_chain.append(svc)
        nat_rules.append(f'-A KUBE-SERVICES {match} -m comment --comment "{svc.port_name} cluster IP" '
                         f"-m {proto} --dport {svc.port} -j {svc.svc_chain}")
        seps = []
        for i, d in enumerate(eps):
            sep = svc.sep_chain(d)
            seps.append((sep, d))
            where = f"{wire.ip_ntoa(d.addr)}:{d.port}"
            stat = "" if i == len(eps) - 1 else \
                f" -m statistic --mode random --probability {probability_text(len(eps) - i)}"
            nat_rules.append(f'-A {svc.svc_chain} -m comment --comment "{svc.port_name} -> {where}"'
                             f"{stat} -j {sep}")
        for sep, d in seps:
            nat_rules.append(f"-A {sep} -s {wire.ip_ntoa(d.addr)}/32 -m comment --comment "
                             f"{svc.port_name} -j KUBE-MARK-MASQ")
            nat_rules.append(f"-A {sep} -p {proto} -m comment --comment {svc.port_name} -m {proto} "
                             f"-j DNAT --to-destination {wire.ip_ntoa(d.addr)}:{d.port}")
    return Ruleset(tuple(in_chain), endpoints, position, reject, tuple(nat_rules), tuple(filter_rules))


class ConntrackEntry:
    """One nf_conn: the original tuple (client -> VIP) and, by its DNAT, the reply tuple.

    Has the attributes `ipvssim.ipvs.modes.nat` rewrites with (vaddr/vport, daddr/dport).
    """
    __slots__ = ("proto", "caddr", "cport", "vaddr", "vport", "daddr", "dport", "dest", "service",
                 "state", "expires", "heap_at", "fin_dir", "seen_reply", "alive", "flow")

    def __init__(self, proto, caddr, cport, vaddr, vport, daddr, dport, dest, service, flow=None):
        self.proto = proto
        self.caddr, self.cport = caddr, cport
        self.vaddr, self.vport = vaddr, vport
        self.daddr, self.dport = daddr, dport
        self.dest = dest
        self.service = service
        self.state = "SYN_SENT" if proto == wire.IPPROTO_TCP else "UNREPLIED"
        self.expires = 0.0
        self.heap_at = float("inf")
        self.fin_dir: int | None = None
        self.seen_reply = False
        self.alive = True
        self.flow = flow

    def original_key(self) -> tuple:
        return (self.proto, self.caddr, self.cport, self.vaddr, self.vport)

    def reply_key(self) -> tuple:
        return (self.proto, self.daddr, self.dport, self.caddr, self.cport)


def _tcp_next(state: str, direction: int, flags: int, fin_dir: int | None) -> str:
    """A reduced tcp_conntracks[][][] (nf_conntrack_proto_tcp.c): the states that set timeouts."""
    if flags & wire.TH_RST:
        return "CLOSE"
    if flags & wire.TH_SYN:
        if direction == _REPLY and flags & wire.TH_ACK and state == "SYN_SENT":
            return "SYN_RECV"
        return state
    if flags & wire.TH_FIN:
        if state in ("SYN_SENT", "SYN_RECV", "ESTABLISHED"):
            return "FIN_WAIT"
        if state in ("FIN_WAIT", "CLOSE_WAIT") and direction != fin_dir:
            return "LAST_ACK"
        return state
    if flags & wire.TH_ACK:
        if state == "SYN_RECV" and direction == _ORIGINAL:
            return "ESTABLISHED"
        if state == "FIN_WAIT" and direction != fin_dir:
            return "CLOSE_WAIT"
        if state == "LAST_ACK":
            return "TIME_WAIT"
    return state


class Conntrack:
    """The conntrack table: both tuples hashed, bounded, entries expiring by state."""

    def __init__(self, max_entries: int = CONNTRACK_MAX):
        self.max_entries = max_entries
        self.original: dict[tuple, ConntrackEntry] = {}
        self.reply: dict[tuple, ConntrackEntry] = {}
        self._heap: list[tuple[float, int, ConntrackEntry]] = []
        self._seq = 0
        self.created = 0
        self.expired = 0
        self.refused = 0            # "nf_conntrack: table full, dropping packet"

    def __len__(self) -> int:
        return len(self.original)

    def add(self, entry: ConntrackEntry, now: float) -> bool:
        """Insert `entry`; False when the table is full."""
        if len(self.original) >= self.max_entries:
            self.refused += 1
            return False
        self.original[entry.original_key()] = entry
        self.reply[entry.reply_key()] = entry
        self.created += 1
        entry.dest.bind_conn(is_template=False)
        self._set_timeout(entry, now)
        return True

    def remove(self, entry: ConntrackEntry) -> None:
        if not entry.alive:
            return
        entry.alive = False
        self.original.pop(entry.original_key(), None)
        self.reply.pop(entry.reply_key(), None)
        entry.dest.unbind_conn(is_template=False, was_active=entry.state == "ESTABLISHED")

    def expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, entry = heapq.heappop(heap)
            if not entry.alive or at != entry.heap_at:
                continue            # a newer heap item stands for this entry
            if entry.expires <= now:
                self.remove(entry)
                self.expired += 1
            else:
                self._push(entry, entry.expires)

    def update(self, entry: ConntrackEntry, direction: int, flags: int, now: float) -> None:
        """Advance the entry's state for one packet and restart its timeout."""
        if direction == _REPLY:
            entry.seen_reply = True
        if entry.proto == wire.IPPROTO_TCP:
            old = entry.state
            new = _tcp_next(old, direction, flags, entry.fin_dir)
            if new == "FIN_WAIT" and old != "FIN_WAIT":
                entry.fin_dir = direction
            if new != old:
                if old == "ESTABLISHED":
                    entry.dest.conn_became_inactive()
                elif new == "ESTABLISHED":
                    entry.dest.conn_became_active()
                entry.state = new
        elif entry.seen_reply:
            entry.state = "REPLIED"
        self._set_timeout(entry, now)

    def timeout(self, entry: ConntrackEntry) -> float:
        if entry.proto == wire.IPPROTO_TCP:
            return CT_TCP_TIMEOUTS[entry.state]
        return CT_UDP_STREAM_TIMEOUT if entry.seen_reply else CT_UDP_TIMEOUT

    def _set_timeout(self, entry: ConntrackEntry, now: float) -> None:
        entry.expires = now + self.timeout(entry)
        if entry.expires < entry.heap_at:
            self._push(entry, entry.expires)

    def _push(self, entry: ConntrackEntry, at: float) -> None:
        self._seq += 1
        entry.heap_at = at
        heapq.heappush(self._heap, (at, self._seq, entry))


class IptablesDirector(DataPlane):
    """kube-proxy iptables mode on one host, with `ipvssim.ipvs.director.Director`'s interface.

    Parameters are Director's: the host, its services, (IPVS settings: unused),
    its CPU spec, the scenario and the simulation context.

    Examples
    --------
    >>> IptablesDirector.dataplane
    'iptables'
    """
    dataplane = "iptables"

    def __init__(self, host, service_specs, settings=None, cpu: CpuSpec | None = None,
                 scenario=None, ctx=None, conntrack_max: int = CONNTRACK_MAX):
        self.services = [KubeService(spec) for spec in service_specs]
        self.table = Conntrack(conntrack_max)
        self.ruleset = build_ruleset(self.services)
        self._attach(host, ctx, cpu, IPTABLES_COSTS)
        self.new_connections = 0
        self.rules_walked = 0           # rules evaluated by first packets, in total
        self.last_walk = 0              # rules the latest first packet walked
        self.rewrites: list[dict] = []  # one record per table rewrite
        self._rewriting = False
        self._sync_pending = False

    # -- configuration ----------------------------------------------------------------
    def apply_event(self, ev: EventSpec) -> None:
        """kube-proxy learns of an endpoint change at `ev.at` and starts a table rewrite."""
        svc = self.service(ev.service)
        if ev.action == "add":
            svc.add_dest(RealServerSpec(address=ev.address, port=ev.port or svc.port, host=ev.server,
                                        weight=1 if ev.weight is None else ev.weight))
        else:
            dest = svc.find_dest(ev.server)
            if dest is None:
                return
            if ev.action == "weight":
                dest.weight = ev.weight or 0
            elif ev.action == "remove":
                svc.dests.remove(dest)
        self._sync()

    def _sync(self) -> None:
        """syncProxyRules(): build the whole table and write it; one write at a time."""
        if self._rewriting:
            self._sync_pending = True
            return
        env = self.ctx.env
        new = build_ruleset(self.services)
        duration = rewrite_time(new.rules)
        self.rewrites.append({"started_s": env.now, "rules": new.rules, "duration_s": duration,
                              "done_s": env.now + duration})
        self._rewriting = True
        ev = env.timeout(duration)
        ev.callbacks.append(lambda _e, new=new: self._commit(new))

    def _commit(self, new: Ruleset) -> None:
        old = self.ruleset
        self.ruleset = new
        self._rewriting = False
        self._flush_stale_udp(old, new)
        if self._sync_pending:
            self._sync_pending = False
            self._sync()

    def _flush_stale_udp(self, old: Ruleset, new: Ruleset) -> None:
        """kube-proxy deletes UDP conntrack entries of endpoints that left a service
        (conntrack.ClearEntriesForNAT); TCP entries stay until they expire."""
        for svc in old.services:
            gone = set(map(id, old.endpoints.get(svc.name, ()))) - \
                set(map(id, new.endpoints.get(svc.name, ())))
            if not gone or svc.protocol != wire.IPPROTO_UDP:
                continue
            for entry in list(self.table.original.values()):
                if entry.service is svc and id(entry.dest) in gone:
                    self.table.remove(entry)

    # -- CPU ----------------------------------------------------------------------------
    def packet_cost(self, pkt) -> float:
        """Per-packet CPU cost: receive + conntrack lookup; a first packet also walks the rules.

        The walk inside a service chain depends on a random draw made later, so
        it is charged at its mean, (n+1)/2 rules for n endpoints.
        """
        d = pkt.data
        costs = self.costs
        key = flow_key(d)
        if key is None:
            return costs["rx"]
        proto = key[0]
        base = costs["rx"] + costs["conntrack"]
        if key in self.table.original or key in self.table.reply:
            return base + costs["nat"]
        if proto == wire.IPPROTO_TCP and (wire.tcp_flags(d) & _SYN_ONLY_MASK) != wire.TH_SYN:
            return base
        rs = self.ruleset
        pos = rs.position.get((proto, key[3], key[4]))
        if pos is None:
            return base + costs["rule"] * (1 + len(rs.services))
        n = len(rs.endpoints[rs.services[pos].name])
        walked = 1 + (pos + 1) + (n + 1) / 2 + 2
        return base + costs["conntrack_new"] + costs["rule"] * walked + costs["nat"]

    # -- PREROUTING (for a VIP that is a local address, seen at LOCAL_IN) ---------------------
    def local_in(self, host, iface, pkt) -> bool:
        d = pkt.data
        proto = d[23]
        if proto != wire.IPPROTO_TCP and proto != wire.IPPROTO_UDP:
            return False
        if iface.kind == "loopback":
            return False     # locally generated: kube-proxy's OUTPUT path is not modelled
        if wire.ip_frag_off(d) & 0x1FFF:
            return False     # conntrack reassembles first; a later fragment has no ports
        now = self.ctx.env.now
        table = self.table
        table.expire(now)
        saddr, daddr = wire.ip_src(d), wire.ip_dst(d)
        sport, dport = wire.l4_sport(d), wire.l4_dport(d)
        flags = wire.tcp_flags(d) if proto == wire.IPPROTO_TCP else 0
        syn_only = (flags & _SYN_ONLY_MASK) == wire.TH_SYN
        entry = table.original.get((proto, saddr, sport, daddr, dport))
        if entry is not None and syn_only and entry.state in _REOPENABLE:
            # tcp_packet(): a new SYN on a closing entry deletes it and the packet
            # is looked at again as new -- the rules choose afresh.
            table.remove(entry)
            entry = None
        if entry is None:
            if proto == wire.IPPROTO_TCP and not syn_only:
                return False
            if not host.forwarding and (proto, daddr, dport) in self.ruleset.position:
                # DNAT to an endpoint makes it a packet to route on; with ip_forward=0
                # ip_route_input() refuses it without an ICMP, and its conntrack entry,
                # never confirmed, goes with it.
                host.drop(pkt, "not-forwarding", iface.name)
                return True
            entry = self._new_connection(pkt, proto, saddr, sport, daddr, dport, now)
            if entry is False or entry is True:
                return entry        # no rule matched (local stack) / packet rejected or dropped
        table.update(entry, _ORIGINAL, flags, now)
        n = len(d) - wire.ETH_HLEN
        entry.dest.inpkts += 1
        entry.dest.inbytes += n
        entry.service.inpkts += 1
        entry.service.inbytes += n
        self.packets += 1
        self.bytes += n
        result = nat.request(d, entry)
        if isinstance(result, IcmpNeeded):
            host.icmp_error(pkt, result.type, result.code, mtu=result.mtu)
            host.drop(pkt, "ttl-exceeded")
            return True
        pkt.data = result
        if host.ctx.observer.tracing:
            host.ctx.observer.step(pkt, host.name, None, "rewritten", "iptables DNAT")
        host.output(pkt)
        return True

    def _new_connection(self, pkt, proto, saddr, sport, daddr, dport, now) -> ConntrackEntry | bool:
        """The rule walk for a first packet: its new entry, False (no rule matched) or True (consumed)."""
        host = self.host
        rs = self.ruleset
        key = (proto, daddr, dport)
        pos = rs.position.get(key)
        if pos is None:
            self._walked(1 + len(rs.services))
            if key in rs.reject:
                # filter KUBE-SERVICES: "has no endpoints" -j REJECT
                host.icmp_error(pkt, wire.ICMP_DEST_UNREACH, wire.ICMP_PORT_UNREACH)
                host.drop(pkt, "iptables-no-endpoints")
                return True
            return False
        svc = rs.services[pos]
        eps = rs.endpoints[svc.name]
        rng = self.ctx.rng
        last = len(eps) - 1
        for i, dest in enumerate(eps):
            if i == last or rng.getrandbits(31) < statistic_threshold(len(eps) - i):
                break
        self._walked(1 + (pos + 1) + (i + 1) + 2)
        entry = ConntrackEntry(proto, saddr, sport, daddr, dport, dest.addr, dest.port, dest, svc,
                               flow=pkt.flow)
        if not self.table.add(entry, now):
            host.drop(pkt, "conntrack-table-full")
            return True
        self.new_connections += 1
        svc.conns += 1
        dest.conns += 1
        flow = pkt.flow
        if flow is not None:
            flow.real_server = dest.label
            flow.director = host.name
        return entry

    def _walked(self, rules: int) -> None:
        self.rules_walked += rules
        self.last_walk = rules

    # -- FORWARD: replies from the endpoints, un-DNATed by their conntrack entry ----------------
    def forward(self, host, iface, pkt) -> bool:
        d = pkt.data
        proto = d[23]
        if proto != wire.IPPROTO_TCP and proto != wire.IPPROTO_UDP:
            return False
        entry = self.table.reply.get((proto, wire.ip_src(d), wire.l4_sport(d), wire.ip_dst(d),
                                      wire.l4_dport(d)))
        if entry is None:
            return False
        flags = wire.tcp_flags(d) if proto == wire.IPPROTO_TCP else 0
        now = self.ctx.env.now
        if entry.expires <= now:
            self.table.expire(now)      # the entry timed out before this reply came
            return False
        self.table.update(entry, _REPLY, flags, now)
        n = len(d) - wire.ETH_HLEN
        entry.dest.outpkts += 1
        entry.dest.outbytes += n
        entry.service.outpkts += 1
        entry.service.outbytes += n
        self.packets += 1
        self.bytes += n
        nat.reply(d, entry)
        if host.ctx.observer.tracing:
            host.ctx.observer.step(pkt, host.name, None, "rewritten", "iptables un-DNAT")
        return False         # rewritten in place; the host forwards it on

    # -- reports ------------------------------------------------------------------------
    def report_extra(self) -> dict:
        """Data-plane facts for report.json's director entry."""
        rs = self.ruleset
        return {"iptables": {
            "rules": rs.rules,
            "kube_services_rules": len(rs.services),
            "new_connections": self.new_connections,
            "rules_walked": self.rules_walked,
            "mean_rules_walked": self.rules_walked / self.new_connections if self.new_connections else 0.0,
            "conntrack_entries": len(self.table),
            "conntrack_refused": self.table.refused,
            "rewrites": list(self.rewrites),
        }}
