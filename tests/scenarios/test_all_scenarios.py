"""Every scenario under scenarios/ runs through the CLI with all its expectations met.

The list is globbed when the tests are collected, so a new scenario file is
covered without touching this file; CI fails when any `expect:` entry fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ipvssim.cli import main
from ipvssim.scenario.loader import load_scenario
from ipvssim.sim import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ALL = sorted(SCENARIOS.glob("**/*.yaml"))


def test_the_library_is_there():
    assert len(ALL) >= 60


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_runs_and_meets_its_expectations(path, tmp_path):
    res = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output[-3000:]
    report = json.loads(res.output)
    rows = [e for run in report["runs"] for e in run["expectations"]]
    assert rows, "a library scenario must assert something"
    assert all(e["passed"] for e in rows)


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_opens_with_what_it_teaches(path):
    head = path.read_text(encoding="utf-8").splitlines()
    comment = [line for line in head[:12] if line.startswith("#")]
    assert head[0].startswith("#") and len(comment) >= 2


def _drops(name: str) -> dict[tuple[str, str], int]:
    result = Simulation(load_scenario(str(SCENARIOS / name))).run()
    return dict(result.ctx.ledger.drops)


def test_tun_mtu_director_answers_frag_needed_with_pmtu_disc():
    drops = _drops("broken/tun-mtu.yaml")
    assert drops.get(("lb", "tun-frag-needed"), 0) > 0


def test_tun_mtu_director_fragments_with_pmtu_disc_off():
    # net.ipv4.vs.pmtu_disc=0: ip_vs_tunnel_xmit sets skb->ignore_df, the outer
    # packet is fragmented whatever its DF bit, and no ICMP is sent.
    drops = _drops("tun-mtu.yaml")
    assert not [k for k in drops if "frag" in k[1]], drops
    result = Simulation(load_scenario(str(SCENARIOS / "tun-mtu.yaml"))).run()
    assert [f.status for f in result.flows] == ["succeeded"] * 4
