"""IP-in-IP tunnelling (ipvsadm -i, "Tunnel"): ip_vs_xmit.c ip_vs_tunnel_xmit().

The client's packet, TTL-1, is wrapped whole in an outer IPv4 header
(protocol 4, RFC 2003): source = the director's address on its route to the
RIP (the caller's route lookup), destination = RIP, TTL and DF copied from the
inner header after the decrement (ip_vs_prepare_tunneled_skb), TOS copied.

MTU (__ip_vs_get_out_rt with IP_VS_RT_MODE_TUNNEL, ensure_mtu_is_adequate):
the inner packet may use route MTU - 20.  A bigger inner packet with DF set
gets ICMP "fragmentation needed" carrying that smaller MTU -- unless
net.ipv4.vs.pmtu_disc is 0.  Otherwise (DF clear, or pmtu_disc 0) the
encapsulated packet is returned even when it exceeds the route MTU, and the
caller fragments it: the kernel sets skb->ignore_df so ip_fragment() splits
the outer packet without sending ICMP, whatever its DF bit.
"""
from __future__ import annotations

import struct

from ipvssim.ipvs.modes import IcmpNeeded, decrement_ttl
from ipvssim.packet import wire

__all__ = ["request", "IcmpNeeded", "IPIP_OVERHEAD"]

IPIP_OVERHEAD = wire.IP_HLEN          # one more IPv4 header, no options (RFC 2003 3.1)

# From offset 2 of the IPv4 header: total length, (identification,) flags + fragment offset.
_LEN_FRAG = struct.Struct("!H2xH")
_IP_DF = wire.IP_DF


def request(frame: bytearray, conn, outer_src: int, pmtu_disc: int = 1, route_mtu: int = 1500,
            ident: int = 0) -> bytearray | IcmpNeeded:
    """Encapsulate toward ``conn.daddr``; returns a new frame or the ICMP error to send.

    ``ident`` is the outer IP ID when the outer header has DF clear; with DF set
    it is 0, as ip_select_ident() leaves it for a packet with no socket.  The
    inner frame's TTL is decremented in place even when ICMP is returned, as the
    kernel's error quotes the decremented header.
    """
    err = decrement_ttl(frame)
    if err is not None:
        return err
    # The IP total length and DF, in one read (wire.ip_total_len and ip_df).
    inner_len, frag = _LEN_FRAG.unpack_from(frame, wire.ETH_HLEN + 2)
    df = (frag & _IP_DF) != 0
    mtu = route_mtu - IPIP_OVERHEAD
    if pmtu_disc and df and inner_len > mtu:
        return IcmpNeeded(wire.ICMP_DEST_UNREACH, wire.ICMP_FRAG_NEEDED, mtu)
    # The outer TTL is the inner one after the decrement.
    return wire.ipip_encap(frame, outer_src, conn.daddr, frame[wire.ETH_HLEN + 8], df,
                           0 if df else ident)
