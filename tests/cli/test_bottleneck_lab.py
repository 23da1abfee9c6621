"""The director-bottleneck lab: `ipvssim compare scenarios/bottleneck-*.yaml`.

The ordering DR > TUN > NAT > FULLNAT comes out of the model: which packets
cross the director's CPU (DR/TUN: client -> server only; NAT/FULLNAT: both
directions) and what each costs (ipvssim.ipvs.cpu.DEFAULT_COSTS, scaled alike).
"""
from __future__ import annotations


import pytest

from clihelp import SCENARIOS, ipvssim, read_report

LAB = ["bottleneck-fullnat", "bottleneck-nat", "bottleneck-dr", "bottleneck-tun"]   # any order


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    proc = ipvssim("compare", *[SCENARIOS / f"{n}.yaml" for n in LAB], "--out", out)
    return proc, read_report(out), out


def test_compare_orders_the_columns_by_director_work_and_labels_them(lab):
    proc, report, out = lab
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["mode"] for r in report["runs"]] == [
        "bottleneck-dr", "bottleneck-tun", "bottleneck-nat", "bottleneck-fullnat"]
    assert [r["forwarding"] for r in report["runs"]] == [["dr"], ["tun"], ["nat"], ["fullnat"]]
    assert report["scenarios"] == [r["scenario"] for r in report["runs"]]
    assert (out / "comparison.png").stat().st_size > 0


def test_throughput_dr_beats_tun_beats_nat_beats_fullnat(lab):
    runs = {r["forwarding"][0]: r for r in lab[1]["runs"]}
    for r in runs.values():
        assert r["connections"]["succeeded"] == r["connections"]["attempted"] == 200
    thr = [runs[m]["throughput_bps"] for m in ("dr", "tun", "nat", "fullnat")]
    assert thr == sorted(thr, reverse=True) and len(set(thr)) == 4
    # The reason: the director handles both directions in NAT/FULLNAT only.
    lb = {m: runs[m]["directors"]["lb"] for m in runs}
    assert lb["dr"]["packets"] == lb["tun"]["packets"]
    assert lb["nat"]["packets"] > 2 * lb["dr"]["packets"]
    assert lb["nat"]["bytes"] > 20 * lb["dr"]["bytes"]     # the 30 kB responses
    for m in ("nat", "fullnat"):
        assert runs[m]["paths"][0]["reply"][1] == "lb"
    for m in ("dr", "tun"):
        assert "lb" not in runs[m]["paths"][0]["reply"]


def test_the_sim_block_is_filled_in(lab):
    for r in lab[1]["runs"]:
        sim = r["sim"]
        assert sim["events"] > 1000 and sim["packet_hops"] > 1000
        assert sim["simulated_s"] > 0 and sim["wall_s"] > 0
        assert sim["stopped_by"] == "finished"
        p = r["packets"]
        assert p["sent"] == p["delivered"] + p["dropped"] + p["in_flight"]


def test_the_director_is_the_bottleneck(lab):
    """The director's single core was busy for most of the time the transfers took."""
    runs = {r["forwarding"][0]: r for r in lab[1]["runs"]}
    for m in ("dr", "nat"):
        lb = runs[m]["directors"]["lb"]
        busy = lb["cpu_utilization"] * runs[m]["sim"]["simulated_s"]
        assert busy > 0.8 * runs[m]["elapsed_s"]
