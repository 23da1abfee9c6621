"""The report layer on real `Simulation(...).run()` results (the fixture scenario: DR, wrr 3:1,
persistence 360 s, one client -- so every connection sticks to the first server picked)."""
import pytest

from ipvssim.report.ipvsadm import ipvsadm_list
from ipvssim.report.json_report import report_to_dict, run_to_dict
from ipvssim.report.plots import write_all
from ipvssim.report.summary import format_summary
from ipvssim.report.trace_text import format_trace
from ipvssim.sim import Simulation


@pytest.fixture
def run(scenario):
    return Simulation(scenario).run()


def test_real_run_report_is_complete_and_consistent(scenario, run):
    r = run_to_dict(run)
    c = r["connections"]
    assert (c["attempted"], c["succeeded"], c["failed"]) == (4, 4, 0)
    p = r["packets"]
    assert p["sent"] == p["delivered"] + p["dropped"] + p["in_flight"]
    # The persistence template ties the one client to wrr's first pick: rs2 (added last, so
    # head of the kernel list; ip_vs_wrr_dest_changed leaves cw at 1 after adding rs1 alone).
    assert {k: v["connections"] for k, v in r["real_servers"].items()} == {"rs1": 0, "rs2": 4}
    web = r["directors"]["lb"]["services"][0]
    assert {d["label"]: d["conns"] for d in web["real_servers"]} == {"rs1": 0, "rs2": 4}
    assert r["directors"]["lb"]["connections"] == 4
    assert r["throughput_bps"] > 0 and 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
    assert r["sim"]["packet_hops"] > 0 and r["sim"]["events"] > 0
    checks = {e["check"]: e["passed"] for e in r["expectations"]}
    assert checks["connections browsers: succeeded all"]
    dist = next(e for e in r["expectations"] if e["check"].startswith("distribution"))
    assert not dist["passed"]
    assert dist["detail"] == "rs1 0.000 (0 of 4) vs 0.75 OUT; rs2 1.000 (4 of 4) vs 0.25 OUT"
    assert not checks["finding DR-ARP"]      # no validator findings were attached


def test_same_seed_same_report_except_wall_clock(scenario):
    a = report_to_dict(scenario, 7, [Simulation(scenario).run()])
    b = report_to_dict(scenario, 7, [Simulation(scenario).run()])
    for rep in (a, b):
        rep["runs"][0]["sim"].pop("wall_s")
    assert a == b


def test_dr_paths_cross_the_director_only_on_the_way_in(run):
    rows = run_to_dict(run)["paths"]
    assert rows[0]["real_server"] == "rs2"
    assert rows[0]["request"] == ["client", "gw", "lb", "rs2"]
    assert rows[0]["reply"] == ["rs2", "gw", "client"]


def test_summary_ipvsadm_and_plots_on_a_real_run(scenario, run, tmp_path):
    report = report_to_dict(scenario, 7, [run])
    text = format_summary(report, [run])
    assert "connections  4 of 4 succeeded, 0 failed" in text
    table = ipvsadm_list(run.directors["lb"])
    assert "TCP  10.0.0.100:80 wrr persistent 360\n" in table
    assert "\n".join("  " + line for line in table.splitlines()) in text
    assert {p.name for p in write_all(report, [run], tmp_path)} == {"shares.png", "topology.png"}


def test_trace_of_a_real_dr_connection_shows_the_director_rewrite(scenario):
    result = Simulation(scenario, trace=True, trace_flows={0}).run()
    text = format_trace(result.ctx.observer.steps, 0, result.flows[0])
    assert text.startswith("connection 0 (browsers, tcp from client")
    assert "rewritten (ipvs dr)" in text
    assert "IP.ttl: 63 → 62" in text
    assert "IP.dst" not in text.split("rewritten (ipvs dr)", 1)[1].split("\npacket", 1)[0]
    assert "Ether.dst: 02:" in text and "→" in text


def test_the_director_traces_where_it_sends_the_rewritten_packet(scenario):
    """DR's whole rewrite is the destination MAC: the trace shows it at the director,
    as a "forwarded" step on its interface, right after the "rewritten" step."""
    result = Simulation(scenario, trace=True, trace_flows={0}).run()
    steps = [s for s in result.ctx.observer.steps if s.pid == 0]          # the SYN
    i = next(k for k, s in enumerate(steps) if s.action == "rewritten")
    after = steps[i + 1]
    rs = result.flows[0].real_server
    rs_mac = result.hosts[rs].interfaces["eth0"].mac
    assert (after.host, after.iface, after.action) == ("lb", "eth0", "forwarded")
    assert after.data[0:6] == rs_mac                     # to the real server's MAC ...
    assert after.data[30:34] == bytes([10, 0, 0, 100])   # ... with the VIP kept
    assert steps[i + 2].host == rs and steps[i + 2].action == "received"
    text = format_trace(result.ctx.observer.steps, 0, result.flows[0])
    syn = text.split("\npacket", 2)[1]
    assert "(set by lb on transmit)" not in syn
