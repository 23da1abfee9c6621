"""The scenario's `expect:` checks, evaluated against one run.

Each check yields rows ``{"check", "passed", "detail"}``; a failing row's detail
carries the actual numbers and the offending path so the user sees why without
opening report.json.

Kinds (contract section 1):

connections
    ``{traffic?, succeeded?, failed?}``; each count is ``all``, ``none``, an
    integer (exactly that many), a fraction ``0 < x <= 1.0`` (at least that share
    of the attempted connections) or a string ``">=N"``, ``"<=N"``, ``">N"``,
    ``"<N"``.  Without `traffic`, every connection of the run counts.
path
    ``{traffic, request_includes, request_excludes, reply_includes,
    reply_excludes, request_hops, reply_hops}``: hosts (one or a list) and hop
    counts, checked on every connection whose path was recorded; at least one
    must have been.
distribution
    ``{service, shares: {rs: fraction}, tolerance: 0.05}``: share of the
    service's connections each real server got (by host, address or ADDR:PORT).
finding
    ``{rule, severity?}``: the validator must have reported that rule.
"""
from __future__ import annotations

import operator
from collections import Counter
from typing import Any, Iterable

from ipvssim.report import metrics
from ipvssim.report.metrics import flows_of_service, format_path, resolve_server_label

__all__ = ["evaluate", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 0.05

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


def evaluate(expectations: Iterable, result, findings: Iterable = ()) -> list[dict]:
    """Evaluate every ExpectSpec against `result`; one or more rows per expectation.

    Parameters
    ----------
    expectations : iterable of ExpectSpec (``scenario.expect``)
    result : RunResult
    findings : the validator's findings (objects with ``to_dict()`` or dicts)

    Returns
    -------
    list of ``{"check": str, "passed": bool, "detail": str}``
    """
    findings = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in findings]
    rows: list[dict] = []
    for spec in expectations:
        handler = _HANDLERS.get(spec.kind)
        if handler is None:
            rows.append(_row(f"{spec.kind}", False, f"unknown expectation kind {spec.kind!r}"))
            continue
        rows.extend(handler(dict(spec.params), result, findings))
    return rows


def _row(check: str, passed: bool, detail: str) -> dict:
    return {"check": check, "passed": bool(passed), "detail": detail}


def _as_list(v) -> list[str]:
    if v is None:
        return []
    return [str(v)] if isinstance(v, str) else [str(x) for x in v]


# -- connections --------------------------------------------------------------------------------

def _count_ok(want: Any, actual: int, attempted: int) -> tuple[bool, str]:
    """(passed, what was wanted in words) for one count condition."""
    if isinstance(want, str):
        w = want.strip().lower()
        if w == "all":
            return attempted > 0 and actual == attempted, f"all {attempted}"
        if w in ("none", "0"):
            return actual == 0, "none"
        for sym in (">=", "<=", "==", ">", "<"):
            if w.startswith(sym):
                n = float(w[len(sym):])
                bound = n * attempted if 0 < n < 1 else n
                return _OPS[sym](actual, bound), f"{sym} {w[len(sym):].strip()}"
        raise ValueError(f"cannot read count {want!r}")
    if isinstance(want, bool):
        raise ValueError(f"cannot read count {want!r}")
    if isinstance(want, float) and 0 < want <= 1:
        return actual >= want * attempted, f"at least {want:.0%} of {attempted}"
    return actual == int(want), f"exactly {int(want)}"


def _check_connections(params: dict, result, findings) -> list[dict]:
    traffic = params.get("traffic")
    flows = [f for f in result.flows if traffic is None or f.traffic == traffic]
    label = traffic or "all traffic"
    attempted = len(flows)
    expected = sum(t.connections for t in result.scenario.traffic
                   if traffic is None or t.name == traffic)
    succeeded = sum(1 for f in flows if f.status == "succeeded")
    failed = attempted - succeeded
    reasons = Counter((f.reason or f.status) for f in flows if f.status != "succeeded")
    why = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = []
    for key, actual in (("succeeded", succeeded), ("failed", failed)):
        if key not in params:
            continue
        want = params[key]
        try:
            ok, wanted = _count_ok(want, actual, max(attempted, expected))
        except ValueError as err:
            rows.append(_row(f"connections {label}: {key} {want}", False, str(err)))
            continue
        detail = f"{succeeded} of {attempted} succeeded, {failed} failed"
        if why:
            detail += f" ({why})"
        if attempted < expected:
            detail += f"; only {attempted} of {expected} connections were opened"
        if not ok:
            detail = f"wanted {key} {wanted}; " + detail
        rows.append(_row(f"connections {label}: {key} {want}", ok, detail))
    if not rows:
        rows.append(_row(f"connections {label}", False, "nothing to check: give succeeded or failed"))
    return rows


# -- path ---------------------------------------------------------------------------------------

def _check_path(params: dict, result, findings) -> list[dict]:
    traffic = params.get("traffic")
    flows = [f for f in result.flows if traffic is None or f.traffic == traffic]
    label = traffic or "all traffic"
    rows = []
    for direction in ("request", "reply"):
        recorded = [(f, tuple(getattr(f, f"{direction}_path") or ())) for f in flows]
        recorded = [(f, p) for f, p in recorded if p]
        missing = len(flows) - len(recorded)
        note = f"; {missing} of {len(flows)} connections recorded no {direction} path" if missing else ""
        checks = []
        for host in _as_list(params.get(f"{direction}_includes")):
            checks.append((f"{direction} includes {host}", lambda p, h=host: h in p, f"includes {host}",
                           f"does not include {host}"))
        for host in _as_list(params.get(f"{direction}_excludes")):
            checks.append((f"{direction} excludes {host}", lambda p, h=host: h not in p,
                           f"excludes {host}", f"includes {host}"))
        hops = params.get(f"{direction}_hops")
        if hops is not None:
            checks.append((f"{direction} hops {hops}", lambda p, n=int(hops): len(p) - 1 == n,
                           f"has {hops} hops", None))
        for name, test, ok_words, bad_words in checks:
            check = f"path {label}: {name}"
            if not recorded:
                rows.append(_row(check, False,
                                 f"no {direction} path recorded in {len(flows)} connections "
                                 f"(no {direction} packet arrived)"))
                continue
            bad = [p for _, p in recorded if not test(p)]
            if not bad:
                common = Counter(p for _, p in recorded).most_common(1)[0][0]
                rows.append(_row(check, True, f"{direction} path {format_path(common)} {ok_words} "
                                               f"({len(recorded)} of {len(recorded)} connections){note}"))
                continue
            worst, _ = Counter(bad).most_common(1)[0]
            if bad_words is None:       # hop count
                words = f"has {len(worst) - 1} hops, expected {hops}"
            else:
                words = bad_words
            rows.append(_row(check, False, f"{direction} path {format_path(worst)} {words} "
                                           f"({len(bad)} of {len(recorded)} connections){note}"))
    if not rows:
        rows.append(_row(f"path {label}", False, "nothing to check: give *_includes, *_excludes or *_hops"))
    return rows


# -- distribution -------------------------------------------------------------------------------

def _check_distribution(params: dict, result, findings) -> list[dict]:
    service = params.get("service")
    shares = params.get("shares") or {}
    tolerance = float(params.get("tolerance", DEFAULT_TOLERANCE))
    want = {resolve_server_label(result.scenario, str(k), service): float(v) for k, v in shares.items()}
    check = (f"distribution {service}: "
             + ", ".join(f"{k} {v:g}" for k, v in want.items()) + f" ±{tolerance:g}")
    served = [f.real_server for f in flows_of_service(result, service) if f.real_server is not None]
    if not served:
        return [_row(check, False, f"no connection of service {service} reached a real server")]
    counts = Counter(served)
    total = len(served)
    parts, ok = [], True
    for label in list(want) + sorted(set(counts) - set(want)):
        actual = counts.get(label, 0) / total
        target = want.get(label)
        text = f"{label} {actual:.3f} ({counts.get(label, 0)} of {total})"
        if target is not None:
            good = abs(actual - target) <= tolerance + 1e-12
            ok &= good
            text += f" vs {target:g}" + ("" if good else " OUT")
        parts.append(text)
    return [_row(check, ok, "; ".join(parts))]


# -- finding ------------------------------------------------------------------------------------

def _check_finding(params: dict, result, findings: list[dict]) -> list[dict]:
    rule = params.get("rule")
    severity = params.get("severity")
    check = f"finding {rule}" + (f" ({severity})" if severity else "")
    hits = [f for f in findings if f.get("rule") == rule
            and (severity is None or f.get("severity") == severity)]
    if hits:
        h = hits[0]
        more = f" (+{len(hits) - 1} more)" if len(hits) > 1 else ""
        return [_row(check, True, f"{h.get('severity')} at {h.get('where')}: {h.get('message')}{more}")]
    reported = sorted({f"{f.get('rule')}({f.get('severity')})" for f in findings})
    same_rule = [f for f in findings if f.get("rule") == rule]
    if same_rule:
        detail = f"{rule} was reported with severity {same_rule[0].get('severity')}, not {severity}"
    else:
        detail = "validator reported " + (", ".join(reported) if reported else "nothing")
    return [_row(check, False, detail)]


def _check_drops(params: dict, result, findings) -> list[dict]:
    """Packets dropped with `reason` (at `host`, if given): a count condition on the total."""
    reason, host = params["reason"], params.get("host")
    where = f" at {host}" if host else ""
    counts = {(h, r): n for (h, r), n in result.ctx.ledger.drops.items()}
    total = sum(n for (h, r), n in counts.items() if r == reason and (host is None or h == host))
    want = params.get("count", ">= 1")
    # a fraction makes no sense without a base: counts of drops are absolute
    passed, wanted = _count_ok(want if not isinstance(want, float) else f">= {want}", total, total)
    if isinstance(want, str) and want.strip().lower() == "all":
        passed, wanted = total > 0, "some"
    label = f"drops {reason}{where}: {wanted}"
    if passed:
        return [_row(label, True, f"{total} dropped ({reason}{where})")]
    seen = sorted(((n, h, r) for (h, r), n in counts.items()), reverse=True)[:5]
    others = ", ".join(f"{n} {r} at {h}" for n, h, r in seen) or "no drops at all"
    return [_row(label, False, f"{total} dropped ({reason}{where}); drops seen: {others}")]


def _check_latency(params: dict, result, findings) -> list[dict]:
    """Bounds on connection completion time (succeeded connections) of one traffic."""
    traffic = params["traffic"]
    times = sorted(f.latency for f in result.flows
                   if f.traffic == traffic and f.status == "succeeded" and f.latency is not None)
    rows = []
    for key in ("p50", "p90", "p99", "max"):
        if key not in params:
            continue
        op, bound = params[key]
        label = f"latency {traffic}: {key} {op} {bound * 1000:g} ms"
        if not times:
            rows.append(_row(label, False, "no connection succeeded"))
            continue
        value = times[-1] if key == "max" else metrics.percentile(times, float(key[1:]))
        passed = _OPS[op](value, bound)
        rows.append(_row(label, passed, f"{key} = {value * 1000:.3f} ms over {len(times)} connections"))
    return rows


_HANDLERS = {
    "connections": _check_connections,
    "path": _check_path,
    "distribution": _check_distribution,
    "finding": _check_finding,
    "drops": _check_drops,
    "latency": _check_latency,
}
