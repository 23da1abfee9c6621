"""The real kernel as the reference for DR-ARP-ANNOUNCE's mechanism.

A real server sends from the VIP (as a DR reply does) to a neighbour it has no ARP
entry for.  With arp_announce=0 its ARP request carries the packet's source, the
VIP, as sender address; with arp_announce=2 it carries rs's own address on that
interface.  The neighbour, the target of the request, learns the sender's address:
so it learns rs's address only under arp_announce=2.  (It learns the VIP either way
here: its ICMP port unreachable back to the VIP resolves it, and rs, arp_ignore=0,
answers -- which is DR-ARP's story.)
"""
from __future__ import annotations

import pytest

from ipvssim.packet.wire import ip_aton
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, lab as netns_lab

pytestmark = NEEDS_ROOT

CIP, RIP, VIP = "10.9.14.10", "10.9.14.11", "10.9.14.100"

SEND_FROM_VIP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(b"x" * 8, (sys.argv[2], 53))
"""


def kernel(arp_announce: int) -> bool:
    """Does the neighbour learn the real server's own address from its ARP request?"""
    with netns_lab("c", "rs") as net:
        net.vip_on_lo_pair(CIP, RIP, VIP, "arp_announce", arp_announce)
        net.run("rs", "python3", "-c", SEND_FROM_VIP, VIP, CIP)
        net.run("rs", "sleep", "0.3")
        return any(line.startswith(f"{RIP} ") and "lladdr" in line
                   for line in net.run("c", "ip", "neigh", "show", "dev", "c0").splitlines())


SCENARIO = f"""
name: kernel-arp-announce
duration: 1s
topology:
  segments:
    lan: {{subnet: 10.9.14.0/24}}
  hosts:
    client:
      interfaces: {{eth0: {{segment: lan, ip: {CIP}}}}}
    rs:
      interfaces:
        eth0: {{segment: lan, ip: {RIP}}}
        lo: {{ip: [{VIP}/32]}}
      routes: [{{to: {CIP}, dev: eth0, src: {VIP}}}]
      sysctl: {{arp_announce: ANNOUNCE}}
traffic:
  - {{name: t, from: rs, to: '{CIP}:53', protocol: udp, connections: 1, request: 8B, response: 0B}}
"""


def simulated(arp_announce: int) -> bool:
    text = SCENARIO.replace("ANNOUNCE", str(arp_announce))
    res = Simulation(load_scenario_text(text, "k.yaml")).run()
    return res.hosts["client"].neigh.lookup("eth0", ip_aton(RIP)) is not None


@pytest.mark.parametrize("arp_announce", [0, 2])
def test_the_sender_address_of_an_arp_request_from_the_vip_matches_the_kernel(arp_announce):
    got = kernel(arp_announce)
    assert got == (arp_announce == 2)
    assert simulated(arp_announce) == got
