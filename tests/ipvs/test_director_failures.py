"""The classic misconfigurations of issue #3 (reference section 2 and 6), each shown happening.

Every test runs a scenario that is wrong in one way and asserts the evidence a
user would look for: the drop reason and where it happened, the RST the client
sent, the director's connection entry left in SYN_RECV, the ICMP error.
"""
from __future__ import annotations

from director_lab import (CIP, RIP1, TH, VIP, client_sent, drops, received, rs_block, run,
                          scenario_text, tcp_steps)
from ipvssim.packet import wire
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim.simulation import Simulation

TRAFFIC = "- {name: t, from: client, to: 10.0.0.100:80, request: 100B, response: 500B}"


def svc(mode: str, server: str, extra: str = "") -> str:
    return (f"- {{name: web, director: lb, vip: 10.0.0.100, port: 80, mode: {mode}{extra},"
            f" real_servers: [{{host: {server}}}]}}")


def rsts_from(res, host: str):
    return [s for s in res.ctx.observer.steps if s.action == "sent" and s.host == host
            and s.data[23] == wire.IPPROTO_TCP and wire.tcp_flags(s.data) & wire.TH_RST]


def snapshot_at(sim: Simulation, t: float, into: list) -> None:
    """At simulated time t, record (state, mode) of every director entry."""
    def take(_ev):
        into.extend((c.state, c.mode, wire.ip_ntoa(c.daddr)) for c in sim.directors["lb"].table)
    sim.ctx.env.timeout(t).callbacks.append(take)


def test_nat_with_the_rs_gateway_elsewhere_client_resets_the_syn_ack_from_the_rip():
    text = scenario_text(svc("nat", "rs1"), TRAFFIC,
                         [rs_block("rs1", vip_on=None, gateway="10.0.0.1", arp=False)],
                         duration="130s")
    sim = Simulation(load_scenario_text(text), trace=True)
    seen: list = []
    snapshot_at(sim, 20.0, seen)
    res = sim.run()
    # The SYN-ACK left rs1 with source RIP and went to the router, not the director.
    synacks = [s for s in tcp_steps(res) if s.host == "client" and wire.tcp_flags(s.data) == TH["SA"]]
    assert synacks and all(wire.ip_src(s.data) == RIP1 for s in synacks)
    assert res.flows[0].reply_path == ["rs1", "gw", "client"]
    # The client has no socket for RIP:80, drops the SYN-ACK and answers with RST to the RIP.
    assert [s.host for s in drops(res, "no-socket")] == ["client"] * len(synacks)
    rsts = rsts_from(res, "client")
    assert len(rsts) == len(synacks) and all(wire.ip_dst(s.data) == RIP1 for s in rsts)
    # Meanwhile the director only ever saw SYNs: its entry hangs in SYN_RECV.
    assert seen == [("SYN_RECV", "nat", "10.0.0.11")]
    # SYN retries (1+2+4+8+16+32 s) then 64 s more: the connect fails at 127 s.
    f = res.flows[0]
    assert (f.status, f.reason, f.syn_retries) == ("failed", "timeout", 6)
    assert abs(f.end - 127.0) < 0.1


def test_nat_with_the_client_on_the_rs_subnet_the_rs_answers_it_directly():
    lanclient = '''interfaces: {eth0: {segment: lan, ip: 10.0.0.20, mac: "02:00:00:00:00:20"}}
routes: [{to: default, via: 10.0.0.1}]'''
    text = scenario_text(svc("nat", "rs1"),
                         "- {name: t, from: lanclient, to: 10.0.0.100:80, request: 100B, response: 500B}",
                         [rs_block("rs1", vip_on=None, gateway="10.0.0.2", arp=False)],
                         extra_hosts={"lanclient": lanclient}, duration="20s")
    sim = Simulation(load_scenario_text(text), trace=True)
    seen: list = []
    snapshot_at(sim, 10.0, seen)
    res = sim.run()
    f = res.flows[0]
    assert f.request_path == ["lanclient", "lb", "rs1"]
    # rs1's default route is the director, but the client is on-link: the reply goes direct.
    assert f.reply_path == ["rs1", "lanclient"]
    first_synack = next(s for s in tcp_steps(res) if s.host == "lanclient")
    assert wire.ip_src(first_synack.data) == RIP1 and wire.l4_sport(first_synack.data) == 80
    assert rsts_from(res, "lanclient") and all(
        wire.ip_dst(s.data) == RIP1 for s in rsts_from(res, "lanclient"))
    assert drops(res, "no-socket", "lanclient")
    assert seen == [("SYN_RECV", "nat", "10.0.0.11")]
    assert f.status == "pending"


def test_dr_with_the_rs_on_another_subnet_loops_until_ttl_runs_out():
    res = run(scenario_text(svc("dr", "rs3"), TRAFFIC, [rs_block("rs3", gateway="10.2.0.1")],
                            duration="5s"))
    syn = client_sent(res, TH["S"])
    where = [(h, i, f[22]) for h, i, f in received(res, syn.pid)]
    # The director sends the frame (still to the VIP) to the gateway toward the RIP; r2
    # routes the VIP straight back to the director; TTL falls by 2 per round.
    assert where[:5] == [("gw", "eth0", 64), ("lb", "eth0", 63), ("r2", "eth0", 62),
                         ("lb", "eth0", 61), ("r2", "eth0", 60)]
    assert "rs3" not in [h for h, _, _ in where]
    [end] = [s for s in drops(res) if s.pid == syn.pid]
    assert end.reason == "ttl-exceeded" and end.data[22] == 1
    # The client gets ICMP time exceeded quoting its SYN, and gives up on the connection.
    icmps = [s for s in res.ctx.observer.steps if s.host == "client" and s.action == "delivered"
             and s.data[23] == wire.IPPROTO_ICMP]
    assert [(s.data[34], s.data[35]) for s in icmps] == [(wire.ICMP_TIME_EXCEEDED, wire.ICMP_EXC_TTL)]
    quoted = icmps[0].data[42:]
    assert wire.ip_src(quoted, 0) == CIP and wire.ip_dst(quoted, 0) == VIP
    assert res.flows[0].status == "failed" and res.flows[0].served_by is None


def test_dr_without_arp_ignore_the_rs_answers_arp_for_the_vip_and_bypasses_the_director():
    res = run(scenario_text(svc("dr", "rs1"),
                            "- {name: t, from: client, to: 10.0.0.100:80, connections: 3, request: 100B,"
                            " response: 500B}",
                            [rs_block("rs1", arp=False)]))
    # rs1 answers the router's ARP request for the VIP (it holds the VIP on lo, arp_ignore=0).
    arp_replies = [s for s in res.ctx.observer.steps if s.action == "sent" and s.host == "rs1"
                   and s.data[12:14] == b"\x08\x06" and wire.arp_fields(s.data)[0] == wire.ARPOP_REPLY
                   and wire.arp_fields(s.data)[2] == VIP]
    assert arp_replies
    # The router believes the VIP lives at rs1: connections work, without the director.
    assert [f.status for f in res.flows] == ["succeeded"] * 3
    assert all(f.request_path == ["client", "gw", "rs1"] for f in res.flows)
    assert all(f.served_by == "rs1" and f.director is None for f in res.flows)
    assert len(res.directors["lb"].table) == 0


def test_dr_with_no_vip_on_the_rs_loopback_the_rs_drops_the_request():
    res = run(scenario_text(svc("dr", "rs1"), TRAFFIC, [rs_block("rs1", vip_on=None)], duration="10s"))
    dropped = drops(res, host="rs1")
    # Not a local address, and the RS does not forward: every SYN attempt ends there.
    assert [s.reason for s in dropped] == ["not-forwarding"] * 4
    assert all(wire.ip_dst(s.data) == VIP and wire.tcp_flags(s.data) == TH["S"] for s in dropped)
    assert [round(s.time, 3) for s in dropped] == [0.007, 1.002, 3.002, 7.002]
    assert res.flows[0].served_by is None and res.flows[0].status == "pending"


def test_tun_with_no_vip_on_tunl0_the_decapsulated_packet_is_dropped():
    res = run(scenario_text(svc("tun", "rs3"), TRAFFIC,
                            [rs_block("rs3", vip_on=None, gateway="10.2.0.1", tunl0=True)],
                            duration="2s"))
    ds = drops(res, host="rs3")
    assert [(d.iface, d.reason) for d in ds] == [("tunl0", "not-forwarding")] * 2    # SYN at 0 s, 1 s
    d = ds[0]
    assert wire.ip_dst(d.data) == VIP and d.data[23] == wire.IPPROTO_TCP     # the inner packet


def test_tun_without_a_tunnel_device_the_rs_refuses_protocol_4():
    res = run(scenario_text(svc("tun", "rs3"), TRAFFIC,
                            [rs_block("rs3", vip_on="lo", gateway="10.2.0.1")], duration="2s"))
    ds = drops(res, host="rs3")
    assert [d.reason for d in ds] == ["no-ipip-device"] * 2
    assert all(d.data[23] == wire.IPPROTO_IPIP for d in ds)
    # ICMP protocol unreachable goes back to the outer source: the director.
    icmp = [s for s in res.ctx.observer.steps if s.host == "lb" and s.action == "received"
            and s.data[23] == wire.IPPROTO_ICMP]
    assert [(s.data[34], s.data[35]) for s in icmp] == [(wire.ICMP_DEST_UNREACH, wire.ICMP_PROT_UNREACH)] * 2


def test_tun_with_strict_rp_filter_drops_the_decapsulated_packet_on_tunl0():
    res = run(scenario_text(svc("tun", "rs3"), TRAFFIC,
                            [rs_block("rs3", vip_on="tunl0", gateway="10.2.0.1", rp_filter=1)],
                            duration="10s"))
    dropped = drops(res, host="rs3")
    # Source CIP arrives on tunl0 but the route back to it leaves via eth0.
    assert {(s.iface, s.reason) for s in dropped} == {("tunl0", "rp_filter")}
    assert len(dropped) == 4 and all(wire.ip_src(s.data) == CIP for s in dropped)
    assert res.flows[0].served_by is None


def test_tun_with_loose_rp_filter_works():
    res = run(scenario_text(svc("tun", "rs3"), TRAFFIC,
                            [rs_block("rs3", vip_on="tunl0", gateway="10.2.0.1", rp_filter=2)]))
    assert res.flows[0].status == "succeeded" and not drops(res, host="rs3")


def test_fullnat_reaches_routed_servers_that_nat_cannot():
    servers = [rs_block("rs3", vip_on=None, gateway="10.2.0.1", arp=False)]
    traffic = "- {name: t, from: client, to: 10.0.0.100:80, connections: 5, rate: 100/s, request: 100B, response: 2KB}"
    full = run(scenario_text(svc("fullnat", "rs3", ", local_addresses: [10.0.0.50]"), traffic, servers))
    assert [f.status for f in full.flows] == ["succeeded"] * 5
    assert all(f.reply_path == ["rs3", "r2", "lb", "gw", "client"] for f in full.flows)
    # The RS only ever talks to the local address.
    at_rs = [s for s in tcp_steps(full) if s.host == "rs3"]
    assert {wire.ip_ntoa(wire.ip_src(s.data)) for s in at_rs} == {"10.0.0.50"}
    # The same servers in NAT: replies go to the client by the router, which resets them.
    nat = run(scenario_text(svc("nat", "rs3"), traffic, servers, duration="5s"))
    assert not any(f.status == "succeeded" for f in nat.flows)
    assert rsts_from(nat, "client")
