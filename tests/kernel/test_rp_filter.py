"""The real kernel as the reference for reverse-path filtering (rp_filter).

s receives a SYN on eth1 from an address it routes back to through eth0.  Strict
filtering (effective value 1) drops it; loose (2) accepts it, since a route back
exists; 0 does not check.  The effective value is max(conf/all, conf/eth1)
(IN_DEV_MAXCONF) -- what ipvssim's hosts and its validator (TUN-RP-FILTER) assume.
Each combination is built in network namespaces and in ipvssim and must end the
same way.

    a.eth1 10.9.6.2 -- r (forwarding) -- s.eth1 10.9.7.3      the SYN: a -> r -> s
    a.eth0 10.9.5.2 ---------------------- s.eth0 10.9.5.3      s's default route: via a
"""
from __future__ import annotations

import pytest

from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

from netns_lab import NEEDS_ROOT, flow_outcome, lab as netns_lab

pytestmark = NEEDS_ROOT

COMBOS = [(1, 0), (0, 1), (2, 1), (1, 2), (2, 0), (0, 0)]       # (conf/all, conf/eth1)


def kernel(all_rp: int, eth1_rp: int) -> str:
    with netns_lab("a", "r", "s") as net:
        net.link("a", "a0", "s", "s0")
        net.link("a", "a1", "r", "r0")
        net.link("r", "r1", "s", "s1")
        net.addr("a", "a0", "10.9.5.2/24")
        net.addr("a", "a1", "10.9.6.2/24")
        net.addr("r", "r0", "10.9.6.1/24")
        net.addr("r", "r1", "10.9.7.1/24")
        net.addr("s", "s0", "10.9.5.3/24")
        net.addr("s", "s1", "10.9.7.3/24")
        net.run("a", "ip", "route", "add", "10.9.7.0/24", "via", "10.9.6.1")
        net.run("s", "ip", "route", "add", "default", "via", "10.9.5.2")
        net.run("r", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for name in ("a", "r"):
            net.run(name, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
            for dev in ("default", f"{name}0", f"{name}1"):
                net.run(name, "sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=0")
        net.run("s", "sysctl", "-qw", f"net.ipv4.conf.all.rp_filter={all_rp}")
        net.run("s", "sysctl", "-qw", "net.ipv4.conf.s0.rp_filter=0")
        net.run("s", "sysctl", "-qw", f"net.ipv4.conf.s1.rp_filter={eth1_rp}")
        return net.connect("a", "10.9.7.3", 80)


SCENARIO = """
name: kernel-rp-filter
duration: 1.5s
topology:
  segments:
    as: {subnet: 10.9.5.0/24}
    ar: {subnet: 10.9.6.0/24}
    rs: {subnet: 10.9.7.0/24}
  hosts:
    a:
      interfaces:
        eth0: {segment: as, ip: 10.9.5.2}
        eth1: {segment: ar, ip: 10.9.6.2}
      routes: [{to: 10.9.7.0/24, via: 10.9.6.1}]
    r:
      forwarding: true
      interfaces:
        eth0: {segment: ar, ip: 10.9.6.1}
        eth1: {segment: rs, ip: 10.9.7.1}
    s:
      interfaces:
        eth0: {segment: as, ip: 10.9.5.3}
        eth1: {segment: rs, ip: 10.9.7.3, sysctl: {rp_filter: ETH1}}
      routes: [{to: default, via: 10.9.5.2}]
      sysctl: {rp_filter: ALL}
traffic:
  - {name: t, from: a, to: '10.9.7.3:80', connections: 1}
"""


def simulated(all_rp: int, eth1_rp: int) -> str:
    text = SCENARIO.replace("ETH1", str(eth1_rp)).replace("ALL", str(all_rp))
    res = Simulation(load_scenario_text(text, "kernel-rp-filter.yaml")).run()
    (flow,) = res.flows
    return flow_outcome(flow)


@pytest.mark.parametrize("all_rp, eth1_rp", COMBOS)
def test_rp_filter_on_an_asymmetric_path_matches_the_kernel(all_rp, eth1_rp):
    got = kernel(all_rp, eth1_rp)
    strict = max(all_rp, eth1_rp) == 1
    # strict: the SYN is dropped, the connect times out; else s's RST (no listener)
    # comes back the other way, through s.eth0
    assert got == ("timeout" if strict else "refused")
    assert simulated(all_rp, eth1_rp) == got
