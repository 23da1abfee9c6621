"""Segment (learning switch, queues, loss, timing) and Interface (MAC filter, MTU, capture)."""
import random

import pytest

from net_helpers import ARP_FRAME, DELAY, arp_frames, frames, host, hop, ip, new_ctx, run, segment, ser
from ipvssim.net.segment import Segment
from ipvssim.packet.wire import (
    ARPOP_REQUEST, BROADCAST_MAC, ETH_P_IP, IPPROTO_UDP, ZERO_MAC, eth_dst, ethernet_frame,
    ipv4_packet, udp_datagram,
)
from ipvssim.scenario.model import SegmentSpec

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"


def lan(ctx, n=2, **seg_kw):
    seg = segment(ctx, "lan", **seg_kw)
    names = ["a", "b", "c"][:n]
    addrs = [A, B, C]
    return seg, [host(ctx, nm, {"eth0": (seg, [f"{addrs[i]}/24"])}) for i, nm in enumerate(names)]


def resolved(src, dst):
    """Give src a neighbour entry for dst (as `ip neigh replace`), so no ARP happens."""
    src.neigh.add(src.interfaces["eth0"], dst.addresses[0], dst.interfaces["eth0"].mac)


def udp_to(h, dst: str, nbytes: int, sport=5000, dport=9):
    d = ip(dst)
    return h.ip_send(d, IPPROTO_UDP, udp_datagram(h.addresses[0], d, sport, dport, bytes(nbytes)))


def test_frame_takes_two_serializations_and_two_delays_across_an_idle_switch():
    ctx = new_ctx()
    _, (a, b) = lan(ctx)
    a.ping(ip(B))
    run(ctx, until=0.0026)
    # The ARP request (42 bytes) is on a's capture at 0 and reaches b at 2*336us + 2*1ms.
    assert [t for t, _ in arp_frames(ctx, "a")] == [0.0]
    run(ctx, until=0.01)
    (t, (op, sha, spa, tha, tpa)), *_ = arp_frames(ctx, "b")
    assert op == ARPOP_REQUEST and tpa == ip(B)
    assert t == pytest.approx(hop(ARP_FRAME), abs=1e-12)
    assert hop(ARP_FRAME) == pytest.approx(0.002672)


def test_back_to_back_frames_queue_at_the_nic_and_pipeline_through_the_switch():
    ctx = new_ctx()
    _, (a, b) = lan(ctx)
    resolved(a, b)
    got = []
    b.udp.bind(9, lambda sock, src, sport, dst, n, head, flow: got.append((ctx.env.now, n)))
    for _ in range(3):
        udp_to(a, B, 100)                     # 14 + 20 + 8 + 100 = 142-byte frames
    run(ctx)
    s = ser(142)
    assert [t for t, _ in got] == pytest.approx([2 * s + 2 * DELAY, 3 * s + 2 * DELAY, 4 * s + 2 * DELAY],
                                                abs=1e-12)
    assert [n for _, n in got] == [100, 100, 100]
    assert ctx.hops == 3


def test_a_bare_hop_costs_two_events():
    ctx = new_ctx(pcap=False)
    _, (a, b) = lan(ctx)
    resolved(a, b)
    b.udp.bind(9, lambda *args: None)
    udp_to(a, B, 10)
    events = 0
    while ctx.env.peek() != float("inf"):
        ctx.env.step()
        events += 1
    assert events == 2
    assert ctx.ledger.delivered_count == 1


def test_unknown_unicast_is_flooded_and_filtered_by_the_other_nics():
    ctx = new_ctx()
    _, (a, b, c) = lan(ctx, 3)
    resolved(a, b)                            # a knows b's MAC, the switch has not learnt it
    b.udp.bind(9, lambda *args: None)
    udp_to(a, B, 10)
    run(ctx)
    # c's tcpdump sees the flooded copy, its NIC filter drops it; b gets the datagram.
    assert len(frames(ctx, "c")) == 1
    assert ctx.ledger.drops[("c", "mac-filter")] == 1
    assert ctx.ledger.delivered_count == 1
    # Now the switch knows a (learnt from that frame): b -> a unicast does not reach c.
    resolved(b, a)
    a.udp.bind(9, lambda *args: None)
    udp_to(b, A, 10)
    run(ctx)
    assert len(frames(ctx, "c")) == 1
    assert ctx.ledger.delivered_count == 2


def test_broadcast_reaches_every_other_port_as_separate_packets():
    ctx = new_ctx()
    seg, (a, b, c) = lan(ctx, 3)
    a.ping(ip("10.0.0.9"))                    # nobody has it: three broadcast ARP requests
    run(ctx)
    for name in ("b", "c"):
        assert [t for t, _ in arp_frames(ctx, name)] == pytest.approx(
            [hop(ARP_FRAME), 1 + hop(ARP_FRAME), 2 + hop(ARP_FRAME)], abs=1e-12)
        assert all(eth_dst(f) == BROADCAST_MAC for _, f in frames(ctx, name))
    # 3 requests made, 3 copies for the second port; the echo request dies with the ARP entry.
    assert ctx.ledger.sent == 3 + 3 + 1
    assert ctx.ledger.drops[("a", "arp-failed")] == 1
    assert seg.frames == 3


def test_nic_queue_is_drop_tail_with_queue_frames_waiting():
    ctx = new_ctx()
    _, (a, b) = lan(ctx, queue=2)
    resolved(a, b)
    b.udp.bind(9, lambda *args: None)
    for _ in range(5):
        udp_to(a, B, 100)
    run(ctx)
    # One on the wire, two waiting, two refused.
    assert ctx.ledger.drops[("a", "queue-full")] == 2
    assert ctx.ledger.delivered_count == 3
    assert len(frames(ctx, "a")) == 5         # tcpdump sees what the stack hands the device


def test_switch_port_queue_overflows_when_two_senders_converge():
    ctx = new_ctx()
    _, (a, b, c) = lan(ctx, 3, queue=1)
    for src in (a, c):
        resolved(src, b)
    # Teach the switch where b is, so nothing is flooded.
    resolved(b, a)
    a.udp.bind(7, lambda *args: None)
    udp_to(b, A, 10, dport=7)
    run(ctx)
    b.udp.bind(9, lambda *args: None)
    # Each sender: one frame on its wire, one waiting; at the switch both flows meet one port.
    for _ in range(2):
        udp_to(a, B, 100)
        udp_to(c, B, 100)
    run(ctx)
    assert ctx.ledger.drops[("lan", "queue-full")] == 1
    assert ctx.ledger.delivered_count == 1 + 3


def test_link_loss_draws_once_per_transmission_and_drops_at_arrival_time():
    ctx = new_ctx(seed=7)
    _, (a, b) = lan(ctx, loss=0.3)
    resolved(a, b)
    resolved(b, a)
    b.udp.bind(9, lambda *args: None)
    for _ in range(50):
        udp_to(a, B, 10)
    run(ctx)
    # The same draws, replayed: host->switch then switch->host for each frame that got through.
    rng = random.Random(7)
    up_lost = sum(rng.random() < 0.3 for _ in range(50))
    down_lost = sum(rng.random() < 0.3 for _ in range(50 - up_lost))
    assert ctx.ledger.drops[("lan", "link-loss")] == up_lost + down_lost
    assert ctx.ledger.delivered_count == 50 - up_lost - down_lost
    assert 0 < up_lost < 50


def test_lost_frame_is_dropped_when_it_would_have_arrived():
    ctx = new_ctx(trace=True)
    _, (a, b) = lan(ctx, loss=1.0)
    resolved(a, b)
    udp_to(a, B, 10)
    run(ctx)
    (drop,) = [s for s in ctx.observer.steps if s.action == "dropped"]
    assert (drop.host, drop.reason) == ("lan", "link-loss")
    assert drop.time == pytest.approx(ser(52) + DELAY, abs=1e-12)


def test_lossless_segment_never_touches_the_rng():
    ctx = new_ctx(seed=3)
    _, (a, b) = lan(ctx)
    a.ping(ip(B))
    run(ctx)
    assert ctx.rng.random() == random.Random(3).random()


def test_interface_refuses_a_frame_larger_than_its_mtu():
    ctx = new_ctx()
    _, (a, b) = lan(ctx)
    eth0 = a.interfaces["eth0"]
    frame = ethernet_frame(ZERO_MAC, eth0.mac, ETH_P_IP,
                           ipv4_packet(ip(A), ip(B), IPPROTO_UDP, bytes(1481)))
    eth0.transmit(ctx.ledger.new(frame, "a"))
    run(ctx)
    assert ctx.ledger.drops[("a", "mtu-exceeded")] == 1
    assert frames(ctx, "a") == []


def test_captures_hold_both_directions_with_their_times():
    ctx = new_ctx()
    _, (a, b) = lan(ctx)
    a.ping(ip(B))
    run(ctx)
    t_arp = hop(ARP_FRAME)
    assert [t for t, _ in frames(ctx, "a")] == pytest.approx(
        [0.0, 2 * t_arp, 2 * t_arp, 2 * t_arp + 2 * hop(98)], abs=1e-12)
    assert [t for t, _ in frames(ctx, "b")] == pytest.approx(
        [t_arp, t_arp, 2 * t_arp + hop(98), 2 * t_arp + hop(98)], abs=1e-12)
    assert ctx.hops == 4


def test_segment_from_spec_uses_the_spec_values():
    from ipaddress import IPv4Network
    ctx = new_ctx()
    seg = Segment.from_spec(ctx, SegmentSpec("wan", IPv4Network("198.51.100.0/24"), bandwidth_bps=1e8,
                                             delay_s=2e-3, loss=0.01, queue=10, mtu=9000))
    assert (seg.name, seg.bandwidth, seg.delay, seg.loss, seg.queue, seg.mtu) == \
        ("wan", 1e8, 2e-3, 0.01, 10, 9000)
    assert seg.transit_time(1000) == pytest.approx(2 * 8e-5 + 4e-3)
