"""Bad scenario files through the real command line: `ipvssim validate` exits 2, prints
every problem as FILE:LINE: message (the line a user should look at), and never a
traceback.  Then the semantic bounds the loader enforces, one value at a time.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ipvssim.cli import main
from ipvssim.scenario.errors import ScenarioError
from ipvssim.scenario.loader import MAX_CONNECTIONS, load_scenario

# A small valid DR scenario; each case below breaks one thing in it.
BASE = """\
name: bad-input
seed: 1
duration: 10s
topology:
  segments:
    lan: {subnet: 10.0.0.0/24, bandwidth: 1Gbps, delay: 10us, loss: 0, queue: 100, mtu: 1500}
  hosts:
    client:
      interfaces:
        eth0: {segment: lan, ip: 10.0.0.10}
    lb:
      interfaces:
        eth0: {segment: lan, ip: [10.0.0.2, 10.0.0.100/32], mac: "02:00:00:00:00:02"}
    rs1:
      interfaces:
        eth0: {segment: lan, ip: 10.0.0.11, mac: "02:00:00:00:00:11"}
        lo: {ip: 10.0.0.100/32}
      sysctl: {arp_ignore: 1, arp_announce: 2}
      app: {listen: [tcp/80]}
services:
  - name: web
    director: lb
    vip: 10.0.0.100
    port: 80
    persistence: 0
    real_servers:
      - {host: rs1, weight: 1}
traffic:
  - name: browsers
    from: client
    to: 10.0.0.100:80
    connections: 10
    rate: 10/s
expect:
  - connections: {traffic: browsers, succeeded: all}
"""

LINE_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<message>.+)$")
WHOLE_FILE_RE = re.compile(r"^(?P<file>.+?): (?P<message>.+)$")


def _line(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (the line the user must fix)."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in the scenario text")


def _edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _validate(path: Path) -> Result:
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 2, result.output
    return result


def _problems(result: Result) -> list[tuple[str, int, str]]:
    """(file, line, message) of every stderr line; each must be FILE:LINE: message."""
    out = []
    for text in result.stderr.splitlines():
        m = LINE_RE.match(text)
        assert m, f"not FILE:LINE: message: {text!r}"
        out.append((m["file"], int(m["line"]), m["message"]))
    assert out, "no problem printed"
    return out


def test_the_base_scenario_is_valid(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(BASE)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code in (0, 1), result.output   # loaded; findings are the validator's
    assert load_scenario(path).services[0].real_servers[0].host == "rs1"


# (case id, scenario text, the line to be reported -- a number or the text on it --, words
# the message must contain)
CASES = [
    # PyYAML notices the unclosed `[` on the next line; the message points back at it.
    ("invalid-yaml",
     _edit("    port: 80\n", "    port: [80\n"), "persistence: 0",
     ["invalid YAML: expected ',' or ']', but got ':'",
      f"(in a flow sequence that starts at line {_line(BASE, 'port: 80')})"]),
    ("invalid-yaml-unclosed-quote",
     _edit("    vip: 10.0.0.100\n", '    vip: "10.0.0.100\n'), BASE.count("\n") + 1,
     ["invalid YAML", f"quoted scalar that starts at line {_line(BASE, 'vip: 10.0.0.100')}"]),
    ("unknown-key-did-you-mean",
     _edit("    persistence: 0\n", "    persistance: 0\n"),
     "persistance: 0", ["unknown key 'persistance'", "did you mean 'persistence'"]),
    ("wrong-type",
     _edit("    connections: 10\n", "    connections: [10]\n"), "connections: [10]",
     ["traffic[0].connections", "expected an integer, got a list"]),
    ("bad-address",
     _edit("    vip: 10.0.0.100\n", "    vip: 10.0.0.300\n"), "vip: 10.0.0.300",
     ["services[0].vip", "expected an IPv4 address", "'10.0.0.300'"]),
    ("bad-prefix",
     _edit("subnet: 10.0.0.0/24", "subnet: 10.0.0.0/33"), "subnet: 10.0.0.0/33",
     ["subnet", "expected a prefix like 10.0.0.0/24", "'10.0.0.0/33'"]),
    ("prefix-with-host-bits",
     _edit("subnet: 10.0.0.0/24", "subnet: 10.0.0.1/24"), "subnet: 10.0.0.1/24",
     ["host bits set", "did you mean 10.0.0.0/24"]),
    ("bad-unit",
     _edit("bandwidth: 1Gbps", "bandwidth: 1Gbs"), "bandwidth: 1Gbs",
     ["bandwidth", "unknown unit 'Gbs'", "Gbps"]),
    ("ambiguous-minute-unit",
     _edit("duration: 10s", "duration: 1m"), "duration: 1m",
     ["duration", "'min' for minutes or 'ms'"]),
    ("unknown-segment",
     _edit("{segment: lan, ip: 10.0.0.10}", "{segment: lann, ip: 10.0.0.10}"), "segment: lann",
     ["unknown segment 'lann'", "did you mean 'lan'"]),
    ("unknown-traffic-source-host",
     _edit("    from: client\n", "    from: clinet\n"), "from: clinet",
     ["traffic[0].from", "unknown host 'clinet'", "did you mean 'client'"]),
    ("unknown-director",
     _edit("    director: lb\n", "    director: lb2\n"), "director: lb2",
     ["services[0].director", "unknown host 'lb2'", "did you mean 'lb'"]),
    ("unknown-real-server-host",
     _edit("{host: rs1, weight: 1}", "{host: rs9, weight: 1}"), "host: rs9",
     ["real_servers[0].host", "unknown host 'rs9'", "did you mean 'rs1'"]),
    ("unknown-traffic-in-expect",
     _edit("{traffic: browsers, succeeded", "{traffic: browser, succeeded"), "traffic: browser,",
     ["unknown traffic 'browser'", "did you mean 'browsers'"]),
    ("duplicate-address-on-segment",
     _edit("{segment: lan, ip: 10.0.0.10}", "{segment: lan, ip: 10.0.0.11}"), "ip: 10.0.0.11,",
     ["address 10.0.0.11 is also on client eth0", "same segment lan"]),
    ("duplicate-mac",
     _edit('mac: "02:00:00:00:00:11"', 'mac: "02:00:00:00:00:02"'),
     'ip: 10.0.0.11, mac: "02:00:00:00:00:02"',
     ["MAC 02:00:00:00:00:02 is also used by lb eth0"]),
    ("vip-is-a-real-servers-own-address",
     _edit("{host: rs1, weight: 1}", "{address: 10.0.0.100, weight: 1}"), "address: 10.0.0.100",
     ["real server's address 10.0.0.100 is the service's VIP"]),
    ("duplicate-key",
     _edit("    port: 80\n", "    port: 80\n    port: 81\n"), "port: 81",
     ["duplicate key 'port'", f"first at line {_line(BASE, 'port: 80')}"]),
    ("non-printable-character",
     _edit("name: bad-input", "name: bad\x07input"), "name: bad",
     ["invalid YAML", "0x0007"]),
    # Found by test_fuzz.py: these used to escape as ValueError / ReaderError.
    ("nul-byte-in-topology-path", 'name: t\ntopology: "topo\\0.yaml"\n', 2,
     ["topology: expected a mapping or a file path"]),
    ("empty-topology-path", 'name: t\ntopology: ""\n', 2,
     ["topology: expected a mapping or a file path, got ''"]),
    ("empty-file", "", 1, ["the file is empty"]),
    ("comments-only", "# nothing here\n\n", 1, ["the file is empty"]),
    ("yaml-list", "- name: a\n- name: b\n", "- name: a",
     ["a scenario file must be a mapping", "got a list"]),
    ("yaml-scalar", "just some words\n", "just some words",
     ["a scenario file must be a mapping", "got 'just some words'"]),
    ("nested-too-deeply", "name: deep\ntopology: " + "[" * 3000 + "]" * 3000 + "\n",
     "topology: [", ["nested too deeply"]),
]


@pytest.mark.parametrize("text, needle, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_scenario_exits_2_with_file_line_message(tmp_path, text, needle, words):
    path = tmp_path / "scn.yaml"
    path.write_text(text, encoding="utf-8")
    problems = _problems(_validate(path))
    want_line = needle if isinstance(needle, int) else _line(text, needle)
    hits = [(f, n, msg) for f, n, msg in problems if all(w in msg for w in words)]
    assert hits, f"no problem mentions {words}: {problems}"
    assert hits[0][:2] == (str(path), want_line), problems


def test_many_problems_are_all_printed_in_line_order(tmp_path):
    text = _edit("    director: lb\n", "    director: lb2\n",
                 _edit("subnet: 10.0.0.0/24", "subnet: 10.0.0.0/33",
                       _edit("    from: client\n", "    from: nobody\n")))
    path = tmp_path / "scn.yaml"
    path.write_text(text)
    problems = _problems(_validate(path))
    lines = [n for _, n, _ in problems]
    assert lines == sorted(lines)
    for needle in ("subnet: 10.0.0.0/33", "director: lb2", "from: nobody"):
        assert _line(text, needle) in lines, (needle, problems)


def test_vip_on_real_server_loopback_or_tunl0_is_not_a_duplicate_address(tmp_path):
    # DR holds the VIP on lo and TUN on tunl0 of every real server, as well as on the
    # director's eth0: that is the setup, not an address conflict.
    text = _edit("        lo: {ip: 10.0.0.100/32}\n",
                 "        lo: {ip: 10.0.0.100/32}\n        tunl0: {ip: 10.0.0.100/32}\n")
    path = tmp_path / "scn.yaml"
    path.write_text(text)
    scn = load_scenario(path)
    rs1 = scn.topology.host("rs1")
    assert [str(i.addresses[0]) for i in rs1.interfaces if i.kind != "ether"] == \
        ["10.0.0.100/32", "10.0.0.100/32"]
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code != 2, result.output
    assert "also on" not in result.output


def test_vip_on_a_real_servers_ethernet_interface_is_refused(tmp_path):
    text = _edit("{segment: lan, ip: 10.0.0.11, mac", "{segment: lan, ip: [10.0.0.11, "
                 "10.0.0.100/32], mac")
    path = tmp_path / "scn.yaml"
    path.write_text(text)
    problems = _problems(_validate(path))
    assert any("10.0.0.100 is also on lb eth0" in msg for _, _, msg in problems), problems


def test_topology_file_that_does_not_exist(tmp_path):
    text = "name: t\ntopology: ../topologies/nope.yaml\n"
    path = tmp_path / "scn.yaml"
    path.write_text(text)
    problems = _problems(_validate(path))
    assert problems[0][:2] == (str(path), 2)
    assert "topology file not found: '../topologies/nope.yaml'" in problems[0][2]


def test_circular_topology_includes(tmp_path):
    (tmp_path / "a.yaml").write_text("topology: b.yaml\n")
    (tmp_path / "b.yaml").write_text("# loops back\ntopology: a.yaml\n")
    path = tmp_path / "scn.yaml"
    path.write_text("name: t\ntopology: a.yaml\n")
    problems = _problems(_validate(path))
    assert len(problems) == 1
    file, line, message = problems[0]
    assert (file, line) == (str(tmp_path / "b.yaml"), 2)
    assert message == (f"topology: circular include: {path} -> {tmp_path / 'a.yaml'} -> "
                       f"{tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}")


def test_topology_file_that_includes_itself(tmp_path):
    (tmp_path / "self.yaml").write_text("topology: ./self.yaml\n")
    path = tmp_path / "scn.yaml"
    path.write_text("name: t\ntopology: self.yaml\n")
    problems = _problems(_validate(path))
    assert [(f, n) for f, n, _ in problems] == [(str(tmp_path / "self.yaml"), 1)]
    assert "circular include" in problems[0][2]


def test_problems_inside_a_topology_file_name_that_file_and_its_line(tmp_path):
    topo = BASE.split("topology:\n", 1)[1].split("services:", 1)[0]
    topo = "\n".join(line[2:] for line in topo.splitlines()) + "\n"
    bad = _edit("{segment: lan, ip: 10.0.0.10}", "{segment: lam, ip: 10.0.0.10}", topo)
    (tmp_path / "topo.yaml").write_text(bad)
    path = tmp_path / "scn.yaml"
    path.write_text(_edit(BASE.split("topology:\n", 1)[1].split("services:", 1)[0], "",
                          BASE.replace("topology:\n", "topology: topo.yaml\n")))
    problems = _problems(_validate(path))
    assert problems[0][:2] == (str(tmp_path / "topo.yaml"), _line(bad, "segment: lam"))
    assert "unknown segment 'lam' (did you mean 'lan'?)" in problems[0][2]


def test_topology_file_that_is_not_utf8_points_at_the_bad_byte(tmp_path):
    (tmp_path / "topo.yaml").write_bytes(b"segments:\n  lan: {subnet: 10.0.0.0/24}\n"
                                         b"# caf\xe9\n")
    path = tmp_path / "scn.yaml"
    path.write_text("name: t\ntopology: topo.yaml\n")
    problems = _problems(_validate(path))
    assert problems[0][:2] == (str(tmp_path / "topo.yaml"), 3)
    assert "not UTF-8 text: byte 0xe9 at column 6" in problems[0][2]


def test_scenario_that_is_not_utf8_points_at_the_bad_byte(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: t\ndescription: \xff\xfe ol\xe9\ntopology: {hosts: {}}\n")
    problems = _problems(_validate(path))
    assert problems == [(str(path), 2, "cannot read scenario file: not UTF-8 text: byte 0xff "
                                       "at column 14 (save the file as UTF-8)")]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    result = _validate(path)
    assert result.stderr.splitlines() == [f"{path}: cannot read scenario file: no such file"]


def test_directory_instead_of_a_file(tmp_path):
    folder = tmp_path / "scenarios.yaml"
    folder.mkdir()
    result = _validate(folder)
    # click refuses it before the loader runs (dir_okay=False); its message names the path.
    assert str(folder) in result.stderr and "directory" in result.stderr
    with pytest.raises(ScenarioError) as err:
        load_scenario(folder)
    assert [str(p) for p in err.value.problems] == \
        [f"{folder}: cannot read scenario file: it is a directory, not a YAML file"]


def test_topology_path_that_is_a_directory(tmp_path):
    (tmp_path / "topo").mkdir()
    path = tmp_path / "scn.yaml"
    path.write_text("name: t\ntopology: topo\n")
    problems = _problems(_validate(path))
    assert problems[0][:2] == (str(path), 2)
    assert "it is a directory" in problems[0][2]


# -- semantic bounds: (old text, new text, message words) -------------------------------
BOUNDS = [
    ("bandwidth: 1Gbps", "bandwidth: 0", ["bandwidth", "must be more than 0"]),
    ("bandwidth: 1Gbps", "bandwidth: -5Mbps", ["bandwidth", "negative values make no sense"]),
    ("bandwidth: 1Gbps", "bandwidth: 1e400Gbps", ["bandwidth", "is too large"]),
    ("delay: 10us", "delay: -1ms", ["delay", "negative values make no sense"]),
    ("loss: 0", "loss: 1.5", ["loss", "probability from 0 up to (not including) 1"]),
    ("loss: 0", "loss: -0.1", ["loss", "probability"]),
    ("loss: 0", "loss: .nan", ["loss", "probability"]),
    ("queue: 100", "queue: 0", ["queue", "must be at least 1"]),
    ("mtu: 1500", "mtu: 67", ["mtu", "must be between 68 and 65535"]),
    ("mtu: 1500", "mtu: 65536", ["mtu", "must be between 68 and 65535"]),
    ("{host: rs1, weight: 1}", "{host: rs1, weight: 65536}", ["weight", "between 0 and 65535"]),
    ("{host: rs1, weight: 1}", "{host: rs1, weight: -1}", ["weight", "between 0 and 65535"]),
    ("    port: 80\n", "    port: 65536\n", ["services[0].port", "between 0 and 65535"]),
    ("    port: 80\n", "    port: -1\n", ["services[0].port", "between 0 and 65535"]),
    ("{host: rs1, weight: 1}", "{host: rs1, port: 70000}", ["real_servers[0].port", "65535"]),
    ("to: 10.0.0.100:80", "to: 10.0.0.100:65536", ["traffic[0].to", "ADDRESS:PORT"]),
    ("listen: [tcp/80]", "listen: [tcp/0]", ["listen", "PROTOCOL/PORT"]),
    ("connections: 10", "connections: -3", ["connections", "must be at least 1"]),
    ("connections: 10", "connections: 0", ["connections", "must be at least 1"]),
    ("connections: 10", f"connections: {MAX_CONNECTIONS + 1}",
     ["connections", f"at most {MAX_CONNECTIONS}", "memory"]),
    ("rate: 10/s", "rate: -10/s", ["rate", "negative values make no sense"]),
    ("rate: 10/s", "rate: 1e999/s", ["rate", "is too large"]),
    ("duration: 10s", "duration: 0s", ["duration", "must be more than 0"]),
    ("duration: 10s", "duration: -10s", ["duration", "negative"]),
    ("duration: 10s", "duration: .inf", ["duration", "expected a number of seconds"]),
    ("seed: 1", "seed: 1.5", ["seed", "expected an integer, got '1.5'"]),
    ("seed: 1", "seed: one", ["seed", "expected an integer"]),
    ("seed: 1", "seed: -1", ["seed", "must be at least 0"]),
    ("persistence: 0", "persistence: -60", ["persistence", "negative values make no sense"]),
    ("persistence: 0", "persistence: 32d", ["persistence", "unknown unit 'd'"]),
    ("persistence: 0", "persistence: 2678401", ["persistence", "at most 2678400 seconds"]),
]


@pytest.mark.parametrize("old, new, words", BOUNDS, ids=[b[1] for b in BOUNDS])
def test_out_of_range_values_are_problems_not_crashes(tmp_path, old, new, words):
    text = _edit(old, new)
    path = tmp_path / "scn.yaml"
    path.write_text(text)
    problems = _problems(_validate(path))
    assert len(problems) == 1, problems   # one mistake, one problem: no follow-on noise
    _, line, message = problems[0]
    assert all(w in message for w in words), (words, message)
    assert line == _line(text, new.strip())


def test_rate_zero_opens_every_connection_at_start(tmp_path):
    # Documented in docs/scenario-format.md (traffic.rate): 0 is a burst, not an error.
    path = tmp_path / "scn.yaml"
    path.write_text(_edit("rate: 10/s", "rate: 0"))
    assert load_scenario(path).traffic[0].rate == 0.0


def test_connections_at_the_limit_are_accepted(tmp_path):
    path = tmp_path / "scn.yaml"
    path.write_text(_edit("connections: 10", f"connections: {MAX_CONNECTIONS}"))
    assert load_scenario(path).traffic[0].connections == MAX_CONNECTIONS
