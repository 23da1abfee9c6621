"""The validator's rule catalogue: each rule fires on a broken scenario and not on its fix.

Scenarios are written as YAML, loaded by the real loader; each test edits one thing
in a clean base scenario (DR, NAT, TUN or FULLNAT) and checks which rules fire, with
their severity and where they point.
"""
from __future__ import annotations

import re
from dataclasses import replace
from ipaddress import IPv4Interface
from pathlib import Path

import pytest
import yaml

from ipvssim.scenario.loader import load_scenario_text
from ipvssim.validate import RULES, Finding, format_findings, validate

DR_BASE = """
name: dr
topology:
  segments:
    wan: {subnet: 198.51.100.0/24}
    lan: {subnet: 10.0.0.0/24}
  hosts:
    client:
      interfaces: {eth0: {segment: wan, ip: 198.51.100.10}}
      routes: [{to: default, via: 198.51.100.1}]
    gw:
      forwarding: true
      interfaces:
        eth0: {segment: wan, ip: 198.51.100.1}
        eth1: {segment: lan, ip: 10.0.0.1}
    lb:
      interfaces: {eth0: {segment: lan, ip: [10.0.0.2, 10.0.0.100/32]}}
      routes: [{to: default, via: 10.0.0.1}]
    rs1:
      interfaces:
        eth0: {segment: lan, ip: 10.0.0.11}
        lo: {ip: [10.0.0.100/32]}
      sysctl: {arp_ignore: 1, arp_announce: 2}
      routes: [{to: default, via: 10.0.0.1}]
      app: {listen: [tcp/80]}
    rs2:
      interfaces:
        eth0: {segment: lan, ip: 10.0.0.12}
        lo: {ip: [10.0.0.100/32]}
      sysctl: {arp_ignore: 1, arp_announce: 2}
      routes: [{to: default, via: 10.0.0.1}]
      app: {listen: [tcp/80]}
services:
  - name: web
    director: lb
    vip: 10.0.0.100
    port: 80
    scheduler: wrr
    mode: dr
    real_servers: [{host: rs1, weight: 3}, {host: rs2}]
traffic:
  - {name: browsers, from: client, to: 10.0.0.100:80, protocol: tcp}
"""

# Two-armed NAT director: clients on wan, real servers behind it on lan.
NAT_BASE = """
name: nat
topology:
  segments:
    wan: {subnet: 198.51.100.0/24}
    lan: {subnet: 10.0.0.0/24}
  hosts:
    client:
      interfaces: {eth0: {segment: wan, ip: 198.51.100.10}}
    lb:
      forwarding: true
      interfaces:
        eth0: {segment: wan, ip: [198.51.100.2, 198.51.100.100/32]}
        eth1: {segment: lan, ip: 10.0.0.1}
    rs1:
      interfaces: {eth0: {segment: lan, ip: 10.0.0.11}}
      routes: [{to: default, via: 10.0.0.1}]
      app: {listen: [tcp/8080]}
    rs2:
      interfaces: {eth0: {segment: lan, ip: 10.0.0.12}}
      routes: [{to: default, via: 10.0.0.1}]
      app: {listen: [tcp/8080]}
services:
  - name: web
    director: lb
    vip: 198.51.100.100
    port: 80
    mode: nat
    real_servers: [{host: rs1, port: 8080}, {host: rs2, port: 8080}]
traffic:
  - {name: browsers, from: client, to: 198.51.100.100:80, protocol: tcp}
"""

# TUN: the real servers sit on another routed subnet (lan2) than the director (lan1).
TUN_BASE = """
name: tun
topology:
  segments:
    wan: {subnet: 198.51.100.0/24}
    lan1: {subnet: 10.0.0.0/24}
    lan2: {subnet: 10.0.1.0/24}
  hosts:
    client:
      interfaces: {eth0: {segment: wan, ip: 198.51.100.10}}
      routes: [{to: default, via: 198.51.100.1}]
    gw:
      forwarding: true
      interfaces:
        eth0: {segment: wan, ip: 198.51.100.1}
        eth1: {segment: lan1, ip: 10.0.0.1}
        eth2: {segment: lan2, ip: 10.0.1.1}
    lb:
      interfaces: {eth0: {segment: lan1, ip: [10.0.0.2, 10.0.0.100/32]}}
      routes: [{to: default, via: 10.0.0.1}]
    rs1:
      interfaces:
        eth0: {segment: lan2, ip: 10.0.1.11, mtu: 1480}
        tunl0: {ip: [10.0.0.100/32]}
      sysctl: {arp_ignore: 1, arp_announce: 2}
      routes: [{to: default, via: 10.0.1.1}]
      app: {listen: [tcp/80]}
services:
  - name: web
    director: lb
    vip: 10.0.0.100
    port: 80
    mode: tun
    real_servers: [{host: rs1}]
traffic:
  - {name: browsers, from: client, to: 10.0.0.100:80, protocol: tcp}
"""

# FULLNAT: the director's lan address is the local address; real servers need no
# route toward the clients at all.
FULLNAT_BASE = """
name: fullnat
topology:
  segments:
    wan: {subnet: 198.51.100.0/24}
    lan: {subnet: 10.0.0.0/24}
  hosts:
    client:
      interfaces: {eth0: {segment: wan, ip: 198.51.100.10}}
    lb:
      interfaces:
        eth0: {segment: wan, ip: [198.51.100.2, 198.51.100.100/32]}
        eth1: {segment: lan, ip: 10.0.0.1}
    rs1:
      interfaces: {eth0: {segment: lan, ip: 10.0.0.11}}
      app: {listen: [tcp/8080]}
services:
  - name: web
    director: lb
    vip: 198.51.100.100
    port: 80
    mode: fullnat
    local_addresses: [10.0.0.1]
    real_servers: [{host: rs1, port: 8080}]
traffic:
  - {name: browsers, from: client, to: 198.51.100.100:80, protocol: tcp}
"""


def base(text: str) -> dict:
    return yaml.safe_load(text)


def load(doc: dict):
    return load_scenario_text(yaml.safe_dump(doc, sort_keys=False), "scn.yaml")


def check(doc: dict, mode: str | None = None, dataplane: str | None = None) -> list[Finding]:
    return validate(load(doc), mode, dataplane)


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def only(findings: list[Finding], rule: str) -> Finding:
    """The single finding of `rule`, after asserting nothing else fired."""
    assert rules(findings) == {rule}, format_findings(findings)
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, format_findings(findings)
    return matching[0]


# -- the bases are clean ------------------------------------------------------------------

@pytest.mark.parametrize("text", [DR_BASE, NAT_BASE, TUN_BASE, FULLNAT_BASE],
                         ids=["dr", "nat", "tun", "fullnat"])
def test_clean_base_scenarios_have_no_findings(text):
    assert check(base(text)) == []


# -- DR -----------------------------------------------------------------------------------

def test_dr_real_server_without_vip_is_an_error():
    doc = base(DR_BASE)
    del doc["topology"]["hosts"]["rs2"]["interfaces"]["lo"]
    f = only(check(doc), "DR-NO-VIP")
    assert (f.severity, f.where, f.file) == ("error", "topology.hosts.rs2", "scn.yaml")
    assert "rs2" in f.message and "10.0.0.100" in f.message
    assert "lo: {ip: [10.0.0.100/32]}" in f.fix


def test_dr_real_server_on_another_subnet_is_not_on_link():
    doc = base(DR_BASE)
    topo = doc["topology"]
    topo["segments"]["lan2"] = {"subnet": "10.0.1.0/24"}
    topo["hosts"]["gw"]["interfaces"]["eth2"] = {"segment": "lan2", "ip": "10.0.1.1"}
    topo["hosts"]["rs2"]["interfaces"]["eth0"] = {"segment": "lan2", "ip": "10.0.1.12"}
    topo["hosts"]["rs2"]["routes"] = [{"to": "default", "via": "10.0.1.1"}]
    findings = check(doc)
    f = only(findings, "DR-NOT-ON-LINK")
    assert (f.severity, f.where) == ("error", "services[0].real_servers[1]")
    assert "10.0.1.12" in f.message and "10.0.0.1 (gw)" in f.message
    # A routed real server is what TUN is for: there the complaint is about tunl0 instead.
    assert "DR-NOT-ON-LINK" not in rules(check(doc, mode="tun"))
    assert "TUN-NO-TUNL0" in rules(check(doc, mode="tun"))


def test_dr_arp_ignore_unset_answers_arp_for_the_vip():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["rs2"]["sysctl"] = {"arp_announce": 2}
    f = only(check(doc), "DR-ARP")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs2.sysctl")
    assert "rs2" in f.message and "10.0.0.100" in f.message and "eth0" in f.message
    assert "arp_ignore: 1" in f.fix


def test_dr_arp_ignore_set_only_on_lo_does_not_help():
    doc = base(DR_BASE)
    rs2 = doc["topology"]["hosts"]["rs2"]
    rs2["sysctl"] = {"arp_announce": 2}
    rs2["interfaces"]["lo"]["sysctl"] = {"arp_ignore": 1}
    f = only(check(doc), "DR-ARP")
    assert "max(all=0, eth0=0) = 0" in f.message
    assert "set on lo does not count" in f.message


def test_dr_arp_ignore_on_the_receiving_interface_is_enough():
    doc = base(DR_BASE)
    rs2 = doc["topology"]["hosts"]["rs2"]
    rs2["sysctl"] = {"arp_announce": 2}
    rs2["interfaces"]["eth0"]["sysctl"] = {"arp_ignore": 1}
    assert check(doc) == []


def test_dr_vip_on_the_real_servers_ethernet_answers_arp_whatever_arp_ignore():
    # The loader refuses this layout for real servers, so build the model directly.
    scn = load(base(DR_BASE))
    hosts = list(scn.topology.hosts)
    k = next(i for i, h in enumerate(hosts) if h.name == "rs2")
    eth0, lo = hosts[k].interfaces
    eth0 = replace(eth0, addresses=eth0.addresses + (IPv4Interface("10.0.0.100/32"),))
    hosts[k] = replace(hosts[k], interfaces=(eth0,))
    scn = replace(scn, topology=replace(scn.topology, hosts=tuple(hosts)))
    f = only(validate(scn), "DR-ARP")
    assert f.where == "topology.hosts.rs2.interfaces.eth0"
    assert "remove 10.0.0.100 from eth0" in f.fix


def test_dr_arp_announce_unset_is_a_warning():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["rs1"]["sysctl"] = {"arp_ignore": 1}
    f = only(check(doc), "DR-ARP-ANNOUNCE")
    assert (f.severity, f.where) == ("warning", "topology.hosts.rs1.sysctl")
    assert "arp_announce: 2" in f.fix


def test_port_mapping_in_dr_is_ignored_by_ipvsadm():
    doc = base(DR_BASE)
    doc["services"][0]["real_servers"][0]["port"] = 8080
    f = only(check(doc), "PORT-MAPPING")
    assert (f.severity, f.where) == ("warning", "services[0].real_servers[0]")
    assert "10.0.0.11:8080" in f.message and "10.0.0.11:80" in f.message
    # NAT maps ports: the same request is fine there (once the NAT path is right).
    doc["topology"]["hosts"]["rs1"]["app"] = {"listen": ["tcp/80", "tcp/8080"]}
    assert "PORT-MAPPING" not in rules(check(doc, mode="nat"))


def test_port_mapping_means_the_app_must_listen_on_the_virtual_port():
    doc = base(DR_BASE)
    doc["services"][0]["real_servers"][0]["port"] = 8080
    doc["topology"]["hosts"]["rs1"]["app"] = {"listen": ["tcp/8080"]}
    found = check(doc)
    assert rules(found) == {"PORT-MAPPING", "NO-APP"}
    assert "tcp/80 " in next(f for f in found if f.rule == "NO-APP").message


def test_dr_replies_through_the_director_are_martians():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["lb"]["forwarding"] = True
    doc["topology"]["hosts"]["rs1"]["routes"] = [{"to": "default", "via": "10.0.0.2"}]
    f = only(check(doc), "DR-REPLY-VIA-DIRECTOR")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs1")
    assert "rs1 -> lb -> gw -> client" in f.message


def test_dr_real_server_without_route_to_client():
    doc = base(DR_BASE)
    del doc["topology"]["hosts"]["rs1"]["routes"]
    f = only(check(doc), "RS-NO-ROUTE-TO-CLIENT")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs1")
    assert "198.51.100.10" in f.message


# -- NAT ----------------------------------------------------------------------------------

def test_nat_real_server_gateway_not_the_director():
    # One-armed NAT on the DR layout: the real servers' default gateway is gw.
    doc = base(DR_BASE)
    doc["services"][0]["mode"] = "nat"
    doc["topology"]["hosts"]["lb"]["forwarding"] = True
    doc["topology"]["hosts"]["rs2"]["routes"] = [{"to": "default", "via": "10.0.0.2"}]
    f = only(check(doc), "NAT-REPLY-PATH")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs1")
    assert "rs1 -> gw -> client" in f.message and "lb" in f.message
    assert f.fix.startswith("on rs1: routes: [{to: default, via: 10.0.0.2}]")
    doc["topology"]["hosts"]["rs1"]["routes"] = [{"to": "default", "via": "10.0.0.2"}]
    assert check(doc) == []


def test_nat_client_on_the_real_servers_subnet():
    doc = base(NAT_BASE)
    doc["topology"]["hosts"]["office"] = {
        "interfaces": {"eth0": {"segment": "lan", "ip": "10.0.0.50"}},
        "routes": [{"to": "default", "via": "10.0.0.1"}]}
    doc["traffic"].append({"name": "staff", "from": "office", "to": "198.51.100.100:80",
                           "protocol": "tcp"})
    findings = check(doc)
    assert rules(findings) == {"NAT-CLIENT-ON-RS-SUBNET"}
    assert {f.where for f in findings} == {"traffic[1]"}
    assert all(f.severity == "error" for f in findings)
    assert {m for f in findings for m in ("rs1", "rs2") if m in f.message} == {"rs1", "rs2"}
    assert "10.0.0.50" in findings[0].message


def test_nat_director_without_forwarding():
    doc = base(NAT_BASE)
    doc["topology"]["hosts"]["lb"]["forwarding"] = False
    f = only(check(doc), "NAT-NO-FORWARDING")
    assert (f.severity, f.where) == ("error", "topology.hosts.lb")
    assert f.fix == "on lb: forwarding: true"



# -- the iptables data plane: kube-proxy only DNATs ------------------------------------------

def test_iptables_on_a_dr_network_is_checked_as_nat():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["lb"]["forwarding"] = True
    findings = check(doc, dataplane="iptables")
    by_rule = {r: [f for f in findings if f.rule == r] for r in rules(findings)}
    assert set(by_rule) == {"IPTABLES-DNAT", "NAT-REPLY-PATH"}, format_findings(findings)
    # said once per real server, where the mode is written
    assert [(f.severity, f.where) for f in by_rule["IPTABLES-DNAT"]] == [
        ("info", "services[0].real_servers[0]"), ("info", "services[0].real_servers[1]")]
    assert "rs1's mode dr is not used" in by_rule["IPTABLES-DNAT"][0].message
    assert {f.where for f in by_rule["NAT-REPLY-PATH"]} == {"topology.hosts.rs1", "topology.hosts.rs2"}
    assert all("iptables" in f.message for f in by_rule["NAT-REPLY-PATH"])
    # the DR checks do not apply: a DR mistake is no finding behind iptables
    doc["topology"]["hosts"]["rs1"]["sysctl"] = {"arp_ignore": 0}
    assert "DR-ARP" not in rules(check(doc, dataplane="iptables"))
    assert "DR-ARP" in rules(check(doc))


def test_iptables_from_the_host_and_forced_from_the_command_line_agree():
    doc = base(NAT_BASE)
    assert check(doc) == [] and check(doc, dataplane="iptables") == []
    doc["topology"]["hosts"]["lb"]["dataplane"] = "iptables"
    doc["topology"]["hosts"]["lb"]["forwarding"] = False
    f = only(check(doc), "NAT-NO-FORWARDING")
    assert "iptables" in f.message and "requests" in f.message
    assert rules(check(doc, dataplane="ipvs")) == {"NAT-NO-FORWARDING"}
    assert "requests" not in check(doc, dataplane="ipvs")[0].message


def test_unknown_data_plane_is_refused():
    with pytest.raises(ValueError, match="data plane"):
        check(base(NAT_BASE), dataplane="nftables")


# -- TUN ----------------------------------------------------------------------------------

def test_tun_real_server_without_tunl0():
    doc = base(TUN_BASE)
    ifaces = doc["topology"]["hosts"]["rs1"]["interfaces"]
    ifaces["lo"] = ifaces.pop("tunl0")
    f = only(check(doc), "TUN-NO-TUNL0")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs1")
    assert "tunl0" in f.fix


def test_tun_without_vip_is_dr_no_vip():
    doc = base(TUN_BASE)
    doc["topology"]["hosts"]["rs1"]["interfaces"]["tunl0"] = {"ip": ["10.9.9.9/32"]}
    f = only(check(doc), "DR-NO-VIP")
    assert "tunl0: {ip: [10.0.0.100/32]}" in f.fix


@pytest.mark.parametrize("where", ["host", "tunl0"])
def test_tun_strict_rp_filter(where):
    doc = base(TUN_BASE)
    rs1 = doc["topology"]["hosts"]["rs1"]
    if where == "host":
        rs1["sysctl"]["rp_filter"] = 1
    else:
        rs1["interfaces"]["tunl0"]["sysctl"] = {"rp_filter": 1}
    f = only(check(doc), "TUN-RP-FILTER")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs1.sysctl")
    assert "198.51.100.10" in f.message and "eth0" in f.message


def test_tun_loose_rp_filter_is_fine():
    doc = base(TUN_BASE)
    doc["topology"]["hosts"]["rs1"]["sysctl"]["rp_filter"] = 2
    assert check(doc) == []


def test_tun_full_size_packets_do_not_fit_the_tunnel():
    doc = base(TUN_BASE)
    del doc["topology"]["hosts"]["rs1"]["interfaces"]["eth0"]["mtu"]
    f = only(check(doc), "TUN-MTU")
    assert (f.severity, f.where) == ("warning", "services[0].real_servers[0]")
    assert "path MTU 1500, 1480 after" in f.message and "1500-byte" in f.message
    assert "interfaces.eth0.mtu: 1480" in f.fix


def test_tun_mtu_with_pmtu_disc_off_is_only_info():
    doc = base(TUN_BASE)
    del doc["topology"]["hosts"]["rs1"]["interfaces"]["eth0"]["mtu"]
    doc["topology"]["hosts"]["lb"]["ipvs"] = {"pmtu_disc": 0}
    f = only(check(doc), "TUN-MTU")
    assert f.severity == "info" and "fragmented" in f.message


def test_tun_mtu_fixed_by_a_bigger_mtu_between_director_and_real_server():
    doc = base(TUN_BASE)
    del doc["topology"]["hosts"]["rs1"]["interfaces"]["eth0"]["mtu"]
    for seg in ("lan1", "lan2"):
        doc["topology"]["segments"][seg]["mtu"] = 1520
    doc["topology"]["segments"]["wan"]["mtu"] = 1500
    assert check(doc) == []


# -- FULLNAT ------------------------------------------------------------------------------

def test_fullnat_without_local_addresses():
    doc = base(FULLNAT_BASE)
    del doc["services"][0]["local_addresses"]
    f = only(check(doc), "FULLNAT-NO-LADDR")
    assert (f.severity, f.where) == ("error", "services[0]")
    assert f.fix.startswith("local_addresses: [10.0.0.1]")


def test_fullnat_local_address_not_on_the_director():
    doc = base(FULLNAT_BASE)
    doc["services"][0]["local_addresses"] = ["10.0.0.1", "10.0.0.3"]
    f = only(check(doc), "FULLNAT-LADDR-NOT-LOCAL")
    assert (f.severity, f.where) == ("error", "services[0].local_addresses[1]")
    assert "10.0.0.3" in f.message and "lb" in f.message


def test_fullnat_real_server_cannot_reach_the_local_address():
    doc = base(FULLNAT_BASE)
    doc["services"][0]["local_addresses"] = ["198.51.100.2"]
    f = only(check(doc), "FULLNAT-LADDR-UNREACHABLE")
    assert (f.severity, f.where) == ("error", "topology.hosts.rs1")
    assert "rs1 has no route to 198.51.100.2" in f.message
    assert "routes: [{to: 198.51.100.2/32, via: 10.0.0.1}]" in f.fix
    doc["topology"]["hosts"]["rs1"]["routes"] = [{"to": "198.51.100.2/32", "via": "10.0.0.1"}]
    assert check(doc) == []


def test_fullnat_needs_no_route_to_the_clients_where_nat_does():
    doc = base(FULLNAT_BASE)
    assert check(doc) == []
    assert {"NAT-NO-FORWARDING", "NAT-REPLY-PATH"} <= rules(check(doc, mode="nat"))


# -- every mode ---------------------------------------------------------------------------

def test_vip_not_configured_on_the_director():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["lb"]["interfaces"]["eth0"]["ip"] = ["10.0.0.2"]
    f = only(check(doc), "VIP-UNREACHABLE")
    assert (f.severity, f.where) == ("error", "services[0]")
    assert "10.0.0.100" in f.message and "lb" in f.message


def test_client_without_route_to_the_vip():
    doc = base(DR_BASE)
    del doc["topology"]["hosts"]["client"]["routes"]
    f = only(check(doc), "VIP-UNREACHABLE")
    assert (f.severity, f.where) == ("error", "traffic[0]")
    assert "client has no route to 10.0.0.100" in f.message


def test_router_without_forwarding_makes_the_vip_unreachable():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["gw"]["forwarding"] = False
    found = check(doc)
    assert "VIP-UNREACHABLE" in rules(found)
    f = next(f for f in found if f.rule == "VIP-UNREACHABLE")
    assert "gw is not the owner of 10.0.0.100 and does not forward" in f.message
    assert f.fix.startswith("on gw: forwarding: true")
    # The real servers' replies die at the same router.
    assert rules(found) == {"VIP-UNREACHABLE", "RS-NO-ROUTE-TO-CLIENT"}


def test_client_on_the_director():
    doc = base(DR_BASE)
    doc["traffic"][0]["from"] = "lb"
    f = only(check(doc), "VIP-ON-DIRECTOR-CLIENT")
    assert (f.severity, f.where) == ("error", "traffic[0]")


def test_director_without_route_to_a_real_server():
    doc = base(TUN_BASE)
    del doc["topology"]["hosts"]["lb"]["routes"]
    found = check(doc)
    f = only(found, "RS-UNREACHABLE")
    assert (f.severity, f.where) == ("error", "services[0].real_servers[0]")
    assert "lb has no route to 10.0.1.11" in f.message


def test_real_server_address_of_no_host():
    doc = base(DR_BASE)
    doc["services"][0]["real_servers"].append({"address": "10.0.0.13"})
    f = only(check(doc), "RS-NO-HOST")
    assert (f.severity, f.where) == ("error", "services[0].real_servers[2]")


def test_real_server_without_app():
    doc = base(DR_BASE)
    del doc["topology"]["hosts"]["rs2"]["app"]
    f = only(check(doc), "NO-APP")
    assert (f.severity, f.where) == ("error", "services[0].real_servers[1]")
    assert "listens on nothing" in f.message
    assert f.fix == "on rs2: app: {listen: [tcp/80]}"


def test_nat_app_must_listen_on_the_real_port():
    doc = base(NAT_BASE)
    doc["topology"]["hosts"]["rs1"]["app"] = {"listen": ["tcp/80"]}
    f = only(check(doc), "NO-APP")
    assert "tcp/8080" in f.message and "tcp/80" in f.message


def test_all_weights_zero():
    doc = base(DR_BASE)
    for rs in doc["services"][0]["real_servers"]:
        rs["weight"] = 0
    f = only(check(doc), "WEIGHT-ALL-ZERO")
    assert (f.severity, f.where) == ("warning", "services[0]")
    assert "rs1, rs2" in f.message


def test_service_without_real_servers():
    doc = base(DR_BASE)
    doc["services"][0]["real_servers"] = []
    f = only(check(doc), "SERVICE-NO-RS")
    assert f.severity == "warning"


def test_traffic_to_a_port_without_service():
    doc = base(DR_BASE)
    doc["traffic"][0]["to"] = "10.0.0.100:8080"
    f = only(check(doc), "TRAFFIC-NO-SERVICE")
    assert (f.severity, f.where) == ("warning", "traffic[0]")
    assert "tcp/80" in f.message


def test_sh_flag_on_wrr_is_ignored():
    doc = base(DR_BASE)
    doc["services"][0]["flags"] = ["sh-port"]
    f = only(check(doc), "SCHED-FLAGS")
    assert (f.severity, f.where) == ("warning", "services[0]")
    assert "wrr ignores it" in f.message


def test_sh_flag_on_mh_is_the_same_bit():
    doc = base(DR_BASE)
    doc["services"][0].update(scheduler="mh", flags=["sh-port"])
    f = only(check(doc), "SCHED-FLAGS")
    assert f.severity == "info" and "mh-port" in f.fix


def test_matching_flags_are_fine():
    doc = base(DR_BASE)
    doc["services"][0].update(scheduler="sh", flags=["sh-port", "sh-fallback"])
    assert check(doc) == []


def test_persistence_with_sh_is_redundant():
    doc = base(DR_BASE)
    doc["services"][0].update(scheduler="sh", persistence=True)
    f = only(check(doc), "PERSIST-SCHED")
    assert (f.severity, f.where) == ("info", "services[0]")
    assert "360s" in f.message


def test_persistence_defeats_sh_port():
    doc = base(DR_BASE)
    doc["services"][0].update(scheduler="sh", flags=["sh-port"], persistence=600)
    f = only(check(doc), "PERSIST-SCHED")
    assert f.severity == "warning" and "port 0" in f.message


def test_persistence_with_wlc_is_fine():
    doc = base(DR_BASE)
    doc["services"][0].update(scheduler="wlc", persistence=300)
    assert check(doc) == []


def test_dh_on_a_vip_sends_everything_to_one_server():
    doc = base(DR_BASE)
    doc["services"][0]["scheduler"] = "dh"
    f = only(check(doc), "SCHED-DEST-HASH")
    assert (f.severity, f.where) == ("warning", "services[0]")
    doc["services"][0]["scheduler"] = "lblc"
    assert only(check(doc), "SCHED-DEST-HASH").severity == "info"


# -- --mode, output -----------------------------------------------------------------------

def test_mode_checks_every_real_server_in_that_mode():
    doc = base(DR_BASE)
    found = check(doc, mode="nat")
    assert rules(found) == {"NAT-NO-FORWARDING", "NAT-REPLY-PATH"}
    assert {f.where for f in found if f.rule == "NAT-REPLY-PATH"} == \
        {"topology.hosts.rs1", "topology.hosts.rs2"}
    assert rules(check(doc, mode="fullnat")) == {"FULLNAT-NO-LADDR"}


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        check(base(DR_BASE), mode="masq")


def test_findings_are_sorted_by_severity_and_serialise():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["rs2"]["sysctl"] = {}
    found = check(doc)
    assert [f.rule for f in found] == ["DR-ARP", "DR-ARP-ANNOUNCE"]
    d = found[0].to_dict()
    assert set(d) == {"rule", "severity", "where", "line", "message", "why", "fix"}
    assert isinstance(d["line"], int)


def test_format_findings_groups_by_severity():
    doc = base(DR_BASE)
    doc["topology"]["hosts"]["rs2"]["sysctl"] = {}
    found = check(doc)
    text = format_findings(found)
    line = found[0].line
    assert text.splitlines()[0] == f"error DR-ARP  at topology.hosts.rs2.sysctl (scn.yaml:{line})"
    assert text.index("error DR-ARP") < text.index("warning DR-ARP-ANNOUNCE")
    assert "    " not in text.splitlines()[1] and text.splitlines()[2].startswith("  why: ")
    assert text.endswith("1 error, 1 warning, 0 infos")
    assert format_findings([]) == "no findings"


def test_every_rule_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "validator-rules.md").read_text()
    documented = set(re.findall(r"^### ([A-Z0-9-]+)", doc, re.M))
    assert documented == set(RULES)
