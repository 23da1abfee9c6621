"""What every director data plane shares, IPVS or iptables.

A data plane sits on a host through its two hooks (LOCAL_IN and FORWARD, see
`ipvssim.net.host`), charges every frame the host receives to a `CpuModel`, and
applies the scenario's `events:` at their simulated times.  Subclasses provide
`local_in`, `forward`, `packet_cost` and `apply_event`.
"""
from __future__ import annotations

from typing import Mapping

from ipvssim.ipvs.cpu import DEFAULT_COSTS, CpuModel
from ipvssim.scenario.model import CpuSpec, EventSpec

__all__ = ["DataPlane", "transport_proto"]


def transport_proto(d) -> int | None:
    """The IP protocol of an IPv4 TCP or UDP frame, else None (what a data plane rewrites)."""
    if len(d) < 34 or d[12:14] != b"\x08\x00":
        return None
    proto = d[23]
    return proto if proto == 6 or proto == 17 else None


class DataPlane:
    dataplane = "ipvs"

    def _attach(self, host, ctx, cpu: CpuSpec | None, extra_costs: Mapping[str, float] = {}) -> None:
        """Hook into `host` and give it this data plane's CPU (defaults, then the scenario's costs)."""
        self.host = host
        self.ctx = ctx
        cpu = cpu or CpuSpec()
        self.costs = {**DEFAULT_COSTS, **extra_costs, **cpu.costs}
        self.cpu = CpuModel(cpu.cores, self.costs, cpu.backlog)
        host.local_in_hook = self.local_in
        host.forward_hook = self.forward
        host.cpu = self.cpu
        host.cpu_cost = self.packet_cost
        self.packets = 0            # frames the data plane rewrote (both directions)
        self.bytes = 0

    def has_service(self, name: str) -> bool:
        return any(s.name == name for s in self.services)

    def service(self, name: str):
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def schedule_event(self, ev: EventSpec) -> None:
        timer = self.ctx.env.timeout(max(0.0, ev.at - self.ctx.env.now))
        timer.callbacks.append(lambda _e, ev=ev: self.apply_event(ev))
