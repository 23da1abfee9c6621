"""Golden-byte and property tests for ipvssim.packet.wire: every builder and rewrite
must produce exactly the bytes Scapy builds for the same headers."""

import pytest
from hypothesis import given, settings, strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw
from scapy.utils import checksum as scapy_checksum

from ipvssim.packet import wire as w
from ipvssim.packet.wire import ip_aton, ip_ntoa

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
CIP, VIP, RIP, DIP = (ip_aton(a) for a in ("10.0.0.10", "10.0.0.100", "10.0.1.11", "10.0.0.2"))

addrs = st.integers(min_value=0, max_value=2**32 - 1)
ports = st.integers(min_value=0, max_value=65535)
u32 = st.integers(min_value=0, max_value=2**32 - 1)


def eth(dst=MAC_B, src=MAC_A):
    return Ether(dst=w.mac_ntoa(dst), src=w.mac_ntoa(src))


def rebuilt(scapy_pkt) -> bytes:
    """Scapy's bytes for a packet with every length and checksum recomputed."""
    p = scapy_pkt.copy()
    for layer in (IP, TCP, UDP, ICMP):
        lay = p
        while lay is not None and lay.name != "NoPayload":
            if isinstance(lay, layer):
                for f in ("chksum", "len"):
                    if f in lay.fields and not (layer is UDP and f == "chksum" and lay.chksum == 0):
                        del lay.fields[f]
            lay = lay.payload if lay.payload.name != "NoPayload" else None
    return bytes(p)


def tcp_frame(src=CIP, dst=VIP, sport=40000, dport=80, seq=1000, ack=0, flags=w.TH_SYN,
              options=b"", payload=b"", ttl=64, ident=1, df=True, tos=0) -> bytearray:
    seg = w.tcp_segment(src, dst, sport, dport, seq, ack, flags, options=options, payload=payload)
    return w.ethernet_frame(MAC_B, MAC_A, w.ETH_P_IP,
                            w.ipv4_packet(src, dst, w.IPPROTO_TCP, seg, ttl=ttl, ident=ident, df=df, tos=tos))


def udp_frame(src=CIP, dst=VIP, sport=5353, dport=53, payload=b"\x00" * 16, ttl=64, ident=1) -> bytearray:
    return w.ethernet_frame(MAC_B, MAC_A, w.ETH_P_IP, w.ipv4_packet(
        src, dst, w.IPPROTO_UDP, w.udp_datagram(src, dst, sport, dport, payload), ttl=ttl, ident=ident))


def assert_checksums_valid(d, l3=14):
    """A receiver's view: the IP header and TCP/UDP checksums verify."""
    ihl = w.ip_ihl_bytes(d, l3)
    assert w.checksum(d, l3, l3 + ihl) == 0
    proto, l4, end = w.ip_proto(d, l3), l3 + ihl, l3 + w.ip_total_len(d, l3)
    if proto in (w.IPPROTO_TCP, w.IPPROTO_UDP):
        off = l4 + (16 if proto == w.IPPROTO_TCP else 6)
        stored = int.from_bytes(d[off:off + 2], "big")
        if proto == w.IPPROTO_UDP and stored == 0:
            return
        scratch = bytearray(d[l4:end])
        scratch[off - l4:off - l4 + 2] = b"\0\0"
        assert w.l4_checksum(w.ip_src(d, l3), w.ip_dst(d, l3), proto, scratch) == stored


# --- checksums ----------------------------------------------------------------------------------

@given(st.binary(min_size=0, max_size=1600))
def test_checksum_equals_scapy_for_any_bytes_including_odd_lengths(data):
    assert w.checksum(data) == scapy_checksum(data)


def test_checksum_of_a_header_including_its_checksum_verifies_to_zero():
    h = w.ipv4_header(CIP, VIP, w.IPPROTO_TCP, 20)
    assert w.checksum(h) == 0
    assert w.checksum(b"\0" * 20) == 0xFFFF


def same_checksum(incremental, full, buf):
    """Equal, except that an all-zero buffer (never a real header: the version byte is 4)
    sums to +0, where RFC 1624 eqn. 3 yields the equivalent 0 instead of 0xffff."""
    if not any(buf):
        return {incremental, full} <= {0, 0xFFFF}
    return incremental == full


@given(st.binary(min_size=8, max_size=64).filter(lambda b: len(b) % 2 == 0), st.data())
def test_csum_replace2_and_4_equal_full_recompute(buf, data):
    buf = bytearray(buf)
    pos2 = data.draw(st.integers(0, len(buf) // 2 - 1)) * 2
    new16 = data.draw(ports)
    c = w.checksum(buf)
    old16 = int.from_bytes(buf[pos2:pos2 + 2], "big")
    buf[pos2:pos2 + 2] = new16.to_bytes(2, "big")
    assert same_checksum(w.csum_replace2(c, old16, new16), w.checksum(buf), buf)
    pos4 = data.draw(st.integers(0, len(buf) // 2 - 2)) * 2
    new32 = data.draw(u32)
    c = w.checksum(buf)
    old32 = int.from_bytes(buf[pos4:pos4 + 4], "big")
    buf[pos4:pos4 + 4] = new32.to_bytes(4, "big")
    assert same_checksum(w.csum_replace4(c, old32, new32), w.checksum(buf), buf)


def test_address_conversions_round_trip():
    assert ip_aton("10.0.0.1") == 0x0A000001
    assert ip_ntoa(0xC0A80164) == "192.168.1.100"
    assert w.mac_aton("02:00:00:00:00:0a") == bytes.fromhex("02000000000a")
    assert w.mac_ntoa(bytes.fromhex("02000000000a")) == "02:00:00:00:00:0a"
    with pytest.raises(ValueError):
        w.mac_aton("02:00:00")


# --- builders: golden bytes from Scapy -----------------------------------------------------------

@pytest.mark.parametrize("kw,scapy_kw", [
    ({}, dict(flags="DF", ttl=64, id=0, tos=0)),
    (dict(ttl=1, ident=0xBEEF, df=False, tos=0x10), dict(flags=0, ttl=1, id=0xBEEF, tos=0x10)),
    (dict(df=False, mf=True, frag_off=1480, ident=7), dict(flags="MF", frag=185, id=7, ttl=64)),
])
def test_ipv4_header_matches_scapy(kw, scapy_kw):
    payload = bytes(range(30))
    ours = w.ipv4_packet(CIP, VIP, 99, payload, **kw)
    ref = IP(src="10.0.0.10", dst="10.0.0.100", proto=99, **scapy_kw) / Raw(payload)
    assert ours == bytes(ref)


def test_tcp_segment_with_mss_option_and_payload_matches_scapy():
    ours = tcp_frame(seq=0xFFFFFFF0, ack=12345, flags=w.TH_SYN | w.TH_ACK, options=w.tcp_mss_option(1460),
                     payload=b"\x00\x00\x00\x10\x00\x00\x04\x00" + b"\0" * 8, ident=77)
    ref = (eth() / IP(src="10.0.0.10", dst="10.0.0.100", id=77, flags="DF", ttl=64)
           / TCP(sport=40000, dport=80, seq=0xFFFFFFF0, ack=12345, flags="SA", window=65535,
                 options=[("MSS", 1460)]) / Raw(b"\x00\x00\x00\x10\x00\x00\x04\x00" + b"\0" * 8))
    assert bytes(ours) == bytes(ref)


def test_tcp_options_are_padded_to_32_bits_with_eol_like_scapy():
    opts = w.tcp_mss_option(1400) + bytes([w.TCPOPT_NOP, w.TCPOPT_WINDOW, 3, 7])
    ours = tcp_frame(options=opts[:-1] + bytes([7]))
    ref = (eth() / IP(src="10.0.0.10", dst="10.0.0.100", id=1, flags="DF")
           / TCP(sport=40000, dport=80, seq=1000, flags="S", window=65535,
                 options=[("MSS", 1400), ("NOP", None), ("WScale", 7)]))
    assert bytes(ours) == bytes(ref)
    assert w.tcp_hlen(ours) == 28
    assert w.tcp_option(ours, w.TCPOPT_WINDOW) == b"\x07"


def test_udp_datagram_matches_scapy():
    ours = udp_frame(payload=b"\x00\x00\x00\x08\x00\x00\x02\x00hello")
    ref = (eth() / IP(src="10.0.0.10", dst="10.0.0.100", id=1, flags="DF")
           / UDP(sport=5353, dport=53) / Raw(b"\x00\x00\x00\x08\x00\x00\x02\x00hello"))
    assert bytes(ours) == bytes(ref)


def test_udp_checksum_that_computes_to_zero_is_sent_as_ffff():
    # Put the complement of the sum into the payload so the computed checksum is exactly 0.
    c = w.l4_checksum(CIP, VIP, w.IPPROTO_UDP, w.udp_datagram(CIP, VIP, 1, 2, b"\0\0")[:6] + b"\0\0\0\0")
    payload = c.to_bytes(2, "big")
    ours = w.udp_datagram(CIP, VIP, 1, 2, payload)
    assert ours[6:8] == b"\xff\xff"
    ref = IP(src="10.0.0.10", dst="10.0.0.100", flags="DF") / UDP(sport=1, dport=2) / Raw(payload)
    assert ours == bytes(ref)[20:]


def test_icmp_echo_and_port_unreachable_match_scapy():
    echo = w.icmp_message(w.ICMP_ECHO, 0, b"\x12\x34\x00\x05", b"ping!")
    assert echo == bytes(ICMP(type=8, id=0x1234, seq=5) / Raw(b"ping!"))
    offending = bytes(udp_frame(payload=b"x" * 40))[14:]
    quoted = w.icmp_error_payload(offending)
    assert quoted == offending[:28]
    err = w.icmp_message(w.ICMP_DEST_UNREACH, w.ICMP_PORT_UNREACH, data=quoted)
    assert err == bytes(ICMP(type=3, code=3) / Raw(offending[:28]))
    mtu = w.icmp_message(w.ICMP_DEST_UNREACH, w.ICMP_FRAG_NEEDED, (1400).to_bytes(4, "big"), quoted)
    assert mtu == bytes(ICMP(type=3, code=4, nexthopmtu=1400) / Raw(offending[:28]))


def test_arp_request_frame_matches_scapy_and_reads_back():
    f = w.ethernet_frame(w.BROADCAST_MAC, MAC_A, w.ETH_P_ARP,
                         w.arp_packet(w.ARPOP_REQUEST, MAC_A, CIP, w.ZERO_MAC, VIP))
    ref = (Ether(dst="ff:ff:ff:ff:ff:ff", src=w.mac_ntoa(MAC_A))
           / ARP(op=1, hwsrc=w.mac_ntoa(MAC_A), psrc="10.0.0.10", hwdst="00:00:00:00:00:00", pdst="10.0.0.100"))
    assert bytes(f) == bytes(ref)
    assert isinstance(f, bytearray)
    assert w.arp_fields(f) == (w.ARPOP_REQUEST, MAC_A, CIP, w.ZERO_MAC, VIP)
    assert w.eth_type(f) == w.ETH_P_ARP and w.eth_dst(f) == w.BROADCAST_MAC and w.eth_src(f) == MAC_A


def test_readers_return_the_header_fields():
    f = tcp_frame(seq=5, ack=9, flags=w.TH_ACK | w.TH_PSH, payload=b"\0" * 100, ttl=33, ident=4242,
                  options=w.tcp_mss_option(1460), tos=0x20)
    assert (w.ip_src(f), w.ip_dst(f), w.ip_proto(f), w.ip_ttl(f), w.ip_tos(f)) == (CIP, VIP, 6, 33, 0x20)
    assert (w.ip_ihl_bytes(f), w.ip_total_len(f), w.ip_df(f), w.ip_id(f)) == (20, 144, True, 4242)
    assert not w.ip_is_fragment(f) and not w.ip_mf(f) and w.ip_frag_offset(f) == 0
    assert (w.l4_offset(f), w.l4_sport(f), w.l4_dport(f)) == (34, 40000, 80)
    assert (w.tcp_flags(f), w.tcp_seq(f), w.tcp_ack(f), w.tcp_window(f)) == (0x18, 5, 9, 65535)
    assert (w.tcp_hlen(f), w.tcp_payload_len(f)) == (24, 100)
    assert w.tcp_option(f, w.TCPOPT_MSS) == (1460).to_bytes(2, "big")
    assert w.tcp_option(f, w.TCPOPT_TOA) is None
    u = udp_frame(payload=b"\0" * 30)
    assert w.udp_payload_len(u) == 30


# --- in-place rewrites: the result equals Scapy's build of the expected headers ------------------

def test_dnat_rewrite_of_tcp_frame_equals_scapy_rebuild():
    f = tcp_frame(payload=b"\0" * 8)
    w.set_ip_dst(f, RIP)
    w.set_dport(f, 8080)
    ref = Ether(bytes(f))
    assert ref[IP].dst == "10.0.1.11" and ref[TCP].dport == 8080
    assert bytes(f) == rebuilt(ref)


def test_snat_rewrite_of_udp_frame_equals_scapy_rebuild():
    f = udp_frame()
    w.set_ip_src(f, DIP)
    w.set_sport(f, 61000)
    ref = Ether(bytes(f))
    assert ref[IP].src == "10.0.0.2" and ref[UDP].sport == 61000
    assert bytes(f) == rebuilt(ref)


def test_udp_without_checksum_keeps_zero_after_rewrites():
    f = udp_frame()
    f[14 + 20 + 6:14 + 20 + 8] = b"\0\0"          # sender chose "no checksum"
    w.set_ip_dst(f, RIP)
    w.set_dport(f, 9999)
    assert f[40:42] == b"\0\0"
    assert w.checksum(f, 14, 34) == 0


def test_set_eth_and_dec_ttl_equal_scapy_rebuild():
    f = tcp_frame(ttl=64)
    w.set_eth(f, b"\x02\x00\x00\x00\x00\x99", b"\x02\x00\x00\x00\x00\x88")
    assert w.dec_ttl(f) == 63
    ref = Ether(bytes(f))
    assert (ref.dst, ref.src, ref[IP].ttl) == ("02:00:00:00:00:99", "02:00:00:00:00:88", 63)
    assert bytes(f) == rebuilt(ref)


def test_icmp_rewrite_touches_only_the_ip_checksum():
    ping = w.ethernet_frame(MAC_B, MAC_A, w.ETH_P_IP,
                            w.ipv4_packet(CIP, VIP, w.IPPROTO_ICMP, w.icmp_message(w.ICMP_ECHO, 0, b"\0\1\0\1")))
    icmp_before = bytes(ping[34:])
    w.set_ip_dst(ping, RIP)
    assert bytes(ping[34:]) == icmp_before
    assert bytes(ping) == rebuilt(Ether(bytes(ping)))


def test_rewrite_of_the_inner_header_of_an_ipip_packet_at_l3_34():
    f = w.ipip_encap(tcp_frame(), DIP, RIP, 64, False, 3)
    outer = bytes(f[14:34])
    w.set_ip_dst(f, ip_aton("10.9.9.9"), l3=34)
    w.set_dport(f, 81, l3=34)
    w.dec_ttl(f, l3=34)
    assert bytes(f[14:34]) == outer
    assert (ip_ntoa(w.ip_dst(f, 34)), w.l4_dport(f, 34), w.ip_ttl(f, 34)) == ("10.9.9.9", 81, 63)
    assert_checksums_valid(f, 34)
    assert bytes(f) == rebuilt(Ether(bytes(f)))


def test_non_first_fragment_rewrite_leaves_payload_alone():
    big = udp_frame(payload=bytes(range(256)) * 12)
    big[14 + 6] &= ~0x40                          # clear DF so it may be fragmented
    big[24:26] = b"\0\0"
    big[24:26] = w.checksum(big, 14, 34).to_bytes(2, "big")
    first, second, *rest = w.ipv4_fragment(big, 1500)
    payload_before = bytes(second[34:])
    w.set_ip_dst(second, RIP)
    assert bytes(second[34:]) == payload_before
    assert w.checksum(second, 14, 34) == 0
    whole = None
    r = w.Reassembler()
    for frag in (first, *rest):
        w.set_ip_dst(frag, RIP)
    for frag in (first, second, *rest):
        whole = r.add(frag)
    assert whole is not None and w.ip_dst(whole) == RIP
    assert_checksums_valid(whole)


def test_set_port_on_icmp_is_an_error():
    ping = w.ethernet_frame(MAC_B, MAC_A, w.ETH_P_IP,
                            w.ipv4_packet(CIP, VIP, w.IPPROTO_ICMP, w.icmp_message(w.ICMP_ECHO, 0)))
    with pytest.raises(ValueError):
        w.set_dport(ping, 80)


@settings(max_examples=300)
@given(addrs, addrs, ports, ports, u32, st.integers(1, 255), addrs, ports, st.sampled_from([6, 17]))
def test_rewrite_then_back_is_identity_and_incremental_equals_full(src, dst, sport, dport, seq, ttl,
                                                                   new_ip, new_port, proto):
    if proto == 6:
        f = tcp_frame(src, dst, sport, dport, seq, 0, w.TH_ACK, payload=b"\0" * 8, ttl=ttl)
    else:
        f = udp_frame(src, dst, sport, dport, ttl=ttl)
    original = bytes(f)
    w.set_ip_dst(f, new_ip)
    w.set_ip_src(f, new_ip ^ 0x5A5A)
    w.set_dport(f, new_port)
    w.set_sport(f, new_port ^ 0x00FF)
    # What a full recompute gives must be what the incremental updates left in place.
    assert bytes(f) == rebuilt(Ether(bytes(f)))
    assert_checksums_valid(f)
    w.set_ip_dst(f, dst)
    w.set_ip_src(f, src)
    w.set_dport(f, dport)
    w.set_sport(f, sport)
    assert bytes(f) == original


@settings(max_examples=300)
@given(addrs, addrs, st.integers(1, 255), st.integers(0, 65535), st.integers(0, 255))
def test_dec_ttl_equals_full_recompute(src, dst, ttl, ident, tos):
    f = tcp_frame(src, dst, ttl=ttl, ident=ident, tos=tos)
    w.dec_ttl(f)
    assert w.ip_ttl(f) == ttl - 1
    hdr = bytearray(f[14:34])
    hdr[10:12] = b"\0\0"
    assert f[24:26] == w.checksum(hdr).to_bytes(2, "big")


# --- structural ------------------------------------------------------------------------------------

def test_ipip_encap_matches_scapy_and_copies_tos():
    inner = tcp_frame(tos=0x28, payload=b"\0" * 8)
    enc = w.ipip_encap(inner, DIP, RIP, 64, True, 0x1234)
    ref = (eth() / IP(src="10.0.0.2", dst="10.0.1.11", proto=4, ttl=64, id=0x1234, flags="DF", tos=0x28)
           / Raw(bytes(inner[14:])))
    assert bytes(enc) == bytes(ref)
    assert w.ip_total_len(enc) == w.ip_total_len(inner) + 20
    assert w.ip_proto(enc) == w.IPPROTO_IPIP and not w.ip_df(w.ipip_encap(inner, DIP, RIP, 64, False, 0))


@given(addrs, addrs, addrs, addrs, st.integers(1, 255), st.booleans(), st.integers(0, 65535),
       st.integers(0, 1400))
def test_ipip_encap_then_decap_is_identity(src, dst, osrc, odst, ttl, df, ident, plen):
    inner = udp_frame(src, dst, payload=b"\0" * plen)
    enc = w.ipip_encap(inner, osrc, odst, ttl, df, ident)
    assert w.checksum(enc, 14, 34) == 0
    assert w.ipip_decap(enc) == inner


def test_tcp_add_option_appends_toa_and_matches_scapy():
    f = tcp_frame(options=w.tcp_mss_option(1460), payload=b"\0" * 8)
    toa = bytes([w.TCPOPT_TOA, w.TCPOLEN_TOA]) + (40000).to_bytes(2, "big") + CIP.to_bytes(4, "big")
    g = w.tcp_add_option(f, toa)
    ref = (eth() / IP(src="10.0.0.10", dst="10.0.0.100", id=1, flags="DF")
           / TCP(sport=40000, dport=80, seq=1000, flags="S", window=65535,
                 options=[("MSS", 1460), (254, toa[2:])]) / Raw(b"\0" * 8))
    assert bytes(g) == bytes(ref)
    assert w.tcp_option(g, w.TCPOPT_TOA) == toa[2:]
    assert w.tcp_payload_len(g) == 8


def test_tcp_add_option_turns_eol_padding_into_nops_and_pads_with_nop():
    f = tcp_frame(options=bytes([w.TCPOPT_WINDOW, 3, 7]))        # padded with one EOL
    g = w.tcp_add_option(f, bytes([253, 2]))
    assert w.tcp_options(g) == bytes([3, 3, 7, 1, 253, 2, 1, 1])
    assert w.tcp_option(g, 253) == b""
    assert_checksums_valid(g)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=41), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF),
       st.integers(0, 255))
def test_tcp_add_option_checksums_verify_for_any_payload_length(payload, src, dst, ttl):
    # Odd lengths pad the segment's last byte; any address and TTL must still verify.
    f = tcp_frame(src=src, dst=dst, flags=w.TH_ACK, payload=payload, ttl=ttl)
    g = w.tcp_add_option(f, bytes([w.TCPOPT_TOA, w.TCPOLEN_TOA]) + bytes(6))
    assert_checksums_valid(g)
    assert w.tcp_payload_len(g) == len(payload)


def test_tcp_add_option_refuses_beyond_60_byte_header():
    f = tcp_frame(options=b"\x01" * 36)
    with pytest.raises(ValueError):
        w.tcp_add_option(f, b"\xfe\x08" + b"\0" * 6)


def test_fragment_sizes_flags_and_offsets_follow_rfc791():
    f = udp_frame(payload=b"\0" * 3000, ident=99)
    frags = w.ipv4_fragment(f, 1500)
    assert [w.ip_total_len(x) for x in frags] == [1500, 1500, 68]
    assert [w.ip_frag_offset(x) for x in frags] == [0, 1480, 2960]
    assert [w.ip_mf(x) for x in frags] == [True, True, False]
    assert all(w.ip_id(x) == 99 and w.checksum(x, 14, 34) == 0 for x in frags)
    ref = [bytes(Ether(bytes(x))) for x in frags]
    assert [bytes(x) for x in frags] == ref
    assert w.ipv4_fragment(f, 3100) == [f]


@settings(max_examples=100)
@given(st.integers(0, 4000), st.integers(68, 1500), st.booleans(), st.randoms())
def test_fragment_then_reassemble_in_any_order_is_identity(plen, mtu, udp, rnd):
    if udp:
        f = udp_frame(payload=bytes(rnd.getrandbits(8) for _ in range(plen)), ident=rnd.randrange(65536))
    else:
        f = tcp_frame(payload=b"\x07" * plen, flags=w.TH_ACK)
    f[20] &= ~0x40
    f[24:26] = b"\0\0"
    f[24:26] = w.checksum(f, 14, 34).to_bytes(2, "big")
    frags = w.ipv4_fragment(f, mtu)
    assert all(w.ip_total_len(x) <= mtu for x in frags)
    assert all(w.ip_frag_offset(x) % 8 == 0 for x in frags)
    rnd.shuffle(frags)
    r = w.Reassembler()
    results = [r.add(x) for x in frags]
    assert results[-1] == f
    assert all(x is None for x in results[:-1])
    assert len(r) == 0


def test_reassembler_expires_incomplete_datagrams_after_30s():
    f = udp_frame(payload=b"\0" * 3000)
    f[20] &= ~0x40
    first = w.ipv4_fragment(f, 1500)[0]
    r = w.Reassembler()
    assert r.add(first, now=1.0) is None
    assert r.expire(30.9) == []
    assert r.expire(31.0) == [(CIP, VIP, 1, w.IPPROTO_UDP)]
    assert len(r) == 0
    plain = udp_frame()
    assert r.add(plain) == plain


def test_raw_frag_off_word_holds_flags_and_offset_in_8_byte_units():
    f = udp_frame(payload=b"\0" * 3000)
    f[20] &= ~0x40
    second = w.ipv4_fragment(f, 1500)[1]
    assert w.ip_frag_off(second) == w.IP_MF | (1480 >> 3)
    assert w.ip_frag_off(udp_frame()) == w.IP_DF


# TCP options as our bytes and as Scapy's tuples (Scapy pads with EOL, as tcp_frame does).
TCP_OPTIONS = [(b"", []), (w.tcp_mss_option(1460), [("MSS", 1460)]),
               (b"\x01\x03\x03\x07", [("NOP", None), ("WScale", 7)])]


@settings(max_examples=300)
@given(addrs, addrs, ports, ports, u32, u32, st.integers(0, 255), st.integers(0, 65535),
       st.binary(max_size=40), st.integers(0, 1460), st.sampled_from(TCP_OPTIONS),
       st.integers(0, 65535), st.integers(1, 255), st.integers(0, 255), st.booleans())
def test_tcp_frame_in_one_step_is_what_scapy_builds(src, dst, sport, dport, seq, ack, flags, window,
                                                    head, zeros, options, ident, ttl, tos, df):
    """The TCP stack's one-step frame builder (arithmetic checksums, zero tail not summed)
    gives Scapy's bytes for the same headers and payload, whatever the fields."""
    payload = head + bytes(zeros)
    ours = w.tcp_frame(MAC_A, MAC_B, src, dst, sport, dport, seq, ack, flags, window, options[0], head,
                       len(payload), ident=ident, ttl=ttl, tos=tos, df=df)
    ref = (eth() / IP(src=ip_ntoa(src), dst=ip_ntoa(dst), id=ident, flags="DF" if df else 0, ttl=ttl, tos=tos)
           / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window, options=options[1])
           / Raw(payload))
    assert bytes(ours) == bytes(ref)
    assert_checksums_valid(ours)
