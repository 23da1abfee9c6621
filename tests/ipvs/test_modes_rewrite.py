"""The modes' one-pass header rewrite gives the bytes of the per-field `wire` setters.

`rewrite_addresses` patches each checksum once for all the changed fields, and
`decrement_ttl` inlines `wire.dec_ttl`; both must store exactly what the setters
would, including the one's-complement corner cases (checksums 0 and 0xffff, a UDP
checksum of 0 meaning none, a computed UDP 0 sent as 0xffff, fields that keep
their value) and the frames the short way does not take (IP options, fragments,
other protocols, truncated headers).

`rewrite_addresses(..., dec_ttl=True)` folds `decrement_ttl` into the same pass, and
the NAT, FULLNAT and TUN rewrites read their TCP/IP fields in place: each is checked
against the two steps, or the mode's previous code, on the same kind of frames.
"""
from __future__ import annotations

import struct
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from ipvssim.ipvs.modes import (
    TTL_EXCEEDED,
    IcmpNeeded,
    decrement_ttl,
    fullnat,
    nat,
    rewrite_addresses,
    tun,
)
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


# -- the TTL folded into the rewrite, and the modes built on it -------------------------------------

ttls = st.one_of(st.sampled_from([0, 1, 2, 255]), st.integers(0, 255))


@settings(max_examples=1000, deadline=None)
@given(frames(), ttls, st.one_of(st.none(), u16), st.one_of(st.none(), u16),
       st.one_of(st.none(), u32), st.one_of(st.none(), u32))
def test_rewrite_with_dec_ttl_is_decrement_ttl_then_the_rewrite(frame, ttl, sport, dport, saddr, daddr):
    frame[22] = ttl

    def separately(f, *a):
        err = decrement_ttl(f)
        if err is None:
            rewrite_addresses(f, *a)
        return err

    def together(f, *a):
        return rewrite_addresses(f, *a, dec_ttl=True)

    results = []
    for fn in (separately, together):
        f = bytearray(frame)
        try:
            results.append((fn(f, sport, dport, saddr, daddr), bytes(f), None))
        except (ValueError, struct.error) as e:
            results.append((None, bytes(f), type(e)))
    assert results[0] == results[1]


def _conn(**kw) -> SimpleNamespace:
    fields = {"caddr": 0x0A000001, "cport": 40000, "vaddr": 0x0A000064, "vport": 80,
              "daddr": 0x0A00010B, "dport": 8080, "laddr": 0x0A0000C8, "lport": 5001,
              "fdata_seq": None, "first_ack_done": False}
    fields.update(kw)
    return SimpleNamespace(**fields)


# The mode rewrites as they were written before the TTL decrement was folded into
# rewrite_addresses and the TCP header reads inlined: decrement_ttl, the wire readers,
# then the per-field setters (which rewrite_addresses is proven equal to above).

def _nat_request_reference(frame, conn):
    err = decrement_ttl(frame)
    if err is not None:
        return err
    _setters(frame, None, conn.dport, None, conn.daddr)
    return frame


def _fullnat_request_reference(frame, conn, route_mtu=None):
    err = decrement_ttl(frame)
    if err is not None:
        return err
    l3 = wire.ETH_HLEN
    if frame[l3 + 9] == wire.IPPROTO_TCP and conn.fdata_seq is not None:
        flags = wire.tcp_flags(frame, l3)
        if (not flags & (wire.TH_SYN | wire.TH_RST)
                and wire.tcp_ack(frame, l3) == conn.fdata_seq
                and wire.tcp_hlen(frame, l3) + wire.TCPOLEN_TOA <= wire.TCP_MAX_HLEN
                and (route_mtu is None
                     or wire.ip_total_len(frame, l3) + wire.TCPOLEN_TOA <= route_mtu)):
            frame = wire.tcp_add_option(frame, fullnat.toa_option(conn.cport, conn.caddr), l3)
            conn.first_ack_done = True
    _setters(frame, conn.lport, conn.dport, conn.laddr, conn.daddr)
    return frame


def _fullnat_reply_reference(frame, conn):
    err = decrement_ttl(frame)
    if err is not None:
        return err
    l3 = wire.ETH_HLEN
    if (frame[l3 + 9] == wire.IPPROTO_TCP
            and wire.tcp_flags(frame, l3) & (wire.TH_SYN | wire.TH_ACK) == wire.TH_SYN | wire.TH_ACK):
        conn.fdata_seq = (wire.tcp_seq(frame, l3) + 1) & 0xFFFFFFFF
        fullnat._lower_mss(frame, l3, wire.TCPOLEN_TOA)
    _setters(frame, conn.vport, conn.cport, conn.vaddr, conn.caddr)
    return frame


def _tun_request_reference(frame, conn, outer_src, pmtu_disc=1, route_mtu=1500, ident=0):
    err = decrement_ttl(frame)
    if err is not None:
        return err
    l3 = wire.ETH_HLEN
    inner_len = wire.ip_total_len(frame, l3)
    df = wire.ip_df(frame, l3)
    mtu = route_mtu - tun.IPIP_OVERHEAD
    if pmtu_disc and df and inner_len > mtu:
        return IcmpNeeded(wire.ICMP_DEST_UNREACH, wire.ICMP_FRAG_NEEDED, mtu)
    return wire.ipip_encap(frame, outer_src, conn.daddr, ttl=frame[l3 + 8], df=df,
                           ident=0 if df else ident)


def _mode_outcome(fn, frame, conn, *args):
    """What a mode rewrite leaves: its result, the frame, the entry's FULLNAT state.

    Frames too short for the TCP header reads raise in both versions (no simulated host
    sends them); only the exception type is compared then, as the old code had already
    decremented the TTL when it raised and the new one reads first.
    """
    try:
        out = fn(frame, conn, *args)
    except (ValueError, IndexError, struct.error) as e:
        return type(e)
    result = out if isinstance(out, IcmpNeeded) else (out is frame, bytes(out))
    return result, bytes(frame), conn.fdata_seq, conn.first_ack_done


@st.composite
def tcp_client_frames(draw):
    """(frame, ack): TCP frames with the ACK number and flags a FULLNAT request check reads.

    Half of them are the packet that gets a TOA when the ACK matches (TTL > 1, TCP, a
    whole header, ACK without SYN/RST, room for the option); the rest anything.
    """
    toa_shaped = draw(st.booleans())
    frame = draw(frames())
    frame[23] = wire.IPPROTO_TCP if toa_shaped else draw(
        st.sampled_from([wire.IPPROTO_TCP, wire.IPPROTO_TCP, wire.IPPROTO_UDP]))
    frame[22] = draw(st.integers(2, 255) if toa_shaped else ttls)
    l4 = wire.l4_offset(frame)
    if toa_shaped or draw(st.booleans()):
        frame += bytes(max(0, l4 + 20 - len(frame)))      # room for the TCP header
    ack = draw(u32)
    if len(frame) >= l4 + 14:
        frame[l4 + 8:l4 + 12] = ack.to_bytes(4, "big")
        offsets = [5, 6, 10] if toa_shaped else [5, 6, 13, 14, 15]
        frame[l4 + 12] = draw(st.sampled_from(offsets)) << 4
        flags = [wire.TH_ACK, wire.TH_ACK | wire.TH_PSH, wire.TH_FIN | wire.TH_ACK]
        if not toa_shaped:
            flags += [wire.TH_SYN, wire.TH_RST | wire.TH_ACK, wire.TH_SYN | wire.TH_ACK, 0]
        frame[l4 + 13] = draw(st.sampled_from(flags))
        frame += bytes(draw(st.integers(0, 45)))
        frame[16:18] = draw(st.one_of(st.just(len(frame) - 14), u16)).to_bytes(2, "big")
    return frame, ack


@settings(max_examples=1000, deadline=None)
@given(tcp_client_frames(), st.sampled_from(["match", "match", "other", "none"]),
       st.one_of(st.none(), st.integers(0, 200)))
def test_fullnat_request_is_the_previous_request(frame_ack, seq_kind, mtu_slack):
    frame, ack = frame_ack
    fdata_seq = {"match": ack, "other": (ack + 1) & 0xFFFFFFFF, "none": None}[seq_kind]
    route_mtu = None if mtu_slack is None else max(0, len(frame) - 14 + mtu_slack - 100)
    expected = _mode_outcome(_fullnat_request_reference, bytearray(frame), _conn(fdata_seq=fdata_seq),
                             route_mtu)
    got = _mode_outcome(fullnat.request, bytearray(frame), _conn(fdata_seq=fdata_seq), route_mtu)
    assert got == expected


@settings(max_examples=1000, deadline=None)
@given(tcp_client_frames())
def test_fullnat_reply_is_the_previous_reply(frame_ack):
    frame, _ = frame_ack
    assert (_mode_outcome(fullnat.reply, bytearray(frame), _conn())
            == _mode_outcome(_fullnat_reply_reference, bytearray(frame), _conn()))


@settings(max_examples=1000, deadline=None)
@given(frames(), ttls)
def test_nat_request_is_the_previous_request(frame, ttl):
    frame[22] = ttl
    assert (_mode_outcome(nat.request, bytearray(frame), _conn())
            == _mode_outcome(_nat_request_reference, bytearray(frame), _conn()))


@settings(max_examples=1000, deadline=None)
@given(frames(), ttls, st.sampled_from([0, 1]), st.integers(0, 120), u16)
def test_tun_request_is_the_previous_request(frame, ttl, pmtu_disc, mtu_slack, ident):
    frame[22] = ttl
    frame[16:18] = (len(frame) - 14).to_bytes(2, "big")
    route_mtu = len(frame) - 14 + mtu_slack - 40
    args = (0x0A000002, pmtu_disc, route_mtu, ident)
    assert (_mode_outcome(tun.request, bytearray(frame), _conn(), *args)
            == _mode_outcome(_tun_request_reference, bytearray(frame), _conn(), *args))
