"""Dest counters and the overload flag (ip_vs_conn.c ip_vs_bind_dest / ip_vs_unbind_dest)."""
import pytest

from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.schedulers import SchedService


def bind_n(d, n):
    for _ in range(n):
        d.bind_conn(is_template=False, active=False)


def test_new_connection_counts_as_inactive():
    d = Dest(addr=1, port=80)
    d.bind_conn(is_template=False, active=False)
    assert (d.activeconns, d.inactconns, d.persistconns) == (0, 1, 0)
    d.conn_became_active()
    assert (d.activeconns, d.inactconns) == (1, 0)
    d.conn_became_inactive()
    assert (d.activeconns, d.inactconns) == (0, 1)
    d.unbind_conn(is_template=False, was_active=False)
    assert d.total_conns() == 0


def test_templates_count_as_persistent_and_not_toward_the_threshold():
    d = Dest(addr=1, port=80, u_threshold=1)
    d.bind_conn(is_template=True, active=False)
    assert d.persistconns == 1 and d.total_conns() == 0 and not d.overloaded
    d.bind_conn(is_template=False, active=False)
    assert d.overloaded
    d.unbind_conn(is_template=True, was_active=False)
    assert d.persistconns == 0


def test_overload_set_when_total_reaches_upper_threshold():
    d = Dest(addr=1, port=80, u_threshold=3)
    bind_n(d, 2)
    assert not d.overloaded
    d.bind_conn(is_template=False, active=False)
    assert d.overloaded


def test_overload_clears_below_three_quarters_of_upper_without_lower():
    d = Dest(addr=1, port=80, u_threshold=4)
    bind_n(d, 4)
    assert d.overloaded
    d.unbind_conn(False, False)        # 3 * 4 < 4 * 3 is false
    assert d.overloaded
    d.unbind_conn(False, False)        # 2 * 4 < 12
    assert not d.overloaded


def test_overload_clears_below_lower_threshold():
    d = Dest(addr=1, port=80, u_threshold=4, l_threshold=2)
    bind_n(d, 4)
    d.unbind_conn(False, False)
    d.unbind_conn(False, False)        # total 2, not < 2
    assert d.overloaded
    d.unbind_conn(False, False)
    assert not d.overloaded


def test_active_counts_toward_threshold():
    d = Dest(addr=1, port=80, u_threshold=2)
    d.bind_conn(False, False)
    d.conn_became_active()
    d.bind_conn(False, False)
    assert d.overloaded and (d.activeconns, d.inactconns) == (1, 1)
    d.unbind_conn(False, was_active=True)
    assert not d.overloaded and d.activeconns == 0


def test_edit_raising_upper_threshold_clears_overload():
    d = Dest(addr=1, port=80, u_threshold=2)
    bind_n(d, 2)
    d.update(weight=1, u_threshold=2)
    assert d.overloaded
    d.update(weight=1, u_threshold=5)
    assert not d.overloaded


def test_last_weight_keeps_latest_non_zero_weight():
    d = Dest(addr=1, port=80, weight=3)
    d.weight = 0
    assert (d.weight, d.last_weight) == (0, 3)
    d.weight = 5
    assert d.last_weight == 5
    assert Dest(addr=1, port=80, weight=0).last_weight == 0


def test_invalid_weight_and_mode_rejected():
    with pytest.raises(ValueError):
        Dest(addr=1, port=80, weight=-1)
    with pytest.raises(ValueError):
        Dest(addr=1, port=80, mode="masq")


def test_service_inserts_new_servers_at_the_head_and_unlinks_removed():
    svc = SchedService("rr")
    a = svc.add_dest(Dest(addr=1, port=80, label="A"))
    b = svc.add_dest(Dest(addr=2, port=80, label="B"))
    assert svc.dests == [b, a]
    svc.remove_dest(b)
    assert svc.dests == [a] and not b.available
