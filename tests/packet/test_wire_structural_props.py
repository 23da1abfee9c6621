"""`wire.ipip_encap`, `ipip_decap` and `tcp_add_option` store exactly what their previous
implementations did, on well-formed and odd frames alike.

The previous implementations are kept here verbatim (written with wire's own helpers)
as the reference: the faster versions must give the same bytes, leave their input
untouched, and raise the same exception types -- including for frames no simulated
host builds (IP options, Ethernet padding, truncation, EOL inside TCP options,
malformed option lengths, odd payload lengths, bytes instead of bytearray).
"""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from ipvssim.packet import wire
from ipvssim.packet.wire import (
    ETH_HLEN,
    IP_DF,
    IP_HLEN,
    IPPROTO_IPIP,
    IPPROTO_TCP,
    TCP_HLEN,
)

_ETH_IPV4 = struct.Struct("!6s6sHBBHHHBBHII")
_U16 = struct.Struct("!H")


def _u16(d, off):
    return _U16.unpack_from(d, off)[0]


def _p16(d, off, v):
    _U16.pack_into(d, off, v)


# -- the previous implementations ----------------------------------------------------------------

def ipip_encap_reference(d, outer_src, outer_dst, ttl, df, ident):
    inner_len = d[ETH_HLEN + 2] << 8 | d[ETH_HLEN + 3]
    tos = d[ETH_HLEN + 1]
    total = IP_HLEN + inner_len
    flags = IP_DF if df else 0
    out = bytearray(_ETH_IPV4.pack(bytes(d[0:6]), bytes(d[6:12]), wire.ETH_P_IP, 0x45, tos, total, ident,
                                   flags, ttl, IPPROTO_IPIP,
                                   wire.ipv4_header_checksum(tos, total, ident, flags, ttl, IPPROTO_IPIP,
                                                             outer_src, outer_dst), outer_src, outer_dst))
    out += memoryview(d)[ETH_HLEN:ETH_HLEN + inner_len]
    return out


def ipip_decap_reference(d):
    ihl = (d[ETH_HLEN] & 0x0F) << 2
    out = bytearray(d[:ETH_HLEN])
    out += memoryview(d)[ETH_HLEN + ihl:ETH_HLEN + _u16(d, ETH_HLEN + 2)]
    return out


def tcp_add_option_reference(d, opt, l3=ETH_HLEN):
    if len(opt) & 3:
        opt = bytes(opt) + b"\x01" * (4 - (len(opt) & 3))
    ihl = (d[l3] & 0x0F) << 2
    l4 = l3 + ihl
    thl = (d[l4 + 12] >> 4) << 2
    if thl + len(opt) > wire.TCP_MAX_HLEN:
        raise ValueError(f"no room for a {len(opt)}-byte TCP option ({thl}-byte header)")
    total = _u16(d, l3 + 2)
    opts = bytearray(d[l4 + TCP_HLEN:l4 + thl])
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == wire.TCPOPT_EOL:
            opts[i:] = b"\x01" * (len(opts) - i)
            break
        if k == wire.TCPOPT_NOP:
            i += 1
        elif i + 1 < len(opts) and opts[i + 1] >= 2:
            i += opts[i + 1]
        else:
            break
    out = bytearray(d[:l4 + TCP_HLEN])
    out += opts
    out += opt
    out += memoryview(d)[l4 + thl:l3 + total]
    new_total = total + len(opt)
    _p16(out, l3 + 2, new_total)
    _p16(out, l3 + 10, 0)
    _p16(out, l3 + 10, wire.checksum(out, l3, l4))
    out[l4 + 12] = (((thl + len(opt)) >> 2) << 4) | (out[l4 + 12] & 0x0F)
    _p16(out, l4 + 16, 0)
    _p16(out, l4 + 16, wire.l4_checksum(wire.ip_src(out, l3), wire.ip_dst(out, l3), IPPROTO_TCP,
                                        out, l4, l3 + new_total))
    return out


def _outcome(fn, frame, *args):
    """(result bytes or None, exception type or None, the input's bytes afterwards)."""
    before = bytes(frame)
    try:
        out = fn(frame, *args)
    except (ValueError, IndexError, struct.error) as e:
        return None, type(e), bytes(frame) == before
    assert type(out) is bytearray
    return bytes(out), None, bytes(frame) == before


# -- frames ------------------------------------------------------------------------------------------

u16 = st.one_of(st.sampled_from([0, 1, 0xFFFE, 0xFFFF]), st.integers(0, 0xFFFF))
u32 = st.one_of(st.sampled_from([0, 1, 0xFFFF, 0xFFFF0000, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF))
as_bytes = st.booleans()          # the functions take any buffer, not only bytearray


@st.composite
def ip_frames(draw, proto=None, min_l4=0) -> bytearray:
    """Ethernet + IPv4 (IHL 5..15, arbitrary header words) + payload; the total length field
    may match the payload, fall short of it (Ethernet padding) or exceed it (truncation)."""
    ihl = draw(st.sampled_from([5, 5, 5, 6, 15]))
    ip = bytearray(draw(st.binary(min_size=ihl * 4, max_size=ihl * 4)))
    ip[0] = 0x40 | ihl
    if proto is not None:
        ip[9] = proto
    l4 = draw(st.binary(min_size=min_l4, max_size=min_l4 + 70))
    real = len(ip) + len(l4)
    total = draw(st.one_of(st.just(real), st.integers(max(0, real - 12), real + 12), u16))
    ip[2:4] = total.to_bytes(2, "big")
    return bytearray(draw(st.binary(min_size=12, max_size=12)) + b"\x08\x00") + ip + l4


@st.composite
def tcp_frames(draw) -> bytearray:
    """A TCP segment whose data offset and options are drawn too: NOP, EOL, real options,
    malformed lengths -- and a payload of any (odd or even) length."""
    f = draw(ip_frames(proto=IPPROTO_TCP))
    ihl = (f[ETH_HLEN] & 0x0F) << 2
    doff = draw(st.integers(5, 15))
    opt_pieces = st.one_of(st.just(b"\x01"), st.just(b"\x00"), st.just(b"\x02\x04\x05\xb4"),
                           st.just(b"\x03\x03\x07"), st.just(b"\x08\x01"), st.binary(max_size=4))
    opts = b"".join(draw(st.lists(opt_pieces, max_size=12)))
    opts = (opts + bytes(draw(st.binary(max_size=40))))[:doff * 4 - TCP_HLEN]
    opts += b"\x00" * (doff * 4 - TCP_HLEN - len(opts))
    tcp = bytearray(draw(st.binary(min_size=TCP_HLEN, max_size=TCP_HLEN)))
    tcp[12] = doff << 4 | (tcp[12] & 0x0F)
    payload = draw(st.binary(max_size=41))
    head = f[:ETH_HLEN + ihl]
    real = ihl + len(tcp) + len(opts) + len(payload)
    total = draw(st.one_of(st.just(real), st.just(real), st.integers(max(0, real - 6), real + 6)))
    head[ETH_HLEN + 2:ETH_HLEN + 4] = total.to_bytes(2, "big")
    frame = head + tcp + opts + payload
    cut = draw(st.one_of(st.just(len(frame)), st.just(len(frame)), st.integers(ETH_HLEN + 1, len(frame))))
    return frame[:cut]


# -- properties ----------------------------------------------------------------------------------------

@settings(max_examples=800, deadline=None)
@given(ip_frames(min_l4=0), u32, u32, st.integers(0, 255), st.booleans(), u16, as_bytes)
def test_ipip_encap_is_the_previous_encap(frame, osrc, odst, ttl, df, ident, use_bytes):
    if (frame[ETH_HLEN + 2] << 8 | frame[ETH_HLEN + 3]) + IP_HLEN > 0xFFFF:
        return                               # no IPv4 packet can be that long; both raise
    arg = bytes(frame) if use_bytes else frame
    assert _outcome(wire.ipip_encap, arg, osrc, odst, ttl, df, ident) == \
        _outcome(ipip_encap_reference, bytearray(frame), osrc, odst, ttl, df, ident)


@settings(max_examples=800, deadline=None)
@given(ip_frames(proto=IPPROTO_IPIP), as_bytes)
def test_ipip_decap_is_the_previous_decap(frame, use_bytes):
    arg = bytes(frame) if use_bytes else frame
    assert _outcome(wire.ipip_decap, arg) == _outcome(ipip_decap_reference, bytearray(frame))


@settings(max_examples=300, deadline=None)
@given(ip_frames(proto=IPPROTO_TCP, min_l4=TCP_HLEN), u32, u32, st.integers(0, 255), st.booleans(), u16)
def test_ipip_decap_undoes_ipip_encap(inner, osrc, odst, ttl, df, ident):
    total = inner[ETH_HLEN + 2] << 8 | inner[ETH_HLEN + 3]
    if not (inner[ETH_HLEN] & 0x0F) << 2 <= total <= len(inner) - ETH_HLEN:
        return                               # not a whole IPv4 packet: nothing to get back
    inner = inner[:ETH_HLEN + total]         # what the encapsulation keeps (no Ethernet padding)
    assert wire.ipip_decap(wire.ipip_encap(inner, osrc, odst, ttl, df, ident)) == inner


@settings(max_examples=1000, deadline=None)
@given(tcp_frames(), st.binary(min_size=1, max_size=12), as_bytes)
def test_tcp_add_option_is_the_previous_insertion(frame, opt, use_bytes):
    arg = bytes(frame) if use_bytes else frame
    got = _outcome(wire.tcp_add_option, arg, opt)
    expected = _outcome(tcp_add_option_reference, bytearray(frame), opt)
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40), st.integers(0, 1400), u16, u16)
def test_tcp_add_option_of_a_toa_gives_valid_checksums(opt_len, plen, ip_csum, tcp_csum):
    # Whatever the checksums were, both come out right (computed from scratch).
    f = bytearray(wire.ethernet_frame(b"\x02" * 6, b"\x04" * 6, wire.ETH_P_IP, wire.ipv4_packet(
        0x0A000001, 0x0A000002, IPPROTO_TCP,
        wire.tcp_segment(0x0A000001, 0x0A000002, 40000, 80, 1, 2, wire.TH_ACK,
                         options=b"\x01" * (opt_len & ~3), payload=bytes(plen)))))
    f[24:26] = ip_csum.to_bytes(2, "big")
    f[50:52] = tcp_csum.to_bytes(2, "big")
    if (opt_len & ~3) + 8 > 40:
        return
    g = wire.tcp_add_option(f, b"\xfe\x08" + bytes(6))
    assert wire.checksum(g, 14, 34) == 0
    total = wire.ip_total_len(g)
    assert wire.l4_checksum(wire.ip_src(g), wire.ip_dst(g), IPPROTO_TCP, g, 34, 14 + total) == 0
