"""The real kernel as the reference for DR-REPLY-VIA-DIRECTOR's mechanism.

A DR real server replies from the VIP.  Routed through the director, which owns the
VIP too, the reply arrives with one of the director's own addresses as its source:
a martian (fib_validate_source, accept_local=0), dropped.  A router that does not
own the address forwards it.  Here the real server opens the connection itself,
from the VIP (a route with `src`), which puts the same packet on the wire.
"""
from __future__ import annotations

import pytest

from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, flow_outcome, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, LB_C, LB_L, RIP, VIP = "10.9.9.10", "10.9.9.1", "10.9.8.2", "10.9.8.11", "10.9.8.100"


def kernel(lb_owns_vip: bool) -> str:
    with netns_lab("c", "lb", "rs") as net:
        net.link("c", "c0", "lb", "l0")
        net.link("lb", "l1", "rs", "r0")
        net.addr("c", "c0", f"{CIP}/24")
        net.addr("lb", "l0", f"{LB_C}/24")
        net.addr("lb", "l1", f"{LB_L}/24", *([f"{VIP}/32"] if lb_owns_vip else []))
        net.addr("rs", "r0", f"{RIP}/24")
        net.run("rs", "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
        net.run("c", "ip", "route", "add", "default", "via", LB_C)
        net.run("rs", "ip", "route", "add", "default", "via", LB_L, "src", VIP)
        net.run("lb", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for name in ("c", "lb", "rs"):
            net.run(name, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
        return net.connect("rs", CIP, 80)


SCENARIO = f"""
name: kernel-martian
duration: 1.5s
topology:
  segments:
    wan: {{subnet: 10.9.9.0/24}}
    lan: {{subnet: 10.9.8.0/24}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: wan, ip: {CIP}}}}}
      routes: [{{to: default, via: {LB_C}}}]
    lb:
      forwarding: true
      interfaces:
        eth0: {{segment: wan, ip: {LB_C}}}
        eth1: {{segment: lan, ip: LB_ADDRESSES}}
    rs:
      interfaces:
        eth0: {{segment: lan, ip: {RIP}}}
        lo: {{ip: [{VIP}/32]}}
      routes: [{{to: default, via: {LB_L}, src: {VIP}}}]
traffic:
  - {{name: t, from: rs, to: '{CIP}:80', connections: 1}}
"""


def simulated(lb_owns_vip: bool) -> str:
    addresses = f"[{LB_L}, {VIP}/32]" if lb_owns_vip else LB_L
    res = Simulation(load_scenario_text(SCENARIO.replace("LB_ADDRESSES", addresses), "k.yaml")).run()
    (flow,) = res.flows
    return flow_outcome(flow)


@pytest.mark.parametrize("lb_owns_vip", [True, False])
def test_a_packet_from_the_routers_own_address_is_a_martian_as_in_the_kernel(lb_owns_vip):
    got = kernel(lb_owns_vip)
    # owned: dropped at lb, the connect times out; not owned: forwarded, and the
    # client's RST (no listener) comes back to the VIP on rs
    assert got == ("timeout" if lb_owns_vip else "refused")
    assert simulated(lb_owns_vip) == got
