"""UDP sockets and the UDP request/response app over real hosts: timing, datagram sizes,
ICMP port unreachable, timeouts, and the connected-socket source filter."""
import pytest

from net_helpers import ARP_FRAME, frames, host, hop, icmp_frames, ip, new_ctx, run, segment
from ipvssim.net.app import HEADER_LEN, REQUEST_HEADER, ServerApp, udp_chunks, udp_client
from ipvssim.net.flow import Flow
from ipvssim.packet.wire import (
    ETH_P_IP, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, IPPROTO_UDP, eth_type, ip_dst,
    ip_proto, ip_src, l4_offset, udp_payload_len,
)

CLIENT, SERVER, OTHER = "10.0.0.1", "10.0.0.2", "10.0.0.3"
BW = 100e6
DELAY = 1e-3
UDP_OVERHEAD = 14 + 20 + 8
ICMP_ERROR_FRAME = 14 + 20 + 8 + 28     # quotes the IP header and 8 bytes


def t(nbytes: int) -> float:
    return hop(nbytes, BW, DELAY)


def lan():
    ctx = new_ctx()
    seg = segment(ctx, "lan", bandwidth=BW, delay=DELAY)
    c = host(ctx, "client", {"eth0": (seg, [f"{CLIENT}/24"])})
    s = host(ctx, "server", {"eth0": (seg, [f"{SERVER}/24", f"{OTHER}/24"])})
    return ctx, c, s


def udp_frames(ctx, hostname, src):
    return [(when, f) for when, f in frames(ctx, hostname)
            if eth_type(f) == ETH_P_IP and ip_proto(f) == IPPROTO_UDP and ip_src(f) == ip(src)]


def flow(request, response):
    return Flow(0, "dns", "client", "udp", 0.0, request, response)


def test_udp_chunks_fit_the_mtu_and_keep_room_for_the_header():
    assert udp_chunks(100, 1500) == [100]
    assert udp_chunks(1472, 1500) == [1472]
    assert udp_chunks(2950, 1500) == [1472, 1472, 6]
    assert udp_chunks(2950, 1500, min_size=HEADER_LEN) == [1472, 1470, 8]
    assert sum(udp_chunks(10_000, 9000)) == 10_000


def test_request_response_exact_time_and_bytes():
    ctx, c, s = lan()
    ServerApp(s, [("udp", 53)])
    f = flow(100, 200)
    done = []
    udp_client(c, ip(SERVER), 53, 100, 200, f, done.append)
    run(ctx)
    # ARP both ways first (the server learns the client from its request), then one
    # datagram each way.
    expected = 2 * t(ARP_FRAME) + t(UDP_OVERHEAD + 100) + t(UDP_OVERHEAD + 200)
    assert f.status == "succeeded" and done == [f]
    assert f.end == pytest.approx(expected, abs=1e-12)
    assert f.received == 200 and f.real_server == "server"
    (_, req), = udp_frames(ctx, "client", CLIENT)
    payload = bytes(req[l4_offset(req) + 8:])
    assert payload == REQUEST_HEADER.pack(100, 200) + bytes(100 - HEADER_LEN)
    (_, resp), = udp_frames(ctx, "server", SERVER)
    assert ip_dst(resp) == ip(CLIENT) and udp_payload_len(resp) == 200
    assert not c.udp.sockets                 # the client's ephemeral socket is closed


def test_large_request_and_response_are_split_at_the_mtu():
    ctx, c, s = lan()
    ServerApp(s, [("udp", 53)])
    f = flow(3000, 5000)
    udp_client(c, ip(SERVER), 53, 3000, 5000, f)
    run(ctx)
    assert f.status == "succeeded" and f.received == 5000
    sent = [udp_payload_len(fr) for _, fr in udp_frames(ctx, "client", CLIENT)]
    back = [udp_payload_len(fr) for _, fr in udp_frames(ctx, "server", SERVER)]
    assert sent == [1472, 1472, 56] and back == [1472, 1472, 1472, 584]
    # Every request datagram carries the header.
    for _, fr in udp_frames(ctx, "client", CLIENT):
        start = l4_offset(fr) + 8
        assert bytes(fr[start:start + HEADER_LEN]) == REQUEST_HEADER.pack(3000, 5000)


def test_no_server_port_unreachable_fails_the_flow():
    ctx, c, s = lan()
    f = flow(100, 200)
    udp_client(c, ip(SERVER), 53, 100, 200, f)
    run(ctx)
    expected = 2 * t(ARP_FRAME) + t(UDP_OVERHEAD + 100) + t(ICMP_ERROR_FRAME)
    assert f.status == "failed" and f.reason == "icmp-unreachable"
    assert f.end == pytest.approx(expected, abs=1e-12)
    (_, typ, code, _), = icmp_frames(ctx, "server")
    assert (typ, code) == (ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)
    assert ctx.ledger.drops[("server", "port-unreachable")] == 1


def test_silent_server_times_out_after_five_seconds():
    ctx, c, s = lan()
    s.udp.bind(53, lambda *args: None)       # takes the request, never answers
    f = flow(100, 200)
    udp_client(c, ip(SERVER), 53, 100, 200, f)
    run(ctx)
    assert f.status == "failed" and f.reason == "timeout" and f.end == pytest.approx(5.0)


def test_reply_from_another_address_misses_the_connected_socket():
    """The UDP face of a NAT mistake: the answer comes from an address the client did not ask."""
    ctx, c, s = lan()

    def answer_from_other(sock, src, sport, dst, n, head, fl):
        sock.sendto(src, sport, 200, src=ip(OTHER), flow=fl)

    s.udp.bind(53, answer_from_other)
    f = flow(100, 200)
    udp_client(c, ip(SERVER), 53, 100, 200, f)
    run(ctx)
    assert f.status == "failed" and f.reason == "timeout" and f.received == 0
    assert ctx.ledger.drops[("client", "port-unreachable")] == 1
    (_, typ, code, _), = icmp_frames(ctx, "client")
    assert (typ, code) == (ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)


def test_server_replies_from_the_address_it_was_asked_on():
    ctx, c, s = lan()
    ServerApp(s, [("udp", 53)])
    f = flow(100, 200)
    udp_client(c, ip(OTHER), 53, 100, 200, f)
    run(ctx)
    assert f.status == "succeeded"
    (_, resp), = udp_frames(ctx, "server", OTHER)
    assert ip_src(resp) == ip(OTHER)


def test_bind_conflict_and_ephemeral_ports():
    ctx, c, s = lan()
    s.udp.bind(53)
    with pytest.raises(ValueError):
        s.udp.bind(53)
    a, b = c.udp.bind(), c.udp.bind()
    assert a.port != b.port and 32768 <= a.port <= 60999 and 32768 <= b.port <= 60999
    a.close()
    assert a.port not in c.udp.sockets
