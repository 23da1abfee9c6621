"""Masquerading (ipvsadm -m, "Masq"): ip_vs_xmit.c ip_vs_nat_xmit(), ip_vs_core.c handle_response().

Request: destination VIP:vport -> RIP:rport, TTL-1; the IP checksum and the
TCP/UDP checksum (pseudo-header and port) are patched incrementally.

Reply: source RIP:rport -> VIP:vport.  No TTL change here: the reply is routed
through the director, whose ip_forward() has already decremented the TTL
before the FORWARD hook where IPVS's ip_vs_out() runs (``Host`` does the same
before calling ``forward_hook``).
"""
from __future__ import annotations

from ipvssim.ipvs.modes import IcmpNeeded, rewrite_addresses

__all__ = ["request", "reply", "IcmpNeeded"]


def request(frame: bytearray, conn) -> bytearray | IcmpNeeded:
    """DNAT to the real server in place; returns `frame`, or time exceeded at TTL <= 1."""
    # TTL-1 (decrement_ttl), then tcp_dnat_handler / udp_dnat_handler: destination port,
    # then address -- in one pass over the headers.
    err = rewrite_addresses(frame, dport=conn.dport, daddr=conn.daddr, dec_ttl=True)
    return frame if err is None else err


def reply(frame: bytearray, conn) -> bytearray:
    """SNAT back to the virtual service in place; returns `frame`."""
    # tcp_snat_handler / udp_snat_handler: source port, then address
    rewrite_addresses(frame, sport=conn.vport, saddr=conn.vaddr)
    return frame
