"""Traffic generators: open client connections at the scenario's rate and arrival law."""
from __future__ import annotations

from array import array

from ipvssim.net.events import call_later
from ipvssim.net.flow import Flow
from ipvssim.scenario.model import TrafficSpec

__all__ = ["TrafficGenerator"]

# Connections opened by one callback when many share an instant (rate 0): a
# bound on the work of a single event, so --max-events can stop any run.
_OPEN_BATCH = 64


class TrafficGenerator:
    """Opens `spec.connections` connections from the spec's client hosts.

    Arrival times: constant (one every 1/rate s) or poisson (exponential gaps from
    the run's generator).  Source hosts take turns in the order given.  The times
    are drawn when the run is built, so they do not depend on what happens later;
    they are scheduled one arrival at a time (not all up front), so a scenario with
    millions of connections costs memory for its times only and stops cleanly at
    the horizon or at --max-events.
    """

    def __init__(self, ctx, spec: TrafficSpec, hosts: dict, flows: list[Flow], open_connection):
        self.ctx = ctx
        self.spec = spec
        self.hosts = hosts
        self.flows = flows
        self.open_connection = open_connection   # (host, flow, spec) -> None
        self.times = self._arrival_times()

    def _arrival_times(self) -> array:
        spec, rng = self.spec, self.ctx.rng
        t = spec.start
        times = array("d")
        for _ in range(spec.connections):
            times.append(t)
            if spec.rate <= 0:
                continue
            t += rng.expovariate(spec.rate) if spec.arrival == "poisson" else 1.0 / spec.rate
        return times

    def start(self) -> None:
        self._next = 0
        self._schedule()

    def _schedule(self) -> None:
        if self._next >= len(self.times):
            return
        env = self.ctx.env
        delay = self.times[self._next] - env._now
        # env.timeout(delay).callbacks.append(self._due), without the Timeout: same event order.
        call_later(env, delay if delay > 0.0 else 0.0, None, self._due)

    def _due(self, _ev) -> None:
        """Open every connection due now (at most _OPEN_BATCH), then wait for the next."""
        times, now = self.times, self.ctx.env._now
        for _ in range(_OPEN_BATCH):
            i = self._next
            if i >= len(times) or times[i] > now:
                break
            self._next = i + 1
            self._open(i)
        self._schedule()

    def _open(self, i: int) -> None:
        spec = self.spec
        client = spec.sources[i % len(spec.sources)]
        flow = Flow(len(self.flows), spec.name, client, spec.protocol, self.ctx.env._now,
                    spec.request * spec.requests, spec.response * spec.requests)
        self.flows.append(flow)
        self.open_connection(self.hosts[client], flow, spec)
