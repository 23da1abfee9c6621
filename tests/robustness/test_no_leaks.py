"""After a run, state drains as the timeouts say: no connection entry or socket leaks."""
import pytest

from ipvssim.scenario.loader import load_scenario
from ipvssim.sim import Simulation


@pytest.mark.parametrize("lab", ["dr-basic", "nat-basic", "tun-wan", "fullnat-routed", "mixed-modes"])
def test_connection_entries_and_sockets_expire_after_the_traffic(lab):
    scn = load_scenario(f"scenarios/{lab}.yaml")
    result = Simulation(scn).run()
    assert all(f.status == "succeeded" for f in result.flows)
    env = result.ctx.env
    (director,) = result.directors.values()
    assert len(director.table) > 0          # entries are still there when the traffic ends
    # The longest timeouts involved: IPVS TIME_WAIT/FIN_WAIT 120 s (ESTABLISHED 900 s
    # only for connections that never closed), TCP TIME_WAIT 60 s.
    env.run(until=env.now + 1000)
    assert len(director.table) == 0
    for svc in director.services:
        for dest in svc.dests:
            assert (dest.activeconns, dest.inactconns, dest.persistconns) == (0, 0, 0), dest.label
    for host in result.hosts.values():
        assert host.tcp.conns == {}, host.name
    result.ctx.ledger.check()
    assert not result.ctx.ledger.live
