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

import struct
from dataclasses import dataclass

from ipvssim.packet import wire

__all__ = ["IcmpNeeded", "TTL_EXCEEDED", "decrement_ttl", "rewrite_addresses"]

# From offset 24 of a frame with an option-less IPv4 header: IP checksum, source,
# destination, then the TCP/UDP source and destination ports.
_HEADERS = struct.Struct("!HIIHH")
_CSUM = struct.Struct("!H")
_TCP = wire.IPPROTO_TCP
_UDP = wire.IPPROTO_UDP


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
    ttl = frame[l3 + 8]
    if ttl <= 1:
        return TTL_EXCEEDED
    # wire.dec_ttl(), inlined (every packet the director sends on): ip_decrease_ttl()'s
    # checksum update, +0x0100 with an end-around carry.
    c = (frame[l3 + 10] << 8 | frame[l3 + 11]) + 0x0100
    c = (c + (c >= 0xFFFF)) & 0xFFFF
    frame[l3 + 10] = c >> 8
    frame[l3 + 11] = c & 0xFF
    frame[l3 + 8] = ttl - 1
    return None


def rewrite_addresses(frame: bytearray, sport: int | None = None, dport: int | None = None,
                      saddr: int | None = None, daddr: int | None = None, *,
                      dec_ttl: bool = False) -> IcmpNeeded | None:
    """Set the given TCP/UDP ports and IPv4 addresses in place (None = keep), checksums patched.

    The bytes are those of ``wire.set_sport``, ``set_dport``, ``set_ip_src`` and
    ``set_ip_dst`` called in that order, but the headers are read and written
    once and each checksum (IP header; TCP/UDP with its pseudo-header) is patched
    once for all the fields that changed: a NAT rewrite costs about what one of
    those setters does.  A field that keeps its value is left out of the sums, as
    the setters skip it; a UDP checksum of 0 stays 0 and a computed 0 is sent as
    0xffff (CSUM_MANGLED_0) -- applied to the final value only, which gives what
    mangling each intermediate value would, since 0 and 0xffff are the same
    one's-complement number.

    ``dec_ttl=True`` is `decrement_ttl` first, in the same pass (what a mode's
    request does before its rewrite): at TTL <= 1 the frame is left untouched and
    TTL_EXCEEDED returned.  Otherwise the result is None.

    `frame` is an Ethernet frame with IPv4 at offset 14.  Only the common shape
    takes the short way: an option-less IPv4 header (so the ports directly follow
    the addresses), not a later fragment, TCP or UDP with its checksum field
    inside the frame.  Anything else goes through `decrement_ttl` and the setters
    themselves, whatever they do there.
    """
    if dec_ttl and frame[22] <= 1:
        return TTL_EXCEEDED
    proto = frame[23]
    # Where the L4 checksum is behind a 20-byte IPv4 header: TCP at 34 + 16, UDP at 34 + 6.
    csum_at = 50 if proto == _TCP else 40 if proto == _UDP else 0
    if (not csum_at or frame[14] != 0x45              # IPv4 with IHL 5: no options
            or (frame[20] & 0x1F) | frame[21]          # a fragment offset: no L4 header here
            or len(frame) < csum_at + 2):
        if dec_ttl:
            decrement_ttl(frame)
        if sport is not None:
            wire.set_sport(frame, sport)
        if dport is not None:
            wire.set_dport(frame, dport)
        if saddr is not None:
            wire.set_ip_src(frame, saddr)
        if daddr is not None:
            wire.set_ip_dst(frame, daddr)
        return None
    ip_csum, old_saddr, old_daddr, old_sport, old_dport = _HEADERS.unpack_from(frame, 24)
    l4_delta = 0          # sum of (~old + new) over the changed 16-bit words only L4 covers
    ip_delta = 0          # the same over the changed address words (IP header and pseudo-header)
    if sport is None:
        sport = old_sport
    elif sport != old_sport:
        l4_delta += (~old_sport & 0xFFFF) + sport
    if dport is None:
        dport = old_dport
    elif dport != old_dport:
        l4_delta += (~old_dport & 0xFFFF) + dport
    if saddr is None:
        saddr = old_saddr
    elif saddr != old_saddr:
        ip_delta += ((~old_saddr >> 16 & 0xFFFF) + (~old_saddr & 0xFFFF)
                     + (saddr >> 16) + (saddr & 0xFFFF))
    if daddr is None:
        daddr = old_daddr
    elif daddr != old_daddr:
        ip_delta += ((~old_daddr >> 16 & 0xFFFF) + (~old_daddr & 0xFFFF)
                     + (daddr >> 16) + (daddr & 0xFFFF))
    l4_delta += ip_delta
    if dec_ttl:
        # The TTL/protocol word falls by 0x0100: its ~m + m' is 0xfeff.  Folding it into
        # the same update stores what decrement_ttl() followed by this update would:
        # both results are congruent mod 0xffff and neither can be 0xffff (the sum
        # below is > 0, and decrement_ttl never stores 0xffff), so they are equal.
        frame[22] -= 1
        ip_delta += 0xFEFF
    # Each checksum: RFC 1624 eqn. 3, HC' = ~(~HC + sum of (~m + m')), for all the changed
    # words at once.  One's-complement addition is associative and ~~x == x in 16 bits,
    # so this stores what wire.csum_replace2/4 applied field by field would.  The
    # end-around-carry fold of a sum s is 0 for s == 0, else (s - 1) % 0xffff + 1; the
    # stored value is its complement, 0xfffe - (s - 1) % 0xffff (0xffff when s == 0).
    if ip_delta:
        s = 0xFFFF - ip_csum + ip_delta
        ip_csum = 0xFFFE - (s - 1) % 0xFFFF if s else 0xFFFF
    _HEADERS.pack_into(frame, 24, ip_csum, saddr, daddr, sport, dport)
    if l4_delta:
        l4_csum = _CSUM.unpack_from(frame, csum_at)[0]
        if proto == _UDP and not l4_csum:
            return None                   # RFC 768: a UDP checksum of 0 means none; it stays 0
        s = 0xFFFF - l4_csum + l4_delta
        l4_csum = 0xFFFE - (s - 1) % 0xFFFF if s else 0xFFFF
        if not l4_csum and proto == _UDP:
            l4_csum = 0xFFFF              # CSUM_MANGLED_0: a computed 0 goes out as 0xffff
        _CSUM.pack_into(frame, csum_at, l4_csum)
    return None
