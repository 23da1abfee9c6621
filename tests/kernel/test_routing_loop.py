"""The real kernel as the reference for a routing loop (DR-NOT-ON-LINK's failure).

Two routers each route an address to the other: a packet for it goes back and forth,
one TTL less per forward, until a router gets it with TTL 1 and answers ICMP time
exceeded.  Which router that is depends on the TTL the client sent; the client's
view -- the ICMP's source, type and code -- is compared for two TTLs of opposite
parity.
"""
from __future__ import annotations

import struct

import pytest

from ipvssim.packet.wire import IPPROTO_UDP, ip_aton
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, first_icmp_to, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, R1_C, R1_R, R2_R, LOST = "10.9.12.10", "10.9.12.1", "10.9.13.1", "10.9.13.2", "10.9.99.1"

def kernel(ttl: int) -> tuple:
    with netns_lab("c", "r1", "r2") as net:
        net.link("c", "c0", "r1", "a0")
        net.link("r1", "a1", "r2", "b0")
        net.addr("c", "c0", f"{CIP}/24")
        net.addr("r1", "a0", f"{R1_C}/24")
        net.addr("r1", "a1", f"{R1_R}/24")
        net.addr("r2", "b0", f"{R2_R}/24")
        net.run("c", "ip", "route", "add", "default", "via", R1_C)
        net.run("r1", "ip", "route", "add", f"{LOST}/32", "via", R2_R)
        net.run("r2", "ip", "route", "add", "default", "via", R1_R)     # back to r1: the loop
        for r in ("r1", "r2"):
            net.run(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            # r2 sends the packet back out of the interface it came in on, which Linux
            # answers with an ICMP redirect; ipvssim models none, so none here either
            net.run(r, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0")
            for dev in ("default", "a0", "a1", "b0"):
                net.run(r, "sysctl", "-qw", f"net.ipv4.conf.{dev}.send_redirects=0", check=False)
        return net.probe("c", LOST, ttl=ttl)


SCENARIO = f"""
name: kernel-loop
duration: 1s
topology:
  segments:
    a: {{subnet: 10.9.12.0/24}}
    b: {{subnet: 10.9.13.0/24}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: a, ip: {CIP}}}}}
      routes: [{{to: default, via: {R1_C}}}]
    r1:
      forwarding: true
      interfaces:
        eth0: {{segment: a, ip: {R1_C}}}
        eth1: {{segment: b, ip: {R1_R}}}
      routes: [{{to: {LOST}/32, via: {R2_R}}}]
    r2:
      forwarding: true
      interfaces: {{eth0: {{segment: b, ip: {R2_R}}}}}
      routes: [{{to: default, via: {R1_R}}}]
"""


def simulated(ttl: int) -> tuple:
    scn = load_scenario_text(SCENARIO, "k.yaml")
    sim = Simulation(scn, pcap=True)
    client = sim.hosts["client"]
    client.ip_send(ip_aton(LOST), IPPROTO_UDP, struct.pack("!HHHH", 40000, 53, 8 + 32, 0) + b"x" * 32,
                   ttl=ttl)
    res = sim.run()
    return first_icmp_to(res.ctx.observer.captures[("client", "eth0")], CIP)


@pytest.mark.parametrize("ttl", [8, 9])
def test_a_routing_loop_ends_in_time_exceeded_from_the_same_router_as_in_the_kernel(ttl):
    got = kernel(ttl)
    assert got[1:3] == (11, 0)                 # ICMP time exceeded, in transit
    assert simulated(ttl) == got
