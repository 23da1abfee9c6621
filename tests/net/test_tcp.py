"""TCP over real hosts on one Ethernet segment: handshake timing, bytes on the wire,
transfer, loss recovery, SYN retries, RST, delayed ACK, teardown and TIME_WAIT."""
import math

import pytest
from scapy.layers.inet import IP, TCP

from net_helpers import ARP_FRAME, frames, host, hop, ip, new_ctx, run, segment
from ipvssim.net.app import HEADER_LEN, REQUEST_HEADER, ServerApp, tcp_client
from ipvssim.net.flow import Flow
from ipvssim.net.tcp import (
    CLOSE_WAIT, CLOSED, ESTABLISHED, FIN_WAIT2, LAST_ACK, LOCAL_PORT_RANGE, TIME_WAIT,
    TCP_DELACK_MIN, TCP_TIMEWAIT_LEN,
)
from ipvssim.packet.wire import (
    ETH_HLEN, ETH_P_IP, IPPROTO_TCP, TH_ACK, TH_FIN, TH_PSH, TH_SYN, eth_type, ip_dst,
    ip_proto, ip_src, ip_total_len, l4_offset, tcp_ack, tcp_flags, tcp_payload_len,
    tcp_seq, tcp_segment,
)

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
BW = 100e6              # 100 Mbps
DELAY = 1e-3            # 1 ms each way interface <-> switch
SYN_FRAME = 58          # 14 + 20 + 20 TCP + 4 MSS option
ACK_FRAME = 54          # 14 + 20 + 20
MSS = 1460


def t(nbytes: int) -> float:
    return hop(nbytes, BW, DELAY)


def lan(loss: float = 0.0, seed: int = 1):
    ctx = new_ctx(seed=seed)
    seg = segment(ctx, "lan", bandwidth=BW, delay=DELAY, loss=loss)
    c = host(ctx, "client", {"eth0": (seg, [f"{CLIENT}/24"])})
    s = host(ctx, "server", {"eth0": (seg, [f"{SERVER}/24"])})
    return ctx, c, s


def tcp_frames(ctx, hostname, direction=None):
    """(time, frame) of TCP frames captured on hostname's eth0; direction "out"/"in" by source IP."""
    me = ip(CLIENT if hostname == "client" else SERVER)
    out = []
    for when, f in frames(ctx, hostname):
        if eth_type(f) != ETH_P_IP or ip_proto(f) != IPPROTO_TCP:
            continue
        if direction == "out" and ip_src(f) != me or direction == "in" and ip_dst(f) != me:
            continue
        out.append((when, f))
    return out


def tcp_bytes(f) -> bytes:
    return bytes(f[l4_offset(f):ETH_HLEN + ip_total_len(f)])


def scapy_tcp(src, dst, **kw) -> bytes:
    """Reference TCP header+payload bytes built by Scapy (checksum over the pseudo-header)."""
    return bytes(IP(src=src, dst=dst) / TCP(**kw))[20:]


def flow(request=300, response=20000, proto="tcp"):
    return Flow(0, "t", "client", proto, 0.0, request, response)


def test_handshake_times_and_syn_bytes():
    ctx, c, s = lan()
    events = []
    accepted = []
    s.tcp.listen(80, lambda sock: (accepted.append(sock), events.append(("accept", ctx.env.now))))
    sock = c.tcp.connect(ip(SERVER), 80, on_connected=lambda so: events.append(("connected", ctx.env.now)))
    run(ctx, until=1.0)
    arp = 2 * t(ARP_FRAME)                 # who-has SERVER, reply; the server learns the client from the request
    assert events == [("connected", pytest.approx(arp + 2 * t(SYN_FRAME), abs=1e-12)),
                      ("accept", pytest.approx(arp + 2 * t(SYN_FRAME) + t(ACK_FRAME), abs=1e-12))]
    assert sock.state == ESTABLISHED and accepted[0].state == ESTABLISHED
    assert sock.mss == accepted[0].mss == MSS
    # The SYN on the wire: only the MSS option (MTU 1500 - 40), window 65535, our ISN.
    (_, syn), (_, ack) = tcp_frames(ctx, "client", "out")
    assert len(syn) == SYN_FRAME
    assert tcp_bytes(syn) == scapy_tcp(CLIENT, SERVER, sport=sock.lport, dport=80, seq=sock.iss, ack=0,
                                       flags="S", window=65535, options=[("MSS", MSS)])
    (_, synack), = tcp_frames(ctx, "server", "out")
    srv = accepted[0]
    assert tcp_bytes(synack) == scapy_tcp(SERVER, CLIENT, sport=80, dport=sock.lport, seq=srv.iss,
                                          ack=sock.iss + 1 & 0xFFFFFFFF, flags="SA", window=65535,
                                          options=[("MSS", MSS)])
    assert tcp_flags(ack) == TH_ACK and tcp_seq(ack) == (sock.iss + 1) & 0xFFFFFFFF
    assert tcp_ack(ack) == (srv.iss + 1) & 0xFFFFFFFF


def test_second_connection_costs_one_round_trip():
    ctx, c, s = lan()
    s.tcp.listen(80, lambda sock: None)
    times = []
    c.tcp.connect(ip(SERVER), 80)
    run(ctx, until=1.0)
    c.tcp.connect(ip(SERVER), 80, on_connected=lambda so: times.append(ctx.env.now))
    run(ctx, until=2.0)
    assert times == [pytest.approx(1.0 + 2 * t(SYN_FRAME), abs=1e-12)]


def test_ephemeral_ports_step_by_two_within_linux_range():
    ctx, c, s = lan()
    s.tcp.listen(80, lambda sock: None)
    ports = [c.tcp.connect(ip(SERVER), 80).lport for _ in range(4)]
    lo, hi = LOCAL_PORT_RANGE
    assert all(lo <= p <= hi and p % 2 == 0 for p in ports)
    assert len(set(ports)) == 4
    assert [(b - a) % (hi - lo + 1) for a, b in zip(ports, ports[1:])] == [2, 2, 2]
    # Same seed, same ports.
    ctx2, c2, s2 = lan()
    assert c2.tcp.connect(ip(SERVER), 80).lport == ports[0]
    run(ctx, until=1.0)
    run(ctx2, until=1.0)


def test_transfer_delivers_exact_bytes_in_mss_segments():
    ctx, c, s = lan()
    ServerApp(s, [("tcp", 80)])
    f = flow(request=300, response=100_000)
    done = []
    tcp_client(c, ip(SERVER), 80, 300, 100_000, f, done.append)
    run(ctx)
    assert f.status == "succeeded" and done == [f]
    assert f.received == 100_000
    data = [fr for _, fr in tcp_frames(ctx, "server", "out") if tcp_payload_len(fr)]
    assert len(data) == math.ceil(100_000 / MSS) == 69
    assert [tcp_payload_len(fr) for fr in data] == [MSS] * 68 + [100_000 - 68 * MSS]
    assert tcp_flags(data[-1]) & TH_PSH and not any(tcp_flags(fr) & TH_PSH for fr in data[:-1])
    # The request: one segment, the protocol header first, zeros after.
    req = [fr for _, fr in tcp_frames(ctx, "client", "out") if tcp_payload_len(fr)]
    assert len(req) == 1 and tcp_payload_len(req[0]) == 300
    payload = bytes(req[0][-300:])
    assert payload[:HEADER_LEN] == REQUEST_HEADER.pack(300, 100_000) and not any(payload[HEADER_LEN:])
    # No retransmission on a clean link, and every frame ends somewhere.
    seqs = [tcp_seq(fr) for fr in data]
    assert len(set(seqs)) == len(seqs)
    assert not ctx.ledger.live


def test_close_sequence_and_time_wait():
    ctx, c, s = lan()
    ServerApp(s, [("tcp", 80)])
    f = flow(request=100, response=1000)
    sock = tcp_client(c, ip(SERVER), 80, 100, 1000, f)
    run(ctx, until=1.0)
    assert f.status == "succeeded"
    # Client FIN -> server FIN+ACK (its ACK of our FIN rides on it) -> client ACK.
    out = [(when, tcp_flags(fr)) for when, fr in tcp_frames(ctx, "client", "out")]
    back = [(when, tcp_flags(fr)) for when, fr in tcp_frames(ctx, "server", "out")]
    fin_at = next(when for when, fl in out if fl & TH_FIN)
    assert (fin_at + t(ACK_FRAME), TH_FIN | TH_ACK) in [(pytest.approx(w, abs=1e-12), fl) for w, fl in back]
    assert out[-1][1] == TH_ACK
    last_ack = out[-1][0]
    assert sock.state == TIME_WAIT and sock.key in c.tcp.conns
    assert not s.tcp.conns                      # LAST_ACK -> CLOSED when our ACK arrived
    run(ctx, until=last_ack + TCP_TIMEWAIT_LEN - 1e-6)
    assert sock.state == TIME_WAIT
    run(ctx)
    assert sock.state == CLOSED and not c.tcp.conns
    assert ctx.env.now == pytest.approx(last_ack + TCP_TIMEWAIT_LEN, abs=1e-9)


def test_server_states_through_passive_close():
    ctx, c, s = lan()
    states = []

    def on_accept(sock):
        def on_data(so, n, head):
            states.append(so.state)
            if n == 0:
                so.close()
                states.append(so.state)
        sock.on_data = on_data

    s.tcp.listen(80, on_accept)
    sock = c.tcp.connect(ip(SERVER), 80, on_connected=lambda so: (so.send(10, b"hi"), so.close()))
    run(ctx, until=0.1)
    assert sock.state == FIN_WAIT2 or sock.state == TIME_WAIT
    assert states == [ESTABLISHED, CLOSE_WAIT, LAST_ACK]
    run(ctx, until=1.0)
    assert sock.state == TIME_WAIT and not s.tcp.conns


def test_delayed_ack_after_40ms_for_a_lone_segment():
    ctx, c, s = lan()
    got = []

    def on_accept(sock):
        sock.on_data = lambda so, n, head: got.append((ctx.env.now, n, head))

    s.tcp.listen(80, on_accept)
    c.tcp.connect(ip(SERVER), 80, on_connected=lambda so: so.send(1000, b"GET"))
    run(ctx, until=1.0)
    (arrived, n, head), = got
    assert n == 1000 and head == b"GET"
    acks = [(when, fr) for when, fr in tcp_frames(ctx, "server", "out")
            if tcp_flags(fr) == TH_ACK and not tcp_payload_len(fr)]
    assert len(acks) == 1
    assert acks[0][0] == pytest.approx(arrived + TCP_DELACK_MIN, abs=1e-12)


def test_two_full_segments_are_acked_at_once():
    ctx, c, s = lan()
    arrivals = []

    def on_accept(sock):
        sock.on_data = lambda so, n, head: arrivals.append(ctx.env.now)

    s.tcp.listen(80, on_accept)
    c.tcp.connect(ip(SERVER), 80, on_connected=lambda so: so.send(2 * MSS))
    run(ctx, until=1.0)
    acks = [when for when, fr in tcp_frames(ctx, "server", "out") if tcp_flags(fr) == TH_ACK]
    assert acks == [arrivals[1]]


def test_rst_answers_a_syn_to_a_closed_port():
    ctx, c, s = lan()
    f = flow()
    sock = tcp_client(c, ip(SERVER), 81, 300, 20000, f)
    run(ctx)
    arp = 2 * t(ARP_FRAME)
    assert f.status == "failed" and f.reason == "reset" and f.resets == 1
    assert f.end == pytest.approx(arp + t(SYN_FRAME) + t(ACK_FRAME), abs=1e-12)
    (_, rst), = tcp_frames(ctx, "server", "out")
    # RFC 9293: no ACK in the offending SYN -> RST|ACK, seq 0, ack = SEG.SEQ + SEG.LEN (SYN counts 1).
    assert tcp_bytes(rst) == scapy_tcp(SERVER, CLIENT, sport=81, dport=sock.lport, seq=0,
                                       ack=sock.iss + 1 & 0xFFFFFFFF, flags="RA", window=0)
    assert ctx.ledger.drops[("server", "no-socket")] == 1


def test_synack_from_an_unknown_address_is_reset():
    """What a NAT client sees when the real server answers from its own address."""
    ctx, c, s = lan()
    seq, ack = 0x11111111, 0x22222222
    synack = tcp_segment(ip(SERVER), ip(CLIENT), 80, 40000, seq, ack, TH_SYN | TH_ACK)
    s.ip_send(ip(CLIENT), IPPROTO_TCP, synack)
    run(ctx)
    (_, rst), = tcp_frames(ctx, "client", "out")
    # The segment had ACK set: RST with seq = SEG.ACK and no ACK flag.
    assert tcp_bytes(rst) == scapy_tcp(CLIENT, SERVER, sport=40000, dport=80, seq=ack, ack=0,
                                       flags="R", window=0)
    assert ctx.ledger.drops[("client", "no-socket")] == 1
    # ... and a RST is never answered.
    assert ctx.ledger.drops[("server", "no-socket")] == 1
    assert len(tcp_frames(ctx, "server", "out")) == 1


def test_syn_retries_against_a_black_hole():
    ctx, c, s = lan()

    def firewall_drop(host, iface, pkt):
        host.drop(pkt, "firewall", iface.name)
        return True

    s.local_in_hook = firewall_drop
    f = flow()
    tcp_client(c, ip(SERVER), 80, 300, 20000, f)
    run(ctx)
    syns = [when for when, fr in tcp_frames(ctx, "client", "out") if tcp_flags(fr) == TH_SYN]
    arp = 2 * t(ARP_FRAME)
    assert syns == pytest.approx([arp, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0], abs=1e-12)
    assert f.status == "failed" and f.reason == "timeout" and f.syn_retries == 6
    assert f.end == pytest.approx(127.0, abs=1e-9)
    assert not c.tcp.conns


def test_unresolvable_next_hop_fails_the_connect_with_unreachable():
    ctx, c, s = lan()
    f = flow()
    tcp_client(c, ip("10.0.0.99"), 80, 300, 20000, f)    # nobody answers ARP
    run(ctx)
    # ARP gives up after 3 requests 1 s apart; the host reports ICMP host unreachable
    # to the socket, which aborts the connect (tcp_v4_err in SYN_SENT).
    assert f.status == "failed" and f.reason == "unreachable"
    assert f.end == pytest.approx(3.0, abs=1e-9)


def test_fast_retransmit_recovers_one_lost_segment_without_timeout():
    ctx, c, s = lan()
    ServerApp(s, [("tcp", 80)])
    seen = {"data": 0}

    def lose_fifth_data_segment(host, iface, pkt):
        if ip_proto(pkt.data) == IPPROTO_TCP and tcp_payload_len(pkt.data):
            seen["data"] += 1
            if seen["data"] == 5:
                host.drop(pkt, "test-loss", iface.name)
                return True
        return False

    c.local_in_hook = lose_fifth_data_segment
    accepted = []
    listener = s.tcp.listeners[80]
    s.tcp.listeners[80] = lambda sock: (accepted.append(sock), listener(sock))
    f = flow(response=100_000)
    tcp_client(c, ip(SERVER), 80, 300, 100_000, f)
    run(ctx, until=5.0)
    srv = accepted[0]
    assert f.status == "succeeded" and f.received == 100_000
    assert srv.retrans == 1
    data = [(when, tcp_seq(fr)) for when, fr in tcp_frames(ctx, "server", "out") if tcp_payload_len(fr)]
    lost_seq = data[4][1]
    (first, _), (again, _) = [d for d in data if d[1] == lost_seq]
    # Resent on the third duplicate ACK, long before the 200 ms minimum RTO.
    assert again - first < 0.05
    assert not srv.in_recovery


def test_loss_recovered_by_retransmission_deterministically():
    def one(seed):
        ctx, c, s = lan(loss=0.05, seed=seed)
        ServerApp(s, [("tcp", 80)])
        f = flow(response=200_000)
        tcp_client(c, ip(SERVER), 80, 300, 200_000, f)
        run(ctx, until=600)
        resent = len(tcp_frames(ctx, "server", "out")) - len({tcp_seq(fr) for _, fr in tcp_frames(ctx, "server", "out")})
        return f, resent, ctx.ledger.drops

    f, resent, drops = one(7)
    assert f.status == "succeeded" and f.received == 200_000
    assert resent > 0 and drops[("lan", "link-loss")] > 0
    f2, resent2, drops2 = one(7)
    assert (f2.end, resent2, drops2) == (f.end, resent, drops)


def test_established_connection_reset_by_peer():
    ctx, c, s = lan()
    accepted = []
    s.tcp.listen(80, accepted.append)
    reasons = []
    sock = c.tcp.connect(ip(SERVER), 80, on_closed=lambda so, why: reasons.append((ctx.env.now, why)))
    run(ctx, until=0.1)
    accepted[0].abort()
    run(ctx, until=1.0)
    assert reasons == [(pytest.approx(0.1 + t(ACK_FRAME), abs=1e-12), "reset")]
    assert sock.state == CLOSED and not c.tcp.conns and not s.tcp.conns


def test_send_after_close_is_refused():
    ctx, c, s = lan()
    s.tcp.listen(80, lambda sock: None)
    sock = c.tcp.connect(ip(SERVER), 80)
    run(ctx, until=0.1)
    sock.close()
    with pytest.raises(ValueError):
        sock.send(10)
    run(ctx, until=1.0)


def test_empty_response_completes_when_both_fins_are_through():
    ctx, c, s = lan()
    ServerApp(s, [("tcp", 80)])
    f = flow(request=4, response=0)
    tcp_client(c, ip(SERVER), 80, 4, 0, f)
    run(ctx, until=1.0)
    assert f.status == "succeeded" and f.received == 0
    req = [fr for _, fr in tcp_frames(ctx, "client", "out") if tcp_payload_len(fr)]
    assert [tcp_payload_len(fr) for fr in req] == [HEADER_LEN]     # short requests grow to the header


def test_path_mtu_discovery_shrinks_the_mss():
    from ipvssim.net.host import Host
    from ipvssim.net.interface import Interface

    ctx = new_ctx()
    left = segment(ctx, "left", bandwidth=BW, delay=DELAY)
    right = segment(ctx, "right", bandwidth=BW, delay=DELAY)
    c = host(ctx, "client", {"eth0": (left, [f"{CLIENT}/24"])}, routes=[("0.0.0.0/0", "10.0.0.254")])
    s = host(ctx, "server", {"eth0": (right, ["10.0.1.2/24"])}, routes=[("0.0.0.0/0", "10.0.1.254")])
    r = Host(ctx, "router", forwarding=True)
    r.add_interface(Interface(ctx, "eth0"), left, [(ip("10.0.0.254"), 24)])
    r.add_interface(Interface(ctx, "eth1", mtu=1400), right, [(ip("10.0.1.254"), 24)])
    got = []

    def on_accept(sock):
        sock.on_data = lambda so, n, head: got.append(n)

    s.tcp.listen(80, on_accept)
    sock = c.tcp.connect(ip("10.0.1.2"), 80, on_connected=lambda so: so.send(5000))
    run(ctx, until=5.0)
    # Both ends advertised 1460; the router's "fragmentation needed" (MTU 1400) cut it to 1360.
    assert sock.mss == 1400 - 40
    assert sum(got) == 5000 and max(got) <= 1360
    assert ctx.ledger.drops[("router", "frag-needed")] >= 1


def test_a_route_change_mid_connection_moves_the_sockets_next_segments():
    """A socket keeps its route between segments (sk_dst_cache); a route change on the host
    must still reach it: segments sent after `add_route` leave by the new gateway."""
    ctx = new_ctx()
    lan1 = segment(ctx, "lan1")
    lan2 = segment(ctx, "lan2")
    wan = segment(ctx, "wan")
    c = host(ctx, "client", {"eth0": (lan1, ["10.0.1.10/24"]), "eth1": (lan2, ["10.0.2.10/24"])},
             routes=[("10.9.0.0/16", "10.0.1.1")])
    host(ctx, "gw1", {"eth0": (lan1, ["10.0.1.1/24"]), "eth1": (wan, ["10.9.0.1/16"])}, forwarding=True)
    host(ctx, "gw2", {"eth0": (lan2, ["10.0.2.1/24"]), "eth1": (wan, ["10.9.0.2/16"])}, forwarding=True)
    s = host(ctx, "server", {"eth0": (wan, ["10.9.0.9/16"])},
             routes=[("10.0.1.0/24", "10.9.0.1"), ("10.0.2.0/24", "10.9.0.1")])
    ServerApp(s, [("tcp", 80)])
    f = Flow(0, "t", "client", "tcp", 0.0, 300, 200_000)
    tcp_client(c, ip("10.9.0.9"), 80, 300, 200_000, f, lambda _f: None)
    run(ctx, until=0.5)                  # established, the response under way
    assert f.status == "pending"
    via_gw2_before = len(frames(ctx, "gw2"))
    switch_at = ctx.env.now
    c.add_route(ip("10.9.0.9"), 32, ip("10.0.2.1"))     # more specific: now via gw2
    run(ctx)
    assert f.status == "succeeded"
    assert via_gw2_before == 0
    # The client's segments after the change (ACKs, FIN) leave by eth1 and cross gw2.
    out_eth1 = [(when, fr) for when, fr in frames(ctx, "client", "eth1")
                if eth_type(fr) == ETH_P_IP and ip_proto(fr) == IPPROTO_TCP]
    assert len(out_eth1) > 10 and all(when >= switch_at for when, _ in out_eth1)
    assert all(ip_src(fr) == ip("10.0.1.10") for _, fr in out_eth1)   # the socket's address stays
    assert any(eth_type(fr) == ETH_P_IP and ip_proto(fr) == IPPROTO_TCP for _, fr in frames(ctx, "gw2", "eth1"))
