"""rr and wrr: the reference's worked examples and the kernel cursor rules."""
from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers import SchedService

CIP = 0xC0A80001


def build(sched, servers, rebind=False):
    """servers: (label, weight) in `ipvsadm -a` order.

    rebind: afterwards `ipvsadm -E -s sched`, so the scheduler is initialised
    over all servers at once instead of seeing them added one by one.
    """
    svc = SchedService(sched)
    by = {}
    for i, (label, w) in enumerate(servers):
        by[label] = svc.add_dest(Dest(addr=0x0A00000B + i, port=80, weight=w, label=label))
    if rebind:
        svc.set_scheduler(sched)
    return svc, by


def picks(svc, n):
    out = []
    for i in range(n):
        d = svc.schedule(CIP, 1024 + i, 0x0A000064, 80)
        out.append(d.label if d else None)
    return out


def test_rr_walks_servers_newest_first():
    svc, _ = build("rr", [("A", 1), ("B", 1), ("C", 1)])
    assert picks(svc, 6) == ["C", "B", "A", "C", "B", "A"]


def test_rr_skips_weight_zero_and_overloaded():
    svc, by = build("rr", [("A", 1), ("B", 0), ("C", 1), ("D", 1)])
    by["D"].overloaded = True
    assert picks(svc, 4) == ["C", "A", "C", "A"]


def test_rr_no_destination_when_all_quiesced():
    svc, by = build("rr", [("A", 0), ("B", 0)])
    assert picks(svc, 2) == [None, None]
    by["A"].weight = 1
    assert picks(svc, 2) == ["A", "A"]


def test_rr_removing_the_last_pick_resumes_at_its_successor():
    svc, by = build("rr", [("A", 1), ("B", 1), ("C", 1), ("D", 1)])   # list D C B A
    assert picks(svc, 2) == ["D", "C"]
    svc.remove_dest(by["C"])
    assert picks(svc, 3) == ["B", "A", "D"]


def test_rr_new_server_is_reached_after_the_wrap():
    svc, _ = build("rr", [("A", 1), ("B", 1), ("C", 1)])
    assert picks(svc, 2) == ["C", "B"]
    svc.add_dest(Dest(addr=0x0A000020, port=80, label="D"))            # list D C B A
    assert picks(svc, 4) == ["A", "D", "C", "B"]


PERIOD_432 = ["A", "B", "A", "C", "B", "A", "C", "B", "A"]


def test_wrr_reference_example_when_initialised_over_all_servers():
    svc, _ = build("wrr", [("A", 4), ("B", 3), ("C", 2)], rebind=True)
    assert picks(svc, 18) == PERIOD_432 * 2


def test_wrr_servers_added_one_by_one_start_with_a_weight_one_pass():
    # Adding A(4) alone gives di=4, mw=1, cw=1; adding B and C keeps cw=1
    # (ip_vs_wrr_dest_changed keeps cw while it is <= mw).  So the kernel's
    # first pass takes every server once before the 4-3-2 period.
    svc, _ = build("wrr", [("A", 4), ("B", 3), ("C", 2)])
    assert picks(svc, 21) == ["C", "B", "A"] + PERIOD_432 * 2


def test_wrr_weight_zero_never_chosen():
    svc, _ = build("wrr", [("A", 2), ("B", 0), ("C", 1)], rebind=True)
    assert picks(svc, 6) == ["A", "C", "A", "A", "C", "A"]


def test_wrr_gcd_step():
    # di = 2, mw = 6 - 1 = 5: cw runs 5, 3, 1 over list B, A -> A, B A, B A.
    svc, _ = build("wrr", [("A", 6), ("B", 4)], rebind=True)
    assert picks(svc, 10) == ["A", "B", "A", "B", "A"] * 2


def test_wrr_all_overloaded_then_recovers():
    svc, by = build("wrr", [("A", 2), ("B", 1)], rebind=True)
    by["A"].overloaded = by["B"].overloaded = True
    assert picks(svc, 2) == [None, None]
    by["B"].overloaded = False
    assert picks(svc, 2) == ["B", "B"]


def test_wrr_all_weights_zero_is_no_destination():
    svc, by = build("wrr", [("A", 0), ("B", 0)])
    assert picks(svc, 2) == [None, None]
    svc.edit_dest(by["A"], weight=3)
    assert picks(svc, 2) == ["A", "A"]


def test_wrr_edit_restarts_scan_at_head_keeping_cw():
    svc, by = build("wrr", [("A", 4), ("B", 3), ("C", 2)], rebind=True)
    assert picks(svc, 2) == ["A", "B"]            # cw is now 3, cursor on B
    svc.edit_dest(by["C"], weight=2)
    # Back at the head with cw 3: C(2) no, B(3) yes.
    assert picks(svc, 3) == ["B", "A", "C"]


def test_wrr_weight_raise_keeps_cw_below_new_max():
    svc, by = build("wrr", [("A", 2), ("B", 1)], rebind=True)
    assert picks(svc, 1) == ["A"]
    svc.edit_dest(by["B"], weight=5)              # mw 5 >= cw 2 -> cw kept at 2
    assert picks(svc, 3) == ["B", "A", "B"]
