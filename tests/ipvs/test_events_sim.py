"""Real server changes during a run (`events:`: ipvsadm -e / -d / -a) and the
reference's scheduler examples, in whole simulations: who got each connection,
what the director did with the packets of connections already open."""
from __future__ import annotations

from director_lab import CIP, VIP, drops, rs_block, scenario_text, tcp_steps

from ipvssim.packet import wire
from ipvssim.report.ipvsadm import ipvsadm_connections, ipvsadm_list
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim.simulation import Simulation

# A third DR real server on the lan (rs3 of the lab sits behind a router).
RS4 = ("rs4", """\
interfaces:
  eth0: {segment: lan, ip: 10.0.0.13, mac: "02:00:00:00:00:14"}
  lo: {ip: [10.0.0.100/32]}
sysctl: {arp_ignore: 1, arp_announce: 2}
routes: [{to: default, via: 10.0.0.1}]
app: {listen: [tcp/80]}""")
SERVERS = [rs_block("rs1"), rs_block("rs2"), RS4]
# ip_vs_proto_tcp.c tcp_timeouts[IP_VS_TCP_S_ESTABLISHED]: 15 minutes.
ESTABLISHED_TIMEOUT = 900.0


def service(sched: str, servers: str) -> str:
    return (f"- {{name: web, director: lb, vip: 10.0.0.100, port: 80, mode: dr, scheduler: {sched},"
            f" real_servers: {servers}}}")


def run_sim(services: str, traffic: str, *, events: str = "", lb_extra: str = "",
            duration: str = "30s", wan_bandwidth: str | None = None, trace: bool = False):
    text = scenario_text(services, traffic, SERVERS, events=events, lb_extra=lb_extra,
                         duration=duration)
    if wan_bandwidth:
        # A slow WAN makes one long transfer outlive the event.
        text = text.replace("wan: {subnet: 198.51.100.0/24, delay: 1ms}",
                            f"wan: {{subnet: 198.51.100.0/24, delay: 1ms, bandwidth: {wan_bandwidth}}}")
    return Simulation(load_scenario_text(text), trace=trace).run()


def served(res, traffic: str | None = None) -> list[str | None]:
    return [f.served_by for f in res.flows if traffic is None or f.traffic == traffic]


def forwarded_at(res, fid: int) -> list[float]:
    """Times lb forwarded (rewrote) a packet of flow `fid` to its real server."""
    return [s.time for s in res.ctx.observer.steps
            if s.flow == fid and s.host == "lb" and s.action == "rewritten"]


# -- the reference's worked examples (section 3) -----------------------------------------------

def test_rr_listed_a_b_c_picks_c_b_a_in_turn():
    res = run_sim(service("rr", "[{host: rs1}, {host: rs2}, {host: rs4}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 6, rate: 10/s}")
    assert served(res) == ["rs4", "rs2", "rs1", "rs4", "rs2", "rs1"]


def test_wrr_4_3_2_added_one_by_one_then_the_nine_long_cycle():
    # A(4) B(3) C(2) as three `ipvsadm -a`: cw is left at 1, so the first pass takes
    # C B A; then cw restarts at 4 and the reference's A B A C B A C B A repeats.
    res = run_sim(service("wrr", "[{host: rs1, weight: 4}, {host: rs2, weight: 3}, {host: rs4, weight: 2}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 21, rate: 20/s}")
    a, b, c = "rs1", "rs2", "rs4"
    assert served(res) == [c, b, a] + [a, b, a, c, b, a, c, b, a] * 2


def test_lc_sparse_short_connections_all_go_to_the_head_of_the_list():
    # Each connection closes long before the next arrives, but its entry stays in
    # FIN_WAIT (inactive, overhead 1) for 120 s; lc still picks the least loaded.
    res = run_sim(service("lc", "[{host: rs1}, {host: rs2}, {host: rs4}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 6, rate: 1/s}")
    assert served(res) == ["rs4", "rs2", "rs1", "rs4", "rs2", "rs1"]
    res = run_sim(service("lc", "[{host: rs1}, {host: rs2}, {host: rs4}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 6, rate: 1/s}",
                  lb_extra="ipvs: {timeouts: {tcpfin: 500ms}}")
    # With FIN_WAIT entries gone before the next arrival, every count is back to 0
    # and the tie goes to the first server in list order: the newest, rs4.
    assert served(res) == ["rs4"] * 6


# -- weight 0: graceful drain ------------------------------------------------------------------

def test_weight_0_at_5s_stops_new_connections_while_existing_ones_finish():
    res = run_sim(service("rr", "[{host: rs1}, {host: rs2}]"), """\
        - {name: long, from: client, to: 10.0.0.100:80, response: 5MB}
        - {name: short, from: client, to: 10.0.0.100:80, connections: 10, rate: 1/s, start: 0.5s}""",
                  events="- {at: 5s, service: web, server: rs2, weight: 0}", wan_bandwidth="5Mbps",
                  trace=True)
    [long] = [f for f in res.flows if f.traffic == "long"]
    short = [f for f in res.flows if f.traffic == "short"]
    # rr over [rs2, rs1]: the long transfer on rs2, then alternating until 5 s, then only rs1.
    assert long.served_by == "rs2"
    assert [f.served_by for f in short] == ["rs1", "rs2", "rs1", "rs2", "rs1"] + ["rs1"] * 5
    assert all(f.status == "succeeded" for f in res.flows)
    # The long transfer carries on past 5 s: its ACKs are still sent to rs2.
    assert long.end > 6.0
    after = [t for t in forwarded_at(res, long.fid) if t > 5.0]
    assert after and max(after) > 6.0
    lb = res.directors["lb"]
    listing = ipvsadm_list(lb)
    assert "  -> 10.0.0.12:80                 Route   0      0          3         " in listing


# -- removal: expire_nodest_conn 0 and 1 ----------------------------------------------------------

def _removal(lb_extra: str = ""):
    return run_sim(service("rr", "[{host: rs1}, {host: rs2}]"), """\
        - {name: long, from: client, to: 10.0.0.100:80, response: 5MB}
        - {name: short, from: client, to: 10.0.0.100:80, connections: 4, rate: 1/s, start: 0.5s}""",
                   events="- {at: 2s, service: web, server: rs2, remove: true}", wan_bandwidth="5Mbps",
                   lb_extra=lb_extra, duration="60s", trace=True)


def test_removal_without_expire_nodest_conn_drops_the_packets_and_keeps_the_entry():
    res = _removal()
    [long] = [f for f in res.flows if f.traffic == "long"]
    # The director drops every packet of the removed server's connection (ip_vs_in:
    # "don't restart its timer, and silently drop the packet"); the transfer stalls.
    lost = drops(res, "ipvs-dest-unavailable", "lb")
    assert lost and min(s.time for s in lost) >= 2.0
    assert {(wire.ip_src(s.data), wire.ip_dst(s.data)) for s in lost} == {(CIP, VIP)}
    assert not [t for t in forwarded_at(res, long.fid) if t > 2.0]
    assert (long.served_by, long.status) == ("rs2", "pending")
    # The entry is still there, timer not restarted by the dropped packets: it
    # expires 900 s after the last packet the director forwarded.
    lb = res.directors["lb"]
    [entry] = [c for c in lb.table if c.dest.label == "rs2" and c.state == "ESTABLISHED"]
    last = max(forwarded_at(res, long.fid))
    assert abs(entry.expires - (last + ESTABLISHED_TIMEOUT)) < 1e-6
    # New connections only go to rs1; rs2 is gone from ipvsadm -Ln.
    assert served(res, "short") == ["rs1", "rs2", "rs1", "rs1"]
    assert "10.0.0.12" not in ipvsadm_list(lb)
    assert "ESTABLISHED 198.51.100.10:37170 10.0.0.100:80      10.0.0.12:80" in ipvsadm_connections(lb, 60.0)


def test_removal_with_expire_nodest_conn_flushes_the_entries_and_the_client_is_reset():
    res = _removal("ipvs: {expire_nodest_conn: 1}")
    [long] = [f for f in res.flows if f.traffic == "long"]
    # One jiffy after the removal every rs2 entry is deleted (expire_nodest_conn_work);
    # the client's next ACK finds none, is no SYN, goes to lb's own stack: RST from VIP:80.
    rst = [s for s in tcp_steps(res, "sent") if s.host == "lb" and wire.tcp_flags(s.data) & wire.TH_RST]
    assert rst[0].time >= 2.0
    assert (wire.ip_src(rst[0].data), wire.l4_sport(rst[0].data), wire.ip_dst(rst[0].data)) == (VIP, 80, CIP)
    assert rst[0].time < 2.01                    # answers the client's first ACK after 2.004 s
    assert (long.status, long.reason) == ("failed", "reset")
    # The RST waits behind rs2's data in the 5 Mbps WAN queue before the client sees it.
    assert rst[0].time < long.end < 2.2
    # rs2 (still running) keeps sending into a socket the client closed: the client
    # answers RST, which the director hands to its own stack, which stays silent.
    assert drops(res, "no-socket", "client")
    lb = res.directors["lb"]
    assert [c for c in lb.table if c.dest.label == "rs2"] == []
    assert not drops(res, "ipvs-dest-unavailable")


def test_flush_happens_one_jiffy_after_the_removal_even_without_traffic():
    text = scenario_text(service("rr", "[{host: rs1}, {host: rs2}]"),
                         "- {name: t, from: client, to: 10.0.0.100:80, connections: 2, rate: 10/s}\n"
                         "- {name: late, from: client, to: 10.0.0.100:80, connections: 1, start: 6s}",
                         SERVERS, events="- {at: 5s, service: web, server: rs2, remove: true}",
                         lb_extra="ipvs: {expire_nodest_conn: 1}", duration="30s")
    sim = Simulation(load_scenario_text(text))
    seen = {}
    env = sim.ctx.env
    for t in (5.0, 5.0041):
        env.timeout(t).callbacks.append(
            lambda _e, t=t: seen.setdefault(t, sorted(c.dest.label for c in sim.directors["lb"].table)))
    # Keep the run going past 5 s: a last connection at 6 s.
    sim.run()
    assert seen[5.0] == ["rs1", "rs2"]          # FIN_WAIT entries, 120 s to go
    assert seen[5.0041] == ["rs1"]


# -- adding a server: at the head of the list --------------------------------------------------

def test_rr_reaches_an_added_server_right_after_the_wrap():
    res = run_sim(service("rr", "[{host: rs1}, {host: rs2}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 8, rate: 1/s}",
                  events="- {at: 2.9s, service: web, add: {host: rs4}}")
    # [rs2, rs1] -> rs2 rs1 rs2; rs4 joins at the head: rs1 (after rs2), then rs4 rs2 rs1 ...
    assert served(res) == ["rs2", "rs1", "rs2", "rs1", "rs4", "rs2", "rs1", "rs4"]
    assert all(f.start > 2.9 for f in res.flows if f.served_by == "rs4")


def test_wrr_restarts_its_scan_at_the_head_when_a_server_is_added():
    servers = "[{host: rs1, weight: 3}, {host: rs2, weight: 1}]"
    traffic = "- {name: t, from: client, to: 10.0.0.100:80, connections: 10, rate: 1/s}"
    base = run_sim(service("wrr", servers), traffic)
    added = run_sim(service("wrr", servers), traffic,
                    events="- {at: 3.9s, service: web, add: {host: rs4, weight: 2}}")
    # Without the event: rs2 rs1 | rs1 | rs1 | rs2 rs1 | ... (cw 1, 3, 2, 1, ...).
    assert served(base) == ["rs2", "rs1", "rs1", "rs1", "rs2", "rs1", "rs1", "rs1", "rs2", "rs1"]
    # With rs4 (weight 2) added after the 4th pick, cw stays 2 but the scan restarts
    # at the head -- rs4 -- instead of continuing after rs1: rs4 rs1 | rs4 rs2 rs1 | rs1 | ...
    assert served(added) == ["rs2", "rs1", "rs1", "rs1", "rs4", "rs1", "rs4", "rs2", "rs1", "rs1"]


# -- when a run ends --------------------------------------------------------------------------------

def test_a_finished_run_ends_when_its_last_packet_does():
    # Not some events later: the simulated time, and what is measured over it (CPU
    # utilization), must not depend on how often the loop looks.
    res = run_sim(service("rr", "[{host: rs1}, {host: rs2}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 5, rate: 20/s}",
                  trace=True)
    assert res.stopped_by == "finished"
    assert all(f.status == "succeeded" for f in res.flows)
    last_step = max(s.time for s in res.ctx.observer.steps)
    assert res.simulated_s == last_step
    assert res.simulated_s >= max(f.end for f in res.flows)
    assert not res.ctx.ledger.live


def test_a_run_whose_traffic_is_over_still_lives_to_its_last_event():
    # The weight change at 3 s comes well after the last connection (~0.3 s): it still
    # happens, and the run ends there, not at its 30 s horizon.
    res = run_sim(service("rr", "[{host: rs1}, {host: rs2}]"),
                  "- {name: t, from: client, to: 10.0.0.100:80, connections: 2, rate: 10/s}",
                  events="- {at: 3s, service: web, server: rs2, weight: 0}")
    assert res.stopped_by == "finished"
    assert res.simulated_s == 3.0
    assert "  -> 10.0.0.12:80                 Route   0      " in ipvsadm_list(res.directors["lb"])


def test_a_packet_sent_after_the_last_one_ended_in_the_same_event_keeps_the_run_going():
    # As a host answering an echo request after delivering it: the last packet in flight
    # ends (the run would be over), and the same event sends another.  The run goes on
    # until that one has ended too.
    text = scenario_text(service("rr", "[{host: rs1}, {host: rs2}]"),
                         "- {name: t, from: client, to: 10.0.0.100:80, connections: 1}", SERVERS)
    sim = Simulation(load_scenario_text(text))
    client, lb = sim.hosts["client"], sim.hosts["lb"]
    ledger = sim.ctx.ledger
    replies = []
    over = ledger.on_empty

    def on_empty():
        over()
        if not replies and sim._stop_entry is not None:       # the run would end here
            replies.append(None)
            client.ping(lb.interfaces["eth0"].addresses[0].addr,
                        on_reply=lambda pkt, seq, rtt: replies.append(sim.ctx.env.now))

    ledger.on_empty = on_empty
    res = sim.run()
    assert res.stopped_by == "finished" and not ledger.live
    assert len(replies) == 2 and res.simulated_s == replies[1]
