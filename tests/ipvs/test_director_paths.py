"""One connection per forwarding mode, followed hop by hop through a simulated network.

Each test reads the bytes of one packet on every link it crossed ("received"
trace steps hold the frame as it arrived) and compares the director's output
with a frame Scapy builds from the expected header fields -- so the director's
incremental checksums are checked against Scapy's computed-from-scratch ones.
"""
from __future__ import annotations

import struct

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from director_lab import (CIP, DIP, LIP, MAC, RIP1, RIP3, TH, VIP, client_sent, lb_out, received,
                          rs_block, run, scenario_text, tcp_steps)
from ipvssim.packet import wire

TRAFFIC = "- {name: t, from: client, to: 10.0.0.100:80, request: 100B, response: 500B}"


def ip(a: int) -> str:
    return wire.ip_ntoa(a)


def rebuilt(orig: bytes, *, eth: tuple[str, str], ttl: int, src: int, dst: int, sport: int,
            dport: int, options=None) -> bytes:
    """`orig` (a client or server frame) with the given headers, built by Scapy.

    Everything not named (IP id, DF, TCP seq/ack/flags/window, payload) is copied
    from `orig`; lengths and checksums are Scapy's.
    """
    o = Ether(orig)
    payload = bytes(o[TCP].payload)
    pkt = Ether(dst=eth[0], src=eth[1]) / \
        IP(src=ip(src), dst=ip(dst), ttl=ttl, id=o[IP].id, flags=o[IP].flags, tos=o[IP].tos) / \
        TCP(sport=sport, dport=dport, seq=o[TCP].seq, ack=o[TCP].ack, flags=o[TCP].flags,
            window=o[TCP].window, options=o[TCP].options if options is None else options)
    if payload:
        pkt = pkt / Raw(payload)
    return bytes(pkt)


def hops(res, pid):
    """[(host, iface, src MAC, dst MAC, IP src, IP dst, TTL)] of a packet at each arrival."""
    return [(h, i, wire.mac_ntoa(f[6:12]), wire.mac_ntoa(f[0:6]), ip(wire.ip_src(f)), ip(wire.ip_dst(f)),
             f[22]) for h, i, f in received(res, pid)]


def reply_pid(res, flags, host):
    """pid of the first TCP packet with these flags the server `host` sent."""
    return next(s.pid for s in res.ctx.observer.steps
                if s.action == "sent" and s.host == host and s.data[23] == wire.IPPROTO_TCP
                and wire.tcp_flags(s.data) == flags)


def client_frame(res, flags):
    """The client's first frame with these TCP flags as it left (pcap on client eth0)."""
    mac = wire.mac_aton(MAC[("client", "eth0")])
    return next(f for _, f in res.ctx.observer.captures[("client", "eth0")]
                if f[6:12] == mac and f[23] == wire.IPPROTO_TCP and wire.tcp_flags(f) == flags)


def test_dr_syn_gets_only_new_macs_and_ttl_and_the_reply_bypasses_the_director():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: dr, real_servers: [{host: rs1}]}",
        TRAFFIC, [rs_block("rs1")]))
    assert res.flows[0].status == "succeeded"
    syn = client_sent(res, TH["S"])
    assert hops(res, syn.pid) == [
        ("gw", "eth0", MAC["client", "eth0"], MAC["gw", "eth0"], "198.51.100.10", "10.0.0.100", 64),
        ("lb", "eth0", MAC["gw", "eth1"], MAC["lb", "eth0"], "198.51.100.10", "10.0.0.100", 63),
        # DR: IP destination still the VIP, frame addressed to rs1's MAC, TTL-1.
        ("rs1", "eth0", MAC["lb", "eth0"], MAC["rs1", "eth0"], "198.51.100.10", "10.0.0.100", 62),
    ]
    orig = client_frame(res, TH["S"])
    cport = wire.l4_sport(orig)
    [out] = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) == TH["S"])
    assert out == rebuilt(orig, eth=(MAC["rs1", "eth0"], MAC["lb", "eth0"]), ttl=62, src=CIP, dst=VIP,
                          sport=cport, dport=80)
    synack = reply_pid(res, TH["SA"], "rs1")
    assert hops(res, synack) == [
        ("gw", "eth1", MAC["rs1", "eth0"], MAC["gw", "eth1"], "10.0.0.100", "198.51.100.10", 64),
        ("client", "eth0", MAC["gw", "eth0"], MAC["client", "eth0"], "10.0.0.100", "198.51.100.10", 63),
    ]
    # No packet from the server side ever reaches the director.
    assert not [s for s in tcp_steps(res) if s.host == "lb" and wire.ip_src(s.data) == VIP]
    assert res.flows[0].request_path == ["client", "gw", "lb", "rs1"]
    assert res.flows[0].reply_path == ["rs1", "gw", "client"]


def test_nat_rewrites_destination_and_port_and_the_reply_is_masqueraded_by_the_director():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: nat,"
        " real_servers: [{host: rs1, port: 8080}]}",
        TRAFFIC, [rs_block("rs1", vip_on=None, gateway="10.0.0.2", arp=False, listen="[tcp/8080]")]))
    assert res.flows[0].status == "succeeded"
    syn = client_sent(res, TH["S"])
    assert hops(res, syn.pid)[-1] == \
        ("rs1", "eth0", MAC["lb", "eth0"], MAC["rs1", "eth0"], "198.51.100.10", "10.0.0.11", 62)
    orig = client_frame(res, TH["S"])
    cport = wire.l4_sport(orig)
    [out] = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) == TH["S"])
    assert out == rebuilt(orig, eth=(MAC["rs1", "eth0"], MAC["lb", "eth0"]), ttl=62, src=CIP, dst=RIP1,
                          sport=cport, dport=8080)

    synack = reply_pid(res, TH["SA"], "rs1")
    assert hops(res, synack) == [
        ("lb", "eth0", MAC["rs1", "eth0"], MAC["lb", "eth0"], "10.0.0.11", "198.51.100.10", 64),
        ("gw", "eth1", MAC["lb", "eth0"], MAC["gw", "eth1"], "10.0.0.100", "198.51.100.10", 63),
        ("client", "eth0", MAC["gw", "eth0"], MAC["client", "eth0"], "10.0.0.100", "198.51.100.10", 62),
    ]
    rs_frame = received(res, synack)[0][2]
    assert wire.l4_sport(rs_frame) == 8080
    [back] = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) == TH["SA"])
    assert back == rebuilt(rs_frame, eth=(MAC["gw", "eth1"], MAC["lb", "eth0"]), ttl=63, src=VIP,
                           dst=CIP, sport=80, dport=cport)
    assert res.flows[0].reply_path == ["rs1", "lb", "gw", "client"]


def test_tun_wraps_the_packet_in_ipip_to_a_routed_server_which_replies_directly():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: tun, real_servers: [{host: rs3}]}",
        TRAFFIC, [rs_block("rs3", vip_on="tunl0", gateway="10.2.0.1", rp_filter=0)]))
    assert res.flows[0].status == "succeeded"
    syn = client_sent(res, TH["S"])
    h = hops(res, syn.pid)
    # Outer header: director's address toward the RIP -> RIP; outer TTL = inner TTL after -1.
    assert h[1:] == [
        ("lb", "eth0", MAC["gw", "eth1"], MAC["lb", "eth0"], "198.51.100.10", "10.0.0.100", 63),
        ("r2", "eth0", MAC["lb", "eth0"], MAC["r2", "eth0"], "10.0.0.2", "10.2.0.11", 62),
        ("rs3", "eth0", MAC["r2", "eth1"], MAC["rs3", "eth0"], "10.0.0.2", "10.2.0.11", 61),
        ("rs3", "tunl0", MAC["r2", "eth1"], MAC["rs3", "eth0"], "198.51.100.10", "10.0.0.100", 62),
    ]
    orig = client_frame(res, TH["S"])
    out = lb_out(res, lambda f: f[23] == wire.IPPROTO_IPIP)[0]      # the SYN, first
    inner = Ether(rebuilt(orig, eth=("00:00:00:00:00:00",) * 2, ttl=62, src=CIP, dst=VIP,
                          sport=wire.l4_sport(orig), dport=80))[IP]
    # DF copied from the inner header; with DF set the outer IP ID is 0 (no socket).
    golden = Ether(dst=MAC["r2", "eth0"], src=MAC["lb", "eth0"]) / \
        IP(src=ip(DIP), dst=ip(RIP3), ttl=62, id=0, flags="DF", proto=4) / inner
    assert out == bytes(golden)
    assert out[14 + 9] == wire.IPPROTO_IPIP and wire.ip_df(out)
    synack = reply_pid(res, TH["SA"], "rs3")
    assert [x[:2] for x in hops(res, synack)] == [("r2", "eth1"), ("gw", "eth1"), ("client", "eth0")]
    assert hops(res, synack)[0][4] == "10.0.0.100"
    assert res.flows[0].reply_path == ["rs3", "r2", "gw", "client"]


def test_fullnat_rewrites_both_ends_adds_toa_to_the_first_ack_and_carries_the_reply():
    res = run(scenario_text(
        "- {name: web, director: lb, vip: 10.0.0.100, port: 80, mode: fullnat,"
        " local_addresses: [10.0.0.50], real_servers: [{host: rs3, port: 8080}]}",
        TRAFFIC, [rs_block("rs3", vip_on=None, gateway="10.2.0.1", arp=False, listen="[tcp/8080]")]))
    assert res.flows[0].status == "succeeded"
    [conn] = list(res.directors["lb"].table)
    lport = conn.lport
    assert conn.laddr == LIP and 1025 <= lport <= 65535
    orig = client_frame(res, TH["S"])
    cport = wire.l4_sport(orig)
    syn = client_sent(res, TH["S"])
    assert hops(res, syn.pid)[2:] == [
        ("r2", "eth0", MAC["lb", "eth0"], MAC["r2", "eth0"], "10.0.0.50", "10.2.0.11", 62),
        ("rs3", "eth0", MAC["r2", "eth1"], MAC["rs3", "eth0"], "10.0.0.50", "10.2.0.11", 61),
    ]
    [out] = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) == TH["S"])
    assert out == rebuilt(orig, eth=(MAC["r2", "eth0"], MAC["lb", "eth0"]), ttl=62, src=LIP, dst=RIP3,
                          sport=lport, dport=8080)

    # SYN-ACK: RIP:8080 -> LIP:lport comes back to the director, leaves as VIP:80 -> CIP:cport,
    # with the MSS lowered by the 8 bytes TOA will take.
    synack = reply_pid(res, TH["SA"], "rs3")
    assert [x[:2] + x[4:] for x in hops(res, synack)] == [
        ("r2", "eth1", "10.2.0.11", "10.0.0.50", 64),
        ("lb", "eth0", "10.2.0.11", "10.0.0.50", 63),
        ("gw", "eth1", "10.0.0.100", "198.51.100.10", 62),
        ("client", "eth0", "10.0.0.100", "198.51.100.10", 61),
    ]
    rs_frame = received(res, synack)[1][2]
    mss = Ether(rs_frame)[TCP].options
    assert mss == [("MSS", 1460)]
    [back] = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) == TH["SA"])
    assert back == rebuilt(rs_frame, eth=(MAC["gw", "eth1"], MAC["lb", "eth0"]), ttl=62, src=VIP,
                           dst=CIP, sport=80, dport=cport, options=[("MSS", 1452)])

    # The client's handshake ACK gets TOA: kind 254, length 8, client port + client IP.
    ack = client_frame(res, TH["A"])
    [toa_out] = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) == TH["A"]
                       and wire.tcp_ack(f) == wire.tcp_ack(ack))[:1]
    toa = (254, struct.pack("!HI", cport, CIP))
    assert toa_out == rebuilt(ack, eth=(MAC["r2", "eth0"], MAC["lb", "eth0"]), ttl=62, src=LIP,
                              dst=RIP3, sport=lport, dport=8080, options=[toa])
    assert toa_out[14 + 20 + 20:14 + 20 + 28] == bytes([254, 8]) + struct.pack("!HI", cport, CIP)
    # Only the packets acknowledging the RS's ISN+1 before its first byte carry TOA; later
    # ones (after the response started) do not.
    later = lb_out(res, lambda f: f[23] == 6 and wire.tcp_flags(f) & wire.TH_FIN)
    assert later and all(wire.tcp_hlen(f) == 20 for f in later)
    assert res.flows[0].request_path == ["client", "gw", "lb", "r2", "rs3"]
    assert res.flows[0].reply_path == ["rs3", "r2", "lb", "gw", "client"]
