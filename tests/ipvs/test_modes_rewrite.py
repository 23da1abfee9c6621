"""The modes' one-pass header rewrite gives the bytes of the per-field `wire` setters.

`rewrite_addresses` patches each checksum once for all the changed fields, and
`decrement_ttl` inlines `wire.dec_ttl`; both must store exactly what the setters
would, including the one's-complement corner cases (checksums 0 and 0xffff, a UDP
checksum of 0 meaning none, a computed UDP 0 sent as 0xffff, fields that keep
their value) and the frames the short way does not take (IP options, fragments,
other protocols, truncated headers).
"""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from ipvssim.ipvs.modes import TTL_EXCEEDED, decrement_ttl, rewrite_addresses
from ipvssim.packet import wire

u16 = st.one_of(st.sampled_from([0, 1, 0xFFFE, 0xFFFF]), st.integers(0, 0xFFFF))
u32 = st.one_of(st.sampled_from([0, 1, 0xFFFF, 0xFFFF0000, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF))


@st.composite
def frames(draw) -> bytearray:
    """An Ethernet + IPv4 frame with arbitrary header words and checksums (not necessarily valid)."""
    proto = draw(st.sampled_from([wire.IPPROTO_TCP, wire.IPPROTO_UDP, wire.IPPROTO_ICMP]))
    ihl = draw(st.sampled_from([5, 5, 5, 6]))
    frag = draw(st.sampled_from([0, 0, wire.IP_DF, wire.IP_MF, 185]))
    ip = bytearray(draw(st.binary(min_size=ihl * 4, max_size=ihl * 4)))
    ip[0] = 0x40 | ihl
    ip[6:8] = frag.to_bytes(2, "big")
    ip[9] = proto
    ip[10:12] = draw(u16).to_bytes(2, "big")
    ip[12:16] = draw(u32).to_bytes(4, "big")
    ip[16:20] = draw(u32).to_bytes(4, "big")
    l4 = bytearray(draw(st.binary(min_size=0, max_size=24)))
    if len(l4) >= 4:
        l4[0:2] = draw(u16).to_bytes(2, "big")
        l4[2:4] = draw(u16).to_bytes(2, "big")
    csum_at = 16 if proto == wire.IPPROTO_TCP else 6
    if len(l4) >= csum_at + 2:
        l4[csum_at:csum_at + 2] = draw(u16).to_bytes(2, "big")
    return bytearray(b"\x02" * 12 + b"\x08\x00") + ip + l4


def _setters(frame: bytearray, sport, dport, saddr, daddr):
    if sport is not None:
        wire.set_sport(frame, sport)
    if dport is not None:
        wire.set_dport(frame, dport)
    if saddr is not None:
        wire.set_ip_src(frame, saddr)
    if daddr is not None:
        wire.set_ip_dst(frame, daddr)


def _outcome(fn, frame: bytearray, *args):
    try:
        fn(frame, *args)
    except (ValueError, struct.error) as e:     # the setters' own errors must be the same too
        return bytes(frame), type(e)
    return bytes(frame), None


@settings(max_examples=1500, deadline=None)
@given(frames(), st.one_of(st.none(), u16), st.one_of(st.none(), u16),
       st.one_of(st.none(), u32), st.one_of(st.none(), u32), st.booleans())
def test_rewrite_addresses_stores_what_the_setters_do(frame, sport, dport, saddr, daddr, same):
    if same and len(frame) >= wire.l4_offset(frame) + 4:
        # Values equal to the frame's own: the setters skip such a field.
        sport = wire.l4_sport(frame) if sport is not None else None
        saddr = wire.ip_src(frame) if saddr is not None else None
    expected = _outcome(_setters, bytearray(frame), sport, dport, saddr, daddr)
    got = _outcome(lambda f, *a: rewrite_addresses(f, *a), bytearray(frame), sport, dport, saddr, daddr)
    assert got == expected


@settings(max_examples=500, deadline=None)
@given(u16, u16, st.one_of(st.none(), u16), st.one_of(st.none(), u32))
def test_udp_checksum_that_passes_through_zero_on_the_way(csum, old_sport, dport, daddr):
    # The source port alone makes the checksum compute to 0, stored as 0xffff
    # (CSUM_MANGLED_0); the one-pass update must end with the value the setters
    # leave, whether or not other fields change after it.
    csum = csum or 1
    sport = (-((0xFFFF - csum) + (0xFFFF - old_sport))) % 0xFFFF
    f = bytearray(wire.ethernet_frame(b"\x02" * 6, b"\x04" * 6, wire.ETH_P_IP, wire.ipv4_packet(
        0x0A000001, 0x0A000002, wire.IPPROTO_UDP, wire.udp_datagram(0x0A000001, 0x0A000002, old_sport, 53, b"abcd"))))
    f[40:42] = csum.to_bytes(2, "big")
    expected = _outcome(_setters, bytearray(f), sport, dport, None, daddr)
    assert _outcome(lambda g, *a: rewrite_addresses(g, *a), bytearray(f), sport, dport, None, daddr) == expected


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, 255), u16)
def test_decrement_ttl_is_wire_dec_ttl(ttl, csum):
    f = bytearray(wire.ethernet_frame(b"\x02" * 6, b"\x04" * 6, wire.ETH_P_IP, wire.ipv4_packet(
        0x0A000001, 0x0A000002, wire.IPPROTO_TCP, b"\x00" * 20, ttl=max(ttl, 1))))
    f[22] = ttl
    f[24:26] = csum.to_bytes(2, "big")
    g = bytearray(f)
    result = decrement_ttl(f)
    if ttl <= 1:
        assert result is TTL_EXCEEDED and f == g
    else:
        wire.dec_ttl(g)
        assert result is None and f == g


def test_fields_that_keep_their_value_leave_the_checksums_alone():
    # With a checksum of 0xffff (one's-complement zero), folding in an unchanged
    # field would flip it to 0: the setters skip such fields, so must the rewrite.
    for proto, l4 in ((wire.IPPROTO_TCP, wire.tcp_segment(1, 2, 1000, 80, 0, 0, wire.TH_ACK)),
                      (wire.IPPROTO_UDP, wire.udp_datagram(1, 2, 1000, 80, b"x"))):
        f = bytearray(wire.ethernet_frame(b"\x02" * 6, b"\x04" * 6, wire.ETH_P_IP,
                                          wire.ipv4_packet(0x0A000001, 0x0A000002, proto, l4)))
        csum_at = 50 if proto == wire.IPPROTO_TCP else 40
        f[24:26] = f[csum_at:csum_at + 2] = b"\xff\xff"
        g = bytearray(f)
        rewrite_addresses(g, 1000, 80, 0x0A000001, 0x0A000002)
        assert g == f
