"""Masquerading (ipvsadm -m, "Masq"): ip_vs_xmit.c ip_vs_nat_xmit(), ip_vs_core.c handle_response().

Request: destination VIP:vport -> RIP:rport, TTL-1; the IP checksum and the
TCP/UDP checksum (pseudo-header and port) are patched incrementally.

Reply: source RIP:rport -> VIP:vport.  No TTL change here: the reply is routed
through the director, whose ip_forward() has already decremented the TTL
before the FORWARD hook where IPVS's ip_vs_out() runs (``Host`` does the same
before calling ``forward_hook``).
"""
from __future__ import annotations

from ipvssim.ipvs.modes import IcmpNeeded, decrement_ttl
from ipvssim.packet import wire

__all__ = ["request", "reply", "IcmpNeeded"]


def request(frame: bytearray, conn) -> bytearray | IcmpNeeded:
    """DNAT to the real server in place; returns `frame`, or time exceeded at TTL <= 1."""
    err = decrement_ttl(frame)
    if err is not None:
        return err
    wire.set_dport(frame, conn.dport)       # tcp_dnat_handler / udp_dnat_handler
    wire.set_ip_dst(frame, conn.daddr)
    return frame


def reply(frame: bytearray, conn) -> bytearray:
    """SNAT back to the virtual service in place; returns `frame`."""
    wire.set_sport(frame, conn.vport)       # tcp_snat_handler / udp_snat_handler
    wire.set_ip_src(frame, conn.vaddr)
    return frame
