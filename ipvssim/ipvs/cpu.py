"""The director's CPU: cores that take time per packet, and a bounded backlog.

Analytical, no simpy processes: each core has a busy-until time.  A packet
arriving at ``now`` goes to the core that frees up first; it starts at
``max(now, that core's busy-until)`` and completes ``cost`` seconds later,
when its results are transmitted.  Packets accepted but not yet started wait
in one shared backlog of ``backlog`` places (net.core.netdev_max_backlog,
default 1000); a packet arriving when it is full is dropped, as
enqueue_to_backlog() does.

Where DEFAULT_COSTS come from -- order-of-magnitude figures, not measurements
of any particular machine:

- DPVS v1.9.2 performance report (iqiyi/dpvs test/release/v1.9.2/performance.md,
  E5-2650 v4, 10G): one worker core forwards 2.9 Mpps of small UDP packets in
  FULLNAT, i.e. about 0.35 us per packet in user space with DPDK (no
  interrupts, no sk_buff).
- Linux kernel forwarding is several times dearer per packet: about 1 Mpps
  per core for plain routing, less with conntrack/NAT (A. Toonk, "Linux kernel
  and measuring network throughput", 2020: 14 Mpps over a 32-core box with RSS;
  stateful NAT 5.9 Mpps with all 64 threads busy).  Hence ~1 us for receive +
  route + transmit ("rx" + "forward").
- The relative order DR < TUN < NAT < FULLNAT is the LVS project's: DR only
  changes L2, TUN adds a header, NAT rewrites L3+L4 and sees both directions,
  FULLNAT rewrites both addresses and ports and adds TOA
  (docs/ipvs-reference.md section 2).  The IPVS costs are on top of "rx";
  "schedule" is the extra work of a new connection (scheduler + entry
  allocation), "local" a packet delivered to the director's own stack.
"""
from __future__ import annotations

from collections import deque
from typing import Mapping

__all__ = ["DEFAULT_COSTS", "CpuModel"]

DEFAULT_COSTS: Mapping[str, float] = {
    "rx": 0.6e-6,        # NIC receive, IP input, route lookup (every frame)
    "forward": 0.4e-6,   # plain IP forwarding on top of rx (ip_forward + output)
    "local": 1.0e-6,     # delivery to the director's own TCP/UDP stack
    "dr": 0.3e-6,        # IPVS lookup + TTL + output toward the RS's MAC
    "tun": 0.45e-6,      # + IPIP header
    "nat": 0.5e-6,       # + L3/L4 rewrite with checksums (each direction)
    "fullnat": 0.7e-6,   # + both addresses and ports, local address pool, TOA
    "schedule": 0.5e-6,  # new entry: scheduler decision and connection allocation
}


class CpuModel:
    """Per-core busy-until times and one shared backlog.

    >>> cpu = CpuModel(cores=2, costs=DEFAULT_COSTS, backlog=1)
    >>> cpu.reserve(0.0, 1.0), cpu.reserve(0.0, 1.0), cpu.reserve(0.0, 1.0), cpu.reserve(0.0, 1.0)
    (1.0, 1.0, 2.0, None)
    """

    def __init__(self, cores: int = 1, costs: Mapping[str, float] | None = None, backlog: int = 1000):
        if cores < 1:
            raise ValueError(f"cores must be >= 1, got {cores}")
        if backlog < 0:
            raise ValueError(f"backlog must be >= 0, got {backlog}")
        self.cores = cores
        self.costs = dict(DEFAULT_COSTS if costs is None else costs)
        self.backlog = backlog
        self.busy_until = [0.0] * cores
        self._waiting: deque[float] = deque()   # start times of accepted packets, ascending
        self.packets = 0            # accepted
        self.dropped = 0            # refused: backlog full
        self.busy_time = 0.0        # total accepted work, seconds of one core
        self.max_waiting = 0

    def waiting(self, now: float) -> int:
        """Packets accepted by `now` that have not started being processed."""
        w = self._waiting
        while w and w[0] <= now:
            w.popleft()
        return len(w)

    def reserve(self, now: float, cost: float) -> float | None:
        """Take one packet arriving at `now` needing `cost` seconds: its completion time, or None (dropped).

        `now` must not decrease between calls (simulated time).
        """
        busy = self.busy_until
        if self.cores == 1:
            free_at = busy[0]               # min() and index() of one core, without the calls
            k = 0
        else:
            free_at = min(busy)
            k = busy.index(free_at)         # the core that frees up first, lowest index on ties
        start = free_at if free_at > now else now
        if start > now:
            if self.waiting(now) >= self.backlog:
                self.dropped += 1
                return None
            waiting = self._waiting
            waiting.append(start)
            if len(waiting) > self.max_waiting:
                self.max_waiting = len(waiting)
        done = start + cost
        busy[k] = done
        self.packets += 1
        self.busy_time += cost
        return done

    def utilization(self, elapsed: float) -> float:
        """Accepted work over the capacity of all cores during `elapsed` seconds (at most 1)."""
        if elapsed <= 0:
            return 0.0
        return min(1.0, self.busy_time / (self.cores * elapsed))
