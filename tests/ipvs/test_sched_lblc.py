"""lblc and lblcr: per-destination caches and the locality overload rule."""
from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers import SchedService, make_scheduler

CIP = 0xC0A80001
DST1, DST2 = 0x0A000064, 0x0A000065
DAY = 24 * 3600.0


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def build(sched, servers, clock=None):
    svc = SchedService(sched)
    by = {}
    for i, (label, w) in enumerate(servers):
        by[label] = svc.add_dest(Dest(addr=0x0A00000B + i, port=80, weight=w, label=label))
    if clock is not None:
        svc.scheduler = make_scheduler(sched, svc, clock=clock)
    return svc, by


def pick(svc, dst=DST1):
    d = svc.schedule(CIP, 40000, dst, 80)
    return d.label if d else None


def test_lblc_sticks_to_cached_server_while_not_locality_overloaded():
    svc, by = build("lblc", [("A", 2), ("B", 2)])
    assert pick(svc) == "B"                      # wlc tie: first in list (B)
    by["B"].activeconns = 2                      # 2 > 2 is false: stays
    assert pick(svc) == "B"
    by["B"].activeconns = 3                      # > weight, and A has 0 * 2 < 2
    assert pick(svc) == "A"
    by["B"].activeconns = 0
    assert pick(svc) == "A"                      # the cache now says A


def test_lblc_overload_needs_a_server_under_half_its_weight():
    svc, by = build("lblc", [("A", 2), ("B", 2)])
    assert pick(svc) == "B"
    by["B"].activeconns = 5
    by["A"].activeconns = 1                      # 1 * 2 < 2 is false: nobody is under half
    assert pick(svc) == "B"


def test_lblc_destinations_are_cached_independently():
    svc, by = build("lblc", [("A", 1), ("B", 1)])
    assert pick(svc, DST1) == "B"
    by["B"].inactconns = 10
    assert pick(svc, DST2) == "A"
    assert pick(svc, DST1) == "B"


def test_lblc_reschedules_when_cached_server_quiesced_or_removed():
    svc, by = build("lblc", [("A", 1), ("B", 1), ("C", 1)])
    assert pick(svc) == "C"
    svc.edit_dest(by["C"], weight=0)
    assert pick(svc) == "B"
    svc.remove_dest(by["B"])
    assert pick(svc) == "A"


def test_lblc_entry_expires_after_a_day_unused():
    clock = Clock()
    svc, by = build("lblc", [("A", 1), ("B", 1)], clock=clock)
    assert pick(svc) == "B"
    by["B"].inactconns = 5
    clock.now = DAY - 1
    assert pick(svc) == "B"                      # used: lastuse refreshed
    clock.now += DAY
    assert pick(svc) == "A"                      # expired: a fresh wlc decision


def test_lblcr_grows_the_set_when_overloaded_and_uses_its_least_loaded():
    svc, by = build("lblcr", [("A", 2), ("B", 2), ("C", 2)])
    assert pick(svc) == "C"
    by["C"].activeconns = 3                      # > 2 while A, B are idle
    assert pick(svc) == "B"
    assert [d.label for d in svc.scheduler.members(DST1)] == ["B", "C"]
    by["B"].activeconns = 1
    by["C"].activeconns = 1
    by["B"].inactconns = 1                       # set min: C (256) beats B (257)
    assert pick(svc) == "C"


def test_lblcr_shrinks_a_stale_set_by_its_most_loaded_member():
    clock = Clock()
    svc, by = build("lblcr", [("A", 2), ("B", 2)], clock=clock)
    assert pick(svc) == "B"
    by["B"].activeconns = 3
    assert pick(svc) == "A"                      # set {A, B}, modified at t=0
    clock.now = DAY + 1
    assert pick(svc) == "A"
    assert [d.label for d in svc.scheduler.members(DST1)] == ["A"]


def test_lblc_no_destination_when_all_quiesced():
    for sched in ("lblc", "lblcr"):
        svc, _ = build(sched, [("A", 0), ("B", 0)])
        assert pick(svc) is None
