"""Director CPU model: exact completion times, backlog drops, utilization."""
from __future__ import annotations

import pytest

from ipvssim.ipvs.cpu import DEFAULT_COSTS, CpuModel

US = 1e-6


def test_one_core_serves_back_to_back_packets_in_arrival_order():
    cpu = CpuModel(cores=1, costs=DEFAULT_COSTS, backlog=10)
    assert [cpu.reserve(0.0, 2 * US) for _ in range(3)] == pytest.approx([2 * US, 4 * US, 6 * US])
    assert cpu.waiting(0.0) == 2 and cpu.max_waiting == 2


def test_an_idle_core_starts_at_arrival_time():
    cpu = CpuModel(cores=1, backlog=10)
    cpu.reserve(0.0, 1.0)
    assert cpu.reserve(5.0, 0.5) == 5.5


def test_two_cores_share_work_and_break_ties_on_the_lowest_core():
    cpu = CpuModel(cores=2, backlog=10)
    assert [cpu.reserve(0.0, 1.0) for _ in range(4)] == [1.0, 1.0, 2.0, 2.0]
    assert cpu.busy_until == [2.0, 2.0]
    assert cpu.reserve(1.5, 1.0) == 3.0


def test_full_backlog_drops_and_frees_up_as_packets_start():
    cpu = CpuModel(cores=1, backlog=2)
    assert cpu.reserve(0.0, 1.0) == 1.0          # starts at once: not waiting
    assert cpu.reserve(0.0, 1.0) == 2.0          # waits (starts at 1)
    assert cpu.reserve(0.0, 1.0) == 3.0          # waits (starts at 2)
    assert cpu.reserve(0.5, 1.0) is None         # two waiting: backlog full
    assert (cpu.packets, cpu.dropped) == (3, 1)
    assert cpu.waiting(1.0) == 1
    assert cpu.reserve(1.0, 1.0) == 4.0          # one place free again


def test_zero_backlog_only_accepts_packets_a_core_can_start_now():
    cpu = CpuModel(cores=1, backlog=0)
    assert cpu.reserve(0.0, 1.0) == 1.0
    assert cpu.reserve(0.5, 1.0) is None
    assert cpu.reserve(1.0, 1.0) == 2.0


def test_utilization_is_accepted_work_over_core_time():
    cpu = CpuModel(cores=2, backlog=10)
    for _ in range(3):
        cpu.reserve(0.0, 1.0)
    assert cpu.utilization(3.0) == pytest.approx(0.5)
    assert cpu.utilization(1.0) == 1.0 and cpu.utilization(0.0) == 0.0


def test_default_costs_rank_the_modes_like_lvs():
    c = DEFAULT_COSTS
    assert c["dr"] < c["tun"] < c["nat"] < c["fullnat"]
    assert {"rx", "forward", "local", "schedule"} <= set(c)


def test_rejects_no_cores():
    with pytest.raises(ValueError):
        CpuModel(cores=0)
