"""What can be seen of a run: per-interface captures (pcap) and trace step records.

Both are off by default and cost nothing then: an interface holds `capture = None`
and the host checks `observer.tracing` before building a step.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TraceStep", "Observer"]


@dataclass(frozen=True)
class TraceStep:
    """One thing that happened to one packet at one place.

    action: "sent" (created and transmitted), "received", "forwarded",
    "rewritten" (the IPVS director changed it), "delivered", "dropped".
    `data` is the frame as it was after this step (bytes), so a renderer can
    dissect it with Scapy and diff consecutive steps field by field.
    """
    time: float
    pid: int
    host: str
    iface: str | None
    action: str
    reason: str | None
    data: bytes
    flow: int | None
    parent: int | None = None


class Observer:
    def __init__(self, env, pcap: bool = False, trace: bool = False, trace_flows: set[int] | None = None):
        self.env = env
        self.pcap = pcap
        self.tracing = trace
        self.trace_flows = trace_flows      # None = all flows (and packets without one)
        self.captures: dict[tuple[str, str], list[tuple[float, bytes]]] = {}
        self.steps: list[TraceStep] = []

    def capture_list(self, host: str, iface: str) -> list | None:
        """The list an interface appends (time, frame bytes) to, or None when not capturing."""
        if not self.pcap:
            return None
        return self.captures.setdefault((host, iface), [])

    def step(self, pkt, host: str, iface: str | None, action: str, reason: str | None = None) -> None:
        flow = pkt.flow.fid if pkt.flow is not None else None
        if self.trace_flows is not None and flow not in self.trace_flows:
            return
        self.steps.append(TraceStep(self.env.now, pkt.pid, host, iface, action, reason,
                                    bytes(pkt.data), flow, pkt.parent))
