"""The packet as it travels: wire bytes plus the simulator's bookkeeping.

`data` is the whole Ethernet frame (a bytearray rewritten in place hop by hop;
see `ipvssim.packet.wire`).  Nothing here is on the wire: `flow` and `path` are
the simulator's god's-eye annotations used for reports, never for decisions.
"""
from __future__ import annotations

__all__ = ["Packet"]


class Packet:
    # __slots__: one of these exists per frame in flight; keep them small and fast.
    __slots__ = ("data", "pid", "flow", "path", "origin", "fate", "born", "parent", "callbacks")

    # A frame on a link is its own arrival event: the event loop needs only `callbacks`
    # and `_ok` of what it steps (see net.events.Wake), and a frame crosses one link at
    # a time, so it can stand on the heap itself instead of a new event per link.
    # `callbacks` is set only then (net.segment.TxQueue.put); the loop clears it.
    _ok = True

    def __init__(self, data: bytearray, pid: int, origin: str, born: float, flow=None, parent: int | None = None):
        self.data = data          # full Ethernet frame
        self.pid = pid            # unique per run, creation order
        self.flow = flow          # ipvssim.net.flow.Flow or None
        self.path = [origin]      # L3 hosts visited, in order
        self.origin = origin      # host that created it
        self.fate = None          # None while in flight; "delivered" / "dropped"
        self.born = born          # simulated creation time
        self.parent = parent      # pid this was copied/derived from (switch flood, fragment)

    def __repr__(self) -> str:
        return f"<Packet {self.pid} {len(self.data)}B from {self.origin} {self.fate or 'in-flight'}>"
