"""The real kernel as the reference for path-MTU errors (the mechanism behind TUN-MTU).

A router whose next link has a smaller MTU gets a datagram with DF set (Linux's
UDP default) that does not fit: it drops it and answers ICMP "fragmentation
needed" with the next-hop MTU, from its address toward the sender.  The client's
view -- which ICMP arrives, from where, with which MTU -- is compared.
"""
from __future__ import annotations

from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, first_icmp_to, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, R_C, R_S, SIP = "10.9.10.10", "10.9.10.1", "10.9.11.1", "10.9.11.20"
PAYLOAD, SMALL_MTU = 1400, 1000

def kernel() -> tuple:
    with netns_lab("c", "r", "s") as net:
        net.link("c", "c0", "r", "r0")
        net.link("r", "r1", "s", "s0")
        net.addr("c", "c0", f"{CIP}/24")
        net.addr("r", "r0", f"{R_C}/24")
        net.addr("r", "r1", f"{R_S}/24")
        net.addr("s", "s0", f"{SIP}/24")
        for name, dev in (("r", "r1"), ("s", "s0")):
            net.run(name, "ip", "link", "set", dev, "mtu", str(SMALL_MTU))
        net.run("c", "ip", "route", "add", "default", "via", R_C)
        net.run("s", "ip", "route", "add", "default", "via", R_S)
        net.run("r", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        return net.probe("c", SIP, size=PAYLOAD, df=True)


SCENARIO = f"""
name: kernel-frag-needed
duration: 1s
topology:
  segments:
    a: {{subnet: 10.9.10.0/24}}
    b: {{subnet: 10.9.11.0/24, mtu: {SMALL_MTU}}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: a, ip: {CIP}}}}}
      routes: [{{to: default, via: {R_C}}}]
    r:
      forwarding: true
      interfaces:
        eth0: {{segment: a, ip: {R_C}}}
        eth1: {{segment: b, ip: {R_S}}}
    s:
      interfaces: {{eth0: {{segment: b, ip: {SIP}}}}}
      routes: [{{to: default, via: {R_S}}}]
      app: {{listen: [udp/53]}}
traffic:
  - {{name: t, from: client, to: '{SIP}:53', protocol: udp, connections: 1, request: {PAYLOAD}B}}
"""


def simulated() -> tuple:
    res = Simulation(load_scenario_text(SCENARIO, "k.yaml"), pcap=True).run()
    return first_icmp_to(res.ctx.observer.captures[("client", "eth0")], CIP)


def test_a_router_answers_a_df_datagram_too_big_for_the_next_link_as_the_kernel_does():
    got = kernel()
    assert got == (R_C, 3, 4, SMALL_MTU)      # from r's address toward c; next-hop MTU
    assert simulated() == got
