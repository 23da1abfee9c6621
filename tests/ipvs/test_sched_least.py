"""lc, wlc, sed, nq, fo, ovf, twos: load-based choices and their tie rules."""
import random
from collections import Counter

import pytest

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers import SchedService

CIP, VIP = 0xC0A80001, 0x0A000064


def build(sched, servers, rng=None):
    """servers: (label, weight, active, inactive) in `ipvsadm -a` order."""
    svc = SchedService(sched, rng=rng)
    by = {}
    for i, (label, w, act, inact) in enumerate(servers):
        d = Dest(addr=0x0A00000B + i, port=80, weight=w, label=label)
        d.activeconns, d.inactconns = act, inact
        by[label] = svc.add_dest(d)
    return svc, by


def pick(svc):
    d = svc.schedule(CIP, 40000, VIP, 80)
    return d.label if d else None


REFERENCE_TABLE = [("A", 1, 10, 5), ("B", 2, 10, 50), ("C", 3, 30, 0)]


@pytest.mark.parametrize("sched, expected", [("lc", "A"), ("wlc", "B"), ("sed", "B"), ("nq", "B")])
def test_reference_table(sched, expected):
    # overheads: A 2565, B 2610, C 7680; per weight A 2565, B 1305, C 2560;
    # sed (act+1)/w: A 11, B 5.5, C 10.3; nq: nobody idle -> sed.
    svc, _ = build(sched, REFERENCE_TABLE)
    assert pick(svc) == expected


@pytest.mark.parametrize("sched", ["lc", "wlc", "sed", "nq", "fo", "ovf"])
def test_ties_go_to_first_server_in_list_order(sched):
    svc, _ = build(sched, [("A", 1, 0, 0), ("B", 1, 0, 0), ("C", 1, 0, 0)])
    assert pick(svc) == "C"                      # the last one added heads the list


@pytest.mark.parametrize("sched", ["lc", "wlc", "sed", "nq", "fo", "ovf"])
def test_quiesced_and_overloaded_servers_are_skipped(sched):
    svc, by = build(sched, [("A", 1, 0, 5), ("B", 0, 0, 0), ("C", 9, 0, 0)])
    by["C"].overloaded = True
    assert pick(svc) == "A"
    by["A"].weight = 0
    assert pick(svc) is None


def test_lc_ignores_weight():
    svc, _ = build("lc", [("A", 100, 1, 0), ("B", 1, 0, 200)])
    assert pick(svc) == "B"                      # 200 < 256


def test_wlc_active_costs_256_inactive():
    svc, by = build("wlc", [("A", 1, 1, 0), ("B", 1, 0, 255)])
    assert pick(svc) == "B"
    by["B"].inactconns = 256                     # equal: the first in list order (B) keeps it
    assert pick(svc) == "B"
    by["B"].inactconns = 257
    assert pick(svc) == "A"


def test_sed_ignores_inactive_connections():
    svc, _ = build("sed", [("A", 1, 0, 0), ("B", 1, 0, 1000)])
    assert pick(svc) == "B"


def test_nq_takes_an_idle_server_regardless_of_weight():
    svc, _ = build("nq", [("A", 1, 0, 50), ("B", 100, 1, 0)])
    assert pick(svc) == "A"


def test_fo_highest_weight_then_fails_over():
    svc, by = build("fo", [("A", 5, 100, 0), ("B", 10, 999, 0), ("C", 7, 0, 0)])
    assert pick(svc) == "B"
    by["B"].overloaded = True
    assert pick(svc) == "C"


def test_ovf_overflows_when_active_exceeds_weight():
    svc, by = build("ovf", [("A", 2, 0, 0), ("B", 3, 0, 0)])
    assert pick(svc) == "B"
    by["B"].activeconns = 3                      # 3 > 3 is false: still B
    assert pick(svc) == "B"
    by["B"].activeconns = 4
    assert pick(svc) == "A"
    by["A"].activeconns = 3
    assert pick(svc) is None


def test_twos_requires_the_run_rng():
    with pytest.raises(ValueError):
        SchedService("twos")


def test_twos_is_reproducible_for_a_seed():
    runs = []
    for _ in range(2):
        svc, _ = build("twos", [("A", 1, 0, 0), ("B", 2, 0, 0), ("C", 3, 0, 0)], rng=random.Random(7))
        runs.append([pick(svc) for _ in range(50)])
    assert runs[0] == runs[1]


def test_twos_idle_servers_share_by_weight():
    svc, _ = build("twos", [("A", 1, 0, 0), ("B", 2, 0, 0), ("C", 3, 0, 0)], rng=random.Random(1))
    n = 30000
    counts = Counter(pick(svc) for _ in range(n))
    # Draws are uniform over 0..7 against cumulative weights C3 B5 A6, so the
    # first server also wins r = 0: shares 4/7, 2/7, 1/7.
    assert counts["C"] / n == pytest.approx(4 / 7, abs=0.015)
    assert counts["B"] / n == pytest.approx(2 / 7, abs=0.015)
    assert counts["A"] / n == pytest.approx(1 / 7, abs=0.015)


def test_twos_prefers_the_less_loaded_of_two_picks():
    svc, _ = build("twos", [("A", 1, 50, 0), ("B", 1, 0, 0)], rng=random.Random(3))
    n = 20000
    counts = Counter(pick(svc) for _ in range(n))
    # List B, A; draws over 0..2: B unless both draws land on A (r = 2): 1/9.
    assert counts["A"] / n == pytest.approx(1 / 9, abs=0.01)
