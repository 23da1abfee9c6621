"""Connection table: kernel state machines, timers, templates, dest counts, port reuse."""
from __future__ import annotations

import tracemalloc


from ipvssim.ipvs.conn import (DROP, INPUT, KEEP, OUTPUT, RESCHEDULE, ConnTable,
                               IP_VS_CONN_F_NOOUTPUT)
from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.modes.fullnat import LocalAddressPool
from ipvssim.scenario.model import IpvsSettings

S, F, R, A = 0x02, 0x01, 0x04, 0x10
CIP, VIP, RIP, LIP = 0xC000020A, 0x0A000064, 0x0A00010B, 0x0A0001C8


def make(mode="dr", proto=6, settings=None, dest=None, cport=40000, now=0.0, **kw):
    t = kw.pop("table", None)
    if t is None:
        t = ConnTable(settings)
    rs = dest or Dest(addr=RIP, port=80, mode=mode)
    c = t.new(proto=proto, caddr=CIP, cport=cport, vaddr=VIP, vport=80, daddr=rs.addr, dport=rs.port,
              dest=rs, mode=mode, now=now, **kw)
    return t, rs, c


def walk(t, c, steps):
    """Apply (time, direction, flags) steps; return [(state, expires)] after each."""
    out = []
    for now, direction, flags in steps:
        t.state_transition(c, direction, flags, now)
        out.append((c.state, c.expires))
    return out


# --- state machines -----------------------------------------------------------------------------

def test_input_only_dr_walk_syn_ack_fin_matches_kernel_table_and_timeouts():
    t, rs, c = make("dr")
    assert (c.state, c.expires, rs.inactconns, rs.activeconns) == ("NONE", 3.0, 1, 0)
    got = walk(t, c, [(0.0, INPUT, S), (0.001, INPUT, A), (5.0, INPUT, A | 0x08),
                      (10.0, INPUT, F | A), (10.5, INPUT, A)])
    assert got == [("SYN_RECV", 60.0), ("ESTABLISHED", 900.001), ("ESTABLISHED", 905.0),
                   ("FIN_WAIT", 130.0), ("FIN_WAIT", 130.5)]
    assert (rs.activeconns, rs.inactconns) == (0, 1)


def test_full_nat_walk_client_closes_first():
    t, rs, c = make("nat")
    got = walk(t, c, [(0, INPUT, S), (0.01, OUTPUT, S | A), (0.02, INPUT, A), (1, INPUT, F | A),
                      (1.01, OUTPUT, A), (1.02, OUTPUT, F | A), (1.03, INPUT, A)])
    assert [s for s, _ in got] == ["SYN_RECV", "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "CLOSE_WAIT",
                                   "TIME_WAIT", "TIME_WAIT"]
    assert c.expires == 1.03 + 120


def test_full_nat_walk_server_closes_first_then_last_ack():
    t, rs, c = make("nat")
    got = walk(t, c, [(0, INPUT, S), (0, OUTPUT, S | A), (0, INPUT, A), (2, OUTPUT, F | A),
                      (2, INPUT, A), (2, INPUT, F | A)])
    assert [s for s, _ in got] == ["SYN_RECV", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "FIN_WAIT",
                                   "TIME_WAIT"]


def test_rst_moves_established_to_close_with_10s_timer_and_inactive_count():
    t, rs, c = make("nat")
    walk(t, c, [(0, INPUT, S), (0, OUTPUT, S | A), (0, INPUT, A)])
    assert (rs.activeconns, rs.inactconns) == (1, 0)
    walk(t, c, [(50, OUTPUT, R)])
    assert (c.state, c.expires, rs.activeconns, rs.inactconns) == ("CLOSE", 60.0, 0, 1)


def test_rst_from_client_on_syn_recv_keeps_syn_recv():
    t, rs, c = make("nat")
    assert walk(t, c, [(0, INPUT, S), (1, INPUT, R)]) == [("SYN_RECV", 60.0), ("SYN_RECV", 61.0)]


def test_packet_without_syn_fin_ack_rst_closes_the_entry():
    t, rs, c = make("nat")
    assert walk(t, c, [(0, INPUT, S), (1, INPUT, 0x08)]) == [("SYN_RECV", 60.0), ("CLOSE", 11.0)]


def test_a_reply_seen_on_a_dr_entry_switches_it_to_the_full_table():
    t, rs, c = make("dr")
    assert c.flags & IP_VS_CONN_F_NOOUTPUT
    walk(t, c, [(0, INPUT, S), (0, INPUT, A)])
    walk(t, c, [(1, OUTPUT, A)])
    assert not c.flags & IP_VS_CONN_F_NOOUTPUT
    # Client FIN now follows the INPUT row: ESTABLISHED -> CLOSE_WAIT, not FIN_WAIT.
    assert walk(t, c, [(2, INPUT, F | A)]) == [("CLOSE_WAIT", 62.0)]


def test_udp_entries_stay_inactive_with_the_udp_timeout():
    t, rs, c = make("nat", proto=17, settings=IpvsSettings(timeouts_udp=30))
    walk(t, c, [(0, INPUT, 0), (4, OUTPUT, 0)])
    assert (c.state, c.expires, rs.activeconns, rs.inactconns) == ("UDP", 34.0, 0, 1)


def test_ipvsadm_set_changes_established_and_fin_wait_timeouts():
    t, rs, c = make("dr", settings=IpvsSettings(timeouts_tcp=100, timeouts_tcpfin=7))
    assert walk(t, c, [(0, INPUT, S), (0, INPUT, A), (1, INPUT, F)]) == \
        [("SYN_RECV", 60.0), ("ESTABLISHED", 100.0), ("FIN_WAIT", 8.0)]


# --- lookups -------------------------------------------------------------------------------------------

def test_lookups_by_request_and_reply_tuples():
    t, rs, nc = make("nat", cport=1)
    _, _, dc = make("dr", table=t, cport=2)
    pool = LocalAddressPool([LIP])
    laddr, lport = pool.allocate(RIP, 80)
    _, _, fc = make("fullnat", table=t, cport=3, laddr=laddr, lport=lport, pool=pool)
    assert t.in_get(6, CIP, 1, VIP, 80) is nc and t.in_get(6, CIP, 2, VIP, 80) is dc
    assert t.out_get(6, RIP, 80, CIP, 1) is nc
    assert t.out_get(6, RIP, 80, CIP, 2) is None                 # DR replies bypass the director
    assert t.out_get(6, RIP, 80, LIP, lport) is fc
    assert t.in_get(17, CIP, 1, VIP, 80) is None and len(t) == 3


# --- expiry --------------------------------------------------------------------------------------------

def test_expiry_at_exact_time_frees_dest_counts_and_fullnat_port():
    pool = LocalAddressPool([LIP], ports=(2000, 2000))
    laddr, lport = pool.allocate(RIP, 80)
    t, rs, c = make("fullnat", laddr=laddr, lport=lport, pool=pool)
    walk(t, c, [(0, INPUT, S), (0, OUTPUT, S | A), (0, INPUT, A), (10, INPUT, R)])
    assert t.next_expiry() == 20.0
    assert t.expire(19.999) == [] and len(t) == 1
    assert t.expire(20.0) == [c]
    assert (len(t), rs.activeconns, rs.inactconns, pool.in_use) == (0, 0, 0, 0)
    assert t.in_get(6, CIP, 40000, VIP, 80) is None and t.out_get(6, RIP, 80, LIP, 2000) is None
    assert pool.allocate(RIP, 80) == (LIP, 2000)


def test_later_packets_push_the_timer_and_the_heap_stays_small():
    t, rs, c = make("dr")
    walk(t, c, [(0, INPUT, S), (0, INPUT, A)])
    for i in range(1, 5001):
        t.state_transition(c, INPUT, A, float(i))
    assert len(t._heap) <= 3
    assert t.expire(900.0) == [] and c.expires == 5900.0
    assert t.expire(5900.0) == [c]


def test_expire_now_frees_the_key_for_a_new_entry():
    t, rs, c = make("dr")
    walk(t, c, [(0, INPUT, S), (0, INPUT, A), (1, INPUT, F), (1, INPUT, A)])
    assert t.expire_now(c, 2.0) == [c]
    _, _, c2 = make("dr", table=t, dest=rs, now=2.0)
    assert t.in_get(6, CIP, 40000, VIP, 80) is c2 and len(t) == 1
    assert t.expire(200.0) == [c2]          # the old entry's heap slot does nothing
    assert rs.inactconns == 0


# --- templates -------------------------------------------------------------------------------------------

def test_template_outlives_its_timeout_while_it_controls_a_connection():
    t = ConnTable()
    rs = Dest(addr=RIP, port=80)
    ct = t.new_template(proto=6, caddr=CIP & 0xFFFFFF00, vaddr=VIP, vport=80, dest=rs, timeout=360,
                        now=0.0)
    assert rs.persistconns == 1 and t.template_get(6, CIP & 0xFFFFFF00, VIP, 80) is ct
    _, _, c = make("dr", table=t, dest=rs, control=ct)
    walk(t, c, [(0, INPUT, S), (0, INPUT, A)])
    assert t.expire(360.0) == [] and ct.expires == 420.0          # expire_later: +60 s
    walk(t, c, [(400, INPUT, R)])                                  # CLOSE, expires 410
    assert t.expire(410.0) == [c] and ct.n_control == 0
    assert t.expire(419.9) == []
    assert t.expire(420.0) == [ct]
    assert (rs.persistconns, rs.activeconns, rs.inactconns, len(t)) == (0, 0, 0, 0)


def test_template_reuse_rearms_it_with_its_own_timeout():
    t = ConnTable()
    rs = Dest(addr=RIP, port=80)
    ct = t.new_template(proto=6, caddr=CIP, vaddr=VIP, vport=80, dest=rs, timeout=360, now=0.0)
    t.touch_template(ct, 360, 100.0)
    assert t.expire(360.0) == [] and t.expire(460.0) == [ct]


def test_quiescent_template_is_invalidated_only_with_expire_quiescent_template():
    rs = Dest(addr=RIP, port=80)
    keep = ConnTable()
    ct = keep.new_template(proto=6, caddr=CIP, vaddr=VIP, vport=80, dest=rs, timeout=360, now=0.0)
    rs.weight = 0
    assert keep.check_template(ct) is True
    strict = ConnTable(IpvsSettings(expire_quiescent_template=1))
    ct2 = strict.new_template(proto=6, caddr=CIP, vaddr=VIP, vport=80, dest=rs, timeout=360, now=0.0)
    assert strict.check_template(ct2) is False
    assert strict.template_get(6, CIP, VIP, 80) is None
    assert rs.persistconns == 2                      # still bound until its timer runs out
    assert strict.expire(360.0) == [ct2] and rs.persistconns == 1


def test_template_of_a_removed_server_is_not_used():
    t = ConnTable()
    rs = Dest(addr=RIP, port=80)
    ct = t.new_template(proto=6, caddr=CIP, vaddr=VIP, vport=80, dest=rs, timeout=360, now=0.0)
    rs.available = False
    assert t.check_template(ct) is False and t.template_get(6, CIP, VIP, 80) is None


# --- new SYN on an existing entry (conn_reuse_mode, expire_nodest_conn) -----------------------------------

def time_wait_nat(settings=None):
    t, rs, c = make("nat", settings=settings)
    walk(t, c, [(0, INPUT, S), (0, OUTPUT, S | A), (0, INPUT, A), (1, INPUT, F | A),
                (1, OUTPUT, F | A)])
    assert c.state == "TIME_WAIT"
    return t, rs, c


def test_syn_on_time_wait_entry_is_rescheduled_by_default():
    t, rs, c = time_wait_nat()
    assert t.new_syn_action(c) == RESCHEDULE and t.is_reusable_for_new_syn(c)


def test_syn_on_time_wait_entry_sticks_with_conn_reuse_mode_0():
    t, rs, c = time_wait_nat(IpvsSettings(conn_reuse_mode=0))
    assert t.new_syn_action(c) == KEEP


def test_syn_on_established_entry_is_kept():
    t, rs, c = make("nat")
    walk(t, c, [(0, INPUT, S), (0, OUTPUT, S | A), (0, INPUT, A)])
    assert t.new_syn_action(c) == KEEP


def test_old_kernels_with_conntrack_drop_the_reusing_syn():
    t, rs, c = time_wait_nat(IpvsSettings(conntrack=1))
    assert t.new_syn_action(c, legacy_conntrack=True) == DROP
    assert t.new_syn_action(c) == RESCHEDULE


def test_fin_wait_of_input_only_entry_needs_conn_reuse_mode_bit_2():
    for mode, expected in ((1, KEEP), (2, RESCHEDULE), (3, RESCHEDULE)):
        t, rs, c = make("dr", settings=IpvsSettings(conn_reuse_mode=mode))
        walk(t, c, [(0, INPUT, S), (0, INPUT, A), (1, INPUT, F)])
        assert c.state == "FIN_WAIT" and t.new_syn_action(c) == expected


def test_persistent_entries_are_never_rescheduled():
    t = ConnTable()
    rs = Dest(addr=RIP, port=80)
    ct = t.new_template(proto=6, caddr=CIP, vaddr=VIP, vport=80, dest=rs, timeout=360, now=0.0)
    _, _, c = make("dr", table=t, dest=rs, control=ct)
    walk(t, c, [(0, INPUT, S), (0, INPUT, A), (1, INPUT, R)])
    assert c.state == "CLOSE" and t.new_syn_action(c) == KEEP


def test_expire_nodest_conn_reschedules_a_syn_to_a_quiesced_server():
    t, rs, c = make("nat", settings=IpvsSettings(expire_nodest_conn=1))
    walk(t, c, [(0, INPUT, S), (0, OUTPUT, S | A), (0, INPUT, A)])
    rs.weight = 0
    assert t.new_syn_action(c) == RESCHEDULE


# --- memory -----------------------------------------------------------------------------------------------

def test_an_entry_costs_less_than_1_kib():
    t = ConnTable()
    rs = Dest(addr=RIP, port=80, mode="nat")
    n = 5000
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        c = t.new(proto=6, caddr=CIP + i, cport=1024 + i, vaddr=VIP, vport=80, daddr=RIP, dport=80,
                  dest=rs, mode="nat", now=0.0)
        t.state_transition(c, INPUT, S, 0.0)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / n < 1024, f"{used / n:.0f} bytes per entry"
