"""`ipvsadm -Lnc` from a real run: the columns print_conn() prints, expiry in MM:SS."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ipvssim.report.ipvsadm import ipvsadm_connections
from ipvssim.scenario.loader import load_scenario
from ipvssim.sim.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HEADER = ["IPVS connection entries",
          "pro expire state       source             virtual            destination"]


def _nat_run(connections: int = 2):
    scn = load_scenario(str(SCENARIOS / "nat-basic.yaml"))
    scn = replace(scn, traffic=(replace(scn.traffic[0], connections=connections),))
    return Simulation(scn).run()


def test_nat_connections_closed_by_both_sides_are_listed_in_time_wait():
    res = _nat_run()
    lb = res.directors["lb"]
    # TIME_WAIT lasts 120 s from each entry's last packet (~20 ms and ~66 ms):
    # at 60 s both have 60 whole seconds left, as /proc/net/ip_vs_conn truncates.
    assert ipvsadm_connections(lb, 60.0).splitlines() == HEADER + [
        "TCP 01:00  TIME_WAIT   198.51.100.10:37170 198.51.100.100:80  10.0.0.12:8080",
        "TCP 01:00  TIME_WAIT   198.51.100.10:37172 198.51.100.100:80  10.0.0.11:8080",
    ]
    first, second = list(lb.table)
    at = first.expires - 0.5
    assert [line[4:9] for line in ipvsadm_connections(lb, at).splitlines()[2:]] == [
        "00:00", "00:00"]
    assert ipvsadm_connections(lb, second.expires - 61.0).splitlines()[3][4:9] == "01:01"


def test_an_empty_table_prints_only_the_header():
    res = _nat_run(1)
    lb = res.directors["lb"]
    lb.table.expire(1000.0)
    assert ipvsadm_connections(lb, 1000.0).splitlines() == HEADER
