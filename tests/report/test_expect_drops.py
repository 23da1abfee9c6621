"""The `drops` expectation: asserts on the run's drop reasons, with the drops seen on failure."""
from ipvssim.report.expect import evaluate
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

LAB = """
name: drops-lab
duration: 10s
topology:
  segments: {lan: {subnet: 10.0.0.0/24}}
  hosts:
    client: {interfaces: {eth0: {segment: lan, ip: 10.0.0.10}}}
    server: {interfaces: {eth0: {segment: lan, ip: 10.0.0.20}}}
traffic:
  - {name: probe, from: client, to: "10.0.0.20:53", protocol: udp, connections: 3, rate: 10/s,
     request: 100B, response: 100B}
expect:
  - drops: {reason: port-unreachable, host: server, count: 3}
  - drops: {reason: port-unreachable, host: client}
  - drops: {reason: rp_filter, count: ">= 1"}
"""


def test_drops_expectation_counts_reasons_per_host():
    scn = load_scenario_text(LAB, "lab.yaml")
    result = Simulation(scn).run()
    rows = evaluate(scn.expect, result)
    # no server app on port 53: each datagram is refused with ICMP port unreachable
    assert rows[0]["passed"], rows[0]
    assert rows[0]["detail"] == "3 dropped (port-unreachable at server)"
    assert not rows[1]["passed"]
    assert not rows[2]["passed"]
    assert "3 port-unreachable at server" in rows[2]["detail"]
