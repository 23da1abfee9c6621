"""dh, sh, mh: bucket tables, hash keys, weight-0 and fallback behaviour."""
import random
import subprocess
import sys
from collections import Counter
from ipaddress import IPv4Address

import pytest

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers import SchedService
from ipvssim.ipvs.schedulers.common import hash_32
from ipvssim.ipvs.schedulers.mh import IP_VS_MH_TAB_SIZE, hsiphash_u32

VIP = int(IPv4Address("10.0.0.100"))


def ip(s):
    return int(IPv4Address(s))


def build(sched, servers, flags=()):
    """servers: (label, weight) in `ipvsadm -a` order."""
    svc = SchedService(sched, flags=flags)
    by = {}
    for i, (label, w) in enumerate(servers):
        by[label] = svc.add_dest(Dest(addr=ip("10.0.0.11") + i, port=80, weight=w, label=label))
    return svc, by


def pick(svc, src, sport=40000, dst=VIP):
    d = svc.schedule(ip(src) if isinstance(src, str) else src, sport, dst, 80)
    return d.label if d else None


def test_hash_32_golden_ratio():
    assert hash_32(0x0A000001, 8) == ((0x0A000001 * 0x61C88647) % 2**32) >> 24 == 39


# -- sh -----------------------------------------------------------------------

@pytest.mark.parametrize("src, bucket, server", [
    ("10.0.0.1", 39, "C"), ("10.0.0.2", 137, "A"), ("172.16.0.5", 1, "B")])
def test_sh_reference_buckets(src, bucket, server):
    svc, _ = build("sh", [("A", 1), ("B", 1), ("C", 1)])
    assert hash_32(ip(src), 8) == bucket
    assert svc.scheduler.buckets[:3] == svc.dests     # C, B, A, C, ...
    assert pick(svc, src) == server


def test_sh_repeats_each_server_weight_times_and_weight_zero_takes_one_bucket():
    svc, _ = build("sh", [("A", 2), ("B", 0), ("C", 1)])        # list C, B, A
    assert [d.label for d in svc.scheduler.buckets[:8]] == ["C", "B", "A", "A"] * 2


def test_sh_weight_zero_server_means_no_destination():
    svc, by = build("sh", [("A", 1), ("B", 1), ("C", 1)])
    svc.edit_dest(by["C"], weight=0)
    assert pick(svc, "10.0.0.1") is None
    assert pick(svc, "10.0.0.2") == "A"


def test_sh_fallback_probes_from_twice_the_hash():
    svc, by = build("sh", [("A", 1), ("B", 1), ("C", 1)], flags=["sh-fallback"])
    svc.edit_dest(by["C"], weight=0)
    # Probe buckets are (offset + 2 * 39) mod 256: 78 -> C (quiesced), 79 -> B.
    assert pick(svc, "10.0.0.1") == "B"


def test_sh_overloaded_server_without_fallback():
    svc, by = build("sh", [("A", 1), ("B", 1), ("C", 1)])
    by["B"].overloaded = True
    assert pick(svc, "172.16.0.5") is None
    svc.flags.add("sh-fallback")
    # (0 + 2) mod 256 = 2 -> A
    assert pick(svc, "172.16.0.5") == "A"


def test_sh_port_adds_source_port_to_key():
    svc, _ = build("sh", [("A", 1), ("B", 1), ("C", 1)], flags=["sh-port"])
    key = hash_32(ip("10.0.0.1") + 1000, 8)
    assert pick(svc, "10.0.0.1", sport=1000) == ["C", "B", "A"][key % 3]
    spread = {pick(svc, "10.0.0.1", sport=p) for p in range(1000, 1064)}
    assert spread == {"A", "B", "C"}
    svc.flags.clear()
    assert {pick(svc, "10.0.0.1", sport=p) for p in range(1000, 1064)} == {"C"}


def test_sh_removed_server_loses_its_buckets():
    svc, by = build("sh", [("A", 1), ("B", 1), ("C", 1)])
    svc.remove_dest(by["C"])
    assert {d.label for d in svc.scheduler.buckets} == {"A", "B"}


def test_sh_arrivals_follow_weights():
    svc, _ = build("sh", [("A", 1), ("B", 2), ("C", 3)])
    rng = random.Random(5)
    n = 20000
    counts = Counter(pick(svc, rng.getrandbits(32)) for _ in range(n))
    # 256 buckets = 42 periods of C C C B B A + C C C B: 129, 85, 42.
    for label, buckets in (("C", 129), ("B", 85), ("A", 42)):
        assert counts[label] / n == pytest.approx(buckets / 256, abs=0.02)


# -- dh -----------------------------------------------------------------------

def test_dh_same_destination_same_server_weights_ignored():
    svc, _ = build("dh", [("A", 1), ("B", 5), ("C", 1)])
    expected = svc.dests[hash_32(VIP, 8) % 3].label
    assert {pick(svc, f"192.168.0.{i}") for i in range(1, 50)} == {expected}
    other = ip("10.0.0.200")
    assert pick(svc, "192.168.0.1", dst=other) == svc.dests[hash_32(other, 8) % 3].label


def test_dh_quiesced_or_removed_server_is_no_destination():
    svc, _ = build("dh", [("A", 1), ("B", 1), ("C", 1)])
    target = svc.dests[hash_32(VIP, 8) % 3]
    target.weight = 0
    assert pick(svc, "192.168.0.1") is None
    svc.remove_dest(target)
    assert pick(svc, "192.168.0.1") == svc.dests[hash_32(VIP, 8) % 2].label


# -- mh -----------------------------------------------------------------------

def test_hsiphash_core_is_siphash13():
    """On 64-bit kernels hsiphash is SipHash-1-3; CPython 3.11+ hashes bytes with it too."""
    if sys.hash_info.algorithm != "siphash13":
        pytest.skip("interpreter not using SipHash-1-3")
    values = [0, 1, ip("10.0.0.11") + 80, 0xDEADBEEF]
    code = ("import struct,sys;print(*[hash(struct.pack('<I',v)) & 0xffffffff "
            "for v in map(int, sys.argv[1:])])")
    out = subprocess.run([sys.executable, "-c", code, *map(str, values)], capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "0"}).stdout.split()
    assert [hsiphash_u32(v, (0, 0)) for v in values] == [int(x) for x in out]


def test_mh_table_is_full_and_shares_follow_weights():
    svc, _ = build("mh", [("A", 1), ("B", 2), ("C", 3)])
    lookup = svc.scheduler.lookup
    assert len(lookup) == IP_VS_MH_TAB_SIZE == 4093
    counts = Counter(d.label for d in lookup)
    for label, w in (("A", 1), ("B", 2), ("C", 3)):
        assert abs(counts[label] - 4093 * w / 6) <= w


def test_mh_large_weights_are_scaled_by_gcd_and_shift():
    svc, _ = build("mh", [("A", 1000), ("B", 3000)])
    s = svc.scheduler
    # gcd 1000 -> 1 and 3, well below 2**6: no shift.
    assert (s.gcd, s.rshift) == (1000, 0)
    svc2, _ = build("mh", [("A", 1), ("B", 200)])
    # 200 has 8 significant bits, IP_VS_MH_TAB_BITS is 6 -> shift 2: turns 1 and 50.
    assert svc2.scheduler.rshift == 2
    counts = Counter(d.label for d in svc2.scheduler.lookup)
    assert abs(counts["A"] - 4093 / 51) <= 1


def test_mh_same_client_same_server_and_port_flag_spreads():
    svc, _ = build("mh", [("A", 1), ("B", 1), ("C", 1)])
    assert len({pick(svc, "192.168.1.7", sport=p) for p in range(1000, 1100)}) == 1
    svc.flags.add("mh-port")
    assert {pick(svc, "192.168.1.7", sport=p) for p in range(1000, 1100)} == {"A", "B", "C"}


def test_mh_weight_zero_keeps_slots_and_gives_no_destination():
    svc, by = build("mh", [("A", 1), ("B", 1), ("C", 1)])
    clients = [f"192.168.2.{i}" for i in range(1, 200)]
    before = {c: pick(svc, c) for c in clients}
    svc.edit_dest(by["B"], weight=0)
    assert Counter(d.label for d in svc.scheduler.lookup)["B"] > 1000   # last_weight still 1
    after = {c: pick(svc, c) for c in clients}
    assert all(after[c] is None for c in clients if before[c] == "B")
    assert all(after[c] == before[c] for c in clients if before[c] != "B")
    svc.flags.add("mh-fallback")
    assert all(pick(svc, c) in ("A", "C") for c in clients)


def test_mh_server_added_with_weight_zero_takes_no_slots():
    svc, _ = build("mh", [("A", 1), ("B", 0), ("C", 1)])
    assert "B" not in {d.label for d in svc.scheduler.lookup}


def test_mh_all_weights_zero_empties_the_table():
    svc, _ = build("mh", [("A", 0), ("B", 0)])
    assert set(svc.scheduler.lookup) == {None}
    assert pick(svc, "192.168.0.1") is None
