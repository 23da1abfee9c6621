"""`pcap=FOLDER`: each interface's capture goes to its file while the run goes on, with
the bytes an in-memory capture written out afterwards gives (what `ipvssim run --pcap`
relies on for long runs)."""
from ipvssim.packet.pcap import pcap_bytes
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim import Simulation

LAN = """
name: streaming
duration: 60s
topology:
  segments: {lan: {subnet: 10.0.0.0/24, bandwidth: 100Mbps, delay: 100us}}
  hosts:
    client: {interfaces: {eth0: {segment: lan, ip: 10.0.0.10}}}
    server:
      interfaces: {eth0: {segment: lan, ip: 10.0.0.20}}
      app: {listen: [tcp/80]}
traffic:
  - {from: client, to: '10.0.0.20:80', connections: 1500, rate: 500/s, request: 200B, response: 4KB}
"""


def test_streamed_pcaps_are_the_in_memory_capture_written_out(tmp_path):
    scn = load_scenario_text(LAN, "streaming.yaml")
    in_memory = Simulation(scn, pcap=True).run().ctx.observer.captures
    seen_during_run = []

    def progress(now, horizon):
        path = tmp_path / "client-eth0.pcap"
        seen_during_run.append((now, path.stat().st_size if path.exists() else 0))

    streamed = Simulation(scn, pcap=tmp_path, progress=progress).run()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["client-eth0.pcap", "server-eth0.pcap"]     # lo saw nothing: no file
    for name in files:
        host, iface = name[:-5].split("-")
        assert (tmp_path / name).read_bytes() == pcap_bytes(in_memory[(host, iface)])
    # written while the run went on (not all at its end), and nothing is left in memory
    assert any(0 < size for now, size in seen_during_run[1:] if now < streamed.simulated_s)
    assert all(capture.pending_bytes == 0 for capture in streamed.ctx.observer.captures.values())
