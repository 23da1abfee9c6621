"""report.json: contract fields and types, exact numbers from known flows, determinism."""
import json

import pytest

from ipvssim.report.json_report import report_to_dict, run_to_dict, write_report
from report_fakes import make_flow, make_result

RUN_FIELDS = {"mode": str, "findings": list, "connections": dict, "throughput_bps": float,
              "latency_ms": dict, "paths": list, "directors": dict, "real_servers": dict,
              "drops": list, "packets": dict, "sim": dict, "expectations": list}


def test_run_has_every_contract_field_with_its_type(scenario, dr_flows):
    run = run_to_dict(make_result(scenario, dr_flows, drops={("rs2", "no-socket"): 3}))
    for name, typ in RUN_FIELDS.items():
        assert isinstance(run[name], typ), name
    assert set(run["connections"]) >= {"attempted", "succeeded", "failed"}
    assert set(run["latency_ms"]) >= {"p50", "p99"}
    assert set(run["packets"]) >= {"sent", "delivered", "dropped", "in_flight"}
    assert set(run["sim"]) >= {"events", "packet_hops", "simulated_s", "wall_s"}
    for row in run["paths"]:
        assert set(row) >= {"traffic", "real_server", "request", "reply", "request_hops",
                            "reply_hops", "connections"}
    lb = run["directors"]["lb"]
    assert isinstance(lb["packets"], int) and isinstance(lb["bytes"], int)
    assert isinstance(lb["cpu_utilization"], float)
    assert run["drops"] == [{"host": "rs2", "reason": "no-socket", "count": 3}]
    for e in run["expectations"]:
        assert set(e) == {"check", "passed", "detail"}
    json.dumps(run, allow_nan=False)


def test_numbers_follow_from_the_flows(scenario, dr_flows):
    run = run_to_dict(make_result(scenario, dr_flows))
    assert run["connections"] == {"attempted": 4, "succeeded": 4, "failed": 0, "pending": 0,
                                  "failure_reasons": {}}
    # 4 x 20000 bytes between t=0 (first open) and t=0.34 (last close).
    assert run["elapsed_s"] == 0.34
    assert run["throughput_bps"] == pytest.approx(4 * 20000 * 8 / 0.34, rel=1e-9)
    assert run["latency_ms"]["p50"] == 20.0      # nearest rank of 10, 20, 30, 40 ms
    assert run["latency_ms"]["p99"] == 40.0
    assert run["latency_ms"]["mean"] == 25.0
    assert run["real_servers"]["rs1"] == {"connections": 3, "share": 0.75, "succeeded": 3}
    assert run["real_servers"]["rs2"]["share"] == 0.25
    rs1, rs2 = run["paths"]
    assert (rs1["traffic"], rs1["real_server"], rs1["connections"]) == ("browsers", "rs1", 3)
    assert rs1["request"] == ["client", "gw", "lb", "rs1"] and rs1["request_hops"] == 3
    assert rs1["reply"] == ["rs1", "gw", "client"] and rs1["reply_hops"] == 2
    assert rs2["real_server"] == "rs2" and rs2["connections"] == 1
    assert run["packets"] == {"sent": 100, "delivered": 98, "dropped": 0, "in_flight": 2}
    assert run["sim"]["packet_hops"] == 321 and run["sim"]["stopped_by"] == "finished"


def test_most_common_path_wins_and_its_share_is_reported(scenario):
    looped = ["client", "gw", "lb", "gw", "lb", "rs1"]
    flows = [make_flow(0, "rs1", 0.0, 0.01), make_flow(1, "rs1", 0.1, 0.01, request=looped),
             make_flow(2, "rs1", 0.2, 0.01)]
    row = run_to_dict(make_result(scenario, flows))["paths"][0]
    assert row["request"] == ["client", "gw", "lb", "rs1"]
    assert row["request_path_share"] == pytest.approx(2 / 3, rel=1e-8)


def test_failures_are_counted_by_reason_and_unserved_connections_get_their_own_row(scenario):
    flows = [make_flow(0, "rs1", 0.0, 0.01),
             make_flow(1, None, 0.1, 3.0, status="failed", reason="timeout"),
             make_flow(2, None, 0.2, 3.0, status="failed", reason="timeout"),
             make_flow(3, "rs2", 0.3, 0.5, status="failed", reason="reset"),
             make_flow(4, "rs2", 0.4, 0.0, status="pending", reason="unfinished")]
    run = run_to_dict(make_result(scenario, flows, simulated_s=5.0))
    c = run["connections"]
    assert (c["attempted"], c["succeeded"], c["failed"], c["pending"]) == (5, 1, 3, 1)
    assert c["failure_reasons"] == {"timeout": 2, "reset": 1, "unfinished": 1}
    assert run["elapsed_s"] == 5.0          # the pending connection holds until the run stopped
    assert run["latency_ms"]["p50"] == 10.0
    assert [(p["real_server"], p["connections"]) for p in run["paths"]] == \
        [("rs1", 1), ("rs2", 2), (None, 2)]
    assert run["paths"][-1]["request"] == [] and run["paths"][-1]["request_hops"] is None


def test_no_success_gives_null_latency_not_zero(scenario):
    flows = [make_flow(0, None, 0.0, 3.0, status="failed", reason="timeout")]
    run = run_to_dict(make_result(scenario, flows))
    assert run["latency_ms"]["p50"] is None and run["throughput_bps"] == 0.0
    assert run["real_servers"]["rs1"]["share"] == 0.0


def test_director_section_has_ipvsadm_stats(scenario, dr_flows):
    result = make_result(scenario, dr_flows)
    svc = result.directors["lb"].services[0]
    for d in svc.dests:
        d.conns, d.inpkts, d.inbytes = 2, 10, 600
    svc.conns, svc.inpkts, svc.inbytes = 4, 20, 1200     # the service's own totals
    lb = run_to_dict(result)["directors"]["lb"]
    assert lb["packets"] == 12 and lb["bytes"] == 2400 and lb["cpu_utilization"] == 0.125
    web = lb["services"][0]
    assert (web["name"], web["vip"], web["port"], web["scheduler"]) == ("web", "10.0.0.100", 80, "wrr")
    assert (web["conns"], web["inpkts"], web["inbytes"]) == (4, 20, 1200)
    assert lb["connections"] == 4
    assert [(r["label"], r["forward"], r["weight"]) for r in web["real_servers"]] == \
        [("rs2", "Route", 1), ("rs1", "Route", 3)]       # kernel list order: newest first


def test_report_is_deterministic_except_wall_clock(scenario, dr_flows, tmp_path):
    a = report_to_dict(scenario, 7, [make_result(scenario, dr_flows, wall_s=0.1)])
    b = report_to_dict(scenario, 7, [make_result(scenario, dr_flows, wall_s=0.2)])
    assert a["runs"][0]["sim"].pop("wall_s") != b["runs"][0]["sim"].pop("wall_s")
    assert a == b
    write_report(tmp_path / "a.json", a)
    write_report(tmp_path / "b.json", b)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    loaded = json.loads((tmp_path / "a.json").read_text())
    assert loaded["ipvssim_version"] == "0.1.0" and loaded["scenario"] == "report-fixture"
    assert loaded["seed"] == 7 and len(loaded["runs"]) == 1


def test_floats_are_rounded_to_nine_significant_digits(scenario):
    flows = [make_flow(0, "rs1", 0.1, 0.2)]         # 0.1 + 0.2 - 0.1 is not 0.2 in binary
    run = run_to_dict(make_result(scenario, flows))
    assert run["latency_ms"]["p50"] == 200.0
    assert repr(run["throughput_bps"]) == repr(800000.0)
