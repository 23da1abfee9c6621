"""Terminal summary and PNG plots rendered from a report."""
import struct

from ipvssim.report.json_report import report_to_dict
from ipvssim.report.plots import plot_comparison, plot_shares, plot_topology, write_all
from ipvssim.report.summary import format_summary, human_bps, share_bar
from report_fakes import make_flow, make_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def nat_flows():
    req = ["client", "gw", "lb", "rs1"]
    rep = ["rs1", "lb", "gw", "client"]
    return [make_flow(0, "rs1", 0.0, 0.02, request=req, reply=rep),
            make_flow(1, "rs1", 0.1, 0.03, request=req, reply=rep),
            make_flow(2, "rs2", 0.2, 3.0, status="failed", reason="timeout", reply=[])]


def two_runs(scenario, dr_flows):
    results = [make_result(scenario, dr_flows, mode="dr"),
               make_result(scenario, nat_flows(), mode="nat", drops={("client", "no-socket"): 2})]
    return report_to_dict(scenario, 7, results), results


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_units_and_bar():
    assert human_bps(1_882_352.9) == "1.88 Mbit/s"
    assert human_bps(950) == "950 bit/s"
    assert share_bar(0.75, 8) == "######.."


def test_single_run_summary_reads_at_a_glance(scenario, dr_flows):
    result = make_result(scenario, dr_flows)
    text = format_summary(report_to_dict(scenario, 7, [result]), [result])
    assert "connections  4 of 4 succeeded, 0 failed" in text
    assert "throughput   1.88 Mbit/s (80.00 kB in 0.340 s)" in text
    assert "latency      p50 20.000 ms   p99 40.000 ms" in text
    assert "    request  client -> gw -> lb -> rs1  [3 hops]" in text
    assert "    reply    rs1 -> gw -> client  [2 hops]" in text
    assert "  lb: 12 packets, 2.40 kB, CPU 12.5%, 0 connections scheduled" in text
    assert "  rs1       3   75.0%  " + "#" * 22 + "." * 8 in text
    assert "  PASS  connections browsers: succeeded all" in text
    assert "  FAIL  finding DR-ARP\n        validator reported nothing" in text
    assert "ipvsadm -Ln on lb\n  IP Virtual Server version 1.2.1 (size=4096)" in text
    assert "comparison" not in text


def test_several_runs_get_a_side_by_side_table(scenario, dr_flows):
    report, results = two_runs(scenario, dr_flows)
    text = format_summary(report, results)
    table = text.split("comparison\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert table[0].split() == ["dr", "nat"]
    assert table[2].split() == ["succeeded", "4/4", "2/3"]
    assert table[4].split() == ["latency", "p50", "20.000", "ms", "20.000", "ms"]
    assert "== mode nat ==" in text and "why: timeout (1)" in text
    assert "       2  no-socket (client)" in text
    assert "    reply    (none)  [not recorded]" in text


def test_plots_write_readable_pngs(scenario, dr_flows, tmp_path):
    report, results = two_runs(scenario, dr_flows)
    comparison = plot_comparison(report, tmp_path)
    shares = plot_shares(report, tmp_path)
    topo = plot_topology(scenario, report, tmp_path / "topo.png")
    for path in (comparison, shares, topo):
        w, h = png_size(path)
        assert w > 400 and h > 300 and path.stat().st_size > 10_000
    # one subplot per mode: the two-run drawing is about twice as tall as a bare topology
    bare = plot_topology(scenario, None, tmp_path / "bare.png")
    assert png_size(topo)[1] > 1.8 * png_size(bare)[1]
    # RunResults work too (paths computed from the flows)
    assert png_size(plot_topology(scenario, results, tmp_path / "from-results.png"))[1] == png_size(topo)[1]


def test_write_all_names_its_files(scenario, dr_flows, tmp_path):
    report, results = two_runs(scenario, dr_flows)
    names = sorted(p.name for p in write_all(report, results, tmp_path / "out"))
    assert names == ["comparison.png", "shares.png", "topology.png"]
    one = report_to_dict(scenario, 7, results[:1])
    assert sorted(p.name for p in write_all(one, results[:1], tmp_path / "one")) == \
        ["shares.png", "topology.png"]
