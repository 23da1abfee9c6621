"""What can be seen of a run: per-interface captures (pcap) and trace step records.

Both are off by default and cost nothing then: an interface holds `capture = None`
and the host checks `observer.tracing` before building a step.  Captures are kept in
memory (`pcap=True`), or written to one pcap file per interface in a folder while the
run goes on (`pcap=FOLDER`; see `PcapSpool`).
"""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from ipvssim.packet.pcap import PcapSpool

__all__ = ["TraceStep", "Observer"]


@dataclass(frozen=True)
class TraceStep:
    """One thing that happened to one packet at one place.

    action: "sent" (created and transmitted), "received", "forwarded" (sent on by a
    router, or by the director after its rewrite), "rewritten" (the IPVS director,
    or iptables' DNAT, changed it), "delivered", "dropped".
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


class CaptureList(list):
    """An interface's capture kept in memory: a list of (time, frame bytes) records."""

    __slots__ = ()

    def record(self, t: float, frame) -> None:
        self.append((t, bytes(frame)))


class Observer:
    """Captures and trace steps of one run.

    pcap : False (no captures), True (in memory: `captures[(host, iface)]` lists the
        (time, frame bytes) records) or a folder: each interface's capture goes to
        FOLDER/HOST-IFACE.pcap as the run goes (`captures[(host, iface)]` is then its
        PcapSpool, holding only what has not been written yet; see `spill`).
    """

    def __init__(self, env, pcap: bool | str | PathLike = False, trace: bool = False,
                 trace_flows: set[int] | None = None):
        self.env = env
        self.pcap = bool(pcap)
        self.pcap_dir = None if isinstance(pcap, bool) else Path(pcap)
        self.tracing = trace
        self.trace_flows = trace_flows      # None = all flows (and packets without one)
        self.captures: dict[tuple[str, str], CaptureList | PcapSpool] = {}
        self.steps: list[TraceStep] = []
        # pid -> (host, action): a "sent"/"forwarded" step waiting for the frame to be
        # handed to the device, so that it shows the MACs this hop wrote.
        self._at_transmit: dict[int, tuple[str, str | None, str, float]] = {}

    def capture_for(self, host: str, iface: str):
        """What an interface calls with (time, frame) for each frame it sees -- the
        `record` of its CaptureList or PcapSpool -- or None when not capturing."""
        if not self.pcap:
            return None
        capture = self.captures.get((host, iface))
        if capture is None:
            capture = self.captures[(host, iface)] = (
                CaptureList() if self.pcap_dir is None
                else PcapSpool(self.pcap_dir / f"{host}-{iface}.pcap"))
        return capture.record

    def spill(self) -> None:
        """Write the records gathered so far to the pcap files (when writing to a folder)."""
        if self.pcap_dir is None:
            return
        self.pcap_dir.mkdir(parents=True, exist_ok=True)
        for capture in self.captures.values():
            capture.spill()

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
