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
    "sent" and "forwarded" are recorded when the frame is handed to the device, so
    `data` holds the MACs this hop wrote and `time` is when it left (after any wait
    for ARP, given in `reason`).
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
        # pid -> (host, action): a "sent"/"forwarded" step waiting for the frame to be
        # handed to the device, so that it shows the MACs this hop wrote.
        self._at_transmit: dict[int, tuple[str, str | None, str, float]] = {}

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

    def step_at_transmit(self, pkt, host: str, iface: str | None, action: str) -> None:
        """Record `action` ("sent", "forwarded") when the frame reaches the device
        (`transmitted`), once its Ethernet addresses are set; `flush` records it
        earlier if the packet ends before that (no route, ARP failure, MTU)."""
        self._at_transmit[pkt.pid] = (host, iface, action, self.env.now)

    def transmitted(self, pkt, iface: str) -> None:
        """The frame is handed to `iface`: record its pending step, if any."""
        note = self._at_transmit.pop(pkt.pid, None)
        if note is not None:
            # Held back (waiting for the neighbour to resolve): say so, and for how long.
            waited = self.env.now - note[3]
            reason = f"after {waited * 1000:.3f} ms waiting for ARP" if waited > 0 else None
            self.step(pkt, note[0], iface, note[2], reason)

    def flush(self, pkt) -> None:
        """The packet ends before transmission: record its pending step first."""
        note = self._at_transmit.pop(pkt.pid, None)
        if note is not None:
            waited = self.env.now - note[3]
            reason = f"held {waited * 1000:.3f} ms, never transmitted" if waited > 0 else None
            self.step(pkt, note[0], note[1], note[2], reason)
