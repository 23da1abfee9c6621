"""ipvssim benchmark: packet-hops per second against the event loop's own floor.

Run:  python bench/bench.py            (reference runs per mode + pcap ratio)
      python bench/bench.py --scaling  (also: real servers, connections, services)
      python bench/bench.py --quick    (smaller, for a smoke check)

Every figure is measured in this process, and each run is set against the cost
of a *bare simpy packet hop* measured here too, for the same number of hops: a
hop that does nothing but move through the event loop (three timeout events
with callbacks, as the performance issue defines it). The ratio holds on a noisy
machine where absolute times do not.
"""
from __future__ import annotations

import argparse
import gc
import resource
import sys
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
    """Wall seconds per bare packet hop: 3 chained timeout events per hop, nothing else."""
    env = simpy.Environment()
    remaining = [hops * 3]

    def step(_ev):
        remaining[0] -= 1
        if remaining[0] > 0:
            env.timeout(1e-6).callbacks.append(step)

    # several packets in flight at once, like a real run's event heap
    inflight = 64
    remaining[0] = hops * 3
    for _ in range(inflight):
        env.timeout(1e-6).callbacks.append(step)
    t0 = time.perf_counter()
    env.run()
    return (time.perf_counter() - t0) / hops


# -- scenarios --------------------------------------------------------------------------
def lan_scenario(mode: str, servers: int = 4, connections: int = 2000, services: int = 1,
                 rate: float = 2000, request: str = "200B", response: str = "8KB") -> str:
    """Client -- router -- LAN with the director and the real servers.

    The topology is written so that the chosen mode *works*: VIPs on lo (DR) or tunl0
    (TUN) with the ARP sysctls, the director as the servers' default gateway (NAT), a
    local address on the director (FULLNAT).
    """
    lines = [f"name: bench-{mode}-{servers}rs-{connections}c-{services}svc", "seed: 7",
             "duration: 600s", "topology:", "  segments:",
             "    wan: {subnet: 198.51.0.0/16, bandwidth: 10Gbps, delay: 20us}",
             "    lan: {subnet: 10.0.0.0/16, bandwidth: 10Gbps, delay: 20us}", "  hosts:",
             "    client:", "      interfaces: {eth0: {segment: wan, ip: 198.51.0.10}}",
             "      routes: [{to: default, via: 198.51.0.1}]",
             "    gw:", "      forwarding: true", "      interfaces:",
             "        eth0: {segment: wan, ip: 198.51.0.1}",
             "        eth1: {segment: lan, ip: 10.0.0.1}",
             "    lb:", "      forwarding: true", "      interfaces:"]
    vips = [f"10.0.{200 + i // 250}.{1 + i % 250}" for i in range(services)]
    lan_ips = ["10.0.0.2"] + [f"{v}/32" for v in vips] + ["10.0.0.3"]
    lines.append(f"        eth0: {{segment: lan, ip: [{', '.join(lan_ips)}]}}")
    lines.append("      routes: [{to: default, via: 10.0.0.1}]")
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
                  "    scheduler: wlc", f"    mode: {mode}"]
        if mode == "fullnat":
            lines.append("    local_addresses: [10.0.0.3]")
        lines.append("    real_servers:")
        lines += [f"      - {{host: rs{i}}}" for i in range(servers)]
    lines.append("traffic:")
    per = max(1, connections // services)
    for s, vip in enumerate(vips):
        lines += [f"  - name: t{s}", "    from: client", f"    to: {vip}:80", f"    connections: {per}",
                  f"    rate: {rate / services}/s", f"    request: {request}", f"    response: {response}"]
    return "\n".join(lines) + "\n"


def measure(text: str, pcap: bool = False) -> dict:
    scn = load_scenario_text(text, "<bench>")
    gc.collect()
    t0 = time.perf_counter()
    sim = Simulation(scn, pcap=pcap)
    build = time.perf_counter() - t0
    result = sim.run()
    wall = result.wall_s
    hops = result.ctx.hops
    ok = sum(f.status == "succeeded" for f in result.flows)
    return {"packets": result.ctx.ledger.sent, "hops": hops, "events": result.events,
            "wall": wall, "build": build, "hops_per_s": hops / wall if wall else 0.0,
            "succeeded": ok, "flows": len(result.flows), "ratio": None,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def with_ratio(row: dict) -> dict:
    # best of three, on a fixed count: the floor is a property of the machine, not the run
    bare = min(bare_hop_seconds(200_000) for _ in range(3))
    row["bare_us"] = bare * 1e6
    row["us_per_hop"] = row["wall"] / row["hops"] * 1e6 if row["hops"] else 0.0
    row["ratio"] = row["us_per_hop"] / row["bare_us"] if row["bare_us"] else 0.0
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
            f"{row['succeeded']:>6}/{row['flows']:<6}")


HEADER = (f"{'run':<28} {'packets':>9} {'hops':>9} {'events':>9} {'wall':>8} {'hops/s':>8} "
          f"{'us/hop':>6} {'bare':>5} {'ratio':>6} {'ok/conns':>13}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    ap.add_argument("--scaling", action="store_true", help="also run the scaling series")
    args = ap.parse_args(argv)
    conns = 400 if args.quick else 3000
    print(HEADER)
    for mode in MODES:
        row = with_ratio(measure(lan_scenario(mode, connections=conns)))
        print(fmt(row, f"{mode} (pcap off)"), flush=True)
        if mode == "dr":
            prow = with_ratio(measure(lan_scenario(mode, connections=conns), pcap=True))
            print(fmt(prow, f"{mode} (pcap on)"), flush=True)
            print(f"  pcap on / off wall time: {prow['wall'] / row['wall']:.2f}x", flush=True)
    print(f"memory per connection entry: {conn_entry_bytes():.0f} B")
    if args.scaling:
        small = dict(request="100B", response="1KB")
        print("\nscaling: cost per hop should stay flat")
        print(HEADER)
        for n in (10, 100, 1000):
            row = with_ratio(measure(lan_scenario("dr", servers=n, connections=conns, **small)))
            print(fmt(row, f"dr {n} real servers"), flush=True)
        for n in ((1000, 10_000) if args.quick else (1000, 10_000, 100_000)):
            row = with_ratio(measure(lan_scenario("dr", connections=n, rate=5000, **small)))
            print(fmt(row, f"dr {n} connections"), flush=True)
        for n in (1, 100, 1000):
            row = with_ratio(measure(lan_scenario("dr", services=n, connections=max(conns, n), **small)))
            print(fmt(row, f"dr {n} services"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
