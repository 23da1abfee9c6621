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


# A run shorter than this never shows a progress bar (it would only flicker).
_PROGRESS_AFTER_S = 0.5
_PROGRESS_STEPS = 1000
# Above this many connections inside the horizon, say up front that the run is long.
_MANY_CONNECTIONS = 100_000


def _progress_for(enabled: bool, label: str):
    """A progress bar over simulated time on stderr, or (None, None).

    Only for an interactive terminal: never with --json, and never when stdout or
    stderr is a pipe or a file, so the bar cannot end up inside captured output.
    It appears only once a run has taken _PROGRESS_AFTER_S of wall time.
    """
    if not enabled or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return None, None
    import time
    t0 = time.monotonic()
    state: dict = {"bar": None, "pos": 0}

    def update(now: float, horizon: float) -> None:
        bar = state["bar"]
        if bar is None:
            if time.monotonic() - t0 < _PROGRESS_AFTER_S:
                return
            bar = click.progressbar(length=_PROGRESS_STEPS, label=label, file=sys.stderr)
            bar.__enter__()
            state["bar"] = bar
        pos = int(_PROGRESS_STEPS * min(1.0, now / horizon)) if horizon > 0 else _PROGRESS_STEPS
        if pos > state["pos"]:
            bar.update(pos - state["pos"])
            state["pos"] = pos

    def close() -> None:
        bar = state["bar"]
        if bar is not None:
            # The run is over, whether traffic finished before the horizon or not.
            bar.update(_PROGRESS_STEPS - state["pos"])
            bar.__exit__(None, None, None)
    return update, close


def _warn_if_huge(scenario, duration: float | None, max_events: int | None) -> None:
    """Say on stderr when a run will open very many connections (it is not refused)."""
    horizon = scenario.duration if duration is None else duration
    total = 0
    for t in scenario.traffic:
        due = t.connections if t.rate <= 0 else min(t.connections, int(t.rate * max(0.0, horizon - t.start)) + 1)
        total += due
    if total <= _MANY_CONNECTIONS:
        return
    how = (f"--max-events {max_events} will stop it (the report says so)" if max_events is not None
           else "--max-events N or --duration T stop it earlier (the report says so)")
    click.echo(f"note: {scenario.name} opens about {total:,} connections within {horizon:g} s, "
               f"each simulated packet by packet; this takes long. {how}.", err=True)


def simulate(scenario, mode, seed=None, duration=None, pcap=False, show_progress=False,
             max_events=None, trace=False, trace_flows=None, dataplane=None):
    """Validate and run one scenario under one mode (None = as configured)."""
    from ipvssim.sim import Simulation
    from ipvssim.validate import validate
    findings = validate(scenario, mode, dataplane)
    progress, close = _progress_for(show_progress, f"simulating {scenario.name} ({mode or 'as configured'})")
    try:
        sim = Simulation(scenario, mode=mode, seed=seed, duration=duration, pcap=pcap,
                         trace=trace, trace_flows=trace_flows, max_events=max_events,
                         progress=progress, dataplane=dataplane)
        result = sim.run()
    finally:
        if close is not None:
            close()
    result.findings = findings
    return result


def _pcap_folder(pcap: bool, out: Path, label: str, runs: int) -> Path | bool:
    """Where a run writes its pcaps (while it runs): OUT/pcap/, or OUT/pcap/LABEL/ when
    there are several runs; False without --pcap.  An interface that saw nothing
    (lo, mostly) gets no file."""
    if not pcap:
        return False
    return out / "pcap" if runs == 1 else out / "pcap" / label


def _write_outputs(out: Path, scenario, seed, results, extra: dict | None = None) -> dict:
    """report.json (with `extra` top-level fields) and plots; returns the report.
    (The pcaps were written by the runs themselves, see _pcap_folder.)"""
    from ipvssim.report.json_report import report_to_dict, write_report
    from ipvssim.report import plots
    out.mkdir(parents=True, exist_ok=True)
    report = report_to_dict(scenario, seed, results)
    report.update(extra or {})
    write_report(out / "report.json", report)
    plots.write_all(report, results, out)
    return report


def _exit_status(report: dict) -> int:
    for run in report["runs"]:
        if any(not e["passed"] for e in run.get("expectations", [])):
            return EXIT_EXPECT_FAILED
    return EXIT_OK


def _show_and_exit(report: dict, results, out: Path, as_json: bool) -> None:
    """Print the report (--json) or the summary, then exit 0, or 1 if an expectation failed."""
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from ipvssim.report.summary import format_summary
        click.echo(format_summary(report, results))
        click.echo(f"\nreport: {out / 'report.json'}")
    sys.exit(_exit_status(report))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipvssim")
def main() -> None:
    """ipvssim: packet-level simulator of Linux IPVS load balancing (DR, NAT, TUN, FULLNAT)."""


@main.command()
@click.argument("scenario", type=str)
@click.option("--mode", type=click.Choice(MODE_CHOICES), default=None,
              help="Force every real server to this forwarding mode; 'all' runs each in turn.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder for report.json, plots and pcaps (default ipvssim-out/NAME).")
@click.option("--pcap", is_flag=True, help="Write one pcap per interface under OUT/pcap/.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--duration", default=None, help="Override the simulated horizon (e.g. 30s).")
@click.option("--max-events", type=click.IntRange(min=1), default=None,
              help="Stop after this many events (says so).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary.")
@click.option("--dataplane", type=click.Choice(["ipvs", "iptables", "both"]), default=None,
              help="Director data plane for every director (default: each host's dataplane:); "
                   "'both' runs IPVS and kube-proxy-style iptables side by side.")
def run(scenario, mode, out_dir, pcap, seed, duration, max_events, as_json, dataplane):
    """Simulate SCENARIO and report paths, throughput, latency, distribution and drops."""
    scn = _load(scenario)
    dur = _parse_duration(duration)
    _warn_if_huge(scn, dur, max_events)
    planes = ["ipvs", "iptables"] if dataplane == "both" else [dataplane]
    out = Path(out_dir) if out_dir else Path("ipvssim-out") / scn.name
    runs = [(m, dp) for m in _modes(mode) for dp in planes]
    results = []
    for m, dp in runs:
        # a column is its mode (the run's own label); a forced data plane labels it too.
        # (With neither, there is one run and its pcaps need no folder of their own.)
        label = m if dp is None else (dp if m is None else f"{m}-{dp}")
        r = simulate(scn, m, seed, dur, _pcap_folder(pcap, out, label, len(runs)),
                     show_progress=not as_json, max_events=max_events, dataplane=dp)
        if dp is not None:
            r.mode = label
        results.append(r)
    report = _write_outputs(out, scn, results[0].seed, results)
    _show_and_exit(report, results, out, as_json)


# Several files are shown in order of how much the director does per connection
# (docs/ipvs-reference.md section 2): DR, TUN, NAT, FULLNAT; mixed-mode files last.
_DIRECTOR_WORK_ORDER = ("dr", "tun", "nat", "fullnat")


def _work_rank(scenario) -> int:
    from ipvssim.report.json_report import forwarding_modes
    used = forwarding_modes(scenario)
    return _DIRECTOR_WORK_ORDER.index(used[0]) if len(used) == 1 else len(_DIRECTOR_WORK_ORDER)


def _column_labels(scenarios) -> list[str]:
    """A column label per scenario: its name; where names repeat (a copy edited without
    renaming it), the file's stem; where those repeat too, numbered."""
    labels = [s.name for s in scenarios]
    if len(set(labels)) < len(labels):
        labels = [Path(s.file).stem if s.file else s.name for s in scenarios]
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    count: dict[str, int] = {}
    unique = []
    for label in labels:
        if seen[label] > 1:
            count[label] = count.get(label, 0) + 1
            label = f"{label}-{count[label]}"
        unique.append(label)
    return unique


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=str)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default ipvssim-out/NAME or ipvssim-out/compare-...).")
@click.option("--pcap", is_flag=True, help="Write pcaps under OUT/pcap/RUN/.")
@click.option("--seed", type=int, default=None, help="Override every scenario's seed.")
@click.option("--duration", default=None, help="Override the simulated horizon (e.g. 30s).")
@click.option("--max-events", type=click.IntRange(min=1), default=None,
              help="Stop each run after this many events.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary.")
def compare(scenarios, out_dir, pcap, seed, duration, max_events, as_json):
    """Run one SCENARIO under every mode, or several as configured, side by side.

    Several files appear as columns labelled by scenario name (by file name where two
    share a name), ordered DR, TUN, NAT, FULLNAT by the forwarding mode each file uses
    (mixed ones last).
    """
    loaded = [_load(s) for s in scenarios]
    dur = _parse_duration(duration)
    for scn in loaded:
        _warn_if_huge(scn, dur, max_events)
    if len(loaded) == 1:
        name = loaded[0].name
        runs = [(loaded[0], m, m) for m in MODES]
    else:
        loaded.sort(key=_work_rank)             # stable: files of equal rank keep their order
        labels = _column_labels(loaded)
        name = "compare-" + "-".join(labels)
        runs = [(scn, None, label) for scn, label in zip(loaded, labels)]   # a column per file
    out = Path(out_dir) if out_dir else Path("ipvssim-out") / name
    results = []
    for scn, m, label in runs:
        r = simulate(scn, m, seed, dur, _pcap_folder(pcap, out, label, len(runs)),
                     show_progress=not as_json, max_events=max_events)
        r.mode = label
        results.append(r)
    extra = {"scenario": name, "scenarios": [s.name for s in loaded]} if len(loaded) > 1 else None
    report = _write_outputs(out, loaded[0], results[0].seed, results, extra)
    _show_and_exit(report, results, out, as_json)


@main.command()
@click.argument("scenario", type=str)
@click.option("--mode", type=click.Choice(list(MODES)), default=None,
              help="Check as if every real server used this forwarding mode.")
@click.option("--dataplane", type=click.Choice(["ipvs", "iptables"]), default=None,
              help="Check every director with this data plane (default: each host's dataplane:).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def validate(scenario, mode, dataplane, as_json):
    """Static checks only: each finding with rule id, severity, where, why and how to fix."""
    from ipvssim.validate import format_findings, validate as run_validate
    scn = _load(scenario)
    findings = run_validate(scn, mode, dataplane)
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in findings], indent=2))
    elif findings:
        click.echo(format_findings(findings))
    else:
        click.echo(f"{scenario}: no findings")
    sys.exit(EXIT_EXPECT_FAILED if any(f.severity == "error" for f in findings) else EXIT_OK)


@main.command()
@click.argument("scenario", type=str)
@click.option("--connection", "connection", type=click.IntRange(min=0), default=0, show_default=True,
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
@click.argument("scenario", type=str)
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
