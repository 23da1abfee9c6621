"""PNG plots: mode comparison, per-server shares, and the topology with each mode's paths.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, so
no global figure state and no display needed).  The topology layout is layered
and deterministic: columns by distance from the clients over the host/segment
graph, real servers one column right of their director, names sorted within a
column.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from ipvssim.report import metrics

__all__ = ["plot_comparison", "plot_shares", "plot_topology", "write_all", "MODE_COLORS"]

MODE_COLORS = {"dr": "tab:blue", "nat": "tab:orange", "tun": "tab:green", "fullnat": "tab:red",
               "as-configured": "tab:purple"}
_EXTRA_COLORS = ("tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
_DPI = 110
_ROLE_COLORS = {"client": "#9ecae1", "router": "#d9d9d9", "director": "#fdae6b",
                "real server": "#a1d99b", "host": "#f0f0f0"}


def _color(mode: str, i: int, forwarding: Sequence[str] = ()) -> str:
    """A run's colour: its mode's; a run labelled by scenario takes its single forwarding mode's."""
    if mode not in MODE_COLORS and len(forwarding) == 1:
        mode = forwarding[0]
    return MODE_COLORS.get(mode, _EXTRA_COLORS[i % len(_EXTRA_COLORS)])


def _run_color(run: dict, i: int) -> str:
    return _color(run["mode"], i, run.get("forwarding", ()))


def _title(report: dict) -> str:
    names = list(dict.fromkeys(r.get("scenario", report.get("scenario")) for r in report["runs"]))
    if len(names) > 1:
        return f"{len(names)} scenarios compared"
    return f"{report.get('scenario')}: forwarding modes compared"


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=_DPI)
    return path


def plot_comparison(report: dict, out_dir) -> Path:
    """comparison.png: throughput and latency (p50, p99) per run, as bar charts."""
    runs = report["runs"]
    modes = [r["mode"] for r in runs]
    colors = [_run_color(r, i) for i, r in enumerate(runs)]
    fig = Figure(figsize=(max(7.0, 2.2 * len(runs) + 3), 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    thr = [r["throughput_bps"] / 1e6 for r in runs]
    bars = ax1.bar(modes, thr, color=colors)
    ax1.bar_label(bars, fmt="%.2f", fontsize=9)
    ax1.set_ylabel("Mbit/s delivered to clients")
    ax1.set_title("Throughput")
    x = range(len(runs))
    w = 0.38
    p50 = [r["latency_ms"]["p50"] or 0.0 for r in runs]
    p99 = [r["latency_ms"]["p99"] or 0.0 for r in runs]
    b1 = ax2.bar([i - w / 2 for i in x], p50, w, color=colors, label="p50")
    b2 = ax2.bar([i + w / 2 for i in x], p99, w, color=colors, alpha=0.5, hatch="//", label="p99")
    # No succeeded connection means no latency at all, not a latency of zero.
    for bars_, key in ((b1, "p50"), (b2, "p99")):
        ax2.bar_label(bars_, labels=["-" if r["latency_ms"][key] is None else f"{r['latency_ms'][key]:.1f}"
                                     for r in runs], fontsize=8)
    ax2.set_xticks(list(x), modes)
    ax2.set_ylabel("connection completion time (ms)")
    ax2.set_title("Latency (succeeded connections)")
    ax2.legend(fontsize=8)
    for r, i in zip(runs, x):
        c = r["connections"]
        if c["succeeded"] < c["attempted"]:
            ax2.annotate(f"{c['succeeded']}/{c['attempted']} ok", (i, 0), xytext=(0, -28),
                         textcoords="offset points", ha="center", fontsize=8, color="darkred")
    fig.suptitle(_title(report))
    fig.tight_layout()
    return _save(fig, Path(out_dir) / "comparison.png")


def plot_shares(report: dict, out_dir) -> Path:
    """shares.png: each real server's share of connections, grouped by run."""
    runs = report["runs"]
    labels: list[str] = []
    for r in runs:
        for k in r["real_servers"]:
            if k not in labels:
                labels.append(k)
    fig = Figure(figsize=(max(6.0, 1.2 * len(labels) * max(1, len(runs)) + 2), 4.0))
    ax = fig.subplots()
    n = max(1, len(runs))
    w = 0.8 / n
    for i, r in enumerate(runs):
        shares = [r["real_servers"].get(k, {}).get("share", 0.0) for k in labels]
        xs = [j - 0.4 + w * (i + 0.5) for j in range(len(labels))]
        bars = ax.bar(xs, shares, w, color=_run_color(r, i), label=r["mode"])
        ax.bar_label(bars, labels=[f"{s:.0%}" for s in shares], fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of connections")
    ax.set_title(f"{report.get('scenario')}: who got the connections")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(out_dir) / "shares.png")


# -- topology ----------------------------------------------------------------------------------

def _roles(scenario) -> dict[str, str]:
    roles = {h.name: ("router" if h.forwarding else "host") for h in scenario.topology.hosts}
    for svc in scenario.services:
        for rs in svc.real_servers:
            if rs.host in roles:
                roles[rs.host] = "real server"
    for t in scenario.traffic:
        for src in t.sources:
            if src in roles:
                roles[src] = "client"
    for svc in scenario.services:
        if svc.director in roles:
            roles[svc.director] = "director"
    return roles


def _graph(scenario) -> nx.Graph:
    g = nx.Graph()
    for seg in scenario.topology.segments:
        g.add_node(("seg", seg.name), kind="segment", label=f"{seg.name}\n{seg.subnet}")
    for h in scenario.topology.hosts:
        addrs = [str(a.ip) for i in h.interfaces for a in i.addresses]
        g.add_node(("host", h.name), kind="host", label="\n".join([h.name, *addrs]))
        for i in h.interfaces:
            if i.segment is not None:
                g.add_edge(("host", h.name), ("seg", i.segment))
    return g


def _layout(scenario, g: nx.Graph, roles: dict[str, str]) -> dict:
    clients = [("host", n) for n, r in roles.items() if r == "client"]
    sources = clients or [("host", h.name) for h in scenario.topology.hosts[:1]]
    depth: dict = {}
    for comp_src in sources:
        for node, d in nx.single_source_shortest_path_length(g, comp_src).items():
            depth[node] = min(depth.get(node, d), d)
    far = max(depth.values(), default=0) + 1
    for node in sorted(g.nodes):
        depth.setdefault(node, far)      # unreachable from any client: last column
    for svc in scenario.services:
        d = depth.get(("host", svc.director), 0)
        for rs in svc.real_servers:
            key = ("host", rs.host)
            if rs.host is not None and key in depth and depth[key] <= d:
                depth[key] = d + 1
    columns: dict[int, list] = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    pos = {}
    for d, nodes in columns.items():
        nodes.sort(key=lambda n: (n[0] != "seg", n[1]))
        for k, node in enumerate(nodes):
            pos[node] = (d * 2.0, (len(nodes) - 1) / 2.0 - k)
    return pos


def _runs_paths(runs_or_report) -> list[tuple[str, list[dict], str | None, list[str]]]:
    """(mode, path rows, scenario name, forwarding modes) per run, from a report dict,
    run dicts or RunResults."""
    if runs_or_report is None:
        return []
    runs = runs_or_report["runs"] if isinstance(runs_or_report, dict) else list(runs_or_report)
    out = []
    for r in runs:
        if isinstance(r, dict):
            out.append((r["mode"], r.get("paths", []), r.get("scenario"), r.get("forwarding", [])))
        else:
            from ipvssim.report.json_report import forwarding_modes
            out.append((r.mode, metrics.path_rows(r), r.scenario.name, forwarding_modes(r.scenario)))
    return out


def _draw_base(ax, g: nx.Graph, pos: dict, roles: dict[str, str]) -> None:
    segs = [n for n in g.nodes if n[0] == "seg"]
    hosts = [n for n in g.nodes if n[0] == "host"]
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#bbbbbb", width=2.0)
    nx.draw_networkx_nodes(g, pos, nodelist=segs, node_shape="s", node_size=260,
                           node_color="#555555", ax=ax)
    nx.draw_networkx_nodes(g, pos, nodelist=hosts, node_shape="o", node_size=900,
                           node_color=[_ROLE_COLORS[roles.get(n[1], "host")] for n in hosts],
                           edgecolors="#333333", ax=ax)
    for node in g.nodes:
        x, y = pos[node]
        is_seg = node[0] == "seg"
        # Segment names sit above their square, host names below their circle, on a
        # white box so edges and arrows passing behind do not make them unreadable.
        ax.annotate(g.nodes[node]["label"].replace("\n", " ") if is_seg else g.nodes[node]["label"],
                    (x, y), xytext=(0, 10 if is_seg else -20), textcoords="offset points",
                    ha="center", va="bottom" if is_seg else "top", fontsize=8,
                    color="#333333" if is_seg else "black", style="italic" if is_seg else "normal",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85), zorder=4)


def _draw_path(ax, pos: dict, hosts: Sequence[str], color: str, dashed: bool, rad: float) -> None:
    for a, b in zip(hosts, hosts[1:]):
        pa, pb = pos.get(("host", a)), pos.get(("host", b))
        if pa is None or pb is None or a == b:
            continue
        ax.add_patch(FancyArrowPatch(
            pa, pb, arrowstyle="-|>", mutation_scale=16, linewidth=2.2, color=color,
            linestyle=(0, (4, 3)) if dashed else "-", connectionstyle=f"arc3,rad={rad}",
            shrinkA=16, shrinkB=16, zorder=3, alpha=0.9))


def plot_topology(scenario, runs_or_report, out_path, scenarios: Sequence | None = None) -> Path:
    """Draw hosts (circles) and segments (squares); over it, per run, request paths
    (solid) and reply paths (dashed), one subplot per run.

    `runs_or_report`: None (topology only), a report dict, run dicts, or RunResults.
    `scenarios`: the scenarios the runs simulated (compare of several files); each
    run is drawn on the topology of the one with its name, else on `scenario`'s.
    """
    by_name = {s.name: s for s in (scenarios or ())}
    runs = _runs_paths(runs_or_report) or [(None, [], None, [])]
    drawn = []
    for mode, rows, name, fwd in runs:
        scn = by_name.get(name, scenario)
        g = _graph(scn)
        roles = _roles(scn)
        drawn.append((mode, rows, fwd, scn, g, roles, _layout(scn, g, roles)))
    all_pos = [p for d in drawn for p in d[6].values()]
    xs = [p[0] for p in all_pos] or [0]
    ys = [p[1] for p in all_pos] or [0]
    width = max(6.0, 1.5 * (max(xs) - min(xs)) / 2 + 4)
    height = max(3.5, 1.3 * (max(ys) - min(ys)) + 2.8)
    fig = Figure(figsize=(width, height * len(drawn)))
    axes = fig.subplots(len(drawn), 1, squeeze=False)[:, 0]
    several = len({d[3].name for d in drawn}) > 1
    for i, (ax, (mode, rows, fwd, scn, g, roles, pos)) in enumerate(zip(axes, drawn)):
        _draw_base(ax, g, pos, roles)
        handles = []
        if mode is not None:
            color = _color(mode, i, fwd)
            seen_req, seen_rep = set(), set()
            for row in rows:
                if row["request"] and tuple(row["request"]) not in seen_req:
                    seen_req.add(tuple(row["request"]))
                    _draw_path(ax, pos, row["request"], color, dashed=False, rad=0.18)
                if row["reply"] and tuple(row["reply"]) not in seen_rep:
                    seen_rep.add(tuple(row["reply"]))
                    _draw_path(ax, pos, row["reply"], color, dashed=True, rad=0.18)
            handles = [Line2D([], [], color=color, lw=2.2, label="request (client → server)"),
                       Line2D([], [], color=color, lw=2.2, ls=(0, (4, 3)), label="reply (back to client)")]
            label = f"{scn.name} ({', '.join(fwd)})" if several else f"mode {mode}"
            ax.set_title(label, fontsize=11, color=color, loc="left")
        handles += [Line2D([], [], marker="o", ls="", markersize=9, markerfacecolor=c,
                           markeredgecolor="#333333", label=r) for r, c in _ROLE_COLORS.items()
                    if r in roles.values()]
        handles.append(Line2D([], [], marker="s", ls="", markersize=7, color="#555555", label="segment"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
        ax.set_ylim(min(ys) - 1.2, max(ys) + 0.8)
        ax.set_axis_off()
    fig.suptitle("scenarios compared" if several else f"{scenario.name}", fontsize=12)
    fig.tight_layout()
    return _save(fig, Path(out_path))


def write_all(report: dict, results, out_dir) -> list[Path]:
    """Every plot for a run/compare output folder; returns the files written."""
    out = Path(out_dir)
    written = []
    if len(report["runs"]) > 1:
        written.append(plot_comparison(report, out))
    if any(r["real_servers"] for r in report["runs"]):
        written.append(plot_shares(report, out))
    results = list(results or [])
    if results:
        written.append(plot_topology(results[0].scenario, report, out / "topology.png",
                                     scenarios=[r.scenario for r in results]))
    return written
