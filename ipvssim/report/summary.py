"""The terminal summary of `ipvssim run` / `compare`: what happened, readable at a glance.

Plain text rendered from report.json's dict (so the summary and the file never
disagree) plus the RunResults for the live ipvsadm tables.  With several runs
a side-by-side table comes first.
"""
from __future__ import annotations

from typing import Sequence

from ipvssim.report.ipvsadm import ipvsadm_list
from ipvssim.report.metrics import format_path

__all__ = ["format_summary", "human_bps", "human_bytes", "share_bar"]

_BAR_WIDTH = 30
_TOP_REASONS = 3
_TOP_DROPS = 8


def human_bps(bps: float | None) -> str:
    """Bits per second with SI units (as link speeds are written)."""
    if bps is None:
        return "-"
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.2f} {unit}"
    return f"{bps:.0f} bit/s"


def human_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def _ms(v) -> str:
    return "-" if v is None else f"{v:.3f} ms"


def _pct(u: float) -> str:
    """A utilisation as percent, with digits even when tiny (a DR director idles)."""
    pct = u * 100
    return f"{pct:.1f}%" if pct >= 1 or pct == 0 else f"{pct:.3f}%"


def share_bar(share: float, width: int = _BAR_WIDTH) -> str:
    """A text bar: ``share_bar(0.5, 10) == '#####.....'``."""
    n = round(max(0.0, min(1.0, share)) * width)
    return "#" * n + "." * (width - n)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def _director_cpu(run: dict) -> str:
    ds = run.get("directors", {})
    if not ds:
        return "-"
    return " ".join(_pct(d["cpu_utilization"]) for d in ds.values())


def _director_packets(run: dict) -> str:
    ds = run.get("directors", {})
    return " ".join(str(d["packets"]) for d in ds.values()) if ds else "-"


def _comparison(runs: list[dict]) -> list[str]:
    header = ["", *[r["mode"] for r in runs]]
    rows = [
        ["succeeded", *[f"{r['connections']['succeeded']}/{r['connections']['attempted']}" for r in runs]],
        ["throughput", *[human_bps(r["throughput_bps"]) for r in runs]],
        ["latency p50", *[_ms(r["latency_ms"]["p50"]) for r in runs]],
        ["latency p99", *[_ms(r["latency_ms"]["p99"]) for r in runs]],
        ["director CPU", *[_director_cpu(r) for r in runs]],
        ["director packets", *[_director_packets(r) for r in runs]],
        ["dropped packets", *[str(r["packets"]["dropped"]) for r in runs]],
        ["expectations", *[_expect_tally(r) for r in runs]],
    ]
    return ["comparison", *("  " + line for line in _table(header, rows)), ""]


def _expect_tally(run: dict) -> str:
    ex = run.get("expectations", [])
    if not ex:
        return "-"
    passed = sum(1 for e in ex if e["passed"])
    return f"{passed}/{len(ex)} pass"


def _run_section(run: dict, result) -> list[str]:
    c = run["connections"]
    out = [f"== mode {run['mode']} ==", ""]
    line = f"connections  {c['succeeded']} of {c['attempted']} succeeded, {c['failed']} failed"
    if c.get("pending"):
        line += f", {c['pending']} unfinished"
    out.append(line)
    reasons = list(c.get("failure_reasons", {}).items())[:_TOP_REASONS]
    if reasons:
        out.append("             why: " + ", ".join(f"{r} ({n})" for r, n in reasons))
    lat = run["latency_ms"]
    out.append(f"throughput   {human_bps(run['throughput_bps'])} "
               f"({human_bytes(run.get('bytes_delivered', 0))} in {run.get('elapsed_s', 0):.3f} s)")
    out.append(f"latency      p50 {_ms(lat['p50'])}   p99 {_ms(lat['p99'])}")
    out.append("")

    if run["paths"]:
        out.append("paths")
        for p in run["paths"]:
            rs = p["real_server"] or "(no real server)"
            out.append(f"  {p['traffic']} -> {rs}  ({p['connections']} connections)")
            for key in ("request", "reply"):
                hops = p[f"{key}_hops"]
                hop_text = f"{hops} hops" if hops is not None else "not recorded"
                out.append(f"    {key:<8} {format_path(p[key])}  [{hop_text}]")
        out.append("")

    if run["directors"]:
        out.append("directors")
        for name, d in run["directors"].items():
            plane = f" [{d['dataplane']}]" if d.get("dataplane", "ipvs") != "ipvs" else ""
            out.append(f"  {name}{plane}: {d['packets']} packets, {human_bytes(d['bytes'])}, "
                       f"CPU {_pct(d['cpu_utilization'])}, {d['connections']} connections scheduled")
        out.append("")

    if run["real_servers"]:
        out.append("real servers")
        width = max(len(k) for k in run["real_servers"])
        for label, rs in run["real_servers"].items():
            out.append(f"  {label:<{width}}  {rs['connections']:>6}  {rs['share'] * 100:5.1f}%  "
                       f"{share_bar(rs['share'])}")
        out.append("")

    drops = run["drops"]
    total = run["packets"]["dropped"]
    out.append(f"drops        {total} of {run['packets']['sent']} packets"
               + ("" if drops else " (none)"))
    for d in drops[:_TOP_DROPS]:
        out.append(f"  {d['count']:>6}  {d['reason']} ({d['host']})")
    if len(drops) > _TOP_DROPS:
        out.append(f"  ... {len(drops) - _TOP_DROPS} more in report.json")
    out.append("")

    if run["findings"]:
        out.append("findings")
        for f in run["findings"]:
            out.append(f"  {f.get('severity', '?'):<7} {f.get('rule')} at {f.get('where')}: {f.get('message')}")
        out.append("")

    if run["expectations"]:
        out.append("expectations")
        for e in run["expectations"]:
            out.append(f"  {'PASS' if e['passed'] else 'FAIL'}  {e['check']}")
            out.append(f"        {e['detail']}")
        out.append("")

    sim = run["sim"]
    out.append(f"simulation   {sim['events']} events, {sim['packet_hops']} packet hops, "
               f"{sim['simulated_s']:.3f} s simulated in {sim['wall_s']:.2f} s ({sim['stopped_by']})")
    if sim["stopped_by"] == "max-events":
        out.append(f"             stopped by --max-events after {sim['events']} events: the figures "
                   f"above cover only the first {sim['simulated_s']:.3f} s")
    out.append("")

    if result is not None:
        for name in sorted(result.directors):
            director = result.directors[name]
            if getattr(director, "dataplane", "ipvs") == "iptables":
                out.extend(_iptables_listing(name, director))
                continue
            out.append(f"ipvsadm -Ln on {name}")
            out.extend("  " + line for line in ipvsadm_list(director).rstrip("\n").split("\n"))
            out.append("")
    return out


# An iptables table of many services runs to thousands of lines: show its start.
_IPTABLES_LINES = 40


def _iptables_listing(name: str, director) -> list[str]:
    from ipvssim.report.iptables_save import iptables_save
    lines = iptables_save(director).rstrip("\n").split("\n")
    out = [f"iptables-save on {name} ({director.ruleset.rules} rules)"]
    out.extend("  " + line for line in lines[:_IPTABLES_LINES])
    if len(lines) > _IPTABLES_LINES:
        out.append(f"  ... {len(lines) - _IPTABLES_LINES} more lines")
    out.append("")
    return out


def format_summary(report: dict, results: Sequence | None = None) -> str:
    """The summary text for a report (``report_to_dict``) and its RunResults (same order).

    Examples
    --------
    >>> format_summary({"scenario": "x", "seed": 1, "runs": []}).splitlines()[0]
    'scenario x (seed 1)'
    """
    runs = report.get("runs", [])
    results = list(results or [])
    out = [f"scenario {report.get('scenario')} (seed {report.get('seed')})", ""]
    if len(runs) > 1:
        out.extend(_comparison(runs))
    for i, run in enumerate(runs):
        out.extend(_run_section(run, results[i] if i < len(results) else None))
    return "\n".join(out).rstrip("\n") + "\n"
