"""The real kernel as the reference for DR's ARP problem (DR-ARP).

A real server holds the VIP on lo.  With arp_ignore=0 Linux answers ARP for every
local address on every interface, so a neighbour on the LAN learns the real
server's MAC for the VIP and its packets bypass the director; arp_ignore=1 answers
only for addresses of the receiving interface.  Built in network namespaces and in
ipvssim; the client's connect to the VIP must end the same way in both.
"""
from __future__ import annotations

import pytest

from ipvssim.packet.wire import ip_aton
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, flow_outcome, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, RIP, VIP = "10.9.3.10", "10.9.3.11", "10.9.3.100"


def kernel(arp_ignore: int) -> tuple[str, bool]:
    """(the client's connect to VIP:80, whether it learnt a MAC for the VIP)."""
    with netns_lab("c", "rs") as net:
        net.vip_on_lo_pair(CIP, RIP, VIP, "arp_ignore", arp_ignore)
        outcome = net.connect("c", VIP, 80)
        neigh = net.run("c", "ip", "neigh", "show", VIP)
        return outcome, "lladdr" in neigh


SCENARIO = f"""
name: kernel-arp
duration: 1.5s
topology:
  segments:
    lan: {{subnet: 10.9.3.0/24}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: lan, ip: {CIP}}}}}
    rs:
      interfaces:
        eth0: {{segment: lan, ip: {RIP}}}
        lo: {{ip: [{VIP}/32]}}
      sysctl: {{arp_ignore: ARP_IGNORE}}
traffic:
  - {{name: t, from: client, to: '{VIP}:80', connections: 1}}
"""


def simulated(arp_ignore: int) -> tuple[str, bool]:
    text = SCENARIO.replace("ARP_IGNORE", str(arp_ignore))
    res = Simulation(load_scenario_text(text, "kernel-arp.yaml")).run()
    (flow,) = res.flows
    learnt = res.hosts["client"].neigh.lookup("eth0", ip_aton(VIP))
    return flow_outcome(flow), learnt is not None


@pytest.mark.parametrize("arp_ignore", [0, 1])
def test_who_answers_arp_for_a_vip_on_lo_matches_the_kernel(arp_ignore):
    got = kernel(arp_ignore)
    # the kernel: 0 -- rs answers ARP, the SYN reaches it, no listener: RST;
    # 1 -- nobody answers, the connect times out with no neighbour entry
    assert got == (("refused", True) if arp_ignore == 0 else ("timeout", False))
    assert simulated(arp_ignore) == got
