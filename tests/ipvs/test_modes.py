"""Golden-byte tests of the forwarding-mode rewrites against frames Scapy builds."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from ipvssim.ipvs.conn import ConnTable
from ipvssim.ipvs.dest import Dest
from ipvssim.ipvs.modes import IcmpNeeded, dr, fullnat, nat, tun
from ipvssim.packet import wire

A = wire.ip_aton
CIP, VIP, RIP, DIP, LIP = A("192.0.2.10"), A("10.0.0.100"), A("10.0.1.11"), A("10.0.1.1"), A("10.0.1.200")
CPORT, VPORT, RPORT, LPORT = 40001, 80, 8080, 5001
SRC_MAC, DST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
TOA_BYTES = struct.pack("!HI", CPORT, CIP)


def ip(a: int) -> str:
    return wire.ip_ntoa(a)


def frame(pkt) -> bytearray:
    return bytearray(bytes(Ether(src=SRC_MAC, dst=DST_MAC) / pkt))


def conn_for(mode: str, proto: int = 6, laddr=None, lport=None):
    rs = Dest(addr=RIP, port=RPORT if mode in ("nat", "fullnat") else VPORT, mode=mode)
    return ConnTable().new(proto=proto, caddr=CIP, cport=CPORT, vaddr=VIP, vport=VPORT, daddr=rs.addr,
                           dport=rs.port, dest=rs, mode=mode, laddr=laddr, lport=lport, now=0.0)


def client_syn(ttl=64, **ip_kw):
    return IP(src=ip(CIP), dst=ip(VIP), ttl=ttl, id=7, flags="DF", **ip_kw) / \
        TCP(sport=CPORT, dport=VPORT, seq=1000, flags="S", options=[("MSS", 1460)])


# --- DR ----------------------------------------------------------------------------------------

def test_dr_request_only_decrements_ttl_and_keeps_vip_as_destination():
    f = frame(client_syn())
    out = dr.request(f, conn_for("dr"))
    assert out is f
    assert bytes(out) == bytes(frame(client_syn(ttl=63)))
    assert wire.ip_dst(out) == VIP and wire.eth_dst(out) == wire.mac_aton(DST_MAC)


def test_dr_request_with_ttl_1_asks_for_time_exceeded_and_leaves_the_packet():
    f = frame(client_syn(ttl=1))
    before = bytes(f)
    assert dr.request(f, conn_for("dr")) == IcmpNeeded(wire.ICMP_TIME_EXCEEDED, wire.ICMP_EXC_TTL)
    assert bytes(f) == before


# --- NAT ---------------------------------------------------------------------------------------

def test_nat_request_rewrites_destination_to_rip_rport():
    f = frame(client_syn())
    out = nat.request(f, conn_for("nat"))
    expected = IP(src=ip(CIP), dst=ip(RIP), ttl=63, id=7, flags="DF") / \
        TCP(sport=CPORT, dport=RPORT, seq=1000, flags="S", options=[("MSS", 1460)])
    assert bytes(out) == bytes(frame(expected))


def test_nat_reply_rewrites_source_to_vip_vport_without_touching_ttl():
    reply = IP(src=ip(RIP), dst=ip(CIP), ttl=63, id=9) / \
        TCP(sport=RPORT, dport=CPORT, seq=5000, ack=1001, flags="SA") / (b"x" * 10)
    out = nat.reply(frame(reply), conn_for("nat"))
    expected = IP(src=ip(VIP), dst=ip(CIP), ttl=63, id=9) / \
        TCP(sport=VPORT, dport=CPORT, seq=5000, ack=1001, flags="SA") / (b"x" * 10)
    assert bytes(out) == bytes(frame(expected))


def test_nat_udp_request_keeps_a_zero_checksum_zero():
    f = frame(IP(src=ip(CIP), dst=ip(VIP), ttl=64) / UDP(sport=CPORT, dport=VPORT, chksum=0) / (b"q" * 8))
    out = nat.request(f, conn_for("nat", proto=17))
    expected = IP(src=ip(CIP), dst=ip(RIP), ttl=63) / UDP(sport=CPORT, dport=RPORT, chksum=0) / (b"q" * 8)
    assert bytes(out) == bytes(frame(expected))


@settings(max_examples=60, deadline=None)
@given(cip=st.integers(1, 2**32 - 2), cport=st.integers(1, 65535), vport=st.integers(1, 65535),
       rip=st.integers(1, 2**32 - 2), rport=st.integers(1, 65535), seq=st.integers(0, 2**32 - 1),
       flags=st.sampled_from(["S", "A", "PA", "FA", "R"]), payload=st.binary(max_size=40),
       udp=st.booleans())
def test_nat_request_then_reply_of_the_mirrored_packet_restores_the_client_view(
        cip, cport, vport, rip, rport, seq, flags, payload, udp):
    rs = Dest(addr=rip, port=rport, mode="nat")
    proto = 17 if udp else 6
    c = ConnTable().new(proto=proto, caddr=cip, cport=cport, vaddr=VIP, vport=vport, daddr=rip,
                        dport=rport, dest=rs, mode="nat", now=0.0)

    def pkt(src, sport, dst, dport, ttl):
        l4 = UDP(sport=sport, dport=dport) if udp else TCP(sport=sport, dport=dport, seq=seq, flags=flags)
        return frame(IP(src=ip(src), dst=ip(dst), ttl=ttl, id=3) / l4 / payload)

    sent = nat.request(pkt(cip, cport, VIP, vport, 64), c)
    assert bytes(sent) == bytes(pkt(cip, cport, rip, rport, 63))       # checksums equal Scapy's
    # The real server answers by swapping addresses and ports; the director maps it back.
    back = nat.reply(pkt(rip, rport, cip, cport, 63), c)
    assert bytes(back) == bytes(pkt(VIP, vport, cip, cport, 63))


# --- TUN ---------------------------------------------------------------------------------------

def test_tun_request_wraps_the_decremented_packet_in_an_ipip_header():
    inner = client_syn(tos=0x10)
    out = tun.request(frame(inner), conn_for("tun"), outer_src=DIP)
    expected = IP(src=ip(DIP), dst=ip(RIP), proto=4, ttl=63, id=0, flags="DF", tos=0x10) / \
        client_syn(ttl=63, tos=0x10)
    assert bytes(out) == bytes(frame(expected))


def test_tun_df_packet_too_big_for_route_mtu_minus_20_asks_for_frag_needed():
    big = client_syn() / (b"\0" * (1500 - 44))              # 1500-byte IP packet with DF
    assert tun.request(frame(big), conn_for("tun"), outer_src=DIP, route_mtu=1500) == \
        IcmpNeeded(wire.ICMP_DEST_UNREACH, wire.ICMP_FRAG_NEEDED, 1480)
    fits = client_syn() / (b"\0" * (1480 - 44))
    assert len(tun.request(frame(fits), conn_for("tun"), outer_src=DIP, route_mtu=1500)) == 14 + 1500


def test_tun_without_df_or_with_pmtu_disc_0_returns_an_oversized_packet_to_fragment():
    no_df = IP(src=ip(CIP), dst=ip(VIP), ttl=64, id=5, flags=0) / UDP(sport=CPORT, dport=VPORT) / (b"\0" * 1472)
    out = tun.request(frame(no_df), conn_for("tun", proto=17), outer_src=DIP, route_mtu=1500, ident=77)
    assert len(out) == 14 + 1520 and not wire.ip_df(out) and wire.ip_id(out) == 77
    big = client_syn() / (b"\0" * (1500 - 44))
    out = tun.request(frame(big), conn_for("tun"), outer_src=DIP, pmtu_disc=0, route_mtu=1500)
    assert len(out) == 14 + 1520 and wire.ip_df(out)


# --- FULLNAT -----------------------------------------------------------------------------------

def fnat_conn():
    return conn_for("fullnat", laddr=LIP, lport=LPORT)


def test_fullnat_syn_gets_both_addresses_and_ports_rewritten_and_no_toa():
    c = fnat_conn()
    out = fullnat.request(frame(client_syn()), c)
    expected = IP(src=ip(LIP), dst=ip(RIP), ttl=63, id=7, flags="DF") / \
        TCP(sport=LPORT, dport=RPORT, seq=1000, flags="S", options=[("MSS", 1460)])
    assert bytes(out) == bytes(frame(expected))
    assert not c.first_ack_done


def test_fullnat_synack_reply_maps_back_and_lowers_mss_by_the_toa_size():
    c = fnat_conn()
    synack = IP(src=ip(RIP), dst=ip(LIP), ttl=64, id=1) / \
        TCP(sport=RPORT, dport=LPORT, seq=7000, ack=1001, flags="SA", options=[("MSS", 1460)])
    out = fullnat.reply(frame(synack), c)
    expected = IP(src=ip(VIP), dst=ip(CIP), ttl=63, id=1) / \
        TCP(sport=VPORT, dport=CPORT, seq=7000, ack=1001, flags="SA", options=[("MSS", 1452)])
    assert bytes(out) == bytes(frame(expected))
    assert c.fdata_seq == 7001


def test_fullnat_first_ack_carries_toa_with_client_port_and_address():
    c = fnat_conn()
    c.fdata_seq = 7001
    ack = IP(src=ip(CIP), dst=ip(VIP), ttl=64, id=8, flags="DF") / \
        TCP(sport=CPORT, dport=VPORT, seq=1001, ack=7001, flags="A")
    out = fullnat.request(frame(ack), c)
    expected = IP(src=ip(LIP), dst=ip(RIP), ttl=63, id=8, flags="DF") / \
        TCP(sport=LPORT, dport=RPORT, seq=1001, ack=7001, flags="A", options=[(254, TOA_BYTES)])
    assert bytes(out) == bytes(frame(expected))
    assert c.first_ack_done
    assert wire.tcp_option(out, wire.TCPOPT_TOA) == TOA_BYTES


def test_fullnat_toa_goes_after_existing_options_and_on_data_before_the_rs_answers():
    c = fnat_conn()
    c.fdata_seq = 7001
    data = IP(src=ip(CIP), dst=ip(VIP), ttl=64, id=9) / \
        TCP(sport=CPORT, dport=VPORT, seq=1001, ack=7001, flags="PA",
            options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / b"GET /"
    out = fullnat.request(frame(data), c)
    expected = IP(src=ip(LIP), dst=ip(RIP), ttl=63, id=9) / \
        TCP(sport=LPORT, dport=RPORT, seq=1001, ack=7001, flags="PA",
            options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2)), (254, TOA_BYTES)]) / b"GET /"
    assert bytes(out) == bytes(frame(expected))


def test_fullnat_no_toa_once_the_rs_has_sent_data_or_without_room():
    c = fnat_conn()
    c.fdata_seq = 7001
    later = IP(src=ip(CIP), dst=ip(VIP)) / TCP(sport=CPORT, dport=VPORT, seq=1006, ack=7501, flags="A")
    assert wire.tcp_hlen(fullnat.request(frame(later), c)) == 20
    full = IP(src=ip(CIP), dst=ip(VIP)) / TCP(sport=CPORT, dport=VPORT, seq=1001, ack=7001, flags="A",
                                             options=[("NOP", None)] * 40)
    assert wire.tcp_hlen(fullnat.request(frame(full), c)) == 60
    near_mtu = IP(src=ip(CIP), dst=ip(VIP)) / TCP(sport=CPORT, dport=VPORT, seq=1001, ack=7001,
                                                 flags="A") / (b"\0" * 1455)
    out = fullnat.request(frame(near_mtu), c, route_mtu=1500)
    assert wire.ip_total_len(out) == 1495 and not c.first_ack_done


def test_fullnat_request_then_reply_round_trip_keeps_ports_straight():
    pool = fullnat.LocalAddressPool([LIP])
    laddr, lport = pool.allocate(RIP, RPORT)
    c = conn_for("fullnat", laddr=laddr, lport=lport)
    out = fullnat.request(frame(client_syn()), c)
    assert (wire.ip_src(out), wire.l4_sport(out), wire.ip_dst(out), wire.l4_dport(out)) == \
        (LIP, fullnat.PORT_MIN, RIP, RPORT)


# --- local address pool ----------------------------------------------------------------------------

def test_pool_is_exhausted_per_real_server_and_reuses_released_ports_in_fifo_order():
    pool = fullnat.LocalAddressPool([LIP], ports=(2000, 2002))
    got = [pool.allocate(RIP, 80) for _ in range(3)]
    assert got == [(LIP, 2000), (LIP, 2001), (LIP, 2002)]
    assert pool.allocate(RIP, 80) is None and pool.failures == 1
    # Another real server has its own 4-tuples: the same ports are free toward it.
    assert pool.allocate(A("10.0.1.12"), 80) == (LIP, 2000)
    pool.release(LIP, 2001, RIP, 80)
    pool.release(LIP, 2000, RIP, 80)
    assert [pool.allocate(RIP, 80), pool.allocate(RIP, 80)] == [(LIP, 2001), (LIP, 2000)]
    assert pool.available(RIP, 80) == 0 and pool.in_use == 4


def test_pool_rejects_an_empty_address_list():
    with pytest.raises(ValueError):
        fullnat.LocalAddressPool([])


def test_every_forwarding_path_refuses_to_forward_at_ttl_1():
    syn = client_syn(ttl=1)
    assert tun.request(frame(syn), conn_for("tun"), outer_src=DIP) == fullnat.request(frame(syn), fnat_conn()) \
        == nat.request(frame(syn), conn_for("nat")) == IcmpNeeded(wire.ICMP_TIME_EXCEEDED, 0)
    reply = IP(src=ip(RIP), dst=ip(LIP), ttl=1) / TCP(sport=RPORT, dport=LPORT, flags="A")
    assert fullnat.reply(frame(reply), fnat_conn()) == IcmpNeeded(wire.ICMP_TIME_EXCEEDED, 0)
