"""Dissection for humans: Scapy view, field diffs between trace steps, one-line summaries."""
from scapy.layers.inet import IP, TCP

from ipvssim.packet import wire as w
from ipvssim.packet.dissect import field_diff, layer_labels, summary, to_scapy

CIP, VIP, RIP, DIP = (w.ip_aton(a) for a in ("10.0.0.10", "10.0.0.100", "10.0.0.11", "10.0.0.2"))
MAC_C, MAC_D, MAC_R = b"\x02\0\0\0\0\x0a", b"\x02\0\0\0\0\x02", b"\x02\0\0\0\0\x0b"


def syn() -> bytearray:
    seg = w.tcp_segment(CIP, VIP, 40000, 80, 1000, 0, w.TH_SYN, options=w.tcp_mss_option(1460))
    return w.ethernet_frame(MAC_D, MAC_C, w.ETH_P_IP, w.ipv4_packet(CIP, VIP, w.IPPROTO_TCP, seg, ident=1))


def test_to_scapy_sees_inner_ip_of_ipip():
    p = to_scapy(w.ipip_encap(syn(), DIP, RIP, 64, False, 5))
    assert p[IP].proto == 4 and p[IP].payload[IP].dst == "10.0.0.100"
    assert p[TCP].dport == 80


def test_dr_hop_changes_only_the_macs():
    before = syn()
    after = bytearray(before)
    w.set_eth(after, MAC_R, MAC_D)
    assert field_diff(before, after) == [("Ether.dst", "02:00:00:00:00:02", "02:00:00:00:00:0b"),
                                         ("Ether.src", "02:00:00:00:00:0a", "02:00:00:00:00:02")]


def test_nat_hop_reports_address_port_and_checksums():
    before = syn()
    after = bytearray(before)
    w.dec_ttl(after)
    w.set_ip_dst(after, RIP)
    w.set_dport(after, 8080)
    rows = field_diff(before, after)
    assert [r[0] for r in rows] == ["IP.dst", "IP.ttl", "IP.chksum", "TCP.dport", "TCP.chksum"]
    assert rows[0] == ("IP.dst", "10.0.0.100", "10.0.0.11")
    assert rows[1] == ("IP.ttl", 64, 63)
    assert rows[3] == ("TCP.dport", 80, 8080)


def test_encapsulation_shows_as_an_added_outer_header_and_decap_as_removed():
    before = syn()
    enc = w.ipip_encap(before, DIP, RIP, 64, False, 5)
    assert layer_labels(enc) == ["Ether", "IP(outer)", "IP", "TCP"]
    assert field_diff(before, enc) == [("IP(outer)", None, "10.0.0.2 > 10.0.0.11 proto 4")]
    assert field_diff(enc, w.ipip_decap(enc)) == [("IP(outer)", "10.0.0.2 > 10.0.0.11 proto 4", None)]


def test_identical_frames_have_no_diff():
    assert field_diff(syn(), syn()) == []


def test_summaries_read_like_tcpdump():
    assert summary(syn()) == ("10.0.0.10.40000 > 10.0.0.100.80: Flags [S], seq 1000, win 65535, "
                              "mss 1460, length 0, ttl 64")
    seg = w.tcp_segment(VIP, CIP, 80, 40000, 5, 1001, w.TH_SYN | w.TH_ACK)
    synack = w.ethernet_frame(MAC_C, MAC_D, w.ETH_P_IP, w.ipv4_packet(VIP, CIP, w.IPPROTO_TCP, seg))
    assert summary(synack).startswith("10.0.0.100.80 > 10.0.0.10.40000: Flags [S.], seq 5, ack 1001,")
    arp = w.ethernet_frame(w.BROADCAST_MAC, MAC_C, w.ETH_P_ARP,
                           w.arp_packet(w.ARPOP_REQUEST, MAC_C, CIP, w.ZERO_MAC, VIP))
    assert summary(arp) == "ARP, Request who-has 10.0.0.100 tell 10.0.0.10"
    reply = w.ethernet_frame(MAC_C, MAC_D, w.ETH_P_ARP, w.arp_packet(w.ARPOP_REPLY, MAC_D, VIP, MAC_C, CIP))
    assert summary(reply) == "ARP, Reply 10.0.0.100 is-at 02:00:00:00:00:02"
    udp = w.ethernet_frame(MAC_D, MAC_C, w.ETH_P_IP,
                           w.ipv4_packet(CIP, VIP, w.IPPROTO_UDP, w.udp_datagram(CIP, VIP, 5000, 53, b"\0" * 12)))
    assert summary(udp) == "10.0.0.10.5000 > 10.0.0.100.53: UDP, length 12, ttl 64"
    err = w.ethernet_frame(MAC_C, MAC_D, w.ETH_P_IP, w.ipv4_packet(
        VIP, CIP, w.IPPROTO_ICMP,
        w.icmp_message(w.ICMP_DEST_UNREACH, w.ICMP_PORT_UNREACH, data=w.icmp_error_payload(udp[14:]))))
    assert summary(err) == ("10.0.0.100 > 10.0.0.10: ICMP port unreachable "
                            "[10.0.0.10 > 10.0.0.100 proto 17], ttl 64")
    enc = w.ipip_encap(syn(), DIP, RIP, 63, False, 5)
    assert summary(enc).startswith("10.0.0.2 > 10.0.0.11: IPIP ttl 63 (10.0.0.10.40000 > 10.0.0.100.80:")


def test_fragment_summaries_show_offset_and_more_fragments():
    big = w.ethernet_frame(MAC_D, MAC_C, w.ETH_P_IP, w.ipv4_packet(
        CIP, VIP, w.IPPROTO_UDP, w.udp_datagram(CIP, VIP, 1, 2, b"\0" * 2000), df=False, ident=9))
    first, second = w.ipv4_fragment(big, 1500)
    assert summary(first).endswith("frag id 9 MF")
    assert summary(second) == "10.0.0.10 > 10.0.0.100: frag id 9 offset 1480 proto 17, length 528"
