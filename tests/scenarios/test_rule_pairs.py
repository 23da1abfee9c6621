"""Validator and simulation agree: one broken/fixed scenario pair per rule.

scenarios/broken/<rule>.yaml must make the validator report the rule *and* its
run must show the failure (its `expect:` entries hold); scenarios/fixed/<rule>.yaml
must be free of that rule and of every error, and its run must succeed.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ipvssim.cli import main
from ipvssim.report.expect import evaluate
from ipvssim.scenario.loader import load_scenario
from ipvssim.sim import Simulation
from ipvssim.validate import validate
from ipvssim.validate.rules import RULES

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# Rules with no pair, and why. Every rule can be observed today; keep the reason
# next to any id added here.
EXEMPT: dict[str, str] = {}


def _file(kind: str, rule: str) -> Path:
    return SCENARIOS / kind / f"{rule.lower()}.yaml"


def _run(path: Path):
    scenario = load_scenario(str(path))
    findings = validate(scenario)
    result = Simulation(scenario).run()
    rows = evaluate(scenario.expect, result, findings)
    return scenario, findings, rows


def _failed(rows) -> list[str]:
    return [f"{r['check']}: {r['detail']}" for r in rows if not r["passed"]]


PAIRED = sorted(r for r in RULES if r not in EXEMPT)


def test_every_rule_has_a_pair_or_a_reason():
    missing = [r for r in PAIRED if not (_file("broken", r).exists() and _file("fixed", r).exists())]
    assert not missing, f"rules without scenarios/broken+fixed pair: {missing}"
    assert all(reason.strip() for reason in EXEMPT.values())
    assert set(EXEMPT) <= set(RULES)


def test_no_pair_for_an_unknown_rule():
    ids = {r.lower() for r in RULES}
    strays = [p.name for kind in ("broken", "fixed") for p in (SCENARIOS / kind).glob("*.yaml")
              if p.stem not in ids]
    assert not strays


@pytest.mark.parametrize("rule", PAIRED)
def test_broken_scenario_reports_the_rule_and_fails_as_expected(rule):
    scenario, findings, rows = _run(_file("broken", rule))
    assert rule in {f.rule for f in findings}
    # the scenario itself asserts the rule and what goes wrong in the run
    assert any(s.kind == "finding" and s.params.get("rule") == rule for s in scenario.expect)
    assert any(s.kind != "finding" for s in scenario.expect)
    assert not _failed(rows), _failed(rows)


@pytest.mark.parametrize("rule", PAIRED)
def test_fixed_scenario_is_clean_and_succeeds(rule):
    scenario, findings, rows = _run(_file("fixed", rule))
    assert rule not in {f.rule for f in findings}
    assert [f for f in findings if f.severity == "error"] == []
    assert any(s.kind == "connections" and s.params.get("succeeded") == "all"
               for s in scenario.expect)
    assert not _failed(rows), _failed(rows)


def test_cli_agrees_on_one_pair(tmp_path):
    """The same verdicts through the command line: validate exits 1 on the broken
    file's error, run exits 0 on both (their expectations hold)."""
    runner = CliRunner()
    broken, fixed = _file("broken", "NAT-REPLY-PATH"), _file("fixed", "NAT-REPLY-PATH")
    res = runner.invoke(main, ["validate", str(broken)])
    assert res.exit_code == 1 and "NAT-REPLY-PATH" in res.output
    assert runner.invoke(main, ["validate", str(fixed)]).exit_code == 0
    for path in (broken, fixed):
        res = runner.invoke(main, ["run", str(path), "--out", str(tmp_path / path.parent.name)])
        assert res.exit_code == 0, res.output
