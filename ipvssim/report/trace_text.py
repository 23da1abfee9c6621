"""One connection's packets, hop by hop, as text: `ipvssim trace`.

The trace steps are data (`ipvssim.net.observe.TraceStep`, each with the frame
as it was after that step); this module only renders them.  Packets appear in
the order they were first seen; under each packet every step is one line
``t=0.001234s  host  iface  action  summary`` and every header change since the
packet's previous step is listed as ``field: old → new``.  Checksum updates that
merely follow another change are folded into one note so the real rewrite
stands out.
"""
from __future__ import annotations

from typing import Iterable

from ipvssim.packet.dissect import field_diff, summary

__all__ = ["format_trace", "ARROW"]

ARROW = "→"


def _group(steps: Iterable, flow_id: int | None) -> list[list]:
    by_pid: dict[int, list] = {}
    for s in steps:
        if flow_id is not None and s.flow != flow_id:
            continue
        by_pid.setdefault(s.pid, []).append(s)
    packets = [sorted(v, key=lambda s: s.time) for v in by_pid.values()]   # stable: same-time order kept
    packets.sort(key=lambda v: (v[0].time, v[0].pid))
    return packets


def _diff_lines(before: bytes, after: bytes) -> list[str]:
    rows = field_diff(before, after)
    lines, sums = [], []
    for field, old, new in rows:
        if field.endswith(".chksum"):
            sums.append(field.rsplit(".", 1)[0])
            continue
        if old is None:
            lines.append(f"+ {field}: {new}")
        elif new is None:
            lines.append(f"- {field}: {old}")
        else:
            lines.append(f"{field}: {old} {ARROW} {new}")
    if sums:
        lines.append(f"(checksums updated: {', '.join(sums)})")
    return lines


def _action(step) -> str:
    return step.action + (f" ({step.reason})" if step.reason else "")


def _header(flow) -> str:
    if flow is None:
        return ""
    state = flow.status
    if flow.status == "succeeded" and flow.latency is not None:
        state += f" in {flow.latency * 1000:.3f} ms"
    elif flow.status == "failed":
        state += f" ({flow.reason})"
    served = f", served by {flow.real_server}" if flow.real_server else ", reached no real server"
    via = f" via {flow.director}" if flow.director else ""
    return (f"connection {flow.fid} ({flow.traffic}, {flow.protocol} from {flow.client}, "
            f"opened t={flow.start:.6f}s): {state}{served}{via}\n")


def format_trace(steps: Iterable, flow_id: int | None, flow=None) -> str:
    """Text walk of one connection's packets (``flow_id``; None = every step given).

    Parameters
    ----------
    steps : TraceStep records (``result.ctx.observer.steps``)
    flow_id : the connection's ``Flow.fid``
    flow : optional Flow, for a header line (outcome, real server)
    """
    out = [_header(flow)] if flow is not None else []
    packets = _group(steps, flow_id)
    if not packets:
        out.append(f"no trace steps recorded for connection {flow_id}\n")
        return "".join(out)
    width = max(len(s.host) for p in packets for s in p)
    iwidth = max(len(s.iface or "-") for p in packets for s in p)
    awidth = max(len(_action(s)) for p in packets for s in p)
    by_pid = {p[0].pid: p for p in packets}
    for pkt in packets:
        first = pkt[0]
        origin = f" (copy of packet {first.parent})" if first.parent is not None else ""
        out.append(f"\npacket {first.pid}{origin}: {summary(first.data)}\n")
        parent = by_pid.get(first.parent) if first.parent is not None else None
        prev = parent[-1].data if parent else first.data
        prev_host = parent[-1].host if parent else first.host
        for s in pkt:
            out.append(f"  t={s.time:.6f}s  {s.host:<{width}}  {s.iface or '-':<{iwidth}}  "
                       f"{_action(s):<{awidth}}  {summary(s.data)}\n")
            if s.data != prev:
                # A change first seen on another host was made by the sender after it
                # recorded its step (e.g. MACs filled in once the neighbour resolved).
                by = f"(set by {prev_host} on transmit) " if s.host != prev_host else ""
                for line in _diff_lines(prev, s.data):
                    out.append(f"      {by}{line}\n")
            prev, prev_host = s.data, s.host
        last = pkt[-1]
        if last.action == "dropped":
            out.append(f"  ends: dropped at {last.host} -- {last.reason or 'no reason given'}\n")
    return "".join(out)
