"""The `ipvssim` command line (contract section 2)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ipvssim import __version__
from ipvssim.scenario.model import MODES

__all__ = ["main"]

EXIT_OK, EXIT_EXPECT_FAILED, EXIT_INVALID = 0, 1, 2
MODE_CHOICES = list(MODES) + ["all"]


def _load(path: str):
    """Load a scenario or exit 2 with every problem as FILE:LINE: message."""
    from ipvssim.scenario.errors import ScenarioError
    from ipvssim.scenario.loader import load_scenario
    try:
        return load_scenario(path)
    except ScenarioError as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_INVALID)


def _modes(mode: str | None) -> list[str | None]:
    if mode == "all":
        return list(MODES)
    return [mode]


def _progress_for(enabled: bool):
    """A terminal progress bar over simulated time, or None (--json, pipes, CI)."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=1000, label="simulating", file=sys.stderr)
    bar.__enter__()
    state = {"pos": 0}

    def update(now: float, horizon: float) -> None:
        pos = int(1000 * min(1.0, now / horizon)) if horizon > 0 else 1000
        if pos > state["pos"]:
            bar.update(pos - state["pos"])
            state["pos"] = pos

    def close() -> None:
        bar.__exit__(None, None, None)
    return update, close


def simulate(scenario, mode, seed=None, duration=None, pcap=False, show_progress=False,
             max_events=None, trace=False, trace_flows=None):
    """Validate and run one scenario under one mode (None = as configured)."""
    from ipvssim.sim import Simulation
    from ipvssim.validate import validate
    findings = validate(scenario, mode)
    progress, close = _progress_for(show_progress)
    try:
        sim = Simulation(scenario, mode=mode, seed=seed, duration=duration, pcap=pcap,
                         trace=trace, trace_flows=trace_flows, max_events=max_events,
                         progress=progress)
        result = sim.run()
    finally:
        if close is not None:
            close()
    result.findings = findings
    return result


def _write_outputs(out: Path, scenario, seed, results, pcap: bool) -> dict:
    from ipvssim.packet.pcap import write_pcap
    from ipvssim.report.json_report import report_to_dict, write_report
    from ipvssim.report import plots
    out.mkdir(parents=True, exist_ok=True)
    report = report_to_dict(scenario, seed, results)
    write_report(out / "report.json", report)
    if pcap:
        for result in results:
            folder = out / "pcap" if len(results) == 1 else out / "pcap" / result.mode
            folder.mkdir(parents=True, exist_ok=True)
            for (host, iface), records in sorted(result.ctx.observer.captures.items()):
                if not records:
                    continue         # an interface that saw nothing (lo, mostly)
                write_pcap(folder / f"{host}-{iface}.pcap", records)
    plots.write_all(report, results, out)
    return report


def _exit_status(report: dict) -> int:
    for run in report["runs"]:
        if any(not e["passed"] for e in run.get("expectations", [])):
            return EXIT_EXPECT_FAILED
    return EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipvssim")
def main() -> None:
    """ipvssim: packet-level simulator of Linux IPVS load balancing (DR, NAT, TUN, FULLNAT)."""


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--mode", type=click.Choice(MODE_CHOICES), default=None,
              help="Force every real server to this forwarding mode; 'all' runs each in turn.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder for report.json, plots and pcaps (default ipvssim-out/NAME).")
@click.option("--pcap", is_flag=True, help="Write one pcap per interface under OUT/pcap/.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--duration", default=None, help="Override the simulated horizon (e.g. 30s).")
@click.option("--max-events", type=int, default=None, help="Stop after this many events (says so).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary.")
def run(scenario, mode, out_dir, pcap, seed, duration, max_events, as_json):
    """Simulate SCENARIO and report paths, throughput, latency, distribution and drops."""
    scn = _load(scenario)
    dur = _parse_duration(duration)
    results = [simulate(scn, m, seed, dur, pcap, show_progress=not as_json, max_events=max_events)
               for m in _modes(mode)]
    out = Path(out_dir) if out_dir else Path("ipvssim-out") / scn.name
    report = _write_outputs(out, scn, results[0].seed, results, pcap)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from ipvssim.report.summary import format_summary
        click.echo(format_summary(report, results))
        click.echo(f"\nreport: {out / 'report.json'}")
    sys.exit(_exit_status(report))


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
def compare(scenarios, out_dir, seed, as_json):
    """Run one scenario under every mode, or several scenarios as configured, side by side."""
    loaded = [_load(s) for s in scenarios]
    if len(loaded) == 1:
        scn = loaded[0]
        results = [simulate(scn, m, seed, show_progress=not as_json) for m in MODES]
        name = scn.name
    else:
        results = []
        for scn in loaded:
            r = simulate(scn, None, seed, show_progress=not as_json)
            r.mode = scn.name       # label each column by its scenario
            results.append(r)
        name = "compare-" + "-".join(s.name for s in loaded)
    out = Path(out_dir) if out_dir else Path("ipvssim-out") / name
    report = _write_outputs(out, loaded[0], results[0].seed, results, pcap=False)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from ipvssim.report.summary import format_summary
        click.echo(format_summary(report, results))
        click.echo(f"\nreport: {out / 'report.json'}")
    sys.exit(_exit_status(report))


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--mode", type=click.Choice(list(MODES)), default=None)
@click.option("--json", "as_json", is_flag=True)
def validate(scenario, mode, as_json):
    """Static checks only: each finding with rule id, severity, where, why and how to fix."""
    from ipvssim.validate import format_findings, validate as run_validate
    scn = _load(scenario)
    findings = run_validate(scn, mode)
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in findings], indent=2))
    elif findings:
        click.echo(format_findings(findings))
    else:
        click.echo(f"{scenario}: no findings")
    sys.exit(EXIT_EXPECT_FAILED if any(f.severity == "error" for f in findings) else EXIT_OK)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--connection", "connection", type=int, default=0, show_default=True,
              help="Which connection (0 = the first opened).")
@click.option("--mode", type=click.Choice(list(MODES)), default=None)
@click.option("--seed", type=int, default=None)
def trace(scenario, connection, mode, seed):
    """Hop-by-hop walk of one connection's packets, each rewrite as old -> new."""
    from ipvssim.report.trace_text import format_trace
    scn = _load(scenario)
    result = simulate(scn, mode, seed, trace=True, trace_flows={connection})
    if connection >= len(result.flows):
        click.echo(f"{scenario}: connection {connection} does not exist "
                   f"(the run opened {len(result.flows)})", err=True)
        sys.exit(EXIT_INVALID)
    click.echo(format_trace(result.ctx.observer.steps, connection, result.flows[connection]))
    sys.exit(EXIT_OK)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("-o", "output", type=click.Path(dir_okay=False), default=None,
              help="PNG file (default NAME-topology.png).")
def topology(scenario, output):
    """Draw the topology without simulating."""
    from ipvssim.report.plots import plot_topology
    scn = _load(scenario)
    path = Path(output) if output else Path(f"{scn.name}-topology.png")
    plot_topology(scn, None, path)
    click.echo(f"wrote {path}")
    sys.exit(EXIT_OK)


def _parse_duration(text):
    if text is None:
        return None
    from ipvssim.units import parse_time
    try:
        return parse_time(text)
    except ValueError as err:
        click.echo(f"--duration: {err}", err=True)
        sys.exit(EXIT_INVALID)


if __name__ == "__main__":  # pragma: no cover
    main()
