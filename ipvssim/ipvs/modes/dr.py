"""Direct routing (ipvsadm -g, "Route"): ip_vs_xmit.c ip_vs_dr_xmit().

The IP packet is left as the client sent it -- destination still the VIP --
except TTL-1.  What makes it reach the real server is the Ethernet
destination: the caller hands it to ``Host.output(pkt, conn.daddr)``, which
routes toward the RIP and fills in the MAC of the RIP (on-link) or of the
gateway on that route.
"""
from __future__ import annotations

from ipvssim.ipvs.modes import IcmpNeeded, decrement_ttl

__all__ = ["request", "IcmpNeeded"]


def request(frame: bytearray, conn) -> bytearray | IcmpNeeded:
    """TTL-1 (and the IP checksum) in place; returns `frame`, or time exceeded at TTL <= 1."""
    err = decrement_ttl(frame)
    return frame if err is None else err
