"""The benchmark's yardstick is what it says it is (no timing here: speed is measured by
bench/bench.py, never by a unit test)."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "ipvssim_bench", Path(__file__).resolve().parent.parent / "bench" / "bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _events_until(env, done) -> int:
    steps = 0
    while not done.processed:
        env.step()
        steps += 1
    return steps


@pytest.mark.parametrize("hops", [640, 6400])
def test_the_bare_simpy_hop_is_three_events_per_hop(hops):
    env, done = bench.bare_hop_network(hops)
    # set-up: each of the 64 link processes starts (an Initialize event) and each of the
    # 64 packets is put once.  `done` fires in the middle of a time step, so the events
    # of that step that were already due are stepped too: at most 3 per packet in flight.
    per_hop = (_events_until(env, done) - 64 - 64) / hops
    assert 3.0 <= per_hop <= 3.0 + 3 * 64 / hops


def test_the_bare_hop_moves_every_packet_one_link_per_hop():
    env, done = bench.bare_hop_network(128, links=4, inflight=2)
    env.run(until=done)
    # 2 packets, 128 hops, 1 us each on the wire: 64 hops each, one after another
    assert env.now == pytest.approx(64e-6)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc")
def test_peak_memory_is_read_from_a_fresh_process_that_ran_the_scenario():
    text = bench.lan_scenario("dr", connections=20, rate=200)
    off = bench.peak_rss_mib(text, pcap=False, warm=False)
    on = bench.peak_rss_mib(text, pcap=True, warm=False)
    # an interpreter with ipvssim imported holds tens of MiB; captures add to that
    assert off is not None and 10 < off < 1024
    assert on is not None and on >= off - 1
