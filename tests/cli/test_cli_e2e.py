"""Every command end to end through the real console entry point (contract sections 2 and 3)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from scapy.all import ICMP, IP, TCP, UDP, raw, rdpcap

from clihelp import SCENARIOS, ipvssim, read_report, scenario_copy

import ipvssim as pkg


# -- ipvssim run: report.json per the contract ---------------------------------------------

@pytest.fixture(scope="module")
def dr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dr-run")
    proc = ipvssim("run", SCENARIOS / "dr-basic.yaml", "--out", out, "--pcap")
    return proc, out


def test_run_exits_0_and_writes_a_report_with_every_contract_field(dr_run):
    proc, out = dr_run
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""           # no progress bar when output is captured
    assert f"report: {out / 'report.json'}" in proc.stdout
    report = read_report(out)
    assert report["ipvssim_version"] == pkg.__version__
    assert report["scenario"] == "dr-basic"
    assert report["seed"] == 1
    (run,) = report["runs"]
    assert run["mode"] == "as-configured"
    assert run["findings"] == []
    assert run["connections"]["attempted"] == 100
    assert run["connections"]["succeeded"] == 100 and run["connections"]["failed"] == 0
    # 100 responses of 20 kB over the elapsed simulated time.
    assert run["throughput_bps"] == pytest.approx(100 * 20_000 * 8 / run["elapsed_s"], rel=1e-6)
    assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p99"]


def test_run_paths_show_dr_replies_bypassing_the_director(dr_run):
    run = read_report(dr_run[1])["runs"][0]
    rows = {row["real_server"]: row for row in run["paths"]}
    assert set(rows) == {"rs1", "rs2"}
    for rs, row in rows.items():
        assert row["traffic"] == "browsers"
        assert row["request"] == ["client", "gw", "lb", rs]
        assert row["reply"] == [rs, "gw", "client"]
        assert row["request_hops"] == len(row["request"]) - 1 == 3
        assert row["reply_hops"] == len(row["reply"]) - 1 == 2
    # wrr 3:1 over 100 connections.
    assert rows["rs1"]["connections"] == 75 and rows["rs2"]["connections"] == 25
    assert run["real_servers"]["rs1"]["connections"] == 75
    assert run["real_servers"]["rs2"]["connections"] == 25


def test_run_counts_packets_director_work_and_the_run_itself(dr_run):
    run = read_report(dr_run[1])["runs"][0]
    p = run["packets"]
    assert p["sent"] == p["delivered"] + p["dropped"] + p["in_flight"]
    assert p["dropped"] == sum(d["count"] for d in run["drops"])
    lb = run["directors"]["lb"]
    assert lb["packets"] > 0 and lb["bytes"] > 0 and 0 < lb["cpu_utilization"] < 1
    assert lb["connections"] == 100
    sim = run["sim"]
    assert sim["events"] > 0 and sim["packet_hops"] > 0
    assert 0 < sim["simulated_s"] <= 30 and sim["wall_s"] > 0
    assert sim["stopped_by"] == "finished"
    assert len(run["expectations"]) == 4 and all(e["passed"] for e in run["expectations"])


def _checksum_errors(path) -> list[str]:
    """Every IP/TCP/UDP/ICMP checksum in a pcap that differs from scapy's recomputation."""
    bad = []
    for n, frame in enumerate(rdpcap(str(path))):
        k = 1
        while frame.getlayer(IP, k) is not None:       # k > 1: the inner header of IPIP
            ip = frame.getlayer(IP, k)
            fresh = ip.copy()
            del fresh.chksum
            l4 = fresh.payload
            fragment = ip.frag != 0 or ip.flags.MF
            if not fragment and isinstance(l4, (TCP, UDP, ICMP)) and not (
                    isinstance(l4, UDP) and l4.chksum == 0):
                del l4.chksum
            rebuilt = IP(raw(fresh))
            if rebuilt.chksum != ip.chksum:
                bad.append(f"{path.name}#{n}: IP checksum {ip.chksum:#x} != {rebuilt.chksum:#x}")
            if not fragment and isinstance(ip.payload, (TCP, UDP, ICMP)):
                old, new = ip.payload.chksum, rebuilt.payload.chksum
                if old != new and not (isinstance(ip.payload, UDP) and old == 0):
                    bad.append(f"{path.name}#{n}: {type(ip.payload).__name__} checksum {old:#x} != {new:#x}")
            k += 1
    return bad


def test_pcap_files_exist_per_interface_with_valid_checksums(dr_run):
    out = dr_run[1]
    files = sorted(p.name for p in (out / "pcap").glob("*.pcap"))
    assert {"client-eth0.pcap", "gw-eth0.pcap", "gw-eth1.pcap", "lb-eth0.pcap",
            "rs1-eth0.pcap", "rs2-eth0.pcap"} <= set(files)
    lb = rdpcap(str(out / "pcap" / "lb-eth0.pcap"))
    assert any(TCP in f and f[TCP].flags.S and not f[TCP].flags.A for f in lb)
    for path in (out / "pcap").glob("*.pcap"):
        assert _checksum_errors(path) == []


@pytest.mark.parametrize("name", ["tun-wan", "fullnat-routed", "nat-basic"])
def test_pcaps_of_every_mode_have_valid_checksums(name, tmp_path):
    proc = ipvssim("run", SCENARIOS / f"{name}.yaml", "--out", tmp_path, "--pcap")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pcaps = list((tmp_path / "pcap").glob("*.pcap"))
    assert pcaps
    for path in pcaps:
        assert _checksum_errors(path) == []
    if name == "tun-wan":       # the director's captures hold IPIP: both headers were checked
        frames = rdpcap(str(tmp_path / "pcap" / "lb-eth0.pcap"))
        assert any(IP in f and f[IP].proto == 4 for f in frames)


def test_udp_pcaps_have_valid_checksums(tmp_path):
    def to_udp(doc):
        svc = doc["services"][0]
        svc.update(protocol="udp", port=53)
        for rs in svc["real_servers"]:
            rs["port"] = 53
        t = doc["traffic"][0]
        t.update(protocol="udp", to="198.51.100.100:53")
        doc["expect"] = [{"connections": {"traffic": t["name"], "succeeded": "all"}}]
    scn = scenario_copy("nat-basic", tmp_path, to_udp)
    proc = ipvssim("run", scn, "--out", tmp_path / "out", "--pcap")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frames = rdpcap(str(tmp_path / "out" / "pcap" / "client-eth0.pcap"))
    assert sum(1 for f in frames if UDP in f) >= 2 * 40
    for path in (tmp_path / "out" / "pcap").glob("*.pcap"):
        assert _checksum_errors(path) == []


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (CI installs it)")
def test_tshark_finds_no_bad_checksum_or_malformed_packet(dr_run, tmp_path):
    proc = ipvssim("run", SCENARIOS / "tun-wan.yaml", "--out", tmp_path, "--pcap")
    assert proc.returncode == 0
    pcaps = list((dr_run[1] / "pcap").glob("*.pcap")) + list((tmp_path / "pcap").glob("*.pcap"))
    for path in pcaps:
        res = subprocess.run(
            ["tshark", "-r", str(path), "-o", "ip.check_checksum:TRUE",
             "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
             "-Y", 'ip.checksum.status=="Bad" || tcp.checksum.status=="Bad" || '
                   'udp.checksum.status=="Bad" || _ws.malformed'],
            capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "", f"{path.name}:\n{res.stdout}"


def test_json_flag_prints_the_report_and_nothing_else(tmp_path):
    proc = ipvssim("run", SCENARIOS / "nat-basic.yaml", "--out", tmp_path, "--json",
                   "--seed", "7", "--duration", "1s")
    assert proc.returncode == 1        # 1 s is too short for all 40 connections at 20/s
    printed = json.loads(proc.stdout)
    assert printed == read_report(tmp_path)
    assert proc.stderr == ""
    assert printed["seed"] == 7
    run = printed["runs"][0]
    assert run["sim"]["simulated_s"] <= 1.0
    assert run["sim"]["stopped_by"] == "duration"
    # Constant arrivals at 20/s from t=0: 20 connections fit in [0, 1 s].
    assert run["connections"]["attempted"] == 20
    failed = [e for e in run["expectations"] if not e["passed"]]
    assert failed and failed[0]["check"].startswith("connections")


def test_installed_script_runs_mode_all(tmp_path):
    proc = ipvssim("run", SCENARIOS / "dr-basic.yaml", "--mode", "all", "--out", tmp_path, script=True)
    report = read_report(tmp_path)
    assert [r["mode"] for r in report["runs"]] == ["dr", "nat", "tun", "fullnat"]
    by_mode = {r["mode"]: r for r in report["runs"]}
    assert by_mode["dr"]["connections"]["succeeded"] == 100
    # The topology is DR's: NAT over it fails (the servers' gateway is not the
    # director), so the expectations fail and the exit status says so.
    assert by_mode["nat"]["connections"]["succeeded"] < 100
    assert proc.returncode == 1
    assert "== mode nat ==" in proc.stdout
    assert (tmp_path / "comparison.png").stat().st_size > 0
    assert (tmp_path / "topology.png").stat().st_size > 0


def test_false_expectation_exits_1(tmp_path):
    def wrong_share(doc):
        doc["expect"] = [{"distribution": {"service": "web", "shares": {"rs1": 0.5, "rs2": 0.5},
                                           "tolerance": 0.05}}]
    scn = scenario_copy("dr-basic", tmp_path, wrong_share)
    proc = ipvssim("run", scn, "--out", tmp_path / "out")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout
    (exp,) = read_report(tmp_path / "out")["runs"][0]["expectations"]
    assert exp["passed"] is False


def test_max_events_stops_the_run_and_says_so(tmp_path):
    proc = ipvssim("run", SCENARIOS / "dr-basic.yaml", "--out", tmp_path, "--max-events", "1500")
    run = read_report(tmp_path)["runs"][0]
    assert run["sim"]["events"] == 1500
    assert run["sim"]["stopped_by"] == "max-events"
    assert run["connections"]["succeeded"] < 100
    assert "stopped by --max-events after 1500 events" in proc.stdout
    assert proc.returncode == 1       # "succeeded: all" cannot hold



@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_events_below_one_is_refused_with_exit_status_2(tmp_path, command, value):
    proc = ipvssim(command, SCENARIOS / "dr-basic.yaml", "--out", tmp_path, "--max-events", value)
    assert proc.returncode == 2
    assert "--max-events" in proc.stderr and value in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "report.json").exists()


# -- invalid files --------------------------------------------------------------------------

BAD_SCENARIO = """\
name: bad
topology:
  segments:
    lan: {subnet: 10.0.0.0/24}
  hosts:
    a:
      interfaces:
        eth0: {segment: lann, ip: 10.0.0.300}
services:
  - director: a
    vip: 10.0.0.5
    port: 80
    schedular: rr
"""


@pytest.mark.parametrize("command", [["run"], ["compare"], ["validate"], ["trace"], ["topology"]])
def test_every_command_refuses_an_invalid_file_with_file_line_messages(command, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SCENARIO)
    proc = ipvssim(*command, bad)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert f"{bad}:8: topology.hosts.a.interfaces.eth0.segment: unknown segment 'lann' (did you mean 'lan'?)" in lines
    assert any(line.startswith(f"{bad}:8: topology.hosts.a.interfaces.eth0.ip:") for line in lines)
    assert any(line.startswith(f"{bad}:13: services[0]: unknown key 'schedular'") for line in lines)


def test_bad_yaml_and_missing_file_exit_2_without_traceback(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntopology: {segments: [\n")
    proc = ipvssim("run", broken)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{broken}:")
    proc = ipvssim("validate", tmp_path / "nope.yaml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


# -- validate, trace, topology, compare ---------------------------------------------------

def test_validate_exits_1_on_errors_0_otherwise():
    proc = ipvssim("validate", SCENARIOS / "dr-arp-missing.yaml")
    assert proc.returncode == 1
    assert "DR-ARP" in proc.stdout and "fix:" in proc.stdout
    proc = ipvssim("validate", SCENARIOS / "dr-basic.yaml")
    assert proc.returncode == 0
    assert "no findings" in proc.stdout


def test_trace_shows_each_rewrite_old_to_new():
    proc = ipvssim("trace", SCENARIOS / "nat-basic.yaml", "--connection", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("connection 3 (browsers, tcp from client")
    rs = "10.0.0.11" if "served by rs1" in out.splitlines()[0] else "10.0.0.12"
    # NAT at the director: VIP:80 becomes RIP:8080 on the way in, and back on the way out.
    assert f"IP.dst: 198.51.100.100 → {rs}" in out
    assert "TCP.dport: 80 → 8080" in out
    assert f"IP.src: {rs} → 198.51.100.100" in out
    assert "TCP.sport: 8080 → 80" in out
    proc = ipvssim("trace", SCENARIOS / "nat-basic.yaml", "--connection", "4000")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = ipvssim("trace", SCENARIOS / "nat-basic.yaml", "--connection", "-1")
    assert proc.returncode == 2 and "--connection" in proc.stderr and "Traceback" not in proc.stderr


def test_topology_draws_a_png_without_simulating(tmp_path):
    png = tmp_path / "t.png"
    proc = ipvssim("topology", SCENARIOS / "tun-wan.yaml", "-o", png)
    assert proc.returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_one_file_runs_every_mode(tmp_path):
    proc = ipvssim("compare", SCENARIOS / "nat-basic.yaml", "--out", tmp_path, "--json")
    report = json.loads(proc.stdout)
    assert [r["mode"] for r in report["runs"]] == ["dr", "nat", "tun", "fullnat"]
    assert report == read_report(tmp_path)
    by_mode = {r["mode"]: r for r in report["runs"]}
    assert by_mode["nat"]["connections"]["succeeded"] == 40
    assert by_mode["nat"]["forwarding"] == ["nat"]
    assert proc.returncode == 1     # nat-basic's expectations fail under DR, TUN and FULLNAT


def test_compare_tells_apart_files_that_share_a_name(tmp_path):
    """A copy edited without renaming it keeps its own column and its own pcaps."""
    def one_weight(doc):
        doc["services"][0]["real_servers"][1]["weight"] = 3
    original = scenario_copy("dr-basic", tmp_path)
    (tmp_path / "copy").mkdir()
    copy = scenario_copy("dr-basic", tmp_path / "copy", one_weight)
    copy = copy.rename(tmp_path / "dr-even.yaml")
    out = tmp_path / "out"
    ipvssim("compare", original, copy, "--out", out, "--pcap", "--json")
    report = read_report(out)
    assert [r["mode"] for r in report["runs"]] == ["dr-basic", "dr-even"]
    shares = [r["real_servers"]["rs1"]["connections"] for r in report["runs"]]
    assert shares == [75, 50]                      # each column is its own file's run
    assert sorted(p.name for p in (out / "pcap").iterdir()) == ["dr-basic", "dr-even"]
    # the same file twice: numbered
    proc = ipvssim("compare", original, original, "--out", tmp_path / "twice", "--json")
    assert [r["mode"] for r in json.loads(proc.stdout)["runs"]] == ["dr-basic-1", "dr-basic-2"]
