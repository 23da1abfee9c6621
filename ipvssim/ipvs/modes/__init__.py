"""IPVS forwarding modes as pure rewrites of frame bytes (no clock, no environment).

One module per mode: `dr`, `tun`, `nat`, `fullnat`.  Each has
``request(frame, conn, ...)`` for client -> real server packets; `nat` and
`fullnat` also ``reply(frame, conn)``.  A rewrite either returns the frame to
send (the same bytearray, or a new one when the packet grows) or an
`IcmpNeeded` telling the caller which ICMP error to send back to the packet's
source instead (the packet is then dropped).  Ethernet addresses are left for
`Host.output`, which sets them after its own route and neighbour lookup.
"""
from __future__ import annotations

from dataclasses import dataclass

from ipvssim.packet import wire

__all__ = ["IcmpNeeded", "TTL_EXCEEDED", "decrement_ttl"]


@dataclass(frozen=True, slots=True)
class IcmpNeeded:
    """Send ICMP `type`/`code` (with next-hop `mtu` for "fragmentation needed") and drop the packet."""
    type: int
    code: int
    mtu: int = 0


TTL_EXCEEDED = IcmpNeeded(wire.ICMP_TIME_EXCEEDED, wire.ICMP_EXC_TTL)


def decrement_ttl(frame: bytearray, l3: int = wire.ETH_HLEN) -> IcmpNeeded | None:
    """ip_vs_xmit.c decrement_ttl(): TTL-1 with its checksum, or time exceeded when TTL <= 1.

    IPVS forwards from LOCAL_IN, where the IP layer has not touched the TTL, so
    every mode does it in its transmit path (__ip_vs_get_out_rt).
    """
    if frame[l3 + 8] <= 1:
        return TTL_EXCEEDED
    wire.dec_ttl(frame, l3)
    return None
