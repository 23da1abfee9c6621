"""ipvssim benchmark: packet-hops per second against the event loop's own floor.

Run:  python bench/bench.py            (reference runs per mode + pcap ratio)
      python bench/bench.py --scaling  (also: real servers, connections, services)
      python bench/bench.py --quick    (smaller, for a smoke check)
      python bench/bench.py --json FILE   (also write every row as JSON)

Every figure is measured in this process, and each run is set against the cost
of a *bare simpy packet hop* measured here too: the hop the performance issue
prices at 4.2-4.7 us (3 events): a link written the textbook simpy way, a process
that takes a packet from its simpy.Store, waits a timeout for the wire and puts the
packet into the next link's Store -- a put, a get and a timeout event per hop, and
nothing else.  The ratio holds on a noisy machine where absolute times do not.  A
stricter floor is shown beside it: three bare timeout events with callbacks, no
process and no Store (the event loop alone).
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ipvssim.scenario.loader import load_scenario_text  # noqa: E402
from ipvssim.sim import Simulation  # noqa: E402

MODES = ("dr", "tun", "nat", "fullnat")


def bare_hop_seconds(hops: int) -> float:
    """Wall seconds per bare simpy packet hop, the one the ratio is taken against."""
    env, done = bare_hop_network(hops)
    t0 = time.perf_counter()
    env.run(until=done)
    return (time.perf_counter() - t0) / hops


def bare_hop_network(hops: int, links: int = 64, inflight: int = 64):
    """The bare hop's network, ready to run: (env, event that fires after `hops` hops).

    A ring of links, each the usual simpy link process: get a packet from its Store,
    a timeout for the wire, put it into the next link's Store.  Three events per hop
    (the put, the get that it satisfies, the timeout), with the process resumed on the
    get and on the timeout, as in any simpy network model; several packets in flight,
    like a real run's event heap.
    """
    env = simpy.Environment()
    stores = [simpy.Store(env) for _ in range(links)]
    done = env.event()
    left = [hops]

    def link(inbox, outbox):
        while True:
            pkt = yield inbox.get()
            yield env.timeout(1e-6)
            left[0] -= 1
            if left[0] == 0:
                done.succeed()
            outbox.put(pkt)

    for i in range(links):
        env.process(link(stores[i], stores[(i + 1) % links]))
    for i in range(inflight):
        stores[i % links].put(i)
    return env, done


def event_floor_seconds(hops: int) -> float:
    """A stricter floor: three chained timeout events per hop with a callback each, and
    nothing else -- no process to resume, no Store: the event loop on its own."""
    env = simpy.Environment()
    remaining = [hops * 3]

    def step(_ev):
        remaining[0] -= 1
        if remaining[0] > 0:
            env.timeout(1e-6).callbacks.append(step)

    for _ in range(64):           # several packets in flight at once
        env.timeout(1e-6).callbacks.append(step)
    t0 = time.perf_counter()
    env.run()
    return (time.perf_counter() - t0) / hops


def timeout_event_seconds(events: int = 600_000) -> float:
    """One simpy timeout event (the issue prices it at 0.6-1.0 us): the machine check."""
    return event_floor_seconds(events // 3) / 3


# -- scenarios --------------------------------------------------------------------------
def lan_scenario(mode: str, servers: int = 4, connections: int = 2000, services: int = 1,
                 rate: float = 2000, request: str = "200B", response: str = "8KB",
                 scheduler: str = "wlc", clients: int = 1) -> str:
    """Client(s) -- router -- LAN with the director and the real servers.

    One client has 28232 ephemeral ports (32768-60999), each held 60 s in TIME_WAIT
    after use, so long runs spread their connections over several `clients`.

    The topology is written so that the chosen mode *works*: VIPs on lo (DR) or tunl0
    (TUN) with the ARP sysctls, the director as the servers' default gateway (NAT), a
    local address on the director (FULLNAT).
    """
    lines = [f"name: bench-{mode}-{servers}rs-{connections}c-{services}svc", "seed: 7",
             "duration: 600s", "topology:", "  segments:",
             "    wan: {subnet: 198.51.0.0/16, bandwidth: 10Gbps, delay: 20us}",
             "    lan: {subnet: 10.0.0.0/16, bandwidth: 10Gbps, delay: 20us}", "  hosts:",
             "    gw:", "      forwarding: true", "      interfaces:",
             "        eth0: {segment: wan, ip: 198.51.0.1}",
             "        eth1: {segment: lan, ip: 10.0.0.1}",
             "    lb:", "      forwarding: true", "      interfaces:"]
    vips = [f"10.0.{200 + i // 250}.{1 + i % 250}" for i in range(services)]
    lan_ips = ["10.0.0.2"] + [f"{v}/32" for v in vips] + ["10.0.0.3"]
    lines.append(f"        eth0: {{segment: lan, ip: [{', '.join(lan_ips)}]}}")
    lines.append("      routes: [{to: default, via: 10.0.0.1}]")
    names = ["client"] if clients == 1 else [f"client{c}" for c in range(clients)]
    for c, name in enumerate(names):
        lines += [f"    {name}:",
                  f"      interfaces: {{eth0: {{segment: wan, ip: 198.51.{c // 240}.{10 + c % 240}}}}}",
                  "      routes: [{to: default, via: 198.51.0.1}]"]
    # NAT replies must come back through the director; the other modes reply via the router.
    rs_gateway = "10.0.0.2" if mode == "nat" else "10.0.0.1"
    for i in range(servers):
        ip = f"10.0.{1 + i // 250}.{1 + i % 250}"
        lines += [f"    rs{i}:", "      interfaces:", f"        eth0: {{segment: lan, ip: {ip}}}"]
        if mode in ("dr", "tun"):
            dev = "lo" if mode == "dr" else "tunl0"
            lines.append(f"        {dev}: {{ip: [{', '.join(v + '/32' for v in vips)}]}}")
            lines.append("      sysctl: {arp_ignore: 1, arp_announce: 2, rp_filter: 0}")
        lines += [f"      routes: [{{to: default, via: {rs_gateway}}}]", "      app: {listen: [tcp/80]}"]
    lines.append("services:")
    for s, vip in enumerate(vips):
        lines += [f"  - name: svc{s}", "    director: lb", f"    vip: {vip}", "    port: 80",
                  f"    scheduler: {scheduler}", f"    mode: {mode}"]
        if mode == "fullnat":
            lines.append("    local_addresses: [10.0.0.3]")
        lines.append("    real_servers:")
        lines += [f"      - {{host: rs{i}}}" for i in range(servers)]
    lines.append("traffic:")
    per = max(1, connections // (services * clients))
    for s, vip in enumerate(vips):
        for c, name in enumerate(names):
            lines += [f"  - name: t{s}" + (f"c{c}" if clients > 1 else ""), f"    from: {name}",
                      f"    to: {vip}:80", f"    connections: {per}",
                      f"    rate: {rate / services / clients}/s", f"    request: {request}",
                      f"    response: {response}"]
    return "\n".join(lines) + "\n"


def warm_caches(sim: Simulation) -> int:
    """Fill the neighbour tables as a network in steady state has them; returns entries added.

    Without this, a scaling run with N real servers is mostly ARP: every request is
    a broadcast the switch copies to all N+3 ports, so "per packet" would measure
    flooding, not the data path.  A forwarding host learns every Ethernet address on
    its segments; any other host learns the forwarding hosts (its gateways).  Addresses
    on lo/tunl0 (DR/TUN VIPs) are never answered for, so they are never learnt.  The
    switches know every port's MAC too (else the first frame to each server is flooded).
    """
    added = 0
    for seg in sim.segments.values():
        for port in seg.ports:
            seg.fdb[port.iface.mac] = port
        ifaces = [p.iface for p in seg.ports]
        for iface in ifaces:
            host = iface.host
            for other in ifaces:
                if other is iface or not (host.forwarding or other.host.forwarding):
                    continue
                for a in other.addresses:
                    host.neigh.add(iface, a.addr, other.mac)
                    added += 1
    return added


def measure(text: str, pcap: bool = False, repeat: int = 1, warm: bool = False) -> dict:
    """One scenario run (the fastest of `repeat`, to shave off scheduler noise)."""
    best = None
    for _ in range(repeat):
        row = _measure_once(text, pcap, warm)
        if best is None or row["wall"] < best["wall"]:
            best = row
    return best


def peak_rss_mib(text: str, pcap: bool, warm: bool) -> float | None:
    """Peak resident memory (MiB) of a fresh Python process that builds and runs the
    scenario (interpreter and imports included), measured apart from the timed runs.

    A fresh process, because memory that an earlier run freed stays with the process
    that ran it (a fork would share it too); None where the child cannot say (no /proc).
    """
    child = subprocess.run(
        [sys.executable, __file__, "--peak-rss-of-stdin"] + (["--pcap"] if pcap else [])
        + (["--warm"] if warm else []),
        input=text, capture_output=True, text=True, check=False)
    try:
        return float(child.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _peak_rss_child(pcap: bool, warm: bool) -> int:
    """The child of peak_rss_mib: the scenario on stdin, VmHWM (MiB) on stdout."""
    text = sys.stdin.read()
    status = Path("/proc/self/status")
    if not status.exists():
        return 1
    _measure_once(text, pcap, warm)
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            print(int(line.split()[1]) / 1024)
            return 0
    return 1


def _measure_once(text: str, pcap: bool, warm: bool) -> dict:
    """One run; with pcap, the captures are written to files as `ipvssim run --pcap`
    writes them (during the run, so the timed run includes the writing)."""
    if not pcap:
        return _measure_in(text, False, warm)
    with tempfile.TemporaryDirectory(prefix="ipvssim-bench-") as folder:
        return _measure_in(text, folder, warm)


def _measure_in(text: str, pcap, warm: bool) -> dict:
    scn = load_scenario_text(text, "<bench>")
    gc.collect()
    t0 = time.perf_counter()
    sim = Simulation(scn, pcap=pcap)
    if warm:
        warm_caches(sim)
    build = time.perf_counter() - t0
    result = sim.run()
    wall = result.wall_s
    hops = result.ctx.hops
    ok = sum(f.status == "succeeded" for f in result.flows)
    return {"packets": result.ctx.ledger.sent, "hops": hops, "events": result.events,
            "wall": wall, "build": build, "hops_per_s": hops / wall if wall else 0.0,
            "succeeded": ok, "flows": len(result.flows), "ratio": None}


def with_ratio(row: dict) -> dict:
    """Set the run against the bare hop measured here for the run's own hop count
    (fastest of three: the floor is a property of the machine, not of the run)."""
    hops = max(row["hops"], 1000)
    bare = min(bare_hop_seconds(hops) for _ in range(3))
    floor = min(event_floor_seconds(hops) for _ in range(3))
    row["bare_us"] = bare * 1e6
    row["floor_us"] = floor * 1e6
    row["us_per_hop"] = row["wall"] / row["hops"] * 1e6 if row["hops"] else 0.0
    row["ratio"] = row["us_per_hop"] / row["bare_us"] if row["bare_us"] else 0.0
    row["floor_ratio"] = row["us_per_hop"] / row["floor_us"] if row["floor_us"] else 0.0
    return row


def conn_entry_bytes(n: int = 50_000) -> float:
    """Memory per IPVS connection entry (tracemalloc), table and dest bookkeeping included."""
    from ipvssim.ipvs.conn import ConnTable
    from ipvssim.ipvs.dest import Dest
    table = ConnTable()
    dest = Dest(addr=0x0A00000B, port=80)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(n):
        table.new(proto=6, caddr=0xC6330000 + i, cport=1024 + i % 60000, vaddr=0x0A000064, vport=80,
                  daddr=0x0A00000B, dport=80, dest=dest, mode="nat", now=0.0)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return used / n


def fmt(row: dict, label: str) -> str:
    return (f"{label:<28} {row['packets']:>9} {row['hops']:>9} {row['events']:>9} "
            f"{row['wall']:>7.2f}s {row['hops_per_s'] / 1000:>7.1f}k "
            f"{row['us_per_hop']:>6.2f} {row['bare_us']:>5.2f} {row['ratio']:>5.2f}x "
            f"{row['floor_us']:>5.2f} {row['floor_ratio']:>5.2f}x "
            f"{row['succeeded']:>6}/{row['flows']:<6} "
            f"{'-' if row['peak_rss_mib'] is None else format(row['peak_rss_mib'], '.0f'):>5}")


HEADER = (f"{'run':<28} {'packets':>9} {'hops':>9} {'events':>9} {'wall':>8} {'hops/s':>8} "
          f"{'us/hop':>6} {'bare':>5} {'ratio':>6} {'floor':>5} {'x flr':>6} {'ok/conns':>13} {'MiB':>5}")
LEGEND = ("bare: a bare simpy packet hop (Store get, timeout, Store put), us; ratio: us/hop "
          "over it (target <= 2.2x)\nfloor: three bare timeout events, us; x flr: us/hop over it; "
          "MiB: peak RSS of a fresh process running the scenario")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    ap.add_argument("--scaling", action="store_true", help="also run the scaling series")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per row, the fastest kept (default 3, 1 with --quick)")
    ap.add_argument("--json", metavar="FILE", help="also write all rows to FILE as JSON")
    ap.add_argument("--peak-rss-of-stdin", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pcap", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peak_rss_of_stdin:
        return _peak_rss_child(args.pcap, args.warm)
    conns = 400 if args.quick else 3000
    repeat = args.repeat or (1 if args.quick else 3)
    rows: dict[str, dict] = {}

    def run(label: str, text: str, pcap: bool = False, warm: bool = False) -> dict:
        row = with_ratio(measure(text, pcap=pcap, repeat=repeat, warm=warm))
        row["peak_rss_mib"] = peak_rss_mib(text, pcap, warm)
        rows[label] = row
        print(fmt(row, label), flush=True)
        return row

    print(f"python {platform.python_version()}, simpy {simpy.__version__}, {platform.machine()}")
    print(LEGEND)
    print(HEADER)
    summary: dict[str, float] = {}
    for mode in MODES:
        row = run(f"{mode} (pcap off)", lan_scenario(mode, connections=conns))
        if mode == "dr":
            prow = run(f"{mode} (pcap on)", lan_scenario(mode, connections=conns), pcap=True)
            summary["pcap_on_off"] = prow["wall"] / row["wall"]
            print(f"  pcap on / off wall time: {summary['pcap_on_off']:.2f}x", flush=True)
    summary["bare_hop_us"] = min(bare_hop_seconds(200_000) for _ in range(3)) * 1e6
    summary["event_floor_us"] = min(event_floor_seconds(200_000) for _ in range(3)) * 1e6
    summary["timeout_event_us"] = min(timeout_event_seconds() for _ in range(3)) * 1e6
    print(f"bare simpy hop {summary['bare_hop_us']:.2f} us; three bare timeouts "
          f"{summary['event_floor_us']:.2f} us; one timeout event {summary['timeout_event_us']:.2f} us "
          f"(the performance issue: 4.2-4.7, -, 0.6-1.0 us)", flush=True)
    summary["conn_entry_bytes"] = conn_entry_bytes()
    print(f"memory per connection entry: {summary['conn_entry_bytes']:.0f} B")
    if args.scaling:
        small = dict(request="100B", response="1KB")
        print("\nscaling: cost per hop should stay flat (ARP and switch caches pre-filled, see warm_caches)")
        print(HEADER)
        # rr: the series measures the simulator, and wlc (like the kernel's
        # ip_vs_wlc_schedule) walks every server per new connection -- shown separately.
        for key, series in (("real_servers", [(f"dr {n} real servers (rr)",
                                               lan_scenario("dr", servers=n, connections=conns,
                                                            scheduler="rr", **small))
                                              for n in (10, 100, 1000)]),
                            ("connections", [(f"dr {n} connections",
                                              lan_scenario("dr", connections=n, rate=5000,
                                                           clients=max(1, n // 20_000), **small))
                                             for n in ((1000, 10_000) if args.quick
                                                       else (1000, 10_000, 100_000))]),
                            ("services", [(f"dr {n} services",
                                           lan_scenario("dr", services=n, connections=max(conns, n), **small))
                                          for n in (1, 100, 1000)])):
            per_hop = [run(label, text, warm=True)["us_per_hop"] for label, text in series]
            summary[f"{key}_spread"] = max(per_hop) / min(per_hop)
            print(f"  {key}: slowest / fastest us per hop {summary[f'{key}_spread']:.2f}x", flush=True)
            if key == "real_servers":
                for n in (10, 1000):
                    run(f"dr {n} real servers (wlc)",
                        lan_scenario("dr", servers=n, connections=conns, **small), warm=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"python": platform.python_version(),
                                               "simpy": simpy.__version__, "rows": rows,
                                               "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
