"""The real kernel as the reference for the kube-proxy rules ipvssim prints.

ipvssim's iptables data plane shows its tables as `iptables-save` would.  Here that
text is loaded with the real `iptables-restore` into a director namespace, and real
connections go through it: each service's connections must reach that service's
endpoints and no other, every endpoint of a two-endpoint service some of them --
the mapping the simulated rule walk gives, which is checked alongside.
"""
from __future__ import annotations

import subprocess
from collections import Counter

from ipvssim.report.iptables_save import iptables_save
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, LB_C, VIP = "10.9.20.10", "10.9.20.1", "10.9.20.100"
RS = {"rs1": ("10.9.21.1", "10.9.21.11"), "rs2": ("10.9.22.1", "10.9.22.12")}   # lb side, rs
TRIES = {80: 24, 81: 6}

SCENARIO = f"""
name: kernel-kube-proxy
duration: 10s
topology:
  segments:
    wan: {{subnet: 10.9.20.0/24}}
    n1: {{subnet: 10.9.21.0/24}}
    n2: {{subnet: 10.9.22.0/24}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: wan, ip: {CIP}}}}}
      routes: [{{to: default, via: {LB_C}}}]
    lb:
      forwarding: true
      dataplane: iptables
      interfaces:
        eth0: {{segment: wan, ip: [{LB_C}, {VIP}/32]}}
        eth1: {{segment: n1, ip: {RS["rs1"][0]}}}
        eth2: {{segment: n2, ip: {RS["rs2"][0]}}}
    rs1:
      interfaces: {{eth0: {{segment: n1, ip: {RS["rs1"][1]}}}}}
      routes: [{{to: default, via: {RS["rs1"][0]}}}]
      app: {{listen: [tcp/8080]}}
    rs2:
      interfaces: {{eth0: {{segment: n2, ip: {RS["rs2"][1]}}}}}
      routes: [{{to: default, via: {RS["rs2"][0]}}}]
      app: {{listen: [tcp/8080, tcp/8081]}}
services:
  - {{name: web, director: lb, vip: {VIP}, port: 80, mode: nat,
     real_servers: [{{host: rs1, port: 8080}}, {{host: rs2, port: 8080}}]}}
  - {{name: admin, director: lb, vip: {VIP}, port: 81, mode: nat,
     real_servers: [{{host: rs2, port: 8081}}]}}
traffic:
  - {{name: web, from: client, to: '{VIP}:80', connections: {TRIES[80]}, rate: 50/s}}
  - {{name: admin, from: client, to: '{VIP}:81', connections: {TRIES[81]}, rate: 50/s}}
"""

CONNECT_MANY = """
import socket, sys
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((addr, port))
    except OSError:
        pass
    s.close()
"""


def simulated() -> tuple[str, Counter]:
    """(the rules as iptables-save prints them, (service port, real server, port) per connection)."""
    res = Simulation(load_scenario_text(SCENARIO, "k.yaml")).run()
    got = Counter()
    for f in res.flows:
        got[(80 if f.traffic == "web" else 81, f.real_server)] += 1
    return iptables_save(res.directors["lb"]), got


def kernel(rules: str) -> Counter:
    with netns_lab("c", "lb", "rs1", "rs2") as net:
        net.link("c", "c0", "lb", "l0")
        net.addr("c", "c0", f"{CIP}/24")
        net.addr("lb", "l0", f"{LB_C}/24", f"{VIP}/32")
        net.run("c", "ip", "route", "add", "default", "via", LB_C)
        net.run("lb", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for i, (name, (lb_side, rip)) in enumerate(RS.items(), start=1):
            net.link("lb", f"l{i}", name, "r0")
            net.addr("lb", f"l{i}", f"{lb_side}/24")
            net.addr(name, "r0", f"{rip}/24")
            net.run(name, "ip", "route", "add", "default", "via", lb_side)
            for port in (8080, 8081):
                net.run(name, "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp",
                        "--dport", str(port), "--tcp-flags", "SYN,ACK", "SYN")
        subprocess.run(["ip", "netns", "exec", net.ns["lb"], "iptables-restore"], input=rules,
                       text=True, check=True, timeout=30)
        for port, n in TRIES.items():
            net.run("c", "python3", "-c", CONNECT_MANY, VIP, str(port), str(n))
        got = Counter()
        for name in RS:
            rows = net.run(name, "iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-n", "-x").splitlines()[2:]
            for row, port in zip(rows, (8080, 8081)):
                got[(80 if port == 8080 else 81, name)] += int(row.split()[0])
        return +got


def test_the_printed_kube_proxy_rules_map_services_to_endpoints_in_the_kernel_as_simulated():
    rules, sim = simulated()
    real = kernel(rules)
    for got in (sim, real):
        assert sum(n for (port, _), n in got.items() if port == 80) == TRIES[80]
        assert got[(80, "rs1")] > 0 and got[(80, "rs2")] > 0      # both web endpoints used
        assert got[(81, "rs2")] == TRIES[81] and got[(81, "rs1")] == 0
        assert set(got) == {(80, "rs1"), (80, "rs2"), (81, "rs2")}
