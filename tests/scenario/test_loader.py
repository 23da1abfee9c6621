"""Scenario loading: the contract's example, defaults, and one test per kind of problem.

Problem lines are found by searching the YAML text for the offending snippet, so the
tests state *where* the message must point, not a line number counted by hand.
"""
import textwrap
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from ipvssim.scenario.errors import Problem, ScenarioError
from ipvssim.scenario.loader import load_scenario, load_scenario_text
from ipvssim.scenario.model import Loc

CONTRACT = """\
name: dr-basic                      # required
description: Direct routing, two real servers on the director's LAN
seed: 1
duration: 30s

topology:
  segments:
    wan:
      subnet: 198.51.100.0/24
      bandwidth: 100Mbps
      delay: 2ms
      loss: 0.0
      queue: 1000
      mtu: 1500
    lan:
      subnet: 10.0.0.0/24
  hosts:
    client:
      interfaces:
        eth0: {segment: wan, ip: 198.51.100.10}
      routes:
        - {to: default, via: 198.51.100.1}
    gw:
      forwarding: true
      interfaces:
        eth0: {segment: wan, ip: 198.51.100.1}
        eth1: {segment: lan, ip: 10.0.0.1}
    lb:
      interfaces:
        eth0: {segment: lan, ip: [10.0.0.2, 10.0.0.100/32]}
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
    protocol: tcp
    scheduler: wrr
    flags: []
    persistence: 0
    mode: dr
    local_addresses: []
    real_servers:
      - {host: rs1, weight: 3}
      - {address: 10.0.0.12, port: 80, weight: 1, mode: dr}
traffic:
  - name: browsers
    from: client
    to: 10.0.0.100:80
    protocol: tcp
    connections: 100
    rate: 50/s
    arrival: poisson
    request: 300B
    response: 20KB
expect:
  - connections: {traffic: browsers, succeeded: all}
  - path: {traffic: browsers, reply_excludes: lb}
  - distribution: {service: web, shares: {rs1: 0.75, rs2: 0.25}, tolerance: 0.05}
  - finding: {rule: DR-ARP}
"""

MINIMAL = """\
name: tiny
topology:
  segments:
    lan: {subnet: 10.0.0.0/24}
  hosts:
    client: {interfaces: {eth0: {segment: lan, ip: 10.0.0.10}}}
    lb: {interfaces: {eth0: {segment: lan, ip: 10.0.0.2}}}
    rs1: {interfaces: {eth0: {segment: lan, ip: 10.0.0.11}}}
"""


def line(text: str, snippet: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `snippet`."""
    hits = [i + 1 for i, l in enumerate(text.splitlines()) if snippet in l]
    assert len(hits) >= nth, f"{snippet!r} not in the test YAML"
    return hits[nth - 1]


def problems(text: str, filename: str = "scn.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as e:
        load_scenario_text(text, filename)
    return [str(p) for p in e.value.problems]


def only_problem(text: str, filename: str = "scn.yaml") -> str:
    found = problems(text, filename)
    assert len(found) == 1, found
    return found[0]


# -- a valid scenario --------------------------------------------------------------------

def test_contract_example_loads_with_its_values():
    scn = load_scenario_text(CONTRACT, "dr.yaml")
    assert (scn.name, scn.seed, scn.duration, scn.file) == ("dr-basic", 1, 30.0, "dr.yaml")
    wan = scn.topology.segment("wan")
    assert wan.subnet == IPv4Network("198.51.100.0/24")
    assert (wan.bandwidth_bps, wan.delay_s, wan.loss, wan.queue, wan.mtu) == (1e8, 0.002, 0.0, 1000, 1500)
    lan = scn.topology.segment("lan")
    assert (lan.bandwidth_bps, lan.delay_s) == (1e9, 1e-5)

    lb = scn.topology.host("lb")
    assert lb.interface("eth0").addresses == (IPv4Interface("10.0.0.2/24"),
                                              IPv4Interface("10.0.0.100/32"))
    rs1 = scn.topology.host("rs1")
    assert rs1.interface("lo").kind == "loopback"
    assert rs1.interface("lo").segment is None
    assert rs1.interface("lo").addresses == (IPv4Interface("10.0.0.100/32"),)
    assert (rs1.sysctl.arp_ignore, rs1.sysctl.arp_announce, rs1.sysctl.rp_filter) == (1, 2, None)
    assert rs1.routes[0].dest == IPv4Network("0.0.0.0/0")
    assert rs1.routes[0].via == IPv4Address("10.0.0.1")
    assert rs1.app.listen == (("tcp", 80),)
    assert scn.topology.host("gw").forwarding is True
    assert lb.forwarding is False

    (web,) = scn.services
    assert (web.name, web.director, web.vip, web.port, web.protocol, web.scheduler,
            web.mode, web.persistence) == ("web", "lb", IPv4Address("10.0.0.100"), 80,
                                           "tcp", "wrr", "dr", 0.0)
    first, second = web.real_servers
    assert (first.host, first.address, first.port, first.weight, first.mode) == \
        ("rs1", IPv4Address("10.0.0.11"), 80, 3, None)
    # An `address` that belongs to a host gets that host's name (reports show "rs2").
    assert (second.host, second.address, second.weight, second.mode) == \
        ("rs2", IPv4Address("10.0.0.12"), 1, "dr")

    (browsers,) = scn.traffic
    assert (browsers.sources, browsers.dst, browsers.port, browsers.connections,
            browsers.rate, browsers.arrival, browsers.request, browsers.response) == \
        (("client",), IPv4Address("10.0.0.100"), 80, 100, 50.0, "poisson", 300, 20_000)

    kinds = [(e.kind, dict(e.params)) for e in scn.expect]
    assert kinds == [
        ("connections", {"traffic": "browsers", "succeeded": "all"}),
        ("path", {"traffic": "browsers", "reply_excludes": ("lb",)}),
        ("distribution", {"service": "web", "shares": {"rs1": 0.75, "rs2": 0.25},
                          "tolerance": 0.05}),
        ("finding", {"rule": "DR-ARP"}),
    ]


def test_every_object_knows_its_file_line_and_yaml_path():
    scn = load_scenario_text(CONTRACT, "dr.yaml")
    rs1 = scn.topology.host("rs1")
    assert rs1.loc == Loc("dr.yaml", line(CONTRACT, "    rs1:"))
    assert rs1.path == "topology.hosts.rs1"
    assert rs1.interface("eth0").path == "topology.hosts.rs1.interfaces.eth0"
    rs = scn.services[0].real_servers[1]
    assert rs.loc == Loc("dr.yaml", line(CONTRACT, "{address: 10.0.0.12"))
    assert rs.path == "services[0].real_servers[1]"
    assert scn.expect[2].path == "expect[2].distribution"
    assert scn.topology.file == "dr.yaml"


def test_defaults_fill_what_the_file_leaves_out():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - {director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}]}
        traffic:
          - {from: client, to: 10.0.0.100:80}
        """)
    scn = load_scenario_text(text)
    assert (scn.seed, scn.duration, scn.description) == (1, 60.0, "")
    lan = scn.topology.segment("lan")
    assert (lan.bandwidth_bps, lan.delay_s, lan.loss, lan.queue, lan.mtu) == (1e9, 1e-5, 0.0, 1000, 1500)
    svc = scn.services[0]
    assert (svc.name, svc.protocol, svc.scheduler, svc.mode, svc.persistence,
            svc.persistence_netmask, svc.flags) == ("svc1", "tcp", "wlc", "dr", 0.0, 32, ())
    rs = svc.real_servers[0]
    assert (rs.port, rs.weight, rs.upper, rs.lower) == (80, 1, 0, 0)
    t = scn.traffic[0]
    assert (t.name, t.protocol, t.connections, t.rate, t.arrival, t.start) == \
        ("traffic1", "tcp", 1, 10.0, "constant", 0.0)


def test_service_options_persistence_netmask_flags_and_thresholds():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - director: lb
            vip: 10.0.0.100
            port: 80
            scheduler: sh
            flags: [sh-port, sh-fallback]
            persistence: true
            netmask: 255.255.255.0
            mode: fullnat
            local_addresses: [10.0.0.200, 10.0.0.201]
            real_servers:
              - {host: rs1, port: 8080, u_threshold: 100, l_threshold: 50, mode: nat}
          - {director: lb, vip: 10.0.0.100, port: 53, protocol: udp, persistence: 10m,
             persistence_netmask: 16, real_servers: [{host: rs1}]}
        """).replace("10m", "600")
    a, b = load_scenario_text(text).services
    assert (a.persistence, a.persistence_netmask, a.flags, a.mode) == \
        (360.0, 24, ("sh-port", "sh-fallback"), "fullnat")
    assert a.local_addresses == (IPv4Address("10.0.0.200"), IPv4Address("10.0.0.201"))
    rs = a.real_servers[0]
    assert (rs.port, rs.upper, rs.lower, rs.mode) == (8080, 100, 50, "nat")
    assert (b.protocol, b.persistence, b.persistence_netmask, b.real_servers[0].port) == \
        ("udp", 600.0, 16, 53)


def test_real_server_host_resolves_to_its_address_on_the_directors_segment():
    text = textwrap.dedent("""\
        name: two-legs
        topology:
          segments:
            front: {subnet: 192.168.0.0/24}
            back: {subnet: 10.0.0.0/24}
            far: {subnet: 172.16.0.0/24}
          hosts:
            lb: {interfaces: {eth0: {segment: back, ip: [10.0.0.100/32, 10.0.0.2]}}}
            rs1:
              interfaces:
                eth0: {segment: front, ip: 192.168.0.11}
                eth1: {segment: back, ip: 10.0.0.11}
            rs2: {interfaces: {eth0: {segment: far, ip: 172.16.0.12}}}
        services:
          - {director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}, {host: rs2}]}
          - {director: rs1, vip: 10.0.0.200, port: 80, real_servers: [{host: lb}]}
        """)
    s1, s2 = load_scenario_text(text).services
    assert [rs.address for rs in s1.real_servers] == [IPv4Address("10.0.0.11"),
                                                      IPv4Address("172.16.0.12")]
    # On the shared interface the address inside the subnet wins over the /32 VIP.
    assert s2.real_servers[0].address == IPv4Address("10.0.0.2")


def test_dr_real_server_port_different_from_the_vport_is_left_to_the_validator():
    text = MINIMAL + "services:\n  - {director: lb, vip: 10.0.0.100, port: 80, mode: dr, " \
                     "real_servers: [{host: rs1, port: 8080}]}\n"
    assert load_scenario_text(text).services[0].real_servers[0].port == 8080


def test_traffic_without_protocol_uses_the_protocol_of_its_service():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - {director: lb, vip: 10.0.0.100, port: 53, protocol: udp, real_servers: [{host: rs1}]}
        traffic:
          - {from: [client, rs1], to: 10.0.0.100:53, rate: 120/min, request: 1KiB, start: 1.5ms}
        """)
    t = load_scenario_text(text).traffic[0]
    assert (t.protocol, t.sources, t.rate, t.request, t.start) == \
        ("udp", ("client", "rs1"), 2.0, 1024, 0.0015)


def test_host_settings_ipvs_cpu_interface_options():
    lb_block = (
        "    lb:\n"
        "      interfaces:\n"
        "        eth0: {segment: lan, ip: 10.0.0.2, mac: \"52:54:00:12:34:56\", mtu: 9000,\n"
        "               sysctl: {rp_filter: 2}}\n"
        "        tunl0: {ip: 10.0.0.100}\n"
        "      ipvs: {conn_reuse_mode: 0, expire_nodest_conn: true, sloppy_tcp: 1,\n"
        "             timeouts: {tcp: 15min, tcpfin: 60, udp: 30s}}\n"
        "      cpu: {cores: 4, backlog: 300}\n")
    text = MINIMAL.replace("    lb: {interfaces: {eth0: {segment: lan, ip: 10.0.0.2}}}\n", lb_block)
    lb = load_scenario_text(text).topology.host("lb")
    eth0 = lb.interface("eth0")
    # Written unquoted, 52:54:00:12:34:56 would be a base-60 integer in YAML 1.1; the
    # loader reads scalars from their text, so it stays a MAC either way.
    assert (eth0.mac, eth0.mtu, eth0.sysctl.rp_filter) == ("52:54:00:12:34:56", 9000, 2)
    assert lb.interface("tunl0").kind == "ipip"
    assert lb.interface("tunl0").addresses == (IPv4Interface("10.0.0.100/32"),)
    assert (lb.ipvs.conn_reuse_mode, lb.ipvs.expire_nodest_conn, lb.ipvs.sloppy_tcp,
            lb.ipvs.pmtu_disc) == (0, 1, 1, 1)
    assert (lb.ipvs.timeouts_tcp, lb.ipvs.timeouts_tcpfin, lb.ipvs.timeouts_udp) == (900.0, 60.0, 30.0)
    assert (lb.cpu.cores, lb.cpu.backlog) == (4, 300)


def test_unquoted_mac_is_read_from_its_text():
    text = MINIMAL.replace("ip: 10.0.0.2}", "ip: 10.0.0.2, mac: 52:54:00:12:34:56}")
    assert load_scenario_text(text).topology.host("lb").interface("eth0").mac == "52:54:00:12:34:56"


def test_events_weight_remove_and_add():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - {name: web, director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}]}
        events:
          - {at: 5s, service: web, server: rs1, weight: 0}
          - {at: 6s, service: web, add: {address: 10.0.0.50, port: 8080, weight: 2, mode: nat}}
          - {at: 7s, service: web, server: "10.0.0.50:8080", weight: 5}
          - {at: 8s, service: web, server: 10.0.0.11, remove: true}
        """)
    ev = load_scenario_text(text).events
    assert [(e.at, e.action, e.server, e.weight) for e in ev] == [
        (5.0, "weight", "rs1", 0), (6.0, "add", "10.0.0.50:8080", 2),
        (7.0, "weight", "10.0.0.50:8080", 5), (8.0, "remove", "rs1", None)]
    assert (ev[1].mode, ev[1].port, ev[1].address) == ("nat", 8080, IPv4Address("10.0.0.50"))
    assert ev[3].address == IPv4Address("10.0.0.11")


# -- problems ------------------------------------------------------------------------------

def test_problem_prints_as_file_line_message():
    assert str(Problem("a.yaml", 14, "oops")) == "a.yaml:14: oops"


def test_invalid_yaml_is_one_problem_at_the_line_of_the_error():
    text = "name: x\ntopology:\n  hosts: [a, b\n  segments: {}\n"
    msg = only_problem(text)
    assert msg.startswith("scn.yaml:4: invalid YAML: ")


def test_empty_file():
    assert only_problem("") == "scn.yaml:1: the file is empty; a scenario needs at least " \
                               "`name` and `topology`"


def test_missing_file():
    with pytest.raises(ScenarioError) as e:
        load_scenario("/nonexistent/scn.yaml")
    assert str(e.value).startswith("/nonexistent/scn.yaml: cannot read scenario file")


def test_unknown_segment_with_did_you_mean():
    text = MINIMAL.replace("rs1: {interfaces: {eth0: {segment: lan,",
                           "rs1: {interfaces: {eth0: {segment: lann,")
    assert only_problem(text) == (
        f"scn.yaml:{line(text, 'lann')}: topology.hosts.rs1.interfaces.eth0.segment: "
        "unknown segment 'lann' (did you mean 'lan'?)")


def test_unknown_keys_with_did_you_mean_at_every_level():
    text = MINIMAL.replace("name: tiny", "name: tiny\nduraton: 5s").replace(
        "lan: {subnet: 10.0.0.0/24}", "lan: {subnet: 10.0.0.0/24, bandwith: 1Gbps}")
    assert problems(text) == [
        f"scn.yaml:{line(text, 'duraton')}: unknown key 'duraton' (did you mean 'duration'?)",
        f"scn.yaml:{line(text, 'bandwith')}: topology.segments.lan: unknown key 'bandwith' "
        "(did you mean 'bandwidth'?)",
    ]


def test_duplicate_key():
    text = MINIMAL.replace("name: tiny", "name: tiny\nseed: 3\nseed: 4")
    assert only_problem(text) == f"scn.yaml:{line(text, 'seed: 4')}: duplicate key 'seed' " \
                                 f"(first at line {line(text, 'seed: 3')})"


def test_wrong_types_and_bad_units():
    text = MINIMAL.replace("name: tiny", "name: tiny\nduration: fast\nseed: many").replace(
        "lan: {subnet: 10.0.0.0/24}", "lan: {subnet: 10.0.0.0/24, bandwidth: 10 furlongs, queue: [1]}")
    assert problems(text) == [
        f"scn.yaml:{line(text, 'fast')}: duration: expected a number of seconds like 10ms, got 'fast'",
        f"scn.yaml:{line(text, 'many')}: seed: expected an integer, got 'many'",
        f"scn.yaml:{line(text, 'furlongs')}: topology.segments.lan.bandwidth: unknown unit "
        "'furlongs' in '10 furlongs': expected a bit rate in one of bps, bit/s, kbps, Kbps, "
        "kbit/s, Kbit/s, Mbps, mbps, Mbit/s, Gbps, gbps, Gbit/s, Tbps, Tbit/s, B/s, kB/s, "
        "KB/s, MB/s, GB/s",
        f"scn.yaml:{line(text, 'furlongs')}: topology.segments.lan.queue: expected an integer, got a list",
    ]


def test_missing_required_keys():
    text = "description: no name, no topology\n"
    assert problems(text) == ["scn.yaml:1: missing required key 'name'",
                              "scn.yaml:1: missing required key 'topology'"]


def test_bad_addresses_and_prefixes():
    text = MINIMAL.replace("lan: {subnet: 10.0.0.0/24}",
                           "lan: {subnet: 10.0.0.0/24}\n    dmz: {subnet: 10.1.0.1/24}").replace(
        "ip: 10.0.0.10}", "ip: 10.0.0.300}").replace("ip: 10.0.0.11}", "ip: 10.9.0.11}")
    assert problems(text) == [
        f"scn.yaml:{line(text, 'dmz')}: topology.segments.dmz.subnet: 10.1.0.1/24 has host "
        "bits set (did you mean 10.1.0.0/24?)",
        f"scn.yaml:{line(text, '10.0.0.300')}: topology.hosts.client.interfaces.eth0.ip: "
        "expected an IPv4 address like 10.0.0.1 or 10.0.0.1/24, got '10.0.0.300'",
        f"scn.yaml:{line(text, '10.9.0.11')}: topology.hosts.rs1.interfaces.eth0.ip: 10.9.0.11 "
        "is not in segment lan's subnet 10.0.0.0/24 (write a prefix length, e.g. "
        "10.9.0.11/32, to add it anyway)",
    ]


def test_names_that_refer_to_nothing():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - {name: web, director: lbb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs2}]}
        traffic:
          - {name: browsers, from: clint, to: 10.0.0.100:80}
        expect:
          - connections: {traffic: browser, succeeded: all}
          - distribution: {service: webb, shares: {rs1: 1.0}}
          - path: {traffic: browsers, reply_excludes: gateway}
        events:
          - {at: 1s, service: web, server: rs9, weight: 0}
        """)
    assert problems(text) == [
        f"scn.yaml:{line(text, 'lbb')}: services[0].director: unknown host 'lbb' (did you mean 'lb'?)",
        f"scn.yaml:{line(text, 'lbb')}: services[0].real_servers[0].host: unknown host 'rs2' "
        "(did you mean 'rs1'?)",
        f"scn.yaml:{line(text, 'clint')}: traffic[0].from: unknown host 'clint' (did you mean 'client'?)",
        f"scn.yaml:{line(text, 'browser,')}: expect[0].connections.traffic: unknown traffic "
        "'browser' (did you mean 'browsers'?)",
        f"scn.yaml:{line(text, 'webb')}: expect[1].distribution.service: unknown service "
        "'webb' (did you mean 'web'?)",
        f"scn.yaml:{line(text, 'gateway')}: expect[2].path.reply_excludes: unknown host 'gateway'",
        f"scn.yaml:{line(text, 'rs9')}: events[0].server: 'rs9' is not a real server of service web",
    ]


def test_distribution_share_must_name_a_real_server_of_the_service():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - {name: web, director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}]}
        expect:
          - distribution: {service: web, shares: {rs1: 0.5, client: 0.5}}
        """)
    assert only_problem(text) == f"scn.yaml:{line(text, 'shares')}: expect[0].distribution." \
                                 "shares: 'client' is not a real server of service web"


def test_gateway_must_be_on_a_connected_subnet_of_the_host():
    text = MINIMAL.replace(
        "client: {interfaces: {eth0: {segment: lan, ip: 10.0.0.10}}}",
        "client:\n      interfaces: {eth0: {segment: lan, ip: 10.0.0.10}, lo: {ip: 10.5.0.1}}\n"
        "      routes:\n"
        "        - {to: default, via: 10.0.0.1}\n"
        "        - {to: 10.2.0.0/16, via: 10.3.0.1}\n"
        "        - {to: 10.4.0.0/16, via: 10.0.0.1, dev: lo}\n"
        "        - {to: 10.6.0.0/16, via: 10.0.0.10}\n"
        "        - {to: 10.7.0.0/16}\n")
    assert problems(text) == [
        f"scn.yaml:{line(text, '10.3.0.1')}: topology.hosts.client.routes[1].via: gateway "
        "10.3.0.1 is not on a connected subnet of host client (connected: 10.0.0.0/24)",
        f"scn.yaml:{line(text, 'dev: lo')}: topology.hosts.client.routes[2].via: gateway "
        "10.0.0.1 is not on a connected subnet of interface lo (connected: none)",
        f"scn.yaml:{line(text, 'via: 10.0.0.10}')}: topology.hosts.client.routes[3].via: "
        "gateway 10.0.0.10 is an address of host client itself",
        f"scn.yaml:{line(text, '10.7.0.0')}: topology.hosts.client.routes[4]: a route needs "
        "`via` (a gateway) or `dev` (on-link)",
    ]


def test_duplicate_address_on_a_segment_but_not_a_vip_on_loopback():
    text = MINIMAL.replace(
        "rs1: {interfaces: {eth0: {segment: lan, ip: 10.0.0.11}}}",
        "rs1: {interfaces: {eth0: {segment: lan, ip: 10.0.0.11}, lo: {ip: 10.0.0.2/32}}}\n"
        "    rs2: {interfaces: {eth0: {segment: lan, ip: 10.0.0.11}}}")
    assert only_problem(text) == (
        f"scn.yaml:{line(text, 'rs2')}: topology.hosts.rs2.interfaces.eth0.ip: address "
        f"10.0.0.11 is also on rs1 eth0 (line {line(text, 'rs1:')}), on the same segment lan")


def test_same_address_on_different_segments_is_allowed():
    text = MINIMAL.replace("lan: {subnet: 10.0.0.0/24}",
                           "lan: {subnet: 10.0.0.0/24}\n    lan2: {subnet: 10.0.0.0/24}").replace(
        "rs1: {interfaces: {eth0: {segment: lan, ip: 10.0.0.11}}}",
        "rs1: {interfaces: {eth0: {segment: lan2, ip: 10.0.0.10}}}")
    load_scenario_text(text)


def test_duplicate_mac():
    text = MINIMAL.replace("ip: 10.0.0.2}", "ip: 10.0.0.2, mac: '02:00:00:00:00:01'}").replace(
        "ip: 10.0.0.11}", "ip: 10.0.0.11, mac: 02-00-00-00-00-01}")
    assert only_problem(text) == (
        f"scn.yaml:{line(text, 'rs1')}: topology.hosts.rs1.interfaces.eth0.mac: MAC "
        f"02:00:00:00:00:01 is also used by lb eth0 (line {line(text, 'lb:')})")


def test_vip_equal_to_a_real_servers_own_address():
    text = MINIMAL + "services:\n  - {director: lb, vip: 10.0.0.11, port: 80, " \
                     "real_servers: [{host: rs1}]}\n"
    assert only_problem(text) == (
        f"scn.yaml:{line(text, 'vip: 10.0.0.11')}: services[0].real_servers[0]: the real "
        "server's address 10.0.0.11 is the service's VIP")


def test_vip_on_a_real_servers_ethernet_interface():
    text = MINIMAL.replace("ip: 10.0.0.11}", "ip: [10.0.0.11, 10.0.0.100/32]}") + \
        "services:\n  - {director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}]}\n"
    assert only_problem(text) == (
        f"scn.yaml:{line(text, 'vip: 10.0.0.100')}: services[0].real_servers[0]: host rs1 has "
        "the VIP 10.0.0.100 on an Ethernet interface; a real server may only hold the VIP "
        "on lo or tunl0")


def test_value_ranges():
    text = MINIMAL.replace("lb: {interfaces:", "lb: {sysctl: {arp_ignore: 9}, interfaces:") + \
        "services:\n  - {director: lb, vip: 10.0.0.100, port: 80, scheduler: wrrr, " \
        "real_servers: [{host: rs1, weight: 70000}]}\n"
    n = line(text, "wrrr")
    assert problems(text) == [
        f"scn.yaml:{line(text, 'arp_ignore')}: topology.hosts.lb.sysctl.arp_ignore: must be "
        "between 0 and 8, got 9",
        f"scn.yaml:{n}: services[0].scheduler: expected one of rr, wrr, lc, wlc, sed, nq, fo, "
        "ovf, twos, dh, sh, mh, lblc, lblcr, got 'wrrr' (did you mean 'wrr'?)",
        f"scn.yaml:{n}: services[0].real_servers[0].weight: must be between 0 and 65535, got 70000",
    ]


def test_alias_and_canonical_key_together():
    text = MINIMAL + "services:\n  - {director: lb, vip: 10.0.0.100, port: 80, netmask: 24, " \
                     "persistence_netmask: 16, persistence: 60}\n"
    assert only_problem(text) == f"scn.yaml:{line(text, 'netmask')}: services[0]: " \
        "'persistence_netmask' and 'netmask' are the same setting; write only one"


def test_many_problems_are_reported_together_in_line_order():
    text = MINIMAL.replace("name: tiny", "name: tiny\nseed: -1").replace(
        "segment: lan, ip: 10.0.0.11", "segment: lab, ip: 10.0.0.11") + textwrap.dedent("""\
        traffic:
          - {from: client, to: 10.0.0.100, request: 2B}
        """)
    assert problems(text) == [
        f"scn.yaml:{line(text, 'seed')}: seed: must be at least 0, got -1",
        f"scn.yaml:{line(text, 'lab')}: topology.hosts.rs1.interfaces.eth0.segment: unknown "
        "segment 'lab' (did you mean 'lan'?)",
        f"scn.yaml:{line(text, '2B')}: traffic[0].to: expected ADDRESS:PORT like "
        "10.0.0.100:80, got '10.0.0.100'",
        f"scn.yaml:{line(text, '2B')}: traffic[0].request: at least 8 bytes (the application "
        "header is 8 bytes)",
    ]


def test_event_must_do_one_thing():
    text = MINIMAL + textwrap.dedent("""\
        services:
          - {name: web, director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}]}
        events:
          - {at: 1s, service: web, server: rs1}
          - {at: 2s, service: web, server: rs1, weight: 1, add: {host: client}}
          - {at: 3s, service: web, add: {host: rs1}}
        """)
    assert problems(text) == [
        f"scn.yaml:{line(text, 'at: 1s')}: events[0]: say what happens: `weight: N`, "
        "`remove: true` or `add: {...}`",
        f"scn.yaml:{line(text, 'at: 2s')}: events[1]: an event does one thing: `weight`, "
        "`remove: true` or `add`",
        f"scn.yaml:{line(text, 'at: 3s')}: events[2].add: rs1 is already a real server of service web",
    ]


# -- topology files --------------------------------------------------------------------------

TOPO = MINIMAL.split("topology:\n", 1)[1]   # the indented segments/hosts block


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_topology_from_a_file_relative_to_the_scenario(tmp_path):
    write(tmp_path / "topologies" / "flat.yaml", textwrap.dedent(TOPO))
    scn_file = write(tmp_path / "scenarios" / "s.yaml", textwrap.dedent("""\
        name: shared
        topology: ../topologies/flat.yaml
        services:
          - {director: lb, vip: 10.0.0.100, port: 80, real_servers: [{host: rs1}]}
        """))
    scn = load_scenario(scn_file)
    topo_file = str(tmp_path / "topologies" / "flat.yaml")
    assert [h.name for h in scn.topology.hosts] == ["client", "lb", "rs1"]
    assert scn.topology.file == topo_file
    assert scn.topology.host("lb").loc == Loc(topo_file, 5)
    assert scn.services[0].real_servers[0].address == IPv4Address("10.0.0.11")


def test_topology_file_may_wrap_its_content_in_a_topology_key(tmp_path):
    write(tmp_path / "t.yaml", "description: flat LAN\ntopology:\n" + TOPO)
    scn = load_scenario(write(tmp_path / "s.yaml", "name: s\ntopology: t.yaml\n"))
    assert scn.topology.host("rs1") is not None


def test_problems_inside_a_topology_file_name_that_file(tmp_path):
    topo = write(tmp_path / "t.yaml", textwrap.dedent(TOPO).replace("segment: lan, ip: 10.0.0.11",
                                                                    "segmnt: lan, ip: 10.0.0.11"))
    scn = write(tmp_path / "s.yaml", "name: s\ntopology: t.yaml\nseed: x\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(scn)
    assert [str(p) for p in e.value.problems] == [
        f"{scn}:3: seed: expected an integer, got 'x'",
        f"{topo}:6: topology.hosts.rs1.interfaces.eth0: unknown key 'segmnt' (did you mean 'segment'?)",
        f"{topo}:6: topology.hosts.rs1.interfaces.eth0: missing required key 'segment'",
    ]


def test_topology_file_that_does_not_exist(tmp_path):
    scn = write(tmp_path / "s.yaml", "name: s\ntopology: nowhere.yaml\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(scn)
    assert [str(p) for p in e.value.problems] == [
        f"{scn}:2: topology: topology file not found: 'nowhere.yaml' "
        f"(looked for {tmp_path / 'nowhere.yaml'})"]


def test_circular_topology_includes_are_detected(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    write(a, "topology: b.yaml\n")
    write(b, "topology: a.yaml\n")
    scn = write(tmp_path / "s.yaml", "name: s\ntopology: a.yaml\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(scn)
    assert [str(p) for p in e.value.problems] == [
        f"{b}:1: topology: circular include: {scn} -> {a} -> {b} -> {a}"]


def test_connection_counts_fractions_and_bounds():
    text = MINIMAL + textwrap.dedent("""\
        traffic:
          - {name: t, from: client, to: 10.0.0.100:80, connections: 10}
        expect:
          - connections: {traffic: t, succeeded: 9, failed: 10%}
          - connections: {traffic: t, succeeded: ">= 0.9", failed: none}
          - connections: {traffic: t, succeeded: 11}
          - connections: {traffic: t, failed: lots}
        """)
    assert problems(text) == [
        f"scn.yaml:{line(text, 'succeeded: 11')}: expect[2].connections.succeeded: traffic t "
        "makes only 10 connections",
        f"scn.yaml:{line(text, 'lots')}: expect[3].connections.failed: expected all, none, a "
        "count like 95, a fraction like 0.9 or a bound like '>= 0.9', got 'lots'",
    ]
    ok = load_scenario_text(text.split("  - connections: {traffic: t, succeeded: 11}")[0])
    assert [dict(e.params) for e in ok.expect] == [
        {"traffic": "t", "succeeded": 9, "failed": 0.1},
        {"traffic": "t", "succeeded": ">= 0.9", "failed": "none"},
    ]
