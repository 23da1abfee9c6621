"""Host: ARP, routing, forwarding, rp_filter, ICMP, IPIP decapsulation, fragments, from_spec."""
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from net_helpers import (
    ARP_FRAME, PING_FRAME, arp_frames, frames, hop, host, icmp_frames, ip, new_ctx, run, segment,
)
from ipvssim.net.host import Host
from ipvssim.net.segment import Segment
from ipvssim.packet.wire import (
    ARPOP_REPLY, ARPOP_REQUEST, ETH_HLEN, ETH_P_IP, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY,
    ICMP_FRAG_NEEDED, ICMP_HOST_UNREACH, ICMP_NET_UNREACH, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED,
    IPPROTO_UDP, ZERO_MAC, checksum, eth_dst, eth_src, eth_type, ip_dst, ip_src,
    ip_tos, ip_total_len, ip_ttl, ipip_encap, ipv4_packet, ethernet_frame, udp_datagram, arp_packet,
)
from ipvssim.scenario.model import HostSpec, InterfaceSpec, RouteSpec, SegmentSpec, SysctlSpec


def pinger():
    replies = []
    return replies, lambda pkt, seq, rtt: replies.append((seq, rtt))


def echo_requests(ctx, name, ifname="eth0"):
    return [(t, f) for t, ty, _, f in icmp_frames(ctx, name, ifname) if ty == ICMP_ECHO]


# --- one segment ------------------------------------------------------------------------------

def test_ping_rtt_includes_arp_only_the_first_time():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    b = host(ctx, "b", {"eth0": (lan, ["10.0.0.2/24"])})
    replies, cb = pinger()
    a.ping(ip("10.0.0.2"), seq=1, on_reply=cb)
    ctx.env.timeout(1.0).callbacks.append(lambda _e: a.ping(ip("10.0.0.2"), seq=2, ident=1, on_reply=cb))
    run(ctx)
    assert replies[0] == (1, pytest.approx(2 * hop(ARP_FRAME) + 2 * hop(PING_FRAME), abs=1e-12))
    assert replies[0][1] == pytest.approx(0.01248)
    assert replies[1] == (2, pytest.approx(2 * hop(PING_FRAME), abs=1e-12))
    arps = arp_frames(ctx, "a")
    assert [op for _, (op, *_rest) in arps] == [ARPOP_REQUEST, ARPOP_REPLY]
    assert all(t < 1.0 for t, _ in arps)
    mac_a, mac_b = a.interfaces["eth0"].mac, b.interfaces["eth0"].mac
    assert arps[0][1] == (ARPOP_REQUEST, mac_a, ip("10.0.0.1"), ZERO_MAC, ip("10.0.0.2"))
    assert arps[1][1] == (ARPOP_REPLY, mac_b, ip("10.0.0.2"), mac_a, ip("10.0.0.1"))
    # b learnt a from the request: its echo replies needed no ARP of its own.
    assert len(arp_frames(ctx, "b")) == 2
    assert ctx.ledger.in_flight == 0 and ctx.ledger.dropped_count == 0


def test_wrong_gateway_fails_after_three_requests_one_second_apart():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])}, routes=[("0.0.0.0/0", "10.0.0.99")])
    host(ctx, "b", {"eth0": (lan, ["10.0.0.2/24"])})
    a.ping(ip("192.0.2.1"))
    run(ctx)
    assert [(t, f[4]) for t, f in arp_frames(ctx, "a")] == [(0.0, ip("10.0.0.99")), (1.0, ip("10.0.0.99")),
                                                            (2.0, ip("10.0.0.99"))]
    assert ctx.ledger.drops[("a", "arp-failed")] == 1
    # A locally generated packet: the error goes to the local stack, nothing on the wire.
    assert icmp_frames(ctx, "a") == []


# --- three subnets ------------------------------------------------------------------------------

def three_subnets(ctx, r2_routes=None):
    n1, n2, n3 = segment(ctx, "n1"), segment(ctx, "n2"), segment(ctx, "n3")
    a = host(ctx, "a", {"eth0": (n1, ["10.0.1.2/24"])}, routes=[("0.0.0.0/0", "10.0.1.1")])
    r1 = host(ctx, "r1", {"eth0": (n1, ["10.0.1.1/24"]), "eth1": (n2, ["10.0.2.1/24"])}, forwarding=True,
              routes=[("10.0.3.0/24", "10.0.2.2")])
    r2 = host(ctx, "r2", {"eth0": (n2, ["10.0.2.2/24"]), "eth1": (n3, ["10.0.3.1/24"])}, forwarding=True,
              routes=r2_routes if r2_routes is not None else [("10.0.1.0/24", "10.0.2.1")])
    b = host(ctx, "b", {"eth0": (n3, ["10.0.3.2/24"])}, routes=[("0.0.0.0/0", "10.0.3.1")])
    return a, r1, r2, b


def test_routed_ping_decrements_ttl_and_rewrites_macs_per_hop():
    ctx = new_ctx()
    a, r1, r2, b = three_subnets(ctx)
    replies, cb = pinger()
    req = a.ping(ip("10.0.3.2"), on_reply=cb)
    ctx.env.timeout(1.0).callbacks.append(lambda _e: a.ping(ip("10.0.3.2"), seq=2, ident=1, on_reply=cb))
    run(ctx)
    assert req.path == ["a", "r1", "r2", "b"]
    mac = {(h.name, n): i.mac for h in (a, r1, r2, b) for n, i in h.interfaces.items()}
    hops = [("a", "eth0", ("a", "eth0"), ("r1", "eth0"), 64),
            ("r1", "eth1", ("r1", "eth1"), ("r2", "eth0"), 63),
            ("r2", "eth1", ("r2", "eth1"), ("b", "eth0"), 62)]
    for name, ifname, src, dst, ttl in hops:
        _, f = echo_requests(ctx, name, ifname)[0]
        assert (eth_src(f), eth_dst(f), ip_ttl(f)) == (mac[src], mac[dst], ttl)
        assert (ip_src(f), ip_dst(f)) == (ip("10.0.1.2"), ip("10.0.3.2"))
        assert checksum(f, ETH_HLEN, ETH_HLEN + 20) == 0
    # Once every neighbour is known: three segments each way.
    assert replies[1] == (2, pytest.approx(6 * hop(PING_FRAME), abs=1e-12))
    # A request and a reply per segment for ARP, then 2 pings x 2 directions x 3 segments.
    assert ctx.hops == 3 * 2 + 2 * 2 * 3
    assert ctx.ledger.dropped_count == 0


def test_ttl_loop_ends_in_time_exceeded_from_the_router_where_it_ran_out():
    ctx = new_ctx()
    # r1 sends 10.9/16 to r2 and r2 sends it back: a loop.
    a, r1, r2, b = three_subnets(ctx, r2_routes=[("10.0.1.0/24", "10.0.2.1"), ("10.9.0.0/16", "10.0.2.1")])
    r1.add_route(ip("10.9.0.0"), 16, ip("10.0.2.2"))
    req = a.ping(ip("10.9.0.1"))
    run(ctx)
    # TTL 64 leaves a; r1 sees 64, r2 63, ... the 64th router visit (r2) sees 1.
    assert req.path == ["a"] + ["r1", "r2"] * 32
    assert ctx.ledger.drops[("r2", "ttl-exceeded")] == 1
    (t, ty, code, f), = [x for x in icmp_frames(ctx, "a") if x[1] != ICMP_ECHO]
    assert (ty, code) == (ICMP_TIME_EXCEEDED, 0)
    assert (ip_src(f), ip_dst(f)) == (ip("10.0.2.2"), ip("10.0.1.2"))
    assert ip_tos(f) == 0xC0
    # The quoted header is the expiring packet's: TTL 1, destination 10.9.0.1.
    quoted = f[ETH_HLEN + 28:]
    assert quoted[8] == 1 and int.from_bytes(quoted[16:20], "big") == ip("10.9.0.1")


def test_router_without_forwarding_drops_silently():
    ctx = new_ctx()
    n1, n2 = segment(ctx, "n1"), segment(ctx, "n2")
    a = host(ctx, "a", {"eth0": (n1, ["10.0.1.2/24"])}, routes=[("0.0.0.0/0", "10.0.1.1")])
    host(ctx, "r", {"eth0": (n1, ["10.0.1.1/24"]), "eth1": (n2, ["10.0.2.1/24"])}, forwarding=False)
    host(ctx, "b", {"eth0": (n2, ["10.0.2.2/24"])}, routes=[("0.0.0.0/0", "10.0.2.1")])
    a.ping(ip("10.0.2.2"))
    run(ctx)
    assert ctx.ledger.drops[("r", "not-forwarding")] == 1
    assert [ty for _, ty, _, _ in icmp_frames(ctx, "a")] == [ICMP_ECHO]
    assert frames(ctx, "b") == []


def test_router_with_unresolvable_next_hop_sends_host_unreachable():
    ctx = new_ctx()
    a, r1, r2, b = three_subnets(ctx)
    r1.remove_route(ip("10.0.3.0"), 24)
    r1.add_route(ip("10.0.3.0"), 24, ip("10.0.2.99"))
    a.ping(ip("10.0.3.2"))
    run(ctx)
    assert ctx.ledger.drops[("r1", "arp-failed")] == 1
    (t, ty, code, f), = [x for x in icmp_frames(ctx, "a") if x[1] != ICMP_ECHO]
    assert (ty, code) == (ICMP_DEST_UNREACH, ICMP_HOST_UNREACH)
    assert ip_src(f) == ip("10.0.1.1")
    # Echo request reached r1 after ARP on n1; r1 gave up 3 s later; the error crossed n1.
    t_req = 2 * hop(ARP_FRAME) + hop(PING_FRAME)
    icmp_frame = 14 + 20 + 8 + 28          # Ethernet, IP, ICMP header, quoted IP header + 8 bytes
    assert t == pytest.approx(t_req + 3.0 + hop(icmp_frame), abs=1e-12)


def test_no_route_on_a_router_sends_net_unreachable():
    ctx = new_ctx()
    a, r1, r2, b = three_subnets(ctx)
    a.ping(ip("198.18.0.1"))
    run(ctx)
    assert ctx.ledger.drops[("r1", "no-route")] == 1
    assert [(ty, code) for _, ty, code, _ in icmp_frames(ctx, "a")] == \
        [(ICMP_ECHO, 0), (ICMP_DEST_UNREACH, ICMP_NET_UNREACH)]


def test_locally_generated_packet_without_route_returns_none():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    assert a.ping(ip("192.0.2.1")) is None
    assert a.route_source(ip("192.0.2.1")) is None
    run(ctx)
    assert ctx.ledger.drops[("a", "no-route")] == 1


# --- rp_filter -----------------------------------------------------------------------------------

def asymmetric(ctx, all_rp=None, eth1_rp=None):
    """a -> r -> s.eth1, while s's route back to a leaves through s.eth0 (on a's segment)."""
    n1, n2 = segment(ctx, "n1"), segment(ctx, "n2")
    a = host(ctx, "a", {"eth0": (n1, ["10.0.1.2/24"])}, routes=[("10.0.2.0/24", "10.0.1.1")])
    host(ctx, "r", {"eth0": (n1, ["10.0.1.1/24"]), "eth1": (n2, ["10.0.2.1/24"])}, forwarding=True)
    s = host(ctx, "s", {"eth0": (n1, ["10.0.1.3/24"]), "eth1": (n2, ["10.0.2.3/24"])},
             sysctl=SysctlSpec(rp_filter=all_rp), iface_sysctl={"eth1": SysctlSpec(rp_filter=eth1_rp)})
    return a, s


@pytest.mark.parametrize("all_rp, eth1_rp", [(1, None), (None, 1), (1, 0), (0, 1)])
def test_strict_rp_filter_drops_a_packet_arriving_on_the_wrong_interface(all_rp, eth1_rp):
    ctx = new_ctx()
    a, s = asymmetric(ctx, all_rp, eth1_rp)
    replies, cb = pinger()
    a.ping(ip("10.0.2.3"), on_reply=cb)
    run(ctx)
    assert replies == []
    assert ctx.ledger.drops[("s", "rp_filter")] == 1


@pytest.mark.parametrize("all_rp, eth1_rp", [(2, None), (None, 2), (2, 1), (0, 0)])
def test_loose_or_no_rp_filter_accepts_it_and_replies_directly(all_rp, eth1_rp):
    ctx = new_ctx()
    a, s = asymmetric(ctx, all_rp, eth1_rp)
    replies, cb = pinger()
    req = a.ping(ip("10.0.2.3"), on_reply=cb)
    run(ctx)
    assert len(replies) == 1
    assert req.path == ["a", "r", "s"]
    # The reply took s's own route back: straight out of s.eth0, from the pinged address.
    (_, f), = [(t, f) for t, ty, _, f in icmp_frames(ctx, "s") if ty == ICMP_ECHOREPLY]
    assert ip_src(f) == ip("10.0.2.3")
    assert frames(ctx, "s", "eth0")[-1][1] == f


@pytest.mark.parametrize("change", ["host", "interface"])
def test_rp_filter_set_between_two_pings_applies_to_the_second(change):
    # The receive path reads the effective rp_filter the interface keeps: replacing
    # conf/all or conf/eth1 must update it for the very next packet (and back again).
    ctx = new_ctx()
    a, s = asymmetric(ctx)
    replies, cb = pinger()
    a.ping(ip("10.0.2.3"), seq=1, on_reply=cb)
    run(ctx)
    strict = SysctlSpec(rp_filter=1)
    if change == "host":
        s.sysctl = strict
    else:
        s.interfaces["eth1"].sysctl = strict
    a.ping(ip("10.0.2.3"), seq=2, on_reply=cb)
    run(ctx)
    if change == "host":
        s.sysctl = SysctlSpec()
    else:
        s.interfaces["eth1"].sysctl = SysctlSpec(rp_filter=2)
    a.ping(ip("10.0.2.3"), seq=3, on_reply=cb)
    run(ctx)
    assert [seq for seq, _ in replies] == [1, 3]
    assert ctx.ledger.drops[("s", "rp_filter")] == 1


# --- ARP sysctls ------------------------------------------------------------------------------------

def vip_on_lo(ctx, arp_ignore=None, arp_announce=None):
    lan = segment(ctx, "lan")
    c = host(ctx, "c", {"eth0": (lan, ["10.0.0.5/24"])})
    rs = host(ctx, "rs", {"eth0": (lan, ["10.0.0.11/24"]), "lo": (None, ["10.0.0.100/32"])},
              sysctl=SysctlSpec(arp_ignore=arp_ignore, arp_announce=arp_announce))
    return lan, c, rs


def test_arp_ignore_0_answers_for_the_vip_on_lo():
    ctx = new_ctx()
    _, c, rs = vip_on_lo(ctx, arp_ignore=0)
    replies, cb = pinger()
    c.ping(ip("10.0.0.100"), on_reply=cb)
    run(ctx)
    assert len(replies) == 1
    (_, (op, sha, spa, _, _)), = [x for x in arp_frames(ctx, "c") if x[1][0] == ARPOP_REPLY]
    assert (sha, spa) == (rs.interfaces["eth0"].mac, ip("10.0.0.100"))


def test_arp_ignore_1_stays_silent_for_the_vip_on_lo():
    ctx = new_ctx()
    _, c, rs = vip_on_lo(ctx, arp_ignore=1)
    replies, cb = pinger()
    c.ping(ip("10.0.0.100"), on_reply=cb)
    run(ctx)
    assert replies == []
    assert ctx.ledger.drops[("rs", "arp_ignore")] == 3
    assert ctx.ledger.drops[("c", "arp-failed")] == 1
    # ... but still answers for the address on the receiving interface.
    c.ping(ip("10.0.0.11"), on_reply=cb)
    run(ctx)
    assert len(replies) == 1


def test_only_the_director_answers_when_real_servers_use_arp_ignore_1():
    ctx = new_ctx()
    lan, c, rs = vip_on_lo(ctx, arp_ignore=1)
    lb = host(ctx, "lb", {"eth0": (lan, ["10.0.0.2/24", "10.0.0.100/32"])})
    c.ping(ip("10.0.0.100"))
    run(ctx)
    answers = [f for _, f in arp_frames(ctx, "c") if f[0] == ARPOP_REPLY]
    assert [sha for _, sha, _, _, _ in answers] == [lb.interfaces["eth0"].mac]


def test_when_two_hosts_answer_the_first_reply_wins_for_locktime():
    ctx = new_ctx()
    lan, c, rs = vip_on_lo(ctx, arp_ignore=0)
    lb = host(ctx, "lb", {"eth0": (lan, ["10.0.0.2/24", "10.0.0.100/32"])})
    c.ping(ip("10.0.0.100"))
    run(ctx)
    answers = [(t, f[1]) for t, f in arp_frames(ctx, "c") if f[0] == ARPOP_REPLY]
    mac_rs, mac_lb = rs.interfaces["eth0"].mac, lb.interfaces["eth0"].mac
    assert [m for _, m in answers] == [mac_rs, mac_lb]     # rs's port comes first in the flood
    assert c.neigh.lookup("eth0", ip("10.0.0.100")) == mac_rs
    # After locktime (1 s) a later different answer replaces it.
    run(ctx, until=2.0)
    c.neigh.receive(c.interfaces["eth0"], ctx.ledger.new(
        ethernet_frame(c.interfaces["eth0"].mac, mac_lb, 0x0806,
                       arp_packet(ARPOP_REPLY, mac_lb, ip("10.0.0.100"), c.interfaces["eth0"].mac,
                                  ip("10.0.0.5"))), "lb"))
    assert c.neigh.lookup("eth0", ip("10.0.0.100")) == mac_lb


@pytest.mark.parametrize("announce, expected_spa", [
    (0, "10.0.0.100"),
    (1, "10.0.0.100"),     # the VIP and the target share eth0's 10.0.0.0/24: allowed by 1
    (2, "10.0.0.11"),
])
def test_arp_announce_picks_the_request_source_address(announce, expected_spa):
    ctx = new_ctx()
    _, c, rs = vip_on_lo(ctx, arp_ignore=1, arp_announce=announce)
    # A DR real server answers from the VIP: the reply's source is the VIP (on lo).
    rs.ip_send(ip("10.0.0.5"), IPPROTO_UDP,
               udp_datagram(ip("10.0.0.100"), ip("10.0.0.5"), 80, 40000, b"x"), src=ip("10.0.0.100"))
    run(ctx)
    (_, (op, _, spa, _, tpa)), *_ = arp_frames(ctx, "rs")
    assert (op, spa, tpa) == (ARPOP_REQUEST, ip(expected_spa), ip("10.0.0.5"))


def test_interface_arp_announce_raises_the_host_value():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    host(ctx, "c", {"eth0": (lan, ["10.0.0.5/24"])})
    rs = host(ctx, "rs", {"eth0": (lan, ["10.0.0.11/24"]), "lo": (None, ["10.0.0.100/32"])},
              sysctl=SysctlSpec(arp_announce=0), iface_sysctl={"eth0": SysctlSpec(arp_announce=2)})
    rs.ip_send(ip("10.0.0.5"), IPPROTO_UDP, udp_datagram(ip("10.0.0.100"), ip("10.0.0.5"), 80, 1, b""),
               src=ip("10.0.0.100"))
    run(ctx)
    assert arp_frames(ctx, "rs")[0][1][2] == ip("10.0.0.11")


# --- transport demux, ICMP errors ------------------------------------------------------------------

def test_udp_to_a_closed_port_gets_port_unreachable_and_the_socket_hears_it():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    host(ctx, "b", {"eth0": (lan, ["10.0.0.2/24"])})
    errors = []
    sock = a.udp.bind(0, None, lambda s, ty, code, dst, dport: errors.append((ty, code, dst, dport)))
    sock.connect(ip("10.0.0.2"), 53)
    sock.sendto(ip("10.0.0.2"), 53, 20)
    run(ctx)
    assert ctx.ledger.drops[("b", "port-unreachable")] == 1
    assert errors == [(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, ip("10.0.0.2"), 53)]


def test_tcp_without_listener_is_dropped_no_socket():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    host(ctx, "b", {"eth0": (lan, ["10.0.0.2/24"])})
    from ipvssim.net.flow import Flow
    flow = Flow(1, "t", "a", "tcp", 0.0, 10, 10)
    a.tcp.connect(ip("10.0.0.2"), 80, flow)
    run(ctx, until=0.5)
    assert ctx.ledger.drops[("b", "no-socket")] == 1


def test_df_packet_too_big_for_the_next_hop_gets_frag_needed_with_its_mtu():
    ctx = new_ctx()
    a, r1, r2, b = three_subnets(ctx)
    r1.interfaces["eth1"].mtu = 1000
    a.ping(ip("10.0.3.2"), size=1200)
    run(ctx)
    assert ctx.ledger.drops[("r1", "frag-needed")] == 1
    (_, ty, code, f), = [x for x in icmp_frames(ctx, "a") if x[1] != ICMP_ECHO]
    assert (ty, code) == (ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED)
    assert int.from_bytes(f[ETH_HLEN + 26:ETH_HLEN + 28], "big") == 1000


def test_packet_without_df_is_fragmented_and_reassembled_at_the_destination():
    ctx = new_ctx(trace=True)
    a, r1, r2, b = three_subnets(ctx)
    r1.interfaces["eth1"].mtu = 1000
    got = []
    b.udp.bind(9, lambda sock, src, sport, dst, n, head, flow: got.append(n))
    a.ip_send(ip("10.0.3.2"), IPPROTO_UDP, udp_datagram(ip("10.0.1.2"), ip("10.0.3.2"), 7, 9, bytes(2000)),
              df=False)
    run(ctx)
    assert got == [2000]
    # a fragments for its 1500 MTU (1480 + 528 data bytes); r1 splits the first again
    # into 976 + 504 (fragment data a multiple of 8).
    sizes = [ip_total_len(f) for t, f in frames(ctx, "a", "eth0") if eth_type(f) == ETH_P_IP]
    assert sizes == [1500, 548]
    sizes = [ip_total_len(f) for t, f in frames(ctx, "r1", "eth1") if eth_type(f) == ETH_P_IP]
    assert sizes == [996, 524, 548]
    assert ctx.ledger.dropped_count == 0


# --- IPIP -----------------------------------------------------------------------------------------

def tun_rs(ctx, tunl_rp=None, all_rp=None, with_tunl=True):
    lan = segment(ctx, "lan")
    lb = host(ctx, "lb", {"eth0": (lan, ["10.0.0.2/24"])})
    links = {"eth0": (lan, ["10.0.0.11/24"])}
    if with_tunl:
        links["tunl0"] = (None, ["10.0.0.100/32"])
    rs = host(ctx, "rs", links, routes=[("0.0.0.0/0", "10.0.0.1")], sysctl=SysctlSpec(rp_filter=all_rp),
              iface_sysctl={"tunl0": SysctlSpec(rp_filter=tunl_rp)})
    host(ctx, "gw", {"eth0": (lan, ["10.0.0.1/24"])})
    # The director encapsulates a client's datagram to the VIP toward the RS (IPVS TUN).
    inner = ethernet_frame(ZERO_MAC, ZERO_MAC, ETH_P_IP, ipv4_packet(
        ip("198.51.100.10"), ip("10.0.0.100"), IPPROTO_UDP,
        udp_datagram(ip("198.51.100.10"), ip("10.0.0.100"), 5000, 53, b"q")))
    pkt = ctx.ledger.new(ipip_encap(inner, ip("10.0.0.2"), ip("10.0.0.11"), 64, False, 1), "lb")
    return lb, rs, pkt


@pytest.mark.parametrize("tunl_rp, all_rp", [(0, None), (2, None), (None, 2)])
def test_ipip_is_decapsulated_on_tunl0_and_delivered_to_the_vip(tunl_rp, all_rp):
    ctx = new_ctx()
    lb, rs, pkt = tun_rs(ctx, tunl_rp, all_rp)
    got = []
    rs.udp.bind(53, lambda sock, src, sport, dst, n, head, flow: got.append((src, dst, n)))
    lb.output(pkt)
    run(ctx, until=0.5)
    assert got == [(ip("198.51.100.10"), ip("10.0.0.100"), 1)]
    assert pkt.path == ["lb", "rs"]
    (t, f), = frames(ctx, "rs", "tunl0")
    assert ip_dst(f) == ip("10.0.0.100") and f[ETH_HLEN + 9] == IPPROTO_UDP


@pytest.mark.parametrize("tunl_rp, all_rp", [(1, None), (None, 1), (0, 1)])
def test_strict_rp_filter_on_tunl0_drops_decapsulated_packets(tunl_rp, all_rp):
    ctx = new_ctx()
    lb, rs, pkt = tun_rs(ctx, tunl_rp, all_rp)
    lb.output(pkt)
    run(ctx, until=0.5)
    assert ctx.ledger.drops[("rs", "rp_filter")] == 1


def test_ipip_without_tunl0_gets_protocol_unreachable():
    ctx = new_ctx()
    lb, rs, pkt = tun_rs(ctx, with_tunl=False)
    lb.output(pkt)
    run(ctx, until=0.5)
    assert ctx.ledger.drops[("rs", "no-ipip-device")] == 1
    (_, ty, code, f), = icmp_frames(ctx, "lb")
    assert (ty, code, ip_dst(f)) == (ICMP_DEST_UNREACH, 2, ip("10.0.0.2"))


# --- source selection, hooks, cpu, from_spec ---------------------------------------------------------

def test_source_selection_follows_route_src_then_the_gateway_subnet():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    h = host(ctx, "h", {"eth0": (lan, ["10.0.0.100/32", "10.0.0.2/24", "10.0.0.3/24"]),
                        "lo": (None, ["192.0.2.7/32"])})
    h.add_route(0, 0, ip("10.0.0.1"))
    h.add_route(ip("203.0.113.0"), 24, ip("10.0.0.1"), src=ip("192.0.2.7"))
    assert h.route_source(ip("8.8.8.8")) == ip("10.0.0.2")        # primary in the gateway's subnet
    assert h.route_source(ip("10.0.0.50")) == ip("10.0.0.2")      # connected route's prefsrc
    assert h.route_source(ip("203.0.113.9")) == ip("192.0.2.7")   # route src
    assert h.route_source(ip("10.0.0.3")) == ip("10.0.0.3")       # local
    assert h.interfaces["eth0"].addresses[2].primary is False


def test_hooks_can_steal_packets_at_local_in_and_forward():
    ctx = new_ctx()
    a, r1, r2, b = three_subnets(ctx)
    seen = []

    def steal(host, iface, pkt):
        seen.append((host.name, iface.name, ip_ttl(pkt.data)))
        host.drop(pkt, "stolen")
        return True

    r2.forward_hook = steal
    a.ping(ip("10.0.3.2"))
    b.local_in_hook = steal
    run(ctx)
    assert seen == [("r2", "eth0", 62)]           # after the TTL decrement
    r2.forward_hook = None
    a.ping(ip("10.0.3.2"))
    run(ctx)
    assert seen[1:] == [("b", "eth0", 62)]


def test_cpu_delays_processing_and_drops_on_backlog():
    class Cpu:
        def __init__(self):
            self.free = 0.0
            self.calls = 0

        def reserve(self, now, cost):
            self.calls += 1
            if self.calls == 3:
                return None
            self.free = max(now, self.free) + cost
            return self.free

    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    b = host(ctx, "b", {"eth0": (lan, ["10.0.0.2/24"])})
    b.cpu = Cpu()
    b.cpu_costs["rx"] = 0.01
    replies, cb = pinger()
    a.ping(ip("10.0.0.2"), on_reply=cb)
    run(ctx)
    # b spends 10 ms on the ARP request and 10 ms on the echo request.
    assert replies[0][1] == pytest.approx(2 * hop(ARP_FRAME) + 2 * hop(PING_FRAME) + 0.02, abs=1e-12)
    a.ping(ip("10.0.0.2"), seq=2, ident=1, on_reply=cb)
    run(ctx)
    assert ctx.ledger.drops[("b", "cpu-backlog")] == 1


def test_from_spec_builds_interfaces_addresses_routes_and_sysctls():
    ctx = new_ctx()
    lan = Segment.from_spec(ctx, SegmentSpec("lan", IPv4Network("10.0.0.0/24"), mtu=9000))
    spec = HostSpec(
        "rs1",
        interfaces=(
            InterfaceSpec("eth0", "ether", "lan", (IPv4Interface("10.0.0.11/24"),), mac="02:aa:00:00:00:01"),
            InterfaceSpec("lo", "loopback", None, (IPv4Interface("10.0.0.100/32"),)),
            InterfaceSpec("tunl0", "ipip", None, (IPv4Interface("10.0.0.101/32"),),
                          sysctl=SysctlSpec(rp_filter=2)),
        ),
        routes=(RouteSpec(IPv4Network("0.0.0.0/0"), via=IPv4Address("10.0.0.1")),),
        sysctl=SysctlSpec(arp_ignore=1, arp_announce=2, rp_filter=1),
    )
    h = Host.from_spec(ctx, spec, {"lan": lan})
    eth0, lo, tunl0 = h.interfaces["eth0"], h.interfaces["lo"], h.interfaces["tunl0"]
    assert (eth0.mac, eth0.mtu, lo.mtu, tunl0.mtu) == (bytes.fromhex("02aa00000001"), 9000, 65536, 1480)
    assert eth0.port.segment is lan
    assert all(h.is_local(ip(x)) for x in ("10.0.0.11", "10.0.0.100", "10.0.0.101", "127.0.0.1", "127.9.9.9"))
    assert h.route_source(ip("8.8.8.8")) == ip("10.0.0.11")
    assert (h.conf(eth0, "arp_ignore"), h.conf(tunl0, "rp_filter"), h.conf(eth0, "rp_filter")) == (1, 2, 1)
    assert h.route_mtu(ip("8.8.8.8")) == 9000


def test_ping_to_self_goes_through_loopback():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    replies, cb = pinger()
    a.ping(ip("10.0.0.1"), on_reply=cb)
    run(ctx)
    assert replies == [(1, 0.0)]
    assert len(frames(ctx, "a", "lo")) == 2 and frames(ctx, "a") == []


def test_arp_learning_creates_entries_only_for_requests_answered():
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    b = host(ctx, "b", {"eth0": (lan, ["10.0.0.2/24"])})
    c = host(ctx, "c", {"eth0": (lan, ["10.0.0.3/24"])})
    a.ping(ip("10.0.0.2"))
    run(ctx)
    mac_a = a.interfaces["eth0"].mac
    assert b.neigh.lookup("eth0", ip("10.0.0.1")) == mac_a      # asked for b: b learnt a
    assert c.neigh.lookup("eth0", ip("10.0.0.1")) is None       # overheard: nothing created
    assert a.neigh.lookup("eth0", ip("10.0.0.2")) == b.interfaces["eth0"].mac


def test_pending_queue_keeps_the_newest_unres_qlen_packets():
    from ipvssim.net.arp import UNRES_QLEN
    ctx = new_ctx()
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    for seq in range(UNRES_QLEN + 2):
        a.ping(ip("10.0.0.9"), seq=seq, ident=1)
    run(ctx)
    assert ctx.ledger.drops[("a", "arp-queue-full")] == 2
    assert ctx.ledger.drops[("a", "arp-failed")] == UNRES_QLEN
