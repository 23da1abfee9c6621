"""Issue #8 limits: a routing loop ends by TTL; huge scenarios are refused or capped, never hang."""
from __future__ import annotations

import pytest

from clihelp import ipvssim, read_report

from ipvssim.scenario.loader import MAX_CONNECTIONS

# RFC 1122 3.2.1.7 / Linux net.ipv4.ip_default_ttl: what the client's SYN starts with.
DEFAULT_TTL = 64

LOOP = """\
name: loop
duration: 5s
topology:
  segments:
    wan: {subnet: 198.51.100.0/24}
    core: {subnet: 192.0.2.0/24}
  hosts:
    client:
      interfaces:
        eth0: {segment: wan, ip: 198.51.100.10}
      routes: [{to: default, via: 198.51.100.1}]
    r1:
      forwarding: true
      interfaces:
        eth0: {segment: wan, ip: 198.51.100.1}
        eth1: {segment: core, ip: 192.0.2.1}
      routes: [{to: default, via: 192.0.2.2}]
    r2:                      # and r2 sends everything back: a loop
      forwarding: true
      interfaces:
        eth0: {segment: core, ip: 192.0.2.2}
      routes: [{to: default, via: 192.0.2.1}]
traffic:
  - {name: lost, from: client, to: 203.0.113.5:80, connections: 1}
expect:
  - connections: {traffic: lost, failed: all}
"""


def test_a_routing_loop_ends_by_ttl_and_the_client_hears_of_it(tmp_path):
    scn = tmp_path / "loop.yaml"
    scn.write_text(LOOP)
    proc = ipvssim("run", scn, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = read_report(tmp_path / "out")["runs"][0]
    assert run["drops"] == [{"host": "r2", "reason": "ttl-exceeded", "count": 1}]
    (row,) = run["paths"]
    # The SYN leaves the client with TTL 64; each of the 64 routers on its way
    # decrements it, and the 64th (r2, since the loop alternates) finds it 0.
    assert row["request_hops"] == DEFAULT_TTL
    assert row["request"][1:] == ["r1", "r2"] * (DEFAULT_TTL // 2)
    # ICMP time exceeded reaches the client, which gives up on the SYN (tcp_v4_err).
    assert run["connections"]["failed"] == 1
    assert run["connections"]["failure_reasons"] == {"unreachable": 1}
    assert run["sim"]["stopped_by"] == "finished"


def _crowd(connections: int, rate: str) -> str:
    return f"""\
name: crowd
duration: 60s
topology:
  segments:
    lan: {{subnet: 10.0.0.0/24}}
  hosts:
    client:
      interfaces:
        eth0: {{segment: lan, ip: 10.0.0.10}}
    server:
      interfaces:
        eth0: {{segment: lan, ip: 10.0.0.11}}
      app: {{listen: [tcp/80]}}
traffic:
  - {{name: crowd, from: client, to: 10.0.0.11:80, connections: {connections}, rate: {rate}}}
"""


def test_more_connections_than_the_limit_are_refused_with_a_clear_message(tmp_path):
    scn = tmp_path / "crowd.yaml"
    scn.write_text(_crowd(MAX_CONNECTIONS + 1, "1000/s"))
    proc = ipvssim("run", scn)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{scn}:15: traffic[0].connections: at most {MAX_CONNECTIONS} connections")


@pytest.mark.parametrize("rate", ["0", "100000/s"])
def test_millions_of_connections_are_announced_and_capped_by_max_events(tmp_path, rate):
    scn = tmp_path / "crowd.yaml"
    scn.write_text(_crowd(3_000_000, rate))
    proc = ipvssim("run", scn, "--out", tmp_path / "out", "--max-events", "20000", "--json")
    assert "Traceback" not in proc.stderr
    run = read_report(tmp_path / "out")["runs"][0]
    assert run["sim"]["events"] == 20000
    assert run["sim"]["stopped_by"] == "max-events"
    assert 0 < run["connections"]["attempted"] < 3_000_000
    p = run["packets"]
    assert p["sent"] == p["delivered"] + p["dropped"] + p["in_flight"]
    assert proc.returncode == 0            # no expectations to fail


def test_a_long_run_is_announced_on_stderr(tmp_path):
    scn = tmp_path / "crowd.yaml"
    scn.write_text(_crowd(3_000_000, "100000/s"))
    proc = ipvssim("run", scn, "--out", tmp_path / "out", "--max-events", "100", "--json")
    assert proc.returncode == 0
    # 60 s at 100000/s: 3 million connections are due within the horizon.
    assert proc.stderr == ("note: crowd opens about 3,000,000 connections within 60 s, each "
                           "simulated packet by packet; this takes long. --max-events 100 will "
                           "stop it (the report says so).\n")
    assert proc.stdout.startswith("{")          # the note never mixes into --json output
    proc = ipvssim("run", scn, "--out", tmp_path / "out", "--duration", "10ms")
    assert proc.returncode == 0
    assert "note:" not in proc.stderr            # 1,001 connections in 10 ms: not many
