"""Invariants of all fourteen schedulers, checked over generated server sets."""
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers import SCHEDULERS, SchedService
from ipvssim.ipvs.schedulers.common import gcd

VIP = 0x0A000064


def build(sched, weights, flags=(), rebind=False):
    svc = SchedService(sched, flags=flags, rng=random.Random(11))
    dests = [svc.add_dest(Dest(addr=0x0A000100 + i, port=80, weight=w, label=f"S{i}"))
             for i, w in enumerate(weights)]
    if rebind:
        svc.set_scheduler(sched, random.Random(11))
    return svc, dests


weights_st = st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=7)


@settings(max_examples=40, deadline=None)
@given(weights=weights_st, overloaded=st.lists(st.booleans(), min_size=7, max_size=7),
       fallback=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_no_scheduler_returns_a_quiesced_overloaded_or_removed_server(weights, overloaded, fallback, seed):
    flags = ["sh-fallback", "mh-fallback"] if fallback else []
    rng = random.Random(seed)
    for name in SCHEDULERS:
        svc, dests = build(name, weights, flags)
        for d, ov in zip(dests, overloaded):
            d.overloaded = ov
            d.activeconns = rng.randrange(0, 4)
        if len(dests) > 1:
            svc.remove_dest(dests[0])
        for _ in range(20):
            d = svc.schedule(rng.getrandbits(32), rng.randrange(1024, 65536), VIP, 80)
            if d is not None:
                assert d.weight > 0 and not d.overloaded and d.available, (name, d)
                assert any(d is x for x in svc.dests), (name, d)
        usable = [d for d in svc.dests if d.weight > 0 and not d.overloaded]
        if not usable and name not in ("lblc", "lblcr"):
            assert svc.schedule(1, 1, VIP, 80) is None, name


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=6)
       .filter(lambda ws: any(ws)), rebind=st.booleans())
def test_wrr_shares_equal_weights_over_whole_periods(weights, rebind):
    svc, dests = build("wrr", weights, rebind=rebind)
    di = gcd(weights)
    period = sum(weights) // di
    # Skip the possible first partial pass of a service built one server at a time.
    warmup = 0 if rebind else len(dests)
    for _ in range(warmup):
        svc.schedule(1, 1, VIP, 80)
    got = Counter(svc.schedule(1, 1, VIP, 80).label for _ in range(3 * period))
    assert got == Counter({d.label: 3 * d.weight // di for d in dests if d.weight})


@settings(max_examples=60, deadline=None)
@given(weights=weights_st.filter(any))
def test_rr_takes_positive_weight_servers_in_turn(weights):
    svc, dests = build("rr", weights)
    live = [d for d in svc.dests if d.weight > 0]
    got = [svc.schedule(1, 1, VIP, 80) for _ in range(3 * len(live))]
    assert got == live * 3


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=8))
def test_sh_bucket_counts_follow_weights(weights):
    svc, dests = build("sh", weights)
    counts = Counter(id(d) for d in svc.scheduler.buckets)
    total = sum(weights)
    for d in dests:
        assert abs(counts[id(d)] - 256 * d.weight / total) <= d.weight


@settings(max_examples=25, deadline=None)
@given(weights=st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=8))
def test_mh_slot_counts_follow_weights(weights):
    svc, dests = build("mh", weights)
    s = svc.scheduler
    counts = Counter(id(d) for d in s.lookup)
    turns = {id(d): (d.weight // s.gcd) >> s.rshift or 1 for d in dests}
    total = sum(turns.values())
    for d in dests:
        assert abs(counts[id(d)] - 4093 * turns[id(d)] / total) <= turns[id(d)]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=3, max_value=10), data=st.data())
def test_mh_removing_one_server_moves_few_other_slots(n, data):
    svc, dests = build("mh", [1] * n)
    before = list(svc.scheduler.lookup)
    gone = dests[data.draw(st.integers(0, n - 1))]
    svc.remove_dest(gone)
    after = svc.scheduler.lookup
    assert gone not in after
    moved = sum(1 for b, a in zip(before, after) if b is not gone and a is not b)
    # Slots of the removed server must move; the rest should almost all stay.
    assert moved <= 0.05 * len(before)
