"""A digest of everything observable in ~550 runs, to prove a performance change changes nothing.

Every scenario of the library (each data plane, each forced mode), the benchmark's LAN
scenarios, and the bottleneck scenarios with small CPU backlogs: for each run a hash of
the pcaps (bytes and times), the trace steps, report.json (without wall time), the
ipvsadm listings, the connection table and CPU counters, the event count and the flows.

Usage:  python3 bench/golden.py ROOT OUTFILE [--no-trace]    (ROOT: the tree to import ipvssim from)

--no-trace leaves the trace steps out of the digest, to show that a change to what
the trace records changed nothing else.

Run it on a checkout of the commit before the change and on the change, then
`diff` the two files: a hot-path change must leave every line the same.
"""
import glob
import hashlib
import json
import os
import sys

root, out = sys.argv[1], sys.argv[2]
with_trace = "--no-trace" not in sys.argv[3:]
sys.path.insert(0, os.path.join(root, "bench")); sys.path.insert(0, root)
os.chdir(root)
from bench import lan_scenario
from ipvssim.scenario.loader import load_scenario_text, load_scenario
from ipvssim.sim import Simulation
from ipvssim.report.json_report import run_to_dict
from ipvssim.report import ipvsadm

def digest(result):
    h = hashlib.sha256()
    ctx = result.ctx
    for k in sorted(ctx.observer.captures):
        h.update(repr(k).encode())
        for t, b in ctx.observer.captures[k]:
            h.update(repr(t).encode()); h.update(bytes(b))
    for s in (ctx.observer.steps if with_trace else ()):
        h.update(repr((s.time, s.pid, s.host, s.iface, s.action, s.reason, s.flow, s.parent)).encode())
        h.update(s.data)
    d = run_to_dict(result); d["sim"].pop("wall_s", None)
    h.update(json.dumps(d, sort_keys=True, default=str).encode())
    for name, dr in sorted(result.directors.items()):
        if type(dr).__name__ == "Director":
            h.update(ipvsadm.ipvsadm_list(dr, stats=True).encode())
            h.update(ipvsadm.ipvsadm_connections(dr, result.simulated_s).encode())
            t = dr.table
            h.update(repr((t.count, t.created, t.expired, len(t._heap), t._seq, dr.packets, dr.bytes,
                           dr.cpu.packets, dr.cpu.dropped, dr.cpu.busy_time, dr.cpu.max_waiting,
                           dr.cpu.busy_until)).encode())
            for c in t:
                h.update(repr(c).encode()); h.update(repr((c.flags, c.inpkts, c.outpkts, c.timeout, c.expires)).encode())
    h.update(repr((result.events, result.simulated_s, ctx.hops, ctx.ledger.sent,
                   sorted(ctx.ledger.drops.items()))).encode())
    for f in result.flows:
        h.update(repr(sorted((k, v) for k, v in vars(f).items() if not k.startswith("_"))).encode()
                 if hasattr(f, "__dict__") else repr(f).encode())
    return h.hexdigest()

lines = []
paths = sorted(glob.glob("scenarios/**/*.yaml", recursive=True))
for p in paths:
    scn = load_scenario(p)
    for dp in ("ipvs", "iptables"):
        for mode in (None, "dr", "nat", "tun", "fullnat"):
            if mode is not None and dp == "iptables":
                continue
            try:
                r = Simulation(scn, pcap=True, trace=True, dataplane=dp, mode=mode).run()
                lines.append(f"{p} {dp} {mode} {digest(r)}")
            except Exception as e:
                lines.append(f"{p} {dp} {mode} ERROR {type(e).__name__}: {e}")
for mode in ("dr", "tun", "nat", "fullnat"):
    for kw in ({}, {"scheduler": "rr", "services": 3}, {"rate": 50000, "connections": 300}):
        r = Simulation(load_scenario_text(lan_scenario(mode, connections=kw.pop("connections", 300), **kw), "<b>"),
                       pcap=True, trace=False).run()
        lines.append(f"bench {mode} {kw} {digest(r)}")
for p in sorted(glob.glob("scenarios/bottleneck-*.yaml")):
    text = open(p).read()
    for cores, backlog in ((3, 30), (2, 5)):
        t = text.replace("cores: 1", f"cores: {cores}").replace("backlog: 10000", f"backlog: {backlog}")
        for mode in (None, "nat", "fullnat", "tun"):
            r = Simulation(load_scenario_text(t, p), pcap=True, trace=False, mode=mode).run()
            lines.append(f"{p} cores={cores} backlog={backlog} {mode} {digest(r)} cpu_dropped={r.directors['lb'].cpu.dropped}")
open(out, "w").write("\n".join(lines) + "\n")
print(len(lines), "runs")
