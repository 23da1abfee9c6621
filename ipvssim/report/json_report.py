"""report.json (contract section 3): one entry per run, every required field and a few more.

Definitions the numbers rest on:

- ``throughput_bps``: application (response) bytes delivered to the client
  applications, times 8, divided by ``elapsed_s`` = first connection start to
  last connection end (a connection still open when the run stopped ends at
  ``sim.simulated_s``).
- ``latency_ms``: completion time of *succeeded* connections (open to last
  response byte), nearest-rank percentiles; ``null`` when none succeeded.
- ``paths``: one row per (traffic, real server) with the most common request
  and reply host list among that group's connections (``*_path_share`` says how
  many followed it); ``real_server: null`` groups connections that reached none.
- ``real_servers``: per real server, connections it got (the director's pick or
  whoever answered) and its share of all connections that reached a server.
- ``scenario`` and ``forwarding`` per run: which scenario the run simulated
  (compare of several files) and the forwarding modes its real servers used.
- Floats are rounded to 9 significant digits; keys come in a fixed order, so
  everything except ``sim.wall_s`` is identical for the same scenario and seed.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ipvssim import __version__
from ipvssim.report import metrics
from ipvssim.report.expect import evaluate
from ipvssim.report.ipvsadm import FORWARD_NAMES, service_stats
from ipvssim.packet.wire import ip_ntoa
from ipvssim.scenario.model import MODES

__all__ = ["forwarding_modes", "run_to_dict", "report_to_dict", "write_report"]


def _finding_dict(f) -> dict:
    return f.to_dict() if hasattr(f, "to_dict") else dict(f)


def _cpu_utilization(director, elapsed: float) -> float:
    cpu = getattr(director, "cpu", None)
    if cpu is None or elapsed <= 0:
        return 0.0
    return float(cpu.utilization(elapsed))


def _director_dict(name: str, director, elapsed: float) -> dict:
    services = []
    for svc in director.services:
        spec = svc.spec
        stats = service_stats(svc)
        services.append({
            "name": svc.name,
            "protocol": spec.protocol,
            "vip": ip_ntoa(svc.vaddr),
            "port": svc.port,
            "scheduler": spec.scheduler,
            "persistence": spec.persistence,
            **stats,
            "real_servers": [{
                "label": d.label,
                "address": ip_ntoa(d.addr),
                "port": d.port,
                "forward": FORWARD_NAMES.get(d.mode, d.mode),
                "weight": d.weight,
                "activeconns": d.activeconns,
                "inactconns": d.inactconns,
                "conns": d.conns,
                "inpkts": d.inpkts,
                "outpkts": d.outpkts,
                "inbytes": d.inbytes,
                "outbytes": d.outbytes,
            } for d in svc.dests],
        })
    out = {
        "dataplane": getattr(director, "dataplane", "ipvs"),
        "packets": director.packets,
        "bytes": director.bytes,
        "cpu_utilization": _cpu_utilization(director, elapsed),
        "connections": sum(s["conns"] for s in services),
        "services": services,
    }
    extra = getattr(director, "report_extra", None)
    if extra is not None:
        out.update(extra())         # data-plane specific facts (ipvssim.dataplane)
    return out


def _real_servers(result) -> dict:
    counts = Counter(f.real_server for f in result.flows if f.real_server is not None)
    ok = Counter(f.real_server for f in result.flows
                 if f.real_server is not None and f.status == "succeeded")
    total = sum(counts.values())
    labels = metrics.real_server_order(result.scenario)
    labels += sorted(set(counts) - set(labels))
    return {label: {"connections": counts.get(label, 0),
                    "share": counts.get(label, 0) / total if total else 0.0,
                    "succeeded": ok.get(label, 0)}
            for label in labels}


def forwarding_modes(scenario) -> list[str]:
    """The forwarding modes a (mode-forced) scenario's real servers use, in MODES order."""
    used = {rs.mode or svc.mode for svc in scenario.services for rs in svc.real_servers}
    used |= {svc.mode for svc in scenario.services if not svc.real_servers}
    return [m for m in MODES if m in used]


def run_to_dict(result) -> dict:
    """One entry of report.json's ``runs`` from a RunResult (see module docstring)."""
    flows = result.flows
    ledger = result.ctx.ledger
    succeeded = sum(1 for f in flows if f.status == "succeeded")
    failed = sum(1 for f in flows if f.status == "failed")
    findings = list(result.findings or [])
    elapsed = metrics.elapsed_s(result)
    run = {
        "mode": result.mode,
        "scenario": result.scenario.name,
        "forwarding": forwarding_modes(result.scenario),
        "findings": [_finding_dict(f) for f in findings],
        "connections": {
            "attempted": len(flows),
            "succeeded": succeeded,
            "failed": failed,
            "pending": len(flows) - succeeded - failed,
            "failure_reasons": metrics.failure_reasons(flows),
        },
        "throughput_bps": metrics.throughput_bps(result),
        "elapsed_s": elapsed,
        "bytes_delivered": sum(f.received for f in flows),
        "latency_ms": metrics.latency_ms(flows),
        "paths": metrics.path_rows(result),
        "directors": {name: _director_dict(name, result.directors[name], result.simulated_s)
                      for name in sorted(result.directors)},
        "real_servers": _real_servers(result),
        "drops": [{"host": h, "reason": r, "count": n}
                  for (h, r), n in sorted(ledger.drops.items(), key=lambda kv: (-kv[1], kv[0]))],
        "packets": {
            "sent": ledger.sent,
            "delivered": ledger.delivered_count,
            "dropped": ledger.dropped_count,
            "in_flight": ledger.in_flight,
        },
        "sim": {
            "events": result.events,
            "packet_hops": result.ctx.hops,
            "simulated_s": result.simulated_s,
            "wall_s": result.wall_s,
            "stopped_by": result.stopped_by,
        },
        "expectations": evaluate(result.scenario.expect, result, findings),
    }
    return metrics.clean(run)


def report_to_dict(scenario, seed: int, results) -> dict:
    """The whole report.json: version, scenario name, seed and one entry per run."""
    return {
        "ipvssim_version": __version__,
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": seed,
        "runs": [run_to_dict(r) for r in results],
    }


def write_report(path, report: dict) -> None:
    """Write `report` as indented JSON (keys in insertion order, UTF-8, final newline)."""
    text = json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
