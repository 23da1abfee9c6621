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

# Every field rewrite_addresses() reads, in one call (a struct call costs several
# byte reads): from offset 14 of a frame with an option-less IPv4 header, version/IHL,
# (TOS, total length, ID,) flags/fragment offset, TTL, protocol, IP checksum, source,
# destination, the TCP/UDP ports, the bytes up to the L4 checksum (TCP 38..49, UDP
# 38..39) and that checksum.
_TCP_IN = struct.Struct("!B5xHBBHIIHH12sH")
_UDP_IN = struct.Struct("!B5xHBBHIIHH2sH")
# What it writes back, from the TTL (offset 22) on: pack_into would zero the pad bytes.
_TCP_OUT = struct.Struct("!BBHIIHH12sH")
_UDP_OUT = struct.Struct("!BBHIIHH2sH")
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
    # The short way needs the L4 checksum inside the frame: TCP's ends at 34 + 18, UDP's at 34 + 8.
    n = len(frame)
    if n >= 52 and frame[23] == _TCP:
        fields, out = _TCP_IN, _TCP_OUT
    elif n >= 42 and frame[23] == _UDP:
        fields, out = _UDP_IN, _UDP_OUT
    else:
        return _rewrite_by_setters(frame, sport, dport, saddr, daddr, dec_ttl)
    (vihl, frag, ttl, proto, ip_csum, old_saddr, old_daddr, old_sport, old_dport, between,
     l4_csum) = fields.unpack_from(frame, 14)
    if vihl != 0x45 or frag & 0x1FFF:       # IP options, or a fragment offset: no L4 header here
        return _rewrite_by_setters(frame, sport, dport, saddr, daddr, dec_ttl)
    if dec_ttl and ttl <= 1:
        return TTL_EXCEEDED
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
        ttl -= 1
        ip_delta += 0xFEFF
    # Each checksum: RFC 1624 eqn. 3, HC' = ~(~HC + sum of (~m + m')), for all the changed
    # words at once.  One's-complement addition is associative and ~~x == x in 16 bits,
    # so this stores what wire.csum_replace2/4 applied field by field would.  The
    # end-around-carry fold of a sum s is 0 for s == 0, else (s - 1) % 0xffff + 1; the
    # stored value is its complement, 0xfffe - (s - 1) % 0xffff (0xffff when s == 0).
    if ip_delta:
        s = 0xFFFF - ip_csum + ip_delta
        ip_csum = 0xFFFE - (s - 1) % 0xFFFF if s else 0xFFFF
    # A UDP checksum of 0 means none (RFC 768): it stays 0.
    if l4_delta and (l4_csum or proto != _UDP):
        s = 0xFFFF - l4_csum + l4_delta
        l4_csum = 0xFFFE - (s - 1) % 0xFFFF if s else 0xFFFF
        if not l4_csum and proto == _UDP:
            l4_csum = 0xFFFF              # CSUM_MANGLED_0: a computed 0 goes out as 0xffff
    # The bytes between the ports and the L4 checksum go back as they were read.
    out.pack_into(frame, 22, ttl, proto, ip_csum, saddr, daddr, sport, dport, between, l4_csum)
    return None


def _rewrite_by_setters(frame: bytearray, sport: int | None, dport: int | None, saddr: int | None,
                        daddr: int | None, dec_ttl: bool) -> IcmpNeeded | None:
    """rewrite_addresses() of a frame of any other shape: decrement_ttl and the wire setters."""
    if dec_ttl:
        err = decrement_ttl(frame)
        if err is not None:
            return err
    if sport is not None:
        wire.set_sport(frame, sport)
    if dport is not None:
        wire.set_dport(frame, dport)
    if saddr is not None:
        wire.set_ip_src(frame, saddr)
    if daddr is not None:
        wire.set_ip_dst(frame, daddr)
    return None
