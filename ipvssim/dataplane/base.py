"""What every director data plane shares, IPVS or iptables.

A data plane sits on a host through its two hooks (LOCAL_IN and FORWARD, see
`ipvssim.net.host`), charges every frame the host receives to a `CpuModel`, and
applies the scenario's `events:` at their simulated times.  Subclasses provide
`local_in`, `forward`, `packet_cost` and `apply_event`.
"""
from __future__ import annotations

import struct
from typing import Mapping

from ipvssim.ipvs.cpu import DEFAULT_COSTS, CpuModel
from ipvssim.scenario.model import CpuSpec, EventSpec

__all__ = ["addresses_ports", "DataPlane", "flow_key"]

# What every data-plane hook reads from every packet: both IPv4 addresses (source at
# 26, destination at 30 in the frame) and both TCP/UDP ports (at the L4 offset).
_ADDRESSES = struct.Struct("!II").unpack_from
_PORTS = struct.Struct("!HH").unpack_from
# The usual shape, an option-less IPv4 header (first byte 0x45: the ports at 34, right
# after the addresses): all four in one unpack from 26, as a struct call costs far more
# than the byte read that tells the shape.
_ADDRESSES_PORTS = struct.Struct("!IIHH").unpack_from


def addresses_ports(d) -> tuple[int, int, int, int]:
    """(saddr, daddr, sport, dport) of an IPv4 frame with a TCP or UDP header, the ports
    read at the L4 offset whatever the fragment offset (as `ipvssim.packet.wire`'s
    per-field readers do).  No checks: the caller knows it is IPv4 TCP/UDP."""
    if d[14] == 0x45:
        return _ADDRESSES_PORTS(d, 26)
    saddr, daddr = _ADDRESSES(d, 26)
    sport, dport = _PORTS(d, 14 + ((d[14] & 0x0F) << 2))
    return saddr, daddr, sport, dport


def flow_key(d) -> tuple[int, int, int, int, int] | None:
    """(proto, saddr, sport, daddr, dport) of an IPv4 TCP or UDP frame, else None:
    the tuple the connection tables are keyed by."""
    if len(d) < 34 or d[12] != 8 or d[13] != 0:
        return None
    proto = d[23]
    if proto != 6 and proto != 17:
        return None
    saddr, daddr, sport, dport = addresses_ports(d)
    return proto, saddr, sport, daddr, dport


class DataPlane:
    dataplane = "ipvs"

    def _attach(self, host, ctx, cpu: CpuSpec | None, extra_costs: Mapping[str, float] = {}) -> None:
        """Hook into `host` and give it this data plane's CPU (defaults, then the scenario's costs)."""
        self.host = host
        self.ctx = ctx
        # Bound once: the per-packet hooks read the clock and the tracing switch.
        self.env = ctx.env
        self.observer = ctx.observer
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
