"""kube-proxy iptables mode vs IPVS on the same NAT topology (ipvssim.dataplane.iptables)."""
from __future__ import annotations

from collections import Counter

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from ipvssim.cli import main
from ipvssim.dataplane import iptables as ipt
from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.modes import nat
from ipvssim.packet import wire
from ipvssim.report.iptables_save import iptables_save
from ipvssim.report.json_report import run_to_dict
from ipvssim.scenario.errors import ScenarioError
from ipvssim.scenario.loader import load_scenario, load_scenario_text
from ipvssim.sim.simulation import Simulation

A = wire.ip_aton
CIP, VIP = A("198.51.100.10"), A("198.51.100.100")
RIP = {"rs1": A("10.0.0.11"), "rs2": A("10.0.0.12"), "rs3": A("10.0.0.13")}
MAC = {("client", "eth0"): "02:00:00:00:00:0a", ("lb", "eth0"): "02:00:00:00:00:02",
       ("lb", "eth1"): "02:00:00:00:01:02", ("rs1", "eth0"): "02:00:00:00:00:11",
       ("rs2", "eth0"): "02:00:00:00:00:12", ("rs3", "eth0"): "02:00:00:00:00:13"}
RULE = ipt.IPTABLES_COSTS["rule"]


def scenario(services: list[str], traffic: str, *, lb_extra: str = "", events: str = "",
             duration: str = "30s", seed: int = 1) -> str:
    """Two-armed NAT: client --wan-- lb (VIP on eth0) --lan-- rs1..rs3 (default gw lb)."""
    hosts = [
        "    client:",
        f'      interfaces: {{eth0: {{segment: wan, ip: 198.51.100.10, mac: "{MAC["client", "eth0"]}"}}}}',
        "      routes: [{to: default, via: 198.51.100.2}]",
        "    lb:",
        "      forwarding: true",
        "      interfaces:",
        f'        eth0: {{segment: wan, ip: [198.51.100.2, 198.51.100.100/32], mac: "{MAC["lb", "eth0"]}"}}',
        f'        eth1: {{segment: lan, ip: 10.0.0.1, mac: "{MAC["lb", "eth1"]}"}}',
    ]
    hosts += ["      " + line for line in lb_extra.strip("\n").splitlines()] if lb_extra else []
    for name in ("rs1", "rs2", "rs3"):
        hosts += [f"    {name}:",
                  f'      interfaces: {{eth0: {{segment: lan, ip: {wire.ip_ntoa(RIP[name])}, '
                  f'mac: "{MAC[name, "eth0"]}"}}}}',
                  "      routes: [{to: default, via: 10.0.0.1}]",
                  "      app: {listen: [tcp/8080, udp/53]}"]
    out = [f"name: lab\nseed: {seed}\nduration: {duration}\ntopology:\n  segments:",
           "    wan: {subnet: 198.51.100.0/24, delay: 1ms}",
           "    lan: {subnet: 10.0.0.0/24, delay: 50us}",
           "  hosts:", *hosts, "services:", *services, "traffic:", traffic]
    if events:
        out += ["events:", events]
    return "\n".join(out) + "\n"


def service(name: str, port: int, servers=("rs1",), proto: str = "tcp") -> str:
    rs = ", ".join(f"{{host: {s}, port: 8080}}" for s in servers)
    return (f"  - {{name: {name}, director: lb, vip: 198.51.100.100, port: {port}, protocol: {proto}, "
            f"scheduler: rr, mode: nat, real_servers: [{rs}]}}")


def many_services(n: int) -> list[str]:
    """n services on the VIP, ports 10001.. in creation order (KUBE-SERVICES order)."""
    return [service(f"s{i}", 10001 + i) for i in range(n)]


def traffic(port: int, connections: int = 1, rate: str = "10/s", proto: str = "tcp") -> str:
    return (f"  - {{name: t, from: client, to: '198.51.100.100:{port}', protocol: {proto}, "
            f"connections: {connections}, rate: {rate}, request: 100B, response: 1KB}}")


def run(text: str, dataplane: str, **kw):
    return Simulation(load_scenario_text(text), dataplane=dataplane, **kw).run()


# -- both data planes deliver -------------------------------------------------------------
@pytest.mark.parametrize("dataplane", ["ipvs", "iptables"])
def test_nat_basic_delivers_every_connection_through_the_director(dataplane):
    res = Simulation(load_scenario("scenarios/nat-basic.yaml"), dataplane=dataplane).run()
    assert Counter(f.status for f in res.flows) == {"succeeded": 40}
    assert all(f.request_path == ["client", "lb", f.real_server] for f in res.flows)
    assert all(f.reply_path == [f.real_server, "lb", "client"] for f in res.flows)
    assert all(f.served_by == f.real_server for f in res.flows)
    assert getattr(res.directors["lb"], "dataplane", "ipvs") == dataplane
    d = run_to_dict(res)["directors"]["lb"]
    assert d["dataplane"] == dataplane and d["connections"] == 40


def test_host_key_dataplane_selects_the_iptables_director():
    text = scenario([service("web", 80, ("rs1", "rs2"))], traffic(80, 4), lb_extra="dataplane: iptables")
    res = Simulation(load_scenario_text(text)).run()
    lb = res.directors["lb"]
    assert isinstance(lb, ipt.IptablesDirector)
    assert lb.new_connections == 4 and len(lb.table) == 4
    assert all(f.status == "succeeded" for f in res.flows)


def test_a_director_that_does_not_forward_drops_what_it_dnats():
    """DNAT in PREROUTING turns the request into a packet to route: with ip_forward=0
    it is dropped (no ICMP), leaving no conntrack entry; IPVS, at LOCAL_IN, still
    sends the request on (only its NAT replies need forwarding)."""
    text = scenario([service("web", 80)], traffic(80, 3)).replace("      forwarding: true\n", "", 1)
    res = run(text, "iptables")
    lb = res.directors["lb"]
    assert lb.new_connections == 0 and len(lb.table) == 0
    # each SYN and its retransmissions at 1, 3, 7 and 15 s (the next would be at 31 s)
    assert res.ctx.ledger.drops[("lb", "not-forwarding")] == 3 * 5
    assert all(f.status != "succeeded" and f.real_server is None for f in res.flows)
    ipvs = run(text, "ipvs")
    assert all(f.request_path == ["client", "lb", "rs1"] for f in ipvs.flows)
    assert all(f.status != "succeeded" for f in ipvs.flows)        # the replies stop at lb


def test_bad_dataplane_value_is_reported_with_file_and_line():
    text = scenario([service("web", 80)], traffic(80), lb_extra="dataplane: nftables")
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(text, "x.yaml")
    (problem,) = err.value.problems
    line = text.splitlines().index("      dataplane: nftables") + 1
    assert str(problem).startswith(f"x.yaml:{line}: ")
    assert "ipvs, iptables" in problem.message and "'nftables'" in problem.message


# -- cost and latency grow with the rule's position ------------------------------------------
def _syn_transit(res, rs: str = "rs1") -> float:
    """Time from the client sending its SYN to the real server receiving it (pcap captures)."""
    obs = res.ctx.observer.captures
    sent = next(t for t, f in obs["client", "eth0"] if f[23] == 6 and wire.tcp_flags(f) == wire.TH_SYN)
    got = next(t for t, f in obs[rs, "eth0"] if f[23] == 6 and wire.tcp_flags(f) == wire.TH_SYN)
    return got - sent


@pytest.fixture(scope="module")
def scaling():
    """One connection to the last of n services, n = 1, 100, 1000, under both data planes."""
    out = {}
    for n in (1, 100, 1000):
        text = scenario(many_services(n), traffic(10000 + n))
        for dp in ("ipvs", "iptables"):
            res = run(text, dp, pcap=True)
            assert [f.status for f in res.flows] == ["succeeded"]
            lb = res.directors["lb"]
            out[n, dp] = (lb.cpu.busy_time, _syn_transit(res), lb)
    return out


def test_iptables_first_packet_walks_every_rule_before_its_service(scaling):
    for n in (1, 100, 1000):
        lb = scaling[n, "iptables"][2]
        # PREROUTING jump + n KUBE-SERVICES rules + 1 endpoint rule + KUBE-SEP's 2 rules
        assert lb.last_walk == 1 + n + 1 + 2
        assert lb.rules_walked == lb.last_walk      # later packets follow conntrack


def test_iptables_new_connection_cpu_grows_linearly_with_position_ipvs_stays_flat(scaling):
    base_ipt = scaling[1, "iptables"][0]
    base_ipvs = scaling[1, "ipvs"][0]
    for n in (100, 1000):
        assert scaling[n, "iptables"][0] - base_ipt == pytest.approx((n - 1) * RULE, rel=1e-6)
        assert scaling[n, "ipvs"][0] == pytest.approx(base_ipvs, abs=1e-15)
    assert scaling[1000, "iptables"][0] - base_ipt == pytest.approx(999 * 30e-9, rel=1e-6)


def test_iptables_first_packet_latency_grows_linearly_ipvs_stays_flat(scaling):
    t1_ipt, t1_ipvs = scaling[1, "iptables"][1], scaling[1, "ipvs"][1]
    for n in (100, 1000):
        assert scaling[n, "iptables"][1] - t1_ipt == pytest.approx((n - 1) * RULE, rel=1e-6)
        assert scaling[n, "ipvs"][1] == pytest.approx(t1_ipvs, abs=1e-12)


def test_service_at_the_head_of_a_big_table_costs_no_more_than_a_lone_one(scaling):
    text = scenario(many_services(1000), traffic(10001))
    res = run(text, "iptables")
    assert res.directors["lb"].cpu.busy_time == pytest.approx(scaling[1, "iptables"][0], abs=1e-15)


# -- endpoint choice -------------------------------------------------------------------------
def test_probabilities_are_kube_proxys_as_iptables_save_prints_them():
    assert [ipt.probability_text(n) for n in (4, 3, 2)] == \
        ["0.25000000000", "0.33333333349", "0.50000000000"]
    assert ipt.statistic_threshold(3) == 715827883         # lround(2**31 * 0.3333333333)


def test_endpoints_are_chosen_uniformly():
    text = scenario([service("web", 80, ("rs1", "rs2", "rs3"))], traffic(80, 600, "200/s"), seed=7)
    res = run(text, "iptables")
    counts = Counter(f.real_server for f in res.flows)
    assert sum(counts.values()) == 600 and set(counts) == {"rs1", "rs2", "rs3"}
    # binomial(600, 1/3): sd 11.5; 4 sd either side of 200
    assert all(abs(c - 200) < 46 for c in counts.values()), counts
    chi2 = sum((c - 200) ** 2 / 200 for c in counts.values())
    assert chi2 < 13.8, counts      # chi-square, 2 degrees of freedom, p = 0.001
    assert all(f.served_by == f.real_server for f in res.flows)


def test_iptables_save_lists_kube_proxy_chains():
    text = scenario([service("web", 80, ("rs1", "rs2", "rs3")), service("empty", 81, ())],
                    traffic(80))
    lb = run(text, "iptables").directors["lb"]
    out = iptables_save(lb)
    svc = "KUBE-SVC-" + ipt.chain_hash("default/webtcp")
    sep1 = "KUBE-SEP-" + ipt.chain_hash("default/webtcp10.0.0.11:8080")
    assert f"-A KUBE-SERVICES -d 198.51.100.100/32 -p tcp -m comment --comment \"default/web cluster IP\" " \
           f"-m tcp --dport 80 -j {svc}" in out
    assert f'-A {svc} -m comment --comment "default/web -> 10.0.0.11:8080" -m statistic --mode random ' \
           f"--probability 0.33333333349 -j {sep1}" in out
    assert f"-A {sep1} -p tcp -m comment --comment default/web -m tcp -j DNAT --to-destination " \
           "10.0.0.11:8080" in out
    assert '"default/empty has no endpoints" -m tcp --dport 81 -j REJECT' in out
    assert out.count("\nCOMMIT") == 2 and out.startswith("*filter\n")
    assert lb.ruleset.rules == sum(1 for line in out.splitlines() if line.startswith("-A "))


def test_service_without_endpoints_is_rejected_with_port_unreachable():
    text = scenario([service("empty", 81, ())], traffic(81))
    res = run(text, "iptables", trace=True)
    (flow,) = res.flows
    assert flow.status == "failed" and flow.real_server is None
    drops = [s for s in res.ctx.observer.steps if s.action == "dropped" and s.host == "lb"]
    assert drops and drops[0].reason == "iptables-no-endpoints"


# -- bytes on the wire ---------------------------------------------------------------------------
def test_dnat_and_reply_un_dnat_bytes_equal_scapy_built_frames():
    text = scenario([service("web", 80, ("rs1",))], traffic(80))
    res = run(text, "iptables", pcap=True)
    caps = res.ctx.observer.captures
    syn = next(f for _, f in caps["client", "eth0"] if f[23] == 6 and wire.tcp_flags(f) == wire.TH_SYN)
    synack = next(f for _, f in caps["rs1", "eth0"]
                  if f[23] == 6 and wire.tcp_flags(f) == wire.TH_SYN | wire.TH_ACK)
    # Request: client SYN -> dst 10.0.0.11:8080, TTL-1, out of lb eth1 to rs1.
    want = Ether(syn)
    want[Ether].src, want[Ether].dst = MAC["lb", "eth1"], MAC["rs1", "eth0"]
    want[IP].dst, want[IP].ttl, want[TCP].dport = "10.0.0.11", want[IP].ttl - 1, 8080
    del want[IP].chksum, want[TCP].chksum
    got = next(f for _, f in caps["rs1", "eth0"] if f[23] == 6 and wire.tcp_flags(f) == wire.TH_SYN)
    assert got == bytes(want)
    # Reply: rs1's SYN-ACK -> src VIP:80, TTL-1, out of lb eth0 to the client.
    want = Ether(synack)
    want[Ether].src, want[Ether].dst = MAC["lb", "eth0"], MAC["client", "eth0"]
    want[IP].src, want[IP].ttl, want[TCP].sport = "198.51.100.100", want[IP].ttl - 1, 80
    del want[IP].chksum, want[TCP].chksum
    got = next(f for _, f in caps["client", "eth0"]
               if f[23] == 6 and wire.tcp_flags(f) == wire.TH_SYN | wire.TH_ACK)
    assert got == bytes(want)


def test_conntrack_reply_rewrite_restores_the_original_tuple_pure():
    entry = ipt.ConntrackEntry(6, CIP, 40000, VIP, 80, RIP["rs2"], 8080, Dest(RIP["rs2"], 8080, mode="nat"),
                               service=None)
    frame = bytearray(bytes(Ether(src=MAC["rs2", "eth0"], dst=MAC["lb", "eth1"]) /
                            IP(src="10.0.0.12", dst="198.51.100.10", ttl=63) /
                            TCP(sport=8080, dport=40000, flags="PA", seq=7, ack=9) / (b"\0" * 20)))
    want = Ether(bytes(frame))
    want[IP].src, want[TCP].sport = "198.51.100.100", 80
    del want[IP].chksum, want[TCP].chksum
    assert bytes(nat.reply(frame, entry)) == bytes(want)


# -- conntrack -------------------------------------------------------------------------------------
def _entry(cport=40000, proto=6):
    return ipt.ConntrackEntry(proto, CIP, cport, VIP, 80, RIP["rs1"], 8080,
                              Dest(RIP["rs1"], 8080, mode="nat"), service=None)


def test_conntrack_tcp_states_and_kernel_timeouts():
    ct = ipt.Conntrack()
    e = _entry()
    assert ct.add(e, 0.0) and e.state == "SYN_SENT" and e.expires == 120
    S, SA, A_, F, FA = wire.TH_SYN, wire.TH_SYN | wire.TH_ACK, wire.TH_ACK, wire.TH_FIN | wire.TH_ACK, wire.TH_ACK
    steps = [(0, S, "SYN_SENT", 120), (1, SA, "SYN_RECV", 60), (0, A_, "ESTABLISHED", 432000),
             (0, F, "FIN_WAIT", 120), (1, FA, "CLOSE_WAIT", 60), (1, F, "LAST_ACK", 30),
             (0, A_, "TIME_WAIT", 120)]
    for direction, flags, state, timeout in steps:
        ct.update(e, direction, flags, 1.0)
        assert (e.state, e.expires) == (state, 1.0 + timeout)
    assert e.dest.activeconns == 0 and e.dest.inactconns == 1
    ct.expire(120.9)
    assert len(ct) == 1
    ct.expire(121.0)
    assert len(ct) == 0 and ct.expired == 1 and e.dest.inactconns == 0


def test_conntrack_entry_whose_timeout_shortened_still_expires_on_time():
    ct = ipt.Conntrack()
    e = _entry()
    ct.add(e, 0.0)
    ct.update(e, 1, wire.TH_SYN | wire.TH_ACK, 0.0)
    ct.update(e, 0, wire.TH_ACK, 0.0)                     # ESTABLISHED: 5 days
    ct.update(e, 0, wire.TH_RST, 5.0)                     # CLOSE: 10 s
    ct.expire(14.9)
    assert len(ct) == 1
    ct.expire(15.0)
    assert len(ct) == 0


def test_conntrack_udp_timeouts_and_bound():
    ct = ipt.Conntrack(max_entries=2)
    a, b, c = _entry(1, 17), _entry(2, 17), _entry(3, 17)
    assert ct.add(a, 0.0) and a.expires == 30
    ct.update(a, 1, 0, 2.0)
    assert a.expires == 122.0 and a.state == "REPLIED"
    assert ct.add(b, 0.0)
    assert not ct.add(c, 0.0) and ct.refused == 1
    ct.expire(30.0)                                       # b (unreplied) goes, a stays
    assert list(ct.original.values()) == [a]
    assert ct.add(c, 30.0)


def test_full_conntrack_table_drops_new_connections():
    text = scenario([service("web", 80, ("rs1",))], traffic(80, 3, "100/s"))
    sim = Simulation(load_scenario_text(text), dataplane="iptables", trace=True)
    sim.directors["lb"].table.max_entries = 1
    res = sim.run()
    assert [f.status for f in res.flows].count("succeeded") == 1
    drops = Counter(s.reason for s in res.ctx.observer.steps if s.action == "dropped" and s.host == "lb")
    assert drops["conntrack-table-full"] >= 2


# -- rule updates ------------------------------------------------------------------------------------
def test_rewrite_time_is_calibrated_on_the_published_figures():
    assert ipt.rewrite_time(40_000) == pytest.approx(11 * 60)
    assert 2.5 * 3600 < ipt.rewrite_time(160_000) < 5 * 3600


def test_update_on_a_big_ruleset_takes_effect_only_after_the_rewrite():
    services = [service("web", 80, ("rs1", "rs2"))] + many_services(999)
    events = "  - {at: 1s, service: web, server: rs2, weight: 0}"
    text = scenario(services, traffic(80, 24, "2/s"), events=events, duration="20s", seed=3)
    res = run(text, "iptables")
    lb = res.directors["lb"]
    (rw,) = lb.rewrites
    # 7 base + 2 filter jumps + web (1 + 1 + 2) + 999 one-endpoint services (4 each)
    assert rw["rules"] == 7 + 2 + 4 + 999 * 4 == lb.ruleset.rules
    assert rw["started_s"] == 1.0 and rw["duration_s"] == pytest.approx(ipt.rewrite_time(rw["rules"]))
    done = rw["done_s"]
    assert 7.5 < done < 7.8                               # 4.125e-7 * 4009**2 = 6.63 s
    during = [f.real_server for f in res.flows if 1.0 < f.start < done]
    after = [f.real_server for f in res.flows if f.start > done]
    assert "rs2" in during                                # the old rules still in force
    assert after and set(after) == {"rs1"}
    # IPVS applies the same change at once.
    ipvs = run(text, "ipvs")
    assert {f.real_server for f in ipvs.flows if f.start > 1.0} == {"rs1"}


def test_removed_udp_endpoint_loses_its_conntrack_entries_at_commit():
    text = scenario([service("dns", 53, ("rs1", "rs2"), proto="udp")], traffic(53, 6, "10/s", "udp"),
                    events="  - {at: 2s, service: dns, server: rs2, remove: true}")
    res = run(text, "iptables")
    lb = res.directors["lb"]
    served = Counter(f.real_server for f in res.flows)
    assert served["rs2"] > 0 and lb.table.created == 6
    assert len(lb.table) == served["rs1"]
    assert all(e.dest.label == "rs1" for e in lb.table.original.values())
    assert lb.ruleset.endpoints["dns"] == tuple(d for d in lb.services[0].dests)


# -- CLI -----------------------------------------------------------------------------------------------
def test_cli_run_dataplane_both_shows_the_two_side_by_side(tmp_path):
    r = CliRunner().invoke(main, ["run", "scenarios/nat-basic.yaml", "--dataplane", "both",
                                  "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "ipvs     iptables" in r.output
    assert "ipvsadm -Ln on lb" in r.output and "iptables-save on lb (16 rules)" in r.output
    import json
    report = json.loads((tmp_path / "report.json").read_text())
    assert [run["mode"] for run in report["runs"]] == ["ipvs", "iptables"]
    assert report["runs"][1]["directors"]["lb"]["iptables"]["new_connections"] == 40


def test_shipped_scenario_shows_the_stale_endpoint_window():
    scn = load_scenario("scenarios/dataplane-iptables-vs-ipvs.yaml")
    assert scn.topology.host("lb").dataplane == "iptables"
    ipt_run = Simulation(scn).run()
    ipvs_run = Simulation(scn, dataplane="ipvs").run()
    for res in (ipt_run, ipvs_run):
        assert all(f.status == "succeeded" for f in res.flows)
    (rw,) = ipt_run.directors["lb"].rewrites
    assert rw["started_s"] == 2.0 and rw["done_s"] == pytest.approx(2.0 + ipt.rewrite_time(rw["rules"]))
    rs3_ipt = [f.start for f in ipt_run.flows if f.real_server == "rs3"]
    rs3_ipvs = [f.start for f in ipvs_run.flows if f.real_server == "rs3"]
    assert max(rs3_ipvs) < 2.0 and 2.0 < max(rs3_ipt) < rw["done_s"]
    assert len(rs3_ipt) > len(rs3_ipvs)
    assert ipt_run.directors["lb"].last_walk >= 1 + 250 + 1 + 2
