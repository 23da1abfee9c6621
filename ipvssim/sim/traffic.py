"""Traffic generators: open client connections at the scenario's rate and arrival law."""
from __future__ import annotations

from ipvssim.net.flow import Flow
from ipvssim.scenario.model import TrafficSpec

__all__ = ["TrafficGenerator"]


class TrafficGenerator:
    """Opens `spec.connections` connections from the spec's client hosts.

    Arrival times: constant (one every 1/rate s) or poisson (exponential gaps from
    the run's generator).  Source hosts take turns in the order given.  The times
    are drawn when the run is built, so they do not depend on what happens later.
    """

    def __init__(self, ctx, spec: TrafficSpec, hosts: dict, flows: list[Flow], open_connection):
        self.ctx = ctx
        self.spec = spec
        self.hosts = hosts
        self.flows = flows
        self.open_connection = open_connection   # (host, flow, spec) -> None
        self.times = self._arrival_times()

    def _arrival_times(self) -> list[float]:
        spec, rng = self.spec, self.ctx.rng
        t = spec.start
        times = []
        for _ in range(spec.connections):
            times.append(t)
            if spec.rate <= 0:
                continue
            t += rng.expovariate(spec.rate) if spec.arrival == "poisson" else 1.0 / spec.rate
        return times

    def start(self) -> None:
        env = self.ctx.env
        for i, t in enumerate(self.times):
            ev = env.timeout(t - env.now)
            ev.callbacks.append(lambda _ev, i=i: self._open(i))

    def _open(self, i: int) -> None:
        spec = self.spec
        client = spec.sources[i % len(spec.sources)]
        flow = Flow(len(self.flows), spec.name, client, spec.protocol, self.ctx.env.now,
                    spec.request, spec.response)
        self.flows.append(flow)
        self.open_connection(self.hosts[client], flow, spec)
