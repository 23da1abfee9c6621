"""The IPVS hooks on a director host (net/netfilter/ipvs/ip_vs_core.c).

`local_in` sits where ip_vs_in() does (LOCAL_IN): packets addressed to a local
address -- the VIP, or a FULLNAT local address -- are matched to a connection
entry or scheduled, rewritten by the entry's forwarding mode and transmitted
(the packet never reaches the director's own TCP stack).  `forward` sits where
ip_vs_out() does for NAT (FORWARD): replies from a real server routed through
the director get their source set back to VIP:vport.

Everything the director decides comes from the packet bytes, the connection
table and the schedulers; the `Flow` annotation on a packet is only written to
(who served it), never read for a decision.
"""
from __future__ import annotations

from ipvssim.ipvs import conn as ipvs_conn
from ipvssim.dataplane.base import DataPlane, addresses_ports, flow_key
from ipvssim.ipvs.modes import IcmpNeeded, dr, fullnat, nat, tun
from ipvssim.ipvs.service import Service
from ipvssim.packet import wire
from ipvssim.scenario.model import CpuSpec, EventSpec, IpvsSettings, RealServerSpec

__all__ = ["Director"]

_SYN_ONLY_MASK = wire.TH_SYN | wire.TH_ACK | wire.TH_RST | wire.TH_FIN
# Module constants bound once: the per-packet hooks compare against these
# (a global name lookup, not an attribute lookup on the wire module).
_TCP = wire.IPPROTO_TCP
_UDP = wire.IPPROTO_UDP
_SYN = wire.TH_SYN
_RST = wire.TH_RST
_ETH_HLEN = wire.ETH_HLEN
_INPUT = ipvs_conn.INPUT
_OUTPUT = ipvs_conn.OUTPUT
_KEEP = ipvs_conn.KEEP
# One jiffy at CONFIG_HZ=250 (the usual distribution kernel): the delay of
# queue_delayed_work(..., 1) for ip_vs_enqueue_expire_nodest_conns().
_JIFFY = 1.0 / 250


class Director(DataPlane):
    """IPVS on one host: its services, connection table, CPU and ipvsadm counters."""

    def __init__(self, host, service_specs, settings: IpvsSettings | None, cpu: CpuSpec | None,
                 scenario, ctx):
        self.settings = settings or IpvsSettings()
        self.services = [Service(spec, ctx.rng, clock=lambda: ctx.env.now) for spec in service_specs]
        self.by_key: dict[tuple[int, int, int], Service] = {}
        for svc in self.services:
            self.by_key[(svc.protocol, svc.vaddr, svc.port)] = svc
        self.table = ipvs_conn.ConnTable(self.settings)
        self.pools: dict[str, fullnat.LocalAddressPool] = {}
        for svc in self.services:
            if svc.spec.local_addresses:
                ports = svc.spec.local_ports or (fullnat.PORT_MIN, fullnat.PORT_MAX)
                self.pools[svc.name] = fullnat.LocalAddressPool(
                    [int(a) for a in svc.spec.local_addresses], ports=ports)
        # Where a FULLNAT reply can be addressed: its entry's laddr comes from a pool.
        self._fullnat_addresses = frozenset(a for pool in self.pools.values() for a in pool.addresses)
        self._attach(host, ctx, cpu)
        self._expiry_at: float | None = None
        # ip_vs_conn_uses_old_conntrack() arrived in 5.9: before it, with conntrack=1, a
        # SYN reusing a port of an entry in TIME_WAIT was dropped (the "1 s connect delay").
        self.legacy_conntrack = bool(self.settings.conntrack) and self.settings.kernel < (5, 9)

    # -- configuration ----------------------------------------------------------------
    def apply_event(self, ev: EventSpec) -> None:
        """ipvsadm -e / -d / -a at simulated time `ev.at`."""
        svc = self.service(ev.service)
        if ev.action == "add":
            svc.add_dest(RealServerSpec(address=ev.address, port=ev.port or svc.port, host=ev.server,
                                        weight=1 if ev.weight is None else ev.weight, mode=ev.mode))
            return
        dest = svc.find_dest(ev.server)
        if dest is None:
            return
        if ev.action == "weight":
            svc.edit_dest(dest, ev.weight or 0)
        elif ev.action == "remove":
            svc.remove_dest(dest)
            if self.settings.expire_nodest_conn:
                # Since v5.9 (04231e52d355) removing a server with expire_nodest_conn=1
                # queues expire_nodest_conn_work one jiffy later: every entry of an
                # unavailable server is deleted then, not only on its next packet.
                timer = self.ctx.env.timeout(_JIFFY)
                timer.callbacks.append(lambda _e: self._expire_nodest_conns())

    def _expire_nodest_conns(self) -> None:
        """ip_vs_conn.c ip_vs_expire_nodest_conn_flush(): drop the entries of removed servers.

        Entries that still control others stay; a template left with nothing to
        control goes with its last connection.
        """
        table = self.table
        now = self.ctx.env.now
        for c in list(table):
            if c.dest is None or c.dest.available or c.n_control or not c.linked:
                continue
            ct = c.control
            table.expire_now(c, now)
            if ct is not None and ct.linked and not ct.n_control:
                table.expire_now(ct, now)

    # -- CPU ----------------------------------------------------------------------------
    def packet_cost(self, pkt) -> float:
        """Per-packet CPU cost: receive + the IPVS work this packet will need."""
        costs = self.costs
        key = flow_key(pkt.data)
        if key is None:
            return costs["rx"]
        proto, _, _, daddr, dport = key
        table = self.table
        conn = table.by_input.get(key) or table.by_output.get(key)
        if conn is not None:
            return costs["rx"] + costs[conn.mode]
        svc = self.by_key.get((proto, daddr, dport)) or self.by_key.get((proto, daddr, 0))
        if svc is not None:
            return costs["rx"] + costs.get("schedule", 0.0) + costs[svc.mode]
        return costs["rx"]

    # -- LOCAL_IN: requests (and FULLNAT replies to a local address) -----------------------
    def local_in(self, host, iface, pkt) -> bool:
        d = pkt.data
        proto = d[23]
        if proto != _TCP and proto != _UDP:
            return False
        if iface.kind == "loopback":
            # Looped back through lo: the director sent it itself.  IPVS leaves such
            # packets to the local stack (reference section 2, "a client on the director
            # cannot reach its own VIP"); ipvssim models no LOCAL_OUT hook.
            return False
        if (d[20] & 0x1F) | d[21]:
            return False     # non-first fragment: no ports to match (ip_vs_in defrags first)
        now = self.env._now     # simpy's `now` property, read directly as net/ does per packet
        table = self.table
        table.expire(now)
        # The fields every decision below needs, read once.
        saddr, daddr, sport, dport = addresses_ports(d)
        key = (proto, saddr, sport, daddr, dport)
        flags = d[_ETH_HLEN + ((d[_ETH_HLEN] & 0x0F) << 2) + 13] if proto == _TCP else 0

        if daddr in self._fullnat_addresses:
            # Only a FULLNAT reply is looked up by its reply tuple here (a NAT reply
            # comes through FORWARD); the set test spares the requests that lookup.
            conn = table.by_output.get(key)
            if conn is not None and conn.mode == "fullnat":
                return self._reply(conn, pkt, flags, now)

        conn = table.by_input.get(key)
        if conn is not None:
            syn_only = (flags & _SYN_ONLY_MASK) == _SYN
            action = (table.new_syn_action(conn, legacy_conntrack=self.legacy_conntrack)
                      if syn_only else _KEEP)
            if action != _KEEP:
                # conn_reuse_mode: a new SYN on an entry in TIME_WAIT/CLOSE is
                # rescheduled as a new connection (ip_vs_core.c is_new_conn_expected).
                table.expire_now(conn, now)
                conn = None
                if action == ipvs_conn.DROP:
                    host.drop(pkt, "ipvs-conn-reuse-drop")
                    return True
            elif not conn.dest.available:
                # ip_vs_in() (v5.9+), the entry's server was removed: silently drop
                # (expire_nodest_conn=0, the entry lives on); or expire the entry and
                # treat the packet as new -- scheduled again, or to the local stack,
                # which resets a mid-connection TCP packet.  With conntrack the old
                # conntrack entry is still in the way: drop (ip_vs_conn_uses_old_conntrack).
                if not self.settings.expire_nodest_conn:
                    host.drop(pkt, "ipvs-dest-unavailable")
                    return True
                table.expire_now(conn, now)
                conn = None
                if self.settings.conntrack:
                    host.drop(pkt, "ipvs-nodest-expired")
                    return True
        if conn is None:
            svc = self.by_key.get((proto, daddr, dport)) or self.by_key.get((proto, daddr, 0))
            if svc is None:
                return False
            if proto == _TCP:
                # tcp_conn_schedule(): only a SYN (or anything but RST with sloppy_tcp)
                # creates an entry; the rest goes to the local stack, which resets it.
                if flags & _RST:
                    return False
                if not (flags & _SYN) and not self.settings.sloppy_tcp:
                    return False
            conn = self._new_connection(svc, pkt, saddr, sport, daddr, dport, now)
            if conn is None:
                return True
        table.state_transition(conn, _INPUT, flags, now)
        n = len(d) - _ETH_HLEN
        conn.inpkts += 1
        dest = conn.dest
        dest.inpkts += 1
        dest.inbytes += n
        svc = conn.service
        svc.inpkts += 1                 # service totals survive the removal of a server
        svc.inbytes += n
        self.packets += 1
        self.bytes += n
        return self._transmit(conn, pkt)

    def _new_connection(self, svc: Service, pkt, saddr, sport, daddr, dport, now):
        host = self.host
        if svc.persistent:
            dest, template = self._schedule(svc, saddr, sport, daddr, dport, now)
        else:
            # _schedule() without persistence, straight to the scheduler (Service.schedule).
            dest = svc.scheduler.schedule(svc, saddr, sport, daddr, dport)
            template = None
        if dest is None:
            # ip_vs_leave(): no destination -> ICMP port unreachable to the client.
            host.icmp_error(pkt, wire.ICMP_DEST_UNREACH, wire.ICMP_PORT_UNREACH)
            host.drop(pkt, "ipvs-no-destination")
            return None
        mode = dest.mode
        laddr = lport = pool = None
        if mode == "fullnat":
            pool = self.pools.get(svc.name)
            got = pool.allocate(dest.addr, dest.port, svc.protocol) if pool is not None else None
            if got is None:
                host.drop(pkt, "fullnat-no-local-address")
                return None
            laddr, lport = got
        dport_rs = dest.port if (mode == "nat" or mode == "fullnat") and dest.port else dport
        flow = pkt.flow
        conn = self.table.new(proto=svc.protocol, caddr=saddr, cport=sport, vaddr=daddr, vport=dport,
                              daddr=dest.addr, dport=dport_rs, dest=dest, mode=mode,
                              laddr=laddr, lport=lport, control=template, now=now,
                              pool=pool, flow=flow)
        conn.service = svc
        self._arm_expiry()
        svc.conns += 1
        dest.conns += 1
        if flow is not None:
            flow.real_server = dest.label
            flow.director = host.name
        return conn

    def _arm_expiry(self) -> None:
        """Keep a timer at the table's next expiry, so counts fall while traffic is idle
        (the kernel runs one timer per entry; one timer for the earliest is equivalent)."""
        nxt = self.table.next_expiry()
        if nxt is None or (self._expiry_at is not None and self._expiry_at <= nxt):
            return
        self._expiry_at = nxt
        env = self.env
        ev = env.timeout(max(0.0, nxt - env.now))
        ev.callbacks.append(self._on_expiry)

    def _on_expiry(self, _ev) -> None:
        self._expiry_at = None
        self.table.expire(self.ctx.env.now)
        self._arm_expiry()

    def _schedule(self, svc: Service, saddr, sport, daddr, dport, now):
        """ip_vs_schedule() / ip_vs_sched_persist(): returns (dest, template or None)."""
        if not svc.persistent:
            return svc.schedule(saddr, sport, daddr, dport), None
        table = self.table
        cnet = saddr & svc.netmask
        vport = 0 if svc.port == 0 else dport
        template = table.template_get(svc.protocol, cnet, daddr, vport)
        if template is not None and not table.check_template(template):
            template = None
        if template is None:
            dest = svc.schedule(saddr, sport, daddr, dport)
            if dest is None:
                return None, None
            template = table.new_template(proto=svc.protocol, caddr=cnet, vaddr=daddr, vport=vport,
                                          dest=dest, timeout=svc.timeout, now=now)
        else:
            table.touch_template(template, svc.timeout, now)
        return template.dest, template

    def _transmit(self, conn, pkt) -> bool:
        """ip_vs_{dr,nat,tunnel,fullnat}_xmit(): rewrite by the entry's mode and send."""
        host = self.host
        mode = conn.mode
        # Every mode sends toward the RIP: DR to its MAC with the VIP kept as the IP
        # destination (or, off-link, to the gateway on the route toward it), NAT and
        # FULLNAT with it as the new destination, TUN as the outer destination.  One
        # route lookup serves the source, the MTU and the output.  It is kept on the
        # entry while the host's routes and addresses stay the same (route_gen), as a
        # TCP socket keeps its route: output_route() is three calls per packet.
        if conn.route_gen == host.route_gen:
            route = conn.route
        else:
            route = conn.route = host.output_route(conn.daddr)
            conn.route_gen = host.route_gen
        if mode == "dr":
            result = dr.request(pkt.data, conn)
        elif mode == "nat":
            result = nat.request(pkt.data, conn)
        elif mode == "fullnat":
            result = fullnat.request(pkt.data, conn, route_mtu=route[0].mtu if route else None)
        else:
            if route is None:
                host.drop(pkt, "no-route")
                return True
            # outer_src, pmtu_disc, route_mtu (positional: a keyword call costs more)
            result = tun.request(pkt.data, conn, route[2], self.settings.pmtu_disc, route[0].mtu)
        if isinstance(result, IcmpNeeded):
            host.icmp_error(pkt, result.type, result.code, mtu=result.mtu)
            host.drop(pkt, "ttl-exceeded" if result.type == wire.ICMP_TIME_EXCEEDED else f"{mode}-frag-needed")
            return True
        pkt.data = result
        if self.observer.tracing:
            self.observer.step(pkt, host.name, None, "rewritten", f"ipvs {mode}")
            if route is not None:
                # and where it leaves, with the MACs written (DR: the whole rewrite)
                self.observer.step_at_transmit(pkt, host.name, route[0].name, "forwarded")
        # ip_vs_tunnel_xmit sets skb->ignore_df: what ensure_mtu_is_adequate() let
        # through (tun.request checked it; pmtu_disc=0 skips the check) is
        # fragmented, not answered with ICMP.  The other modes have no MTU check of
        # their own here, so the output path's DF check stands in for it.
        if route is None:
            host.drop(pkt, "no-route")
        else:
            host.output_via(pkt, route[0], route[1], mode == "tun")    # ignore_df
        return True

    # -- replies: NAT at FORWARD, FULLNAT at LOCAL_IN --------------------------------------
    def forward(self, host, iface, pkt) -> bool:
        d = pkt.data
        proto = d[23]
        if proto != _TCP and proto != _UDP:
            return False
        table = self.table
        saddr, daddr, sport, dport = addresses_ports(d)
        conn = table.by_output.get((proto, saddr, sport, daddr, dport))
        if conn is None or conn.mode != "nat":
            return False
        flags = d[_ETH_HLEN + ((d[_ETH_HLEN] & 0x0F) << 2) + 13] if proto == _TCP else 0
        table.state_transition(conn, _OUTPUT, flags, self.env._now)
        self._count_out(conn, d)
        nat.reply(d, conn)
        if self.observer.tracing:
            self.observer.step(pkt, host.name, None, "rewritten", "ipvs nat reply")
        return False         # rewritten in place; the host forwards it on

    def _reply(self, conn, pkt, flags, now) -> bool:
        self.table.state_transition(conn, _OUTPUT, flags, now)
        self._count_out(conn, pkt.data)
        result = fullnat.reply(pkt.data, conn)
        host = self.host
        if isinstance(result, IcmpNeeded):
            host.icmp_error(pkt, result.type, result.code)
            host.drop(pkt, "ttl-exceeded")
            return True
        pkt.data = result
        if self.observer.tracing:
            self.observer.step(pkt, host.name, None, "rewritten", "ipvs fullnat reply")
            self.observer.step_at_transmit(pkt, host.name, None, "forwarded")   # iface: at transmit
        host.output(pkt)
        return True

    def _count_out(self, conn, d) -> None:
        n = len(d) - _ETH_HLEN
        conn.outpkts += 1
        dest = conn.dest
        dest.outpkts += 1
        dest.outbytes += n
        svc = conn.service
        svc.outpkts += 1
        svc.outbytes += n
        self.packets += 1
        self.bytes += n
