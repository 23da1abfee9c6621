"""Trace steps "sent"/"forwarded" show the frame as it left (MACs set by that hop), and the
hot-path event helper orders events exactly as env.timeout does."""
import pytest

from net_helpers import ARP_FRAME, PING_FRAME, hop, host, ip, new_ctx, run, segment
from ipvssim.net.events import call_later
from ipvssim.packet.wire import ICMP_ECHO, ZERO_MAC, eth_dst, eth_src, ip_ttl


def _router_topology(ctx):
    left, right = segment(ctx, "left"), segment(ctx, "right")
    a = host(ctx, "a", {"eth0": (left, ["10.0.1.1/24"])}, routes=[("0.0.0.0/0", "10.0.1.254")])
    r = host(ctx, "r", {"eth0": (left, ["10.0.1.254/24"]), "eth1": (right, ["10.0.2.254/24"])},
             forwarding=True)
    b = host(ctx, "b", {"eth0": (right, ["10.0.2.1/24"])}, routes=[("0.0.0.0/0", "10.0.2.254")])
    return a, r, b


def _echo_steps(ctx):
    first = next(s for s in ctx.observer.steps if s.action == "sent" and s.data[34] == ICMP_ECHO)
    return [s for s in ctx.observer.steps if s.pid == first.pid]


def test_each_hop_records_its_own_mac_rewrite():
    ctx = new_ctx(trace=True)
    a, r, b = _router_topology(ctx)
    a.ping(ip("10.0.2.1"))
    run(ctx)
    steps = _echo_steps(ctx)
    assert [(s.host, s.iface, s.action) for s in steps] == [
        ("a", "eth0", "sent"), ("r", "eth0", "received"), ("r", "eth1", "forwarded"),
        ("b", "eth0", "received"), ("b", "eth0", "delivered")]
    sent, received, forwarded, arrived, _ = steps
    # The sender's step already carries the MACs it wrote; the router's, its own.
    assert (eth_src(sent.data), eth_dst(sent.data)) == (a.interfaces["eth0"].mac, r.interfaces["eth0"].mac)
    assert received.data == sent.data
    assert (eth_src(forwarded.data), eth_dst(forwarded.data)) == (r.interfaces["eth1"].mac,
                                                                  b.interfaces["eth0"].mac)
    assert ip_ttl(forwarded.data) == 63
    assert arrived.data == forwarded.data
    # Each step is stamped when the frame left: after the ARP exchange on each side.
    assert sent.time == pytest.approx(2 * hop(ARP_FRAME), abs=1e-12)
    assert sent.reason == f"after {2 * hop(ARP_FRAME) * 1000:.3f} ms waiting for ARP"
    assert forwarded.time == pytest.approx(received.time + 2 * hop(ARP_FRAME), abs=1e-12)
    assert arrived.time == pytest.approx(forwarded.time + hop(PING_FRAME), abs=1e-12)


def test_a_resolved_neighbour_sends_at_once_with_no_reason():
    ctx = new_ctx(trace=True)
    a, r, b = _router_topology(ctx)
    a.ping(ip("10.0.2.1"), seq=1, ident=7)
    ctx.env.timeout(1.0).callbacks.append(lambda _e: a.ping(ip("10.0.2.1"), seq=2, ident=7))
    run(ctx)
    second = [s for s in ctx.observer.steps
              if s.action in ("sent", "forwarded") and s.time >= 1.0 and s.data[34] == ICMP_ECHO]
    assert [(s.host, s.time, s.reason) for s in second] == [
        ("a", 1.0, None), ("r", pytest.approx(1.0 + hop(PING_FRAME), abs=1e-12), None)]


def test_a_packet_that_never_leaves_still_shows_its_sent_step_before_the_drop():
    ctx = new_ctx(trace=True)
    lan = segment(ctx, "lan")
    a = host(ctx, "a", {"eth0": (lan, ["10.0.0.1/24"])})
    a.ping(ip("10.0.0.9"))            # nobody answers ARP: three probes, then arp-failed
    run(ctx)
    echo = [s for s in ctx.observer.steps if len(s.data) > 34 and s.data[34] == ICMP_ECHO]
    assert [(s.action, s.reason) for s in echo] == [
        ("sent", "held 3000.000 ms, never transmitted"), ("dropped", "arp-failed")]
    assert eth_dst(echo[0].data) == ZERO_MAC        # never resolved, never written
    assert echo[0].time == echo[1].time == pytest.approx(3.0)


def test_call_later_keeps_the_order_of_env_timeout():
    ctx = new_ctx()
    env, seen = ctx.env, []
    for i in range(6):
        if i % 2:
            call_later(env, 0.5, i, lambda ev: seen.append(ev._value))
        else:
            env.timeout(0.5, i).callbacks.append(lambda ev: seen.append(ev._value))
    call_later(env, 0.25, "first", lambda ev: seen.append(ev._value))
    env.run()
    assert seen == ["first", 0, 1, 2, 3, 4, 5]
    assert env.now == 0.5
