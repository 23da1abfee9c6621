"""Small RunResult-like fixtures for the report tests: a real scenario model, real Flow,
Service and Dest objects, and a ledger/context reduced to the numbers the report reads."""
from __future__ import annotations

import random
import textwrap
from collections import Counter
from types import SimpleNamespace

from ipvssim.ipvs.service import Service
from ipvssim.net.flow import Flow
from ipvssim.scenario.loader import load_scenario

SCENARIO_YAML = """
name: report-fixture
description: DR, two real servers, wrr 3:1
seed: 7
duration: 10s
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
    protocol: tcp
    scheduler: wrr
    persistence: 360
    mode: dr
    real_servers:
      - {host: rs1, weight: 3}
      - {host: rs2, weight: 1}
traffic:
  - name: browsers
    from: client
    to: 10.0.0.100:80
    protocol: tcp
    connections: 4
    rate: 10/s
    request: 300B
    response: 20KB
expect:
  - connections: {traffic: browsers, succeeded: all}
  - path: {traffic: browsers, request_includes: lb, reply_excludes: lb}
  - distribution: {service: web, shares: {rs1: 0.75, rs2: 0.25}, tolerance: 0.05}
  - finding: {rule: DR-ARP}
"""

DR_REQUEST = ["client", "gw", "lb", "rs1"]
DR_REPLY = ["rs1", "gw", "client"]


def load_fixture_scenario(tmp_path, text=SCENARIO_YAML):
    path = tmp_path / "fixture.yaml"
    path.write_text(textwrap.dedent(text))
    return load_scenario(str(path))


def make_flow(fid, rs, start, latency, status="succeeded", reason="", request=None, reply=None,
              received=20000, traffic="browsers"):
    f = Flow(fid, traffic, "client", "tcp", start, 300, 20000)
    f.real_server = rs
    f.director = "lb" if rs else None
    f.request_path = list(request) if request is not None else [*DR_REQUEST[:-1], rs] if rs else None
    f.reply_path = list(reply) if reply is not None else [rs, *DR_REPLY[1:]] if rs else None
    f.received = received if status == "succeeded" else 0
    if status == "succeeded":
        f.succeed(start + latency)
    elif status == "failed":
        f.fail(start + latency, reason)
    else:
        f.reason = reason
    return f


def make_director(scenario, packets=12, nbytes=2400, utilization=0.125):
    services = [Service(spec, random.Random(1)) for spec in scenario.services]
    return SimpleNamespace(services=services, packets=packets, bytes=nbytes,
                           cpu=SimpleNamespace(utilization=lambda elapsed: utilization))


def make_result(scenario, flows, mode="dr", findings=(), drops=None, director=None,
                simulated_s=0.5, wall_s=0.01):
    drops = Counter(drops or {})
    dropped = sum(drops.values())
    ledger = SimpleNamespace(sent=100, delivered_count=100 - dropped - 2, dropped_count=dropped,
                             drops=drops, in_flight=2)
    ctx = SimpleNamespace(ledger=ledger, hops=321, observer=SimpleNamespace(steps=[], captures={}))
    directors = {"lb": director if director is not None else make_director(scenario)}
    return SimpleNamespace(scenario=scenario, mode=mode, seed=scenario.seed, flows=list(flows),
                           ctx=ctx, hosts={}, segments={}, directors=directors, events=4567,
                           simulated_s=simulated_s, wall_s=wall_s, stopped_by="finished",
                           findings=list(findings))

