"""Persistence (`ipvsadm -p`, `-M`) in whole simulations: which real server each
connection went to, and when the templates expire (ip_vs_core.c ip_vs_sched_persist,
ip_vs_conn.c ip_vs_conn_expire / ip_vs_check_template)."""
from __future__ import annotations

from director_lab import rs_block, scenario_text
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipvssim.packet import wire
from ipvssim.report.ipvsadm import ipvsadm_connections
from ipvssim.scenario.loader import load_scenario_text
from ipvssim.sim.simulation import Simulation

# ipvsadm.c DEFAULT_PERSISTENCE_TIMEOUT / IP_VS_PERSISTENT_TIMEOUT: 360 s.
DEFAULT_PERSISTENCE = 360.0
# ip_vs_conn.c ip_vs_conn_expire(): a template still controlling entries waits 60 s more.
EXPIRE_LATER = 60.0
# ip_vs_proto_tcp.c tcp_timeouts[IP_VS_TCP_S_FIN_WAIT]: 2 minutes.
FIN_WAIT_TIMEOUT = 120.0

SVC = ("- {{name: web, director: lb, vip: 10.0.0.100, port: 80, mode: dr, scheduler: {sched},"
       " persistence: {persist}{extra}, real_servers: [{{host: rs1}}, {{host: rs2}}]}}")


def client_host(ip: str, mac: str) -> str:
    return (f'interfaces: {{eth0: {{segment: wan, ip: {ip}, mac: "{mac}"}}}}\n'
            "routes: [{to: default, via: 198.51.100.1}]")


def at(sim: Simulation, t: float, fn) -> None:
    """Call fn() at simulated time t."""
    sim.ctx.env.timeout(t).callbacks.append(lambda _ev: fn())


def table(sim: Simulation) -> list[tuple[bool, str, str, str, float]]:
    """(template?, state, client, real server, expiry time) of every entry of lb's table."""
    return [(c.is_template, c.state, wire.ip_ntoa(c.caddr), c.dest.label, c.expires)
            for c in sim.directors["lb"].table]


def templates(sim: Simulation) -> list[tuple[str, str, float]]:
    return [(caddr, dest, exp) for is_tpl, _s, caddr, dest, exp in table(sim) if is_tpl]


def scheduled_at(res, fid: int) -> float:
    """When the director rewrote the flow's SYN: the instant it scheduled the connection."""
    return next(s.time for s in res.ctx.observer.steps
                if s.flow == fid and s.host == "lb" and s.action == "rewritten")


def build(services: str, traffic: str, *, clients: dict[str, str] | None = None,
          events: str = "", lb_extra: str = "", duration: str = "900s") -> Simulation:
    text = scenario_text(services, traffic, [rs_block("rs1"), rs_block("rs2")],
                         extra_hosts=clients, events=events, lb_extra=lb_extra, duration=duration)
    return Simulation(load_scenario_text(text), trace=True)


def test_default_timeout_is_360_s_after_the_last_new_connection():
    sim = build(SVC.format(sched="rr", persist="true", extra=""), """\
        - {name: a, from: client, to: 10.0.0.100:80, connections: 2, rate: 1/s}
        - {name: b, from: client, to: 10.0.0.100:80, start: 100s}
        - {name: c, from: client, to: 10.0.0.100:80, start: 700s}""")
    seen = {}
    for t in (50.0, 459.0, 461.0):
        at(sim, t, lambda t=t: seen.setdefault(t, (templates(sim), ipvsadm_connections(sim.directors["lb"], t))))
    res = sim.run()
    a0, a1, b, c = res.flows
    # rr walks [rs2, rs1]: the first connection creates the template on rs2; the
    # second and the one at 100 s reuse it; it expires 360 s after its last use
    # (re-armed at 100 s, not by the packets of the connections it controls).
    assert [f.served_by for f in (a0, a1, b)] == ["rs2", "rs2", "rs2"]
    [(caddr, dest, exp)] = seen[50.0][0]
    assert (caddr, dest) == ("198.51.100.10", "rs2")
    assert exp == pytest.approx(scheduled_at(res, a1.fid) + DEFAULT_PERSISTENCE, abs=1e-9)
    [(_, _, exp)] = seen[459.0][0]
    assert exp == pytest.approx(scheduled_at(res, b.fid) + DEFAULT_PERSISTENCE, abs=1e-9)
    assert seen[461.0][0] == []
    # A new template at 700 s: rr moved on to rs1.
    assert c.served_by == "rs1"
    # ipvsadm -Lnc shows the template with client port 0, ASSURED (its connection got established).
    lnc = seen[459.0][1].splitlines()
    assert lnc[2] == "TCP 00:01  ASSURED     198.51.100.10:0    10.0.0.100:80      10.0.0.12:80"


def test_a_template_lives_on_while_it_controls_connections():
    # persistence 10 s, but the connection entry stays in FIN_WAIT for 120 s after
    # the client's last packet: the template's timer fires at 10 s, 70 s, 130 s
    # and only then -- its connection gone -- is the template removed.
    sim = build(SVC.format(sched="rr", persist="10s", extra=""),
                "- {name: a, from: client, to: 10.0.0.100:80}\n"
                "- {name: b, from: client, to: 10.0.0.100:80, start: 200s}")
    seen = {}
    for t in (9.0, 11.0, 69.0, 71.0, 125.0, 131.0):
        at(sim, t, lambda t=t: seen.setdefault(t, table(sim)))
    res = sim.run()
    t0 = scheduled_at(res, 0)
    [conn] = [e for e in seen[9.0] if not e[0]]
    assert conn[1] == "FIN_WAIT" and t0 + FIN_WAIT_TIMEOUT < conn[4] < t0 + FIN_WAIT_TIMEOUT + 0.1
    tpl_expiry = {t: [round(e[4], 9) for e in rows if e[0]] for t, rows in seen.items()}
    t0 = round(t0, 9)
    assert tpl_expiry[9.0] == [round(t0 + 10.0, 9)]
    assert tpl_expiry[11.0] == [round(t0 + 10.0 + EXPIRE_LATER, 9)]
    assert tpl_expiry[69.0] == [round(t0 + 10.0 + EXPIRE_LATER, 9)]
    assert tpl_expiry[71.0] == [round(t0 + 10.0 + 2 * EXPIRE_LATER, 9)]
    assert tpl_expiry[125.0] == [round(t0 + 10.0 + 2 * EXPIRE_LATER, 9)]   # connection entry already gone
    assert [e for e in seen[125.0] if not e[0]] == []
    assert seen[131.0] == []
    # The client network is then scheduled afresh: rr's next pick.
    assert [f.served_by for f in res.flows] == ["rs2", "rs1"]


def _quiesce(expire_quiescent_template: int) -> tuple:
    """client and client2 (separate /32 templates) on rs2 and rs1; rs2 set to weight 0
    at 2 s; both connect again at 3 s."""
    sim = build(SVC.format(sched="rr", persist="true", extra=""), """\
        - {name: first, from: [client, client2], to: 10.0.0.100:80, connections: 2, rate: 10/s}
        - {name: again, from: [client, client2], to: 10.0.0.100:80, connections: 2, rate: 10/s, start: 3s}""",
                clients={"client2": client_host("198.51.100.11", "02:00:00:00:00:0b")},
                events="- {at: 2s, service: web, server: rs2, weight: 0}",
                lb_extra=f"ipvs: {{expire_quiescent_template: {expire_quiescent_template}}}")
    seen = {}
    at(sim, 2.5, lambda: seen.setdefault("before", templates(sim)))
    res = sim.run()
    seen["after"] = templates(sim)      # the run ends once the traffic is done, templates live on
    return res, seen


def test_a_quiesced_server_still_gets_its_returning_persistent_clients():
    res, seen = _quiesce(0)
    assert [(f.traffic, f.client, f.served_by) for f in res.flows] == [
        ("first", "client", "rs2"), ("first", "client2", "rs1"),
        ("again", "client", "rs2"), ("again", "client2", "rs1")]
    assert all(f.status == "succeeded" for f in res.flows)
    assert [(c, d) for c, d, _ in seen["after"]] == [("198.51.100.10", "rs2"), ("198.51.100.11", "rs1")]


def test_expire_quiescent_template_sends_returning_clients_of_a_weight_0_server_elsewhere():
    res, seen = _quiesce(1)
    assert [(f.traffic, f.client, f.served_by) for f in res.flows] == [
        ("first", "client", "rs2"), ("first", "client2", "rs1"),
        ("again", "client", "rs1"), ("again", "client2", "rs1")]
    assert [(c, d) for c, d, _ in seen["before"]] == [("198.51.100.10", "rs2"), ("198.51.100.11", "rs1")]
    # The old template is no longer found (unhashed); a new one points at rs1.
    assert ("198.51.100.10", "rs1") in [(c, d) for c, d, _ in seen["after"]]
    rs2 = res.directors["lb"].service("web").find_dest("rs2")
    # Unhashed but not freed: it keeps its server binding until its own timer fires.
    assert (rs2.weight, rs2.persistconns) == (0, 1)


def test_netmask_groups_clients_of_one_network_on_one_template():
    clients = {"client2": client_host("198.51.100.11", "02:00:00:00:00:0b"),
               "client3": client_host("198.51.100.200", "02:00:00:00:00:0c")}
    # /25: .10 and .11 share 198.51.100.0, .200 is in 198.51.100.128.
    sim = build(SVC.format(sched="rr", persist="60s", extra=", persistence_netmask: 25"),
                "- {name: a, from: [client, client2, client3], to: 10.0.0.100:80, connections: 6, rate: 10/s}",
                clients=clients)
    res = sim.run()
    assert [(f.client, f.served_by) for f in res.flows] == [
        ("client", "rs2"), ("client2", "rs2"), ("client3", "rs1")] * 2
    # The templates at the end of the run (they outlive it: 60 s of persistence).
    assert sorted((c, d) for c, d, _ in templates(sim)) == [("198.51.100.0", "rs2"), ("198.51.100.128", "rs1")]


# -- property: while its template lives, a client network always gets the same server -----------

_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "mh", "lblc", "dh", "fo", "twos")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(last_octets=st.lists(st.integers(2, 254).filter(lambda o: o != 10), min_size=2, max_size=4,
                            unique=True),
       netmask=st.integers(24, 32),
       sched=st.sampled_from(_SCHEDULERS),
       rounds=st.integers(2, 3),
       seed=st.integers(0, 1000))
def test_property_a_client_network_sticks_to_one_server_while_its_template_lives(
        last_octets, netmask, sched, rounds, seed):
    names = [f"c{i}" for i in range(len(last_octets))]
    clients = {n: client_host(f"198.51.100.{o}", f"02:00:00:00:10:{i:02x}")
               for i, (n, o) in enumerate(zip(names, last_octets))}
    text = scenario_text(
        SVC.format(sched=sched, persist="30s", extra=f", persistence_netmask: {netmask}").replace(
            "[{host: rs1}, {host: rs2}]", "[{host: rs1, weight: 2}, {host: rs2, weight: 3}]"),
        f"- {{name: a, from: [{', '.join(names)}], to: 10.0.0.100:80,"
        f" connections: {rounds * len(names)}, rate: 20/s, arrival: poisson}}",
        [rs_block("rs1"), rs_block("rs2")], extra_hosts=clients, seed=seed, duration="60s")
    res = Simulation(load_scenario_text(text)).run()
    mask = (0xFFFFFFFF << (32 - netmask)) & 0xFFFFFFFF
    by_net: dict[int, set[str]] = {}
    for f in res.flows:
        assert f.status == "succeeded"
        addr = wire.ip_aton(f"198.51.100.{last_octets[names.index(f.client)]}")
        by_net.setdefault(addr & mask, set()).add(f.served_by)
    # Every connection opened within 30 s of the first: one server per network.
    assert all(len(servers) == 1 for servers in by_net.values()), by_net
    tpl = {c.caddr: c.dest.label for c in res.directors["lb"].table if c.is_template}
    assert tpl == {net: servers.pop() for net, servers in by_net.items()}


def test_removing_the_server_of_a_template_reschedules_the_client_and_the_flush_takes_the_template():
    for nodest, left_at_3s in ((0, [(True, "rs2"), (False, "rs2")]), (1, [])):
        sim = build(SVC.format(sched="rr", persist="true", extra=""),
                    "- {name: a, from: client, to: 10.0.0.100:80}\n"
                    "- {name: b, from: client, to: 10.0.0.100:80, start: 5s}",
                    events="- {at: 2s, service: web, server: rs2, remove: true}",
                    lb_extra=f"ipvs: {{expire_nodest_conn: {nodest}}}", duration="30s")
        seen = {}
        at(sim, 3.0, lambda: seen.setdefault(3.0, sorted((e[0], e[3]) for e in table(sim))))
        res = sim.run()
        # ip_vs_check_template() refuses a template whose server is gone either way.
        assert served(res.flows) == ["rs2", "rs1"]
        # Without expire_nodest_conn the stale entries wait for their timers; with it
        # expire_nodest_conn_work deletes the connection and then its template.
        assert seen[3.0] == sorted(left_at_3s)


def served(flows) -> list[str | None]:
    return [f.served_by for f in flows]
