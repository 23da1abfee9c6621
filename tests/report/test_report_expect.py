"""Each `expect:` kind passes when it holds and fails with the actual rows when it does not."""
from types import SimpleNamespace

from ipvssim.report.expect import evaluate
from ipvssim.scenario.model import ExpectSpec
from report_fakes import make_flow, make_result


def check(kind, result, findings=(), **params):
    return evaluate([ExpectSpec(kind, params)], result, findings)


def test_connections_all_passes_and_fails_with_reasons(scenario, dr_flows):
    (row,) = check("connections", make_result(scenario, dr_flows), traffic="browsers", succeeded="all")
    assert row["passed"] and row["detail"] == "4 of 4 succeeded, 0 failed"
    flows = dr_flows[:2] + [make_flow(2, None, 0.2, 3.0, status="failed", reason="timeout"),
                            make_flow(3, "rs1", 0.3, 0.1, status="failed", reason="reset")]
    (row,) = check("connections", make_result(scenario, flows), traffic="browsers", succeeded="all")
    assert not row["passed"]
    assert row["check"] == "connections browsers: succeeded all"
    assert row["detail"] == "wanted succeeded all 4; 2 of 4 succeeded, 2 failed (reset 1, timeout 1)"


def test_connections_counts_fractions_and_comparisons(scenario, dr_flows):
    flows = dr_flows[:3] + [make_flow(3, None, 0.3, 3.0, status="failed", reason="timeout")]
    result = make_result(scenario, flows)
    assert check("connections", result, traffic="browsers", succeeded=3)[0]["passed"]
    assert not check("connections", result, traffic="browsers", succeeded=4)[0]["passed"]
    assert check("connections", result, traffic="browsers", succeeded=0.75)[0]["passed"]
    assert not check("connections", result, traffic="browsers", succeeded=0.9)[0]["passed"]
    assert check("connections", result, traffic="browsers", failed=">=1")[0]["passed"]
    assert not check("connections", result, traffic="browsers", failed="none")[0]["passed"]
    both = check("connections", result, traffic="browsers", succeeded=3, failed=1)
    assert [r["passed"] for r in both] == [True, True]


def test_connections_notices_connections_never_opened(scenario, dr_flows):
    (row,) = check("connections", make_result(scenario, dr_flows[:2]), traffic="browsers",
                   succeeded="all")
    assert not row["passed"]
    assert "only 2 of 4 connections were opened" in row["detail"]


def test_path_excludes_fails_naming_the_path_and_how_many(scenario):
    via_lb = ["rs1", "lb", "gw", "client"]
    flows = [make_flow(i, "rs1", i * 0.1, 0.01, reply=via_lb) for i in range(3)]
    rows = check("path", make_result(scenario, flows), traffic="browsers",
                 request_includes="lb", reply_excludes=("lb",))
    assert [r["passed"] for r in rows] == [True, False]
    assert rows[0]["detail"] == "request path client -> gw -> lb -> rs1 includes lb (3 of 3 connections)"
    assert rows[1]["check"] == "path browsers: reply excludes lb"
    assert rows[1]["detail"] == "reply path rs1 -> lb -> gw -> client includes lb (3 of 3 connections)"


def test_path_hop_counts(scenario, dr_flows):
    result = make_result(scenario, dr_flows)
    assert [r["passed"] for r in check("path", result, traffic="browsers", request_hops=3,
                                       reply_hops=2)] == [True, True]
    (row,) = check("path", result, traffic="browsers", reply_hops=3)
    assert not row["passed"]
    assert row["detail"] == "reply path rs1 -> gw -> client has 2 hops, expected 3 (4 of 4 connections)"


def test_path_without_any_recorded_reply_fails(scenario):
    flows = [make_flow(0, "rs1", 0.0, 3.0, status="failed", reason="timeout", reply=[])]
    (row,) = check("path", make_result(scenario, flows), traffic="browsers", reply_excludes="lb")
    assert not row["passed"]
    assert row["detail"] == "no reply path recorded in 1 connections (no reply packet arrived)"


def test_distribution_within_and_outside_tolerance(scenario, dr_flows):
    result = make_result(scenario, dr_flows)
    (row,) = check("distribution", result, service="web", shares={"rs1": 0.75, "rs2": 0.25})
    assert row["passed"]
    assert row["detail"] == "rs1 0.750 (3 of 4) vs 0.75; rs2 0.250 (1 of 4) vs 0.25"
    (row,) = check("distribution", result, service="web", shares={"rs1": 0.5, "10.0.0.12:80": 0.5},
                   tolerance=0.1)
    assert not row["passed"]
    assert row["check"] == "distribution web: rs1 0.5, rs2 0.5 ±0.1"
    assert row["detail"] == "rs1 0.750 (3 of 4) vs 0.5 OUT; rs2 0.250 (1 of 4) vs 0.5 OUT"


def test_distribution_with_no_served_connection_fails(scenario):
    flows = [make_flow(0, None, 0.0, 3.0, status="failed", reason="timeout")]
    (row,) = check("distribution", make_result(scenario, flows), service="web", shares={"rs1": 1.0})
    assert not row["passed"]
    assert row["detail"] == "no connection of service web reached a real server"


def test_finding_must_have_been_reported(scenario, dr_flows):
    result = make_result(scenario, dr_flows)
    finding = SimpleNamespace(to_dict=lambda: {"rule": "DR-ARP", "severity": "error",
                                               "where": "hosts.rs2", "message": "rs2 answers ARP"})
    (row,) = check("finding", result, [finding], rule="DR-ARP")
    assert row["passed"] and row["detail"] == "error at hosts.rs2: rs2 answers ARP"
    (row,) = check("finding", result, [finding], rule="DR-ARP", severity="warning")
    assert not row["passed"]
    assert row["detail"] == "DR-ARP was reported with severity error, not warning"
    (row,) = check("finding", result, [], rule="NAT-GW")
    assert not row["passed"] and row["detail"] == "validator reported nothing"


def test_scenario_expectations_in_order(scenario, dr_flows):
    rows = evaluate(scenario.expect, make_result(scenario, dr_flows), [])
    assert [r["check"] for r in rows] == [
        "connections browsers: succeeded all", "path browsers: request includes lb",
        "path browsers: reply excludes lb", "distribution web: rs1 0.75, rs2 0.25 ±0.05",
        "finding DR-ARP"]
    assert [r["passed"] for r in rows] == [True, True, True, True, False]
