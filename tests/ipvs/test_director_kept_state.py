"""What the director does between packets to save work must never change a decision.

packet_cost() parses each frame and looks it up when the frame arrives, local_in
when the frame's CPU time is over: a table that gained or lost an entry in between
must count (a cached lookup would not).  _transmit keeps an entry's route while
the host's routes are unchanged.
"""
from __future__ import annotations

from ipvssim.packet import wire
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim.simulation import Simulation

from tests.ipvs.director_lab import CIP, MAC, RIP1, RIP2, VIP, rs_block, scenario_text

TRAFFIC = "- {name: t, from: client, to: 10.0.0.100:80, connections: 1, request: 100B, response: 1KB}"


def _lab(mode: str = "dr"):
    text = scenario_text(
        f"- {{name: web, director: lb, vip: 10.0.0.100, port: 80, mode: {mode}, real_servers: [{{host: rs1}}]}}",
        TRAFFIC, [rs_block("rs1")])
    sim = Simulation(load_scenario_text(text))
    lb = sim.hosts["lb"]
    return sim, lb, sim.directors["lb"], lb.interfaces["eth0"]


def _ack(sim, cport: int = 40000):
    frame = wire.tcp_frame(wire.mac_aton(MAC["gw", "eth1"]), wire.mac_aton(MAC["lb", "eth0"]),
                           CIP, VIP, cport, 80, 1, 1, wire.TH_ACK)
    return sim.ctx.ledger.new(frame, "client")


def _entry(director, cport: int = 40000):
    svc = director.services[0]
    dest = svc.dests[0]
    conn = director.table.new(proto=6, caddr=CIP, cport=cport, vaddr=VIP, vport=80, daddr=dest.addr,
                              dport=80, dest=dest, mode=dest.mode, now=0.0)
    conn.service = svc
    return conn


def test_a_lookup_made_before_the_entry_went_is_not_reused():
    sim, lb, director, eth0 = _lab()
    conn = _entry(director)
    pkt = _ack(sim)
    director.packet_cost(pkt)                 # finds the entry
    director.table.expire_now(conn, 0.0)      # ... which goes before the frame's turn
    # An ACK without an entry is left to the local stack (no sloppy_tcp).
    assert director.local_in(lb, eth0, pkt) is False
    assert conn.inpkts == 0
    lb.drop(pkt, "left-to-the-stack")         # (the test stands in for the host here)


def test_a_lookup_made_before_the_entry_came_is_not_reused():
    sim, lb, director, eth0 = _lab()
    pkt = _ack(sim)
    director.packet_cost(pkt)                 # no entry yet
    conn = _entry(director)
    assert director.local_in(lb, eth0, pkt) is True
    assert conn.inpkts == 1


def test_lookups_are_matched_to_their_own_frames():
    sim, lb, director, eth0 = _lab()
    a, b = _entry(director, 40000), _entry(director, 40001)
    pa, pb = _ack(sim, 40000), _ack(sim, 40001)
    director.packet_cost(pa)
    director.packet_cost(pb)
    assert director.local_in(lb, eth0, pb) is True      # pa's record is passed over
    assert director.local_in(lb, eth0, pa) is True      # and pa looked up afresh
    assert (a.inpkts, b.inpkts) == (1, 1)


def test_the_route_kept_on_an_entry_follows_route_changes():
    sim, lb, director, eth0 = _lab()
    conn = _entry(director)
    assert director.local_in(lb, eth0, _ack(sim)) is True
    assert conn.route[1] == RIP1
    # Send rs1's traffic through rs2's address instead: the next packet uses the new route.
    lb.add_route(RIP1, 32, via=RIP2)
    assert director.local_in(lb, eth0, _ack(sim)) is True
    assert conn.route[1] == RIP2
