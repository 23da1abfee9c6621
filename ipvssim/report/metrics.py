"""Numbers derived from a run's flows, shared by the JSON report and the expectation checks.

Everything here reads `RunResult` (flows, scenario) and returns plain values in a
defined order, so that two runs with the same seed give identical reports.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

__all__ = [
    "percentile", "round_sig", "clean", "elapsed_s", "throughput_bps", "latency_ms",
    "failure_reasons", "service_of_traffic", "flows_of_service", "real_server_order",
    "path_rows", "resolve_server_label", "format_path", "SIGNIFICANT_DIGITS",
]

# Enough to keep microsecond resolution on a simulated hour, few enough that float
# noise (0.30000000000000004) never reaches the report.
SIGNIFICANT_DIGITS = 9


def round_sig(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`x` rounded to `digits` significant digits (NaN/inf unchanged)."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def clean(obj):
    """A copy of a JSON-like tree with every float rounded by `round_sig`."""
    if isinstance(obj, float):
        return round_sig(obj)
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (always an observed value); None for no values.

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 99)
    (2, 4)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def elapsed_s(result) -> float:
    """Simulated time from the first connection's start to the last connection's end.

    A connection still pending at the end of the run counts as ending when the
    run stopped (`simulated_s`): it held the network that long.
    """
    flows = result.flows
    if not flows:
        return 0.0
    first = min(f.start for f in flows)
    ends = [f.end if f.end is not None else result.simulated_s for f in flows]
    return max(0.0, max(ends) - first)


def throughput_bps(result) -> float:
    """Application bytes delivered to clients, in bits per second of `elapsed_s`."""
    elapsed = elapsed_s(result)
    if elapsed <= 0:
        return 0.0
    return sum(f.received for f in result.flows) * 8 / elapsed


def latency_ms(flows: Iterable) -> dict:
    """Completion time (open to last response byte) of succeeded connections, in ms."""
    values = [f.latency * 1000.0 for f in flows if f.status == "succeeded" and f.latency is not None]
    if not values:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "max": None, "count": 0}
    return {"p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "mean": sum(values) / len(values),
            "max": max(values), "count": len(values)}


def failure_reasons(flows: Iterable) -> dict[str, int]:
    """Why connections did not succeed: reason -> count, most frequent first.

    Pending connections count under their reason ("unfinished" when the run ended
    first).
    """
    c = Counter((f.reason or f.status) for f in flows if f.status != "succeeded")
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def service_of_traffic(scenario, traffic) -> object | None:
    """The ServiceSpec a TrafficSpec is aimed at (VIP, port -- or an all-ports service -- and protocol)."""
    exact = fallback = None
    for svc in scenario.services:
        if svc.vip != traffic.dst or svc.protocol != traffic.protocol:
            continue
        if svc.port == traffic.port and exact is None:
            exact = svc
        elif svc.port == 0 and fallback is None:
            fallback = svc
    return exact or fallback


def flows_of_service(result, service_name: str) -> list:
    """Flows of every traffic aimed at the named service, in opening order."""
    names = {t.name for t in result.scenario.traffic
             if (svc := service_of_traffic(result.scenario, t)) is not None and svc.name == service_name}
    return [f for f in result.flows if f.traffic in names]


def real_server_order(scenario) -> list[str]:
    """Real server labels in scenario order (first mention wins), for stable listings."""
    seen: dict[str, None] = {}
    for svc in scenario.services:
        for rs in svc.real_servers:
            seen.setdefault(rs.label, None)
    return list(seen)


def resolve_server_label(scenario, key: str, service_name: str | None = None) -> str:
    """The report label of a real server named in an expectation by host, address or ADDR:PORT."""
    for svc in scenario.services:
        if service_name is not None and svc.name != service_name:
            continue
        for rs in svc.real_servers:
            if key in (rs.label, rs.host, str(rs.address), f"{rs.address}:{rs.port}"):
                return rs.label
    return key


def format_path(hosts: Sequence[str] | None) -> str:
    return " -> ".join(hosts) if hosts else "(none)"


def _most_common(paths: list[tuple[str, ...]]) -> tuple[tuple[str, ...], int]:
    # Counter keeps first-seen order among equal counts, and flows are in opening
    # order: the tie-break is deterministic.
    if not paths:
        return (), 0
    return Counter(paths).most_common(1)[0]


def path_rows(result) -> list[dict]:
    """One row per (traffic, real server): the most common request and reply path.

    Rows follow the scenario's traffic order, then real servers in scenario
    order; connections that reached no real server form a row with
    ``real_server: None``.
    """
    traffic_order = {t.name: i for i, t in enumerate(result.scenario.traffic)}
    rs_order = {label: i for i, label in enumerate(real_server_order(result.scenario))}
    groups: dict[tuple[str, str | None], list] = {}
    for f in result.flows:
        groups.setdefault((f.traffic, f.real_server), []).append(f)

    def order(key):
        traffic, rs = key
        return (traffic_order.get(traffic, len(traffic_order)), traffic,
                rs is None, rs_order.get(rs, len(rs_order)), rs or "")

    rows = []
    for key in sorted(groups, key=order):
        flows = groups[key]
        req, req_n = _most_common([tuple(f.request_path) for f in flows if f.request_path])
        rep, rep_n = _most_common([tuple(f.reply_path) for f in flows if f.reply_path])
        rows.append({
            "traffic": key[0], "real_server": key[1],
            "request": list(req), "reply": list(rep),
            "request_hops": len(req) - 1 if req else None,
            "reply_hops": len(rep) - 1 if rep else None,
            "connections": len(flows),
            "succeeded": sum(1 for f in flows if f.status == "succeeded"),
            "request_path_share": req_n / len(flows),
            "reply_path_share": rep_n / len(flows),
        })
    return rows
