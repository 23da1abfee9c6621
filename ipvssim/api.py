"""The Python entry points: load, validate, simulate, report.

Examples
--------
>>> import ipvssim
>>> scn = ipvssim.load_scenario("scenarios/dr-basic.yaml")
>>> [f.rule for f in ipvssim.validate_scenario(scn) if f.severity == "error"]
[]
>>> result = ipvssim.simulate(scn)
>>> sum(f.status == "succeeded" for f in result.flows)
100
>>> report = ipvssim.build_report(scn, [result])
>>> report["runs"][0]["paths"][0]["reply"]
['rs1', 'gw', 'client']
"""
from __future__ import annotations

import os

from ipvssim.scenario.loader import load_scenario, load_scenario_text
from ipvssim.scenario.model import Scenario
from ipvssim.sim.simulation import RunResult, Simulation
from ipvssim.validate import validate

validate_scenario = validate

__all__ = ["load_scenario", "load_scenario_text", "validate_scenario", "simulate", "build_report", "Simulation",
           "RunResult"]


def simulate(scenario: Scenario | str | os.PathLike, mode: str | None = None, *, seed: int | None = None,
             duration: float | None = None, pcap: bool | str | os.PathLike = False, trace: bool = False,
             max_events: int | None = None) -> RunResult:
    """Run one scenario once and return its `RunResult` (validator findings attached).

    Parameters
    ----------
    scenario : Scenario or path
        A loaded scenario, or a path to a scenario file.
    mode : {"dr", "nat", "tun", "fullnat"}, optional
        Force every real server to this forwarding mode (like ``--mode``).
    seed, duration : optional overrides of the scenario's values.
    pcap : False, True (per-interface captures in memory: ``result.ctx.observer.captures``)
        or a folder to write one pcap per interface into, as the run goes on.
    trace : record hop-by-hop trace steps.
    max_events : stop after this many simulation events.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    result = Simulation(scenario, mode=mode, seed=seed, duration=duration, pcap=pcap, trace=trace,
                        max_events=max_events).run()
    result.findings = validate(scenario, mode)
    return result


def build_report(scenario: Scenario, results: list[RunResult]) -> dict:
    """The report.json document (contract section 3) for one or more runs of `scenario`."""
    from ipvssim.report.json_report import report_to_dict
    return report_to_dict(scenario, results[0].seed if results else scenario.seed, results)
