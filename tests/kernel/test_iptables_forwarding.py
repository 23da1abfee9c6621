"""The real kernel as the reference: network namespaces, veth pairs and iptables.

kube-proxy's DNAT happens in PREROUTING, so the rewritten request is a packet to
route on; a director with net.ipv4.ip_forward=0 drops it without an ICMP (the
client's connect times out), with 1 it reaches the real server.  The same network is
built in namespaces and in ipvssim, and each answer is compared.

Needs root, `ip`, `iptables` and network namespaces; skipped where any is missing.
"""
from __future__ import annotations

import pytest

from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, flow_outcome, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, VIP, LB_A, LB_B, RIP = "10.9.1.10", "10.9.1.100", "10.9.1.1", "10.9.2.1", "10.9.2.11"


@pytest.fixture
def lab():
    """client -- lb (VIP, iptables DNAT to RIP:8080) -- rs, in three namespaces."""
    with netns_lab("c", "lb", "rs") as net:
        net.link("c", "c0", "lb", "l0")
        net.link("lb", "l1", "rs", "r0")
        net.addr("c", "c0", f"{CIP}/24")
        net.addr("lb", "l0", f"{LB_A}/24", f"{VIP}/32")
        net.addr("lb", "l1", f"{LB_B}/24")
        net.addr("rs", "r0", f"{RIP}/24")
        net.run("c", "ip", "route", "add", "default", "via", LB_A)
        net.run("rs", "ip", "route", "add", "default", "via", LB_B)
        net.run("lb", "iptables", "-t", "nat", "-A", "PREROUTING", "-d", VIP, "-p", "tcp", "--dport",
                "80", "-j", "DNAT", "--to-destination", f"{RIP}:8080")
        # what reaches the real server: a counting rule, first thing in its PREROUTING
        net.run("rs", "iptables", "-t", "raw", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080")
        yield net


def kernel(net, forwarding: int) -> tuple[str, int]:
    """(what the client's connect says, SYNs that reached the real server)."""
    net.run("lb", "sysctl", "-qw", f"net.ipv4.ip_forward={forwarding}")
    outcome = net.connect("c", VIP, 80)
    counters = net.run("rs", "iptables", "-t", "raw", "-L", "PREROUTING", "-v", "-n", "-x")
    syns = int(counters.splitlines()[2].split()[0])
    return outcome, syns


SCENARIO = f"""
name: kernel-lab
duration: 1.5s
topology:
  segments:
    a: {{subnet: 10.9.1.0/24}}
    b: {{subnet: 10.9.2.0/24}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: a, ip: {CIP}}}}}
      routes: [{{to: default, via: {LB_A}}}]
    lb:
      forwarding: FORWARDING
      dataplane: iptables
      interfaces:
        eth0: {{segment: a, ip: [{LB_A}, {VIP}/32]}}
        eth1: {{segment: b, ip: {LB_B}}}
    rs:
      interfaces: {{eth0: {{segment: b, ip: {RIP}}}}}
      routes: [{{to: default, via: {LB_B}}}]
services:
  - {{name: web, director: lb, vip: {VIP}, port: 80, mode: nat,
     real_servers: [{{host: rs, port: 8080}}]}}
traffic:
  - {{name: t, from: client, to: '{VIP}:80', connections: 1}}
"""


def simulated(forwarding: int) -> tuple[str, int]:
    """The same, from ipvssim: (the connection's outcome, SYNs captured at the real server)."""
    text = SCENARIO.replace("FORWARDING", "true" if forwarding else "false")
    res = Simulation(load_scenario_text(text, "kernel-lab.yaml"), pcap=True).run()
    (flow,) = res.flows
    syns = sum(1 for _t, f in res.ctx.observer.captures[("rs", "eth0")]
               if f[23] == 6 and f[36:38] == (8080).to_bytes(2, "big") and f[47] & 0x12 == 0x02)
    return flow_outcome(flow), syns


@pytest.mark.parametrize("forwarding", [0, 1])
def test_dnat_on_a_director_with_and_without_forwarding_matches_the_kernel(lab, forwarding):
    outcome, syns = kernel(lab, forwarding)
    # the kernel: without forwarding the SYN dies at lb, silently; with it, rs (no
    # listener on 8080) answers RST
    assert (outcome, syns > 0) == (("timeout", False) if forwarding == 0 else ("refused", True))
    sim_outcome, sim_syns = simulated(forwarding)
    assert (sim_outcome, sim_syns > 0) == (outcome, syns > 0)
