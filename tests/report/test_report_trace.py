"""Trace text: hop lines in time order, each rewrite as `field: old → new`, drop reasons."""
from ipvssim.net.flow import Flow
from ipvssim.net.observe import TraceStep
from ipvssim.packet import wire as w
from ipvssim.report.trace_text import format_trace

CLIENT, VIP, RIP, LIP = (w.ip_aton(a) for a in ("198.51.100.10", "10.0.0.100", "10.0.0.11", "10.0.0.50"))
MAC = {n: w.mac_aton(f"02:00:00:00:00:0{i}") for i, n in enumerate(("client", "gw0", "gw1", "lb", "rs1"), 1)}


def syn() -> bytearray:
    return w.ethernet_frame(MAC["gw0"], MAC["client"], w.ETH_P_IP,
                            w.ipv4_packet(CLIENT, VIP, w.IPPROTO_TCP,
                                          w.tcp_segment(CLIENT, VIP, 40000, 80, 1000, 0, w.TH_SYN)))


class Steps:
    """Builds TraceSteps for one packet as the hosts would record them."""

    def __init__(self, pid=5, flow=0):
        self.pid, self.flow, self.out = pid, flow, []

    def add(self, t, host, iface, action, frame, reason=None):
        self.out.append(TraceStep(t, self.pid, host, iface, action, reason, bytes(frame), self.flow))


def walk_to_director(s: Steps) -> bytearray:
    f = syn()
    s.add(0.0, "client", "eth0", "sent", f)
    s.add(0.000012, "gw", "eth0", "received", f)
    w.dec_ttl(f)
    w.set_eth(f, MAC["lb"], MAC["gw1"])
    s.add(0.000015, "gw", "eth1", "forwarded", f)
    s.add(0.000030, "lb", "eth0", "received", f)
    return f


def test_dr_trace_shows_only_the_mac_rewrite_at_the_director():
    s = Steps()
    f = walk_to_director(s)
    w.dec_ttl(f)
    w.set_eth(f, MAC["rs1"], MAC["lb"])
    s.add(0.000031, "lb", None, "rewritten", f, "ipvs dr")
    s.add(0.000045, "rs1", "eth0", "delivered", f)
    flow = Flow(0, "browsers", "client", "tcp", 0.0, 300, 20000)
    flow.real_server, flow.director = "rs1", "lb"
    flow.succeed(0.0123)
    text = format_trace(s.out, 0, flow)
    lines = text.splitlines()
    assert lines[0] == ("connection 0 (browsers, tcp from client, opened t=0.000000s): "
                        "succeeded in 12.300 ms, served by rs1 via lb")
    assert "packet 5: 198.51.100.10.40000 > 10.0.0.100.80: Flags [S], seq 1000" in text
    hop = [l for l in lines if "rewritten" in l][0]
    assert hop.startswith("  t=0.000031s  lb      -     rewritten (ipvs dr)  198.51.100.10.40000 > 10.0.0.100.80")
    after = lines[lines.index(hop) + 1:lines.index(hop) + 4]
    assert after == ["      Ether.dst: 02:00:00:00:00:04 → 02:00:00:00:00:05",
                     "      Ether.src: 02:00:00:00:00:03 → 02:00:00:00:00:04",
                     "      IP.ttl: 63 → 62"]
    assert "IP.dst" not in text                  # DR leaves the IP destination (the VIP) alone
    assert text.index("client  eth0") < text.index("gw      eth0") < text.index("rs1     eth0")


def test_nat_and_fullnat_rewrites_show_addresses_and_ports():
    s = Steps()
    f = walk_to_director(s)
    w.set_ip_src(f, LIP)
    w.set_sport(f, 5001)
    w.set_ip_dst(f, RIP)
    s.add(0.000031, "lb", None, "rewritten", f, "ipvs fullnat")
    text = format_trace(s.out, 0)
    assert "IP.src: 198.51.100.10 → 10.0.0.50" in text
    assert "IP.dst: 10.0.0.100 → 10.0.0.11" in text
    assert "TCP.sport: 40000 → 5001" in text
    assert "(checksums updated: IP, TCP)" in text


def test_tunnel_shows_the_added_outer_header():
    s = Steps()
    f = walk_to_director(s)
    f = w.ipip_encap(f, w.ip_aton("10.0.0.2"), RIP, ttl=63, df=True, ident=0)
    s.add(0.000031, "lb", None, "rewritten", f, "ipvs tun")
    text = format_trace(s.out, 0)
    assert "+ IP(outer): 10.0.0.2 > 10.0.0.11 proto 4" in text


def test_drop_reason_ends_the_packet_and_other_flows_are_ignored():
    s = Steps()
    f = walk_to_director(s)
    s.add(0.00004, "lb", "eth0", "dropped", f, "ipvs-no-destination")
    other = Steps(pid=9, flow=1)
    other.add(0.0, "client", "eth0", "sent", syn())
    text = format_trace(s.out + other.out, 0)
    assert text.rstrip().endswith("ends: dropped at lb -- ipvs-no-destination")
    assert "packet 9" not in text
    assert format_trace([], 3) == "no trace steps recorded for connection 3\n"
