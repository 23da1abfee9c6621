"""Director features end to end: per-server modes, persistence, no destination, resets,
conn_reuse_mode, expire_nodest_conn, sloppy_tcp, FULLNAT pool exhaustion, UDP, CPU,
and a client on the director itself."""
from __future__ import annotations

import statistics

import pytest

from director_lab import (CIP, DIP, MAC, RIP1, RIP3, TH, VIP, drops, received, rs_block, run,
                          scenario_text, tcp_steps)
from ipvssim.packet import wire
from ipvssim.scenario.errors import ScenarioError
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim.simulation import Simulation

CLIENT2 = '''interfaces: {eth0: {segment: wan, ip: 198.51.100.11, mac: "02:00:00:00:00:0b"}}
routes: [{to: default, via: 198.51.100.1}]'''


def at(sim: Simulation, t: float, fn) -> None:
    """Call fn() at simulated time t."""
    sim.ctx.env.timeout(t).callbacks.append(lambda _ev: fn())


def entries(sim_or_res):
    d = sim_or_res.directors["lb"]
    return [(c.is_template, c.state, c.dest.label, round(c.expires, 3)) for c in d.table]


def rewrites(res, fid):
    return [s.reason for s in res.ctx.observer.steps if s.flow == fid and s.action == "rewritten"]


def test_mixed_modes_each_connection_is_rewritten_by_its_servers_mode():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: dr, scheduler: rr,"
        " real_servers: [{host: rs1}, {host: rs3, mode: tun}]}",
        "- {name: t, from: client, to: 10.0.0.100:80, connections: 4, rate: 100/s, request: 100B,"
        " response: 500B}",
        [rs_block("rs1"), rs_block("rs3", vip_on="tunl0", gateway="10.2.0.1", rp_filter=0)]))
    assert [f.status for f in res.flows] == ["succeeded"] * 4
    # rr walks the list newest first: rs3, rs1, rs3, rs1.
    assert [f.served_by for f in res.flows] == ["rs3", "rs1", "rs3", "rs1"]
    for f in res.flows:
        mode = "tun" if f.served_by == "rs3" else "dr"
        assert set(rewrites(res, f.fid)) == {f"ipvs {mode}"}
        first = next(s for s in res.ctx.observer.steps if s.flow == f.fid and s.action == "rewritten")
        if mode == "tun":
            # IPIP from the director's address to rs3, the client's SYN inside.
            assert (first.data[23], wire.ip_src(first.data), wire.ip_dst(first.data)) == \
                (wire.IPPROTO_IPIP, DIP, RIP3)
            assert wire.tcp_flags(first.data, 34) == TH["S"] and wire.ip_dst(first.data, 34) == VIP
        else:
            # Same IP packet, next hop rs1's MAC.
            assert (first.data[23], wire.ip_dst(first.data), wire.tcp_flags(first.data)) == \
                (wire.IPPROTO_TCP, VIP, TH["S"])
            at_rs = [h for h in received(res, first.pid) if h[0] == "rs1"]
            assert at_rs[0][2][0:6] == wire.mac_aton(MAC["rs1", "eth0"])
    assert {c.mode for c in res.directors["lb"].table} == {"dr", "tun"}


def test_persistence_ties_a_client_network_to_one_server_while_the_template_lives():
    text = scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: dr, scheduler: rr,"
        " persistence: 10s, persistence_netmask: 24, real_servers: [{host: rs1}, {host: rs2}]}",
        """\
        - {name: a, from: [client, client2], to: 10.0.0.100:80, connections: 4, rate: 10/s}
        - {name: b, from: client2, to: 10.0.0.100:80, start: 8s}
        - {name: c, from: client, to: 10.0.0.100:80, start: 25s}""",
        [rs_block("rs1"), rs_block("rs2")], extra_hosts={"client2": CLIENT2},
        lb_extra="ipvs: {timeouts: {tcpfin: 2s}}", duration="40s")
    sim = Simulation(load_scenario_text(text), trace=True)
    seen = {}
    for t in (5.0, 17.0, 19.0):
        at(sim, t, lambda t=t: seen.setdefault(t, entries(sim)))
    res = sim.run()
    a = [f for f in res.flows if f.traffic == "a"]
    b = [f for f in res.flows if f.traffic == "b"]
    c = [f for f in res.flows if f.traffic == "c"]
    # Both clients are in 198.51.100.0/24: one template, one server (rr's first pick: rs2).
    assert [f.served_by for f in a] == ["rs2"] * 4
    assert [f.client for f in a] == ["client", "client2", "client", "client2"]
    # The connections are gone (FIN_WAIT 2 s), the template stays 10 s after its last use
    # (the 4th SYN reached the director at 0.306 s).
    [(is_tpl, state, dest, expires)] = seen[5.0]
    assert (is_tpl, state, dest) == (True, "NONE", "rs2") and abs(expires - 10.306) < 0.01
    # At 8 s it is used again and re-armed; then it expires and rr moves on.
    assert [f.served_by for f in b] == ["rs2"]
    assert [e[:3] for e in seen[17.0]] == [(True, "NONE", "rs2")]
    assert seen[19.0] == []
    assert [f.served_by for f in c] == ["rs1"]


def test_no_available_server_answers_icmp_port_unreachable_and_the_connect_fails():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: dr,"
        " real_servers: [{host: rs1, weight: 0}, {host: rs2, weight: 0}]}",
        "- {name: t, from: client, to: 10.0.0.100:80}", [rs_block("rs1"), rs_block("rs2")]))
    [d] = drops(res)
    assert (d.host, d.reason) == ("lb", "ipvs-no-destination")
    icmp = [s for s in res.ctx.observer.steps if s.host == "client" and s.action == "delivered"
            and s.data[23] == wire.IPPROTO_ICMP]
    assert [(s.data[34], s.data[35], wire.ip_src(s.data)) for s in icmp] == \
        [(wire.ICMP_DEST_UNREACH, wire.ICMP_PORT_UNREACH, VIP)]
    f = res.flows[0]
    assert (f.status, f.reason, f.served_by) == ("failed", "unreachable", None)
    assert len(res.directors["lb"].table) == 0


def _removal(settings: str, duration: str = "3s"):
    """NAT, rr over [rs2, rs1] (first pick rs1), rs1 removed 30 ms into a 5 MB response."""
    text = scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: nat, scheduler: rr,"
        " real_servers: [{host: rs2}, {host: rs1}]}",
        "- {name: t, from: client, to: 10.0.0.100:80, request: 100B, response: 5MB}",
        [rs_block("rs1", vip_on=None, gateway="10.0.0.2", arp=False),
         rs_block("rs2", vip_on=None, gateway="10.0.0.2", arp=False)],
        events="- {at: 30ms, service: web, server: rs1, remove: true}",
        lb_extra=f"ipvs: {{{settings}}}" if settings else "", duration=duration)
    return run(text, pcap=False)


def test_removed_server_without_expire_nodest_conn_its_packets_are_dropped_silently():
    res = _removal("")
    lost = drops(res, "ipvs-dest-unavailable", "lb")
    assert lost and min(s.time for s in lost) >= 0.030
    assert all(wire.ip_src(s.data) == CIP for s in lost)       # the client's ACKs
    [conn] = list(res.directors["lb"].table)
    assert conn.dest.label == "rs1" and not conn.dest.available
    assert res.flows[0].status == "pending"
    assert not [s for s in tcp_steps(res, "sent") if wire.tcp_flags(s.data) & wire.TH_RST]


def test_removed_server_with_expire_nodest_conn_the_next_packet_is_reset_by_the_director():
    res = _removal("expire_nodest_conn: 1")
    # The first client packet after the removal expires the entry and is handled as new:
    # not a SYN, so it goes to the director's own stack, which answers RST from VIP:80.
    rst = [s for s in tcp_steps(res, "sent") if s.host == "lb" and wire.tcp_flags(s.data) & wire.TH_RST]
    assert rst and wire.ip_src(rst[0].data) == VIP and wire.ip_dst(rst[0].data) == CIP
    assert wire.l4_sport(rst[0].data) == 80
    assert rst[0].time >= 0.030
    assert drops(res, "no-socket", "lb")
    f = res.flows[0]
    assert (f.status, f.reason) == ("failed", "reset")
    assert not drops(res, "ipvs-dest-unavailable")


def test_sloppy_tcp_schedules_a_mid_connection_packet_to_another_server_which_resets_it():
    res = _removal("expire_nodest_conn: 1, sloppy_tcp: 1")
    # The orphaned ACK is now scheduled (rr: rs2): rs2 has no such connection and resets it.
    rs2_rst = [s for s in tcp_steps(res, "sent") if s.host == "rs2" and wire.tcp_flags(s.data) & wire.TH_RST]
    assert rs2_rst
    assert not [s for s in tcp_steps(res, "sent") if s.host == "lb" and wire.tcp_flags(s.data) & wire.TH_RST]
    first_to_rs2 = next(s for s in tcp_steps(res) if s.host == "rs2")
    assert not wire.tcp_flags(first_to_rs2.data) & wire.TH_SYN
    # The director rewrote rs2's RST back to VIP:80 (NAT), and the client gave up.
    at_client = [s for s in tcp_steps(res) if s.host == "client" and wire.tcp_flags(s.data) & wire.TH_RST]
    assert at_client and wire.ip_src(at_client[0].data) == VIP
    assert (res.flows[0].status, res.flows[0].reason) == ("failed", "reset")


def _port_reuse(conn_reuse_mode: int):
    """Two NAT connections from the same client port, 70 s apart (the client's own TIME_WAIT
    has ended, the director's entry -- 120 s -- has not)."""
    text = scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: nat, scheduler: rr,"
        " real_servers: [{host: rs1}, {host: rs2}]}",
        """\
        - {name: first, from: client, to: 10.0.0.100:80}
        - {name: again, from: client, to: 10.0.0.100:80, start: 70s}""",
        [rs_block("rs1", vip_on=None, gateway="10.0.0.2", arp=False),
         rs_block("rs2", vip_on=None, gateway="10.0.0.2", arp=False)],
        lb_extra=f"ipvs: {{conn_reuse_mode: {conn_reuse_mode}}}", duration="80s")
    sim = Simulation(load_scenario_text(text), trace=True)
    seen = {}

    def wrap_ports():
        # A busy client whose ephemeral range came round: the next connect takes the same port.
        seen["states"] = [(c.state, c.dest.label) for c in sim.directors["lb"].table]
        sim.hosts["client"].tcp._port_offset -= 2
    at(sim, 69.0, wrap_ports)
    res = sim.run()
    ports = [wire.l4_sport(s.data) for s in tcp_steps(res, "sent")
             if s.host == "client" and wire.tcp_flags(s.data) == TH["S"]]
    return res, seen, ports


def test_conn_reuse_mode_reschedules_a_new_syn_that_hits_a_time_wait_entry():
    res, seen, ports = _port_reuse(1)
    assert len(set(ports)) == 1 and len(ports) == 2
    assert seen["states"] == [("TIME_WAIT", "rs2")]
    assert [f.status for f in res.flows] == ["succeeded", "succeeded"]
    assert [f.served_by for f in res.flows] == ["rs2", "rs1"]


def test_conn_reuse_mode_0_sends_the_reused_port_to_the_old_server():
    res, seen, ports = _port_reuse(0)
    assert len(set(ports)) == 1 and seen["states"] == [("TIME_WAIT", "rs2")]
    assert [f.served_by for f in res.flows] == ["rs2", "rs2"]


def test_fullnat_pool_exhaustion_drops_syns_until_a_local_port_is_free():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: fullnat, scheduler: rr,"
        " local_addresses: [10.0.0.50], local_ports: \"5000-5001\", real_servers: [{host: rs3}]}",
        "- {name: t, from: client, to: 10.0.0.100:80, connections: 3, rate: 100/s}",
        [rs_block("rs3", vip_on=None, gateway="10.2.0.1", arp=False)], duration="5s"), pcap=False)
    assert [f.status for f in res.flows] == ["succeeded", "succeeded", "pending"]
    assert sorted(c.lport for c in res.directors["lb"].table) == [5000, 5001]
    # The finished connections still hold their ports (TIME_WAIT entries): every SYN of the
    # third one is dropped -- at 20 ms, then the retransmissions 1 s, 3 s later.
    lost = drops(res, "fullnat-no-local-address", "lb")
    assert [round(s.time - lost[0].time, 3) for s in lost] == [0.0, 1.0, 3.0]
    assert all(wire.tcp_flags(s.data) == TH["S"] for s in lost)
    assert res.directors["lb"].pools["web"].failures == 3


def test_udp_services_nat_and_dr():
    for mode, reply_path in (("nat", ["rs1", "lb", "gw", "client"]), ("dr", ["rs1", "gw", "client"])):
        gw = "10.0.0.2" if mode == "nat" else "10.0.0.1"
        servers = [rs_block("rs1", vip_on="lo" if mode == "dr" else None, gateway=gw,
                            arp=mode == "dr", listen="[udp/53]")]
        res = run(scenario_text(
            f"- {{name: dns, director: lb, vip: 10.0.0.100, port: 53, protocol: udp, mode: {mode},"
            " real_servers: [{host: rs1}]}",
            "- {name: q, from: client, to: 10.0.0.100:53, connections: 3, rate: 10/s, request: 60B,"
            " response: 200B}", servers), pcap=False)
        assert [f.status for f in res.flows] == ["succeeded"] * 3, mode
        assert all(f.reply_path == reply_path for f in res.flows)
        table = list(res.directors["lb"].table)
        assert [(c.state, c.mode, c.protocol) for c in table] == [("UDP", mode, 17)] * 3
        # Answers reach the client from VIP:53 in both modes.
        answers = [s for s in res.ctx.observer.steps if s.host == "client" and s.action == "received"
                   and s.data[12:14] == b"\x08\x00" and s.data[23] == wire.IPPROTO_UDP]
        assert answers and {(wire.ip_src(s.data), wire.l4_sport(s.data)) for s in answers} == {(VIP, 53)}
        if mode == "nat":
            at_rs = [s for s in res.ctx.observer.steps if s.host == "rs1" and s.action == "received"
                     and s.data[12:14] == b"\x08\x00" and s.data[23] == wire.IPPROTO_UDP]
            assert {wire.ip_dst(s.data) for s in at_rs} == {RIP1}
        # UDP entries live 300 s after their last packet (the last answer, under 1 s in).
        assert all(300.0 < c.expires < 301.0 for c in table)


def _cpu_run(rx_cost: str):
    text = scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: nat, scheduler: rr,"
        " real_servers: [{host: rs1}, {host: rs2}]}",
        "- {name: t, from: client, to: 10.0.0.100:80, connections: 200, rate: 1000/s, response: 10KB}",
        [rs_block("rs1", vip_on=None, gateway="10.0.0.2"), rs_block("rs2", vip_on=None, gateway="10.0.0.2")],
        lb_extra=f"cpu: {{cores: 1, costs: {{rx: {rx_cost}}}}}", duration="30s")
    return run(text, trace=False, pcap=False)


def test_a_slow_director_cpu_becomes_the_bottleneck():
    fast, slow = _cpu_run("0.6us"), _cpu_run("300us")
    for res in (fast, slow):
        assert [f.status for f in res.flows].count("succeeded") == 200
    last_fast = max(f.end for f in fast.flows)
    last_slow = max(f.end for f in slow.flows)
    # 200 connections offered over 0.2 s: the default CPU keeps up, the slow one needs
    # ~3400 packets x 300 us = 1 s of work and stretches the whole run.
    assert last_fast < 0.25 and last_slow > 3 * last_fast
    lat_fast = statistics.mean(f.latency for f in fast.flows)
    lat_slow = statistics.mean(f.latency for f in slow.flows)
    assert lat_slow > 10 * lat_fast
    cpu_fast, cpu_slow = fast.directors["lb"].cpu, slow.directors["lb"].cpu
    assert cpu_fast.utilization(last_fast) < 0.05
    assert cpu_slow.utilization(last_slow) > 0.95
    assert cpu_slow.max_waiting > 100 and cpu_fast.max_waiting < 10


def test_a_client_on_the_director_does_not_reach_its_own_vip():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: nat, real_servers: [{host: rs1}]}",
        "- {name: t, from: lb, to: 10.0.0.100:80}",
        [rs_block("rs1", vip_on=None, gateway="10.0.0.2", arp=False)]))
    # The SYN loops back through lo to the director's own stack (no IPVS), which has no
    # listener on port 80 and resets it; nothing reaches rs1 and no entry is made.
    assert drops(res, "no-socket", "lb") and not [s for s in res.ctx.observer.steps if s.host == "rs1"
                                                 and s.data[12:14] == b"\x08\x00"]
    assert len(res.directors["lb"].table) == 0
    assert (res.flows[0].status, res.flows[0].reason) == ("failed", "reset")


def test_local_ports_is_parsed_and_checked_by_the_loader():
    def service(ports: str) -> str:
        return ("- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: fullnat,"
                f" local_addresses: [10.0.0.50], local_ports: {ports}, real_servers: [{{host: rs3}}]}}")
    servers = [rs_block("rs3", vip_on=None, gateway="10.2.0.1", arp=False)]
    traffic = "- {name: t, from: client, to: 10.0.0.100:80}"
    ok = load_scenario_text(scenario_text(service('"2000-2999"'), traffic, servers))
    assert ok.services[0].local_ports == (2000, 2999)
    for bad in ('"3000-2000"', "80", '"0-10"', '"1-70000"'):
        with pytest.raises(ScenarioError, match=r"services\[0\]\.local_ports: expected a port range"):
            load_scenario_text(scenario_text(service(bad), traffic, servers))
