"""Ethernet/IPv4/TCP/UDP/ICMP/ARP on raw bytes: constants, builders, readers, rewrites.

Everything here is a pure function on `bytes`/`bytearray` -- no Scapy, no objects
per packet -- because it runs at every simulated hop.  A frame is a bytearray with
the Ethernet header at 0 and an IPv4 header at `l3` (14, or 34 for the inner
header of an IPIP packet).  Addresses are ints (`int(IPv4Address(...))`), MACs
6-byte `bytes`.

Rewrites are in place and keep every checksum right with the incremental update
of RFC 1624, as the kernel does (include/net/checksum.h csum_replace2/4).

>>> from ipvssim.packet.wire import *
>>> tcp = tcp_segment(ip_aton("10.0.0.1"), ip_aton("10.0.0.2"), 40000, 80, 1, 0, TH_SYN)
>>> f = ethernet_frame(b"\\x02" * 6, b"\\x04" * 6, ETH_P_IP,
...                    ipv4_packet(ip_aton("10.0.0.1"), ip_aton("10.0.0.2"), IPPROTO_TCP, tcp))
>>> set_ip_dst(f, ip_aton("10.0.0.9"))
>>> ip_ntoa(ip_dst(f)), checksum(f, 14, 34)
('10.0.0.9', 0)
"""
from __future__ import annotations

import socket
import struct

__all__ = [
    # Ethernet / ARP
    "ETH_HLEN", "ETH_ALEN", "ETH_P_IP", "ETH_P_ARP", "BROADCAST_MAC", "ZERO_MAC",
    "ARPHRD_ETHER", "ARP_LEN", "ARPOP_REQUEST", "ARPOP_REPLY",
    # IPv4
    "IP_HLEN", "IP_VERSION", "IP_DF", "IP_MF", "IP_OFFMASK", "IP_MAXPACKET",
    "IPPROTO_ICMP", "IPPROTO_IPIP", "IPPROTO_TCP", "IPPROTO_UDP",
    # TCP / UDP
    "TCP_HLEN", "TCP_MAX_HLEN", "UDP_HLEN",
    "TH_FIN", "TH_SYN", "TH_RST", "TH_PSH", "TH_ACK", "TH_URG", "TH_ECE", "TH_CWR",
    "TCPOPT_EOL", "TCPOPT_NOP", "TCPOPT_MSS", "TCPOPT_WINDOW", "TCPOPT_SACK_PERM",
    "TCPOPT_TIMESTAMP", "TCPOPT_TOA", "TCPOLEN_MSS", "TCPOLEN_TOA",
    # ICMP
    "ICMP_HLEN", "ICMP_ECHOREPLY", "ICMP_DEST_UNREACH", "ICMP_SOURCE_QUENCH", "ICMP_REDIRECT",
    "ICMP_ECHO", "ICMP_TIME_EXCEEDED", "ICMP_PARAMETERPROB",
    "ICMP_NET_UNREACH", "ICMP_HOST_UNREACH", "ICMP_PROT_UNREACH", "ICMP_PORT_UNREACH",
    "ICMP_FRAG_NEEDED", "ICMP_EXC_TTL", "ICMP_EXC_FRAGTIME", "ICMP_ERROR_TYPES",
    # checksums and conversions
    "checksum", "csum_replace2", "csum_replace4", "l4_checksum", "ipv4_header_checksum",
    "ip_aton", "ip_ntoa", "mac_aton", "mac_ntoa",
    # builders
    "ipv4_header", "ipv4_packet", "tcp_segment", "tcp_frame", "TcpFrameTemplate", "udp_datagram", "icmp_message",
    "icmp_error_payload", "arp_packet", "ethernet_frame", "tcp_mss_option", "payload_head",
    # readers
    "eth_dst", "eth_src", "eth_type", "ip_src", "ip_dst", "ip_proto", "ip_ttl", "ip_tos",
    "ip_ihl_bytes", "ip_total_len", "ip_df", "ip_mf", "ip_id", "ip_frag_off", "ip_frag_offset", "ip_is_fragment",
    "l4_offset", "l4_sport", "l4_dport", "tcp_flags", "tcp_seq", "tcp_ack", "tcp_window",
    "tcp_hlen", "tcp_options", "tcp_option", "tcp_payload_len", "udp_payload_len",
    "icmp_type", "icmp_code", "arp_fields",
    # in-place rewrites
    "set_eth", "dec_ttl", "set_ip_src", "set_ip_dst", "set_sport", "set_dport",
    # structural
    "ipip_encap", "ipip_decap", "tcp_add_option", "ipv4_fragment", "Reassembler", "IP_FRAG_TIME",
]

# --- Ethernet (IEEE 802.3; include/uapi/linux/if_ether.h) ------------------------------
ETH_HLEN = 14
ETH_ALEN = 6
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6

# --- ARP (RFC 826; include/uapi/linux/if_arp.h) -----------------------------------------
ARPHRD_ETHER = 1
ARP_LEN = 28                      # Ethernet/IPv4 ARP body
ARPOP_REQUEST = 1
ARPOP_REPLY = 2

# --- IPv4 (RFC 791; include/net/ip.h) -----------------------------------------------------
IP_HLEN = 20
IP_VERSION = 4
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF
IP_MAXPACKET = 65535
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4                  # RFC 2003 IP in IP
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# --- TCP (RFC 9293) / UDP (RFC 768) --------------------------------------------------------
TCP_HLEN = 20
TCP_MAX_HLEN = 60                 # data offset is 4 bits of 32-bit words
UDP_HLEN = 8
TH_FIN = 0x01
TH_SYN = 0x02
TH_RST = 0x04
TH_PSH = 0x08
TH_ACK = 0x10
TH_URG = 0x20
TH_ECE = 0x40
TH_CWR = 0x80
TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_WINDOW = 3                 # RFC 7323
TCPOPT_SACK_PERM = 4              # RFC 2018
TCPOPT_TIMESTAMP = 8              # RFC 7323
TCPOPT_TOA = 254                  # "TCP option address" of FULLNAT/TOA (DPVS include/ipvs/conn.h)
TCPOLEN_MSS = 4
TCPOLEN_TOA = 8                   # kind, len, port(2), IPv4 address(4)

# --- ICMP (RFC 792; include/uapi/linux/icmp.h) ---------------------------------------------
ICMP_HLEN = 8
ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_SOURCE_QUENCH = 4
ICMP_REDIRECT = 5
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PARAMETERPROB = 12
ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4              # RFC 1191: next-hop MTU in the low 16 bits of "rest"
ICMP_EXC_TTL = 0
ICMP_EXC_FRAGTIME = 1
ICMP_ERROR_TYPES = frozenset({ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT,
                              ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB})

# Precompiled structs: these readers run at every hop.
_H = struct.Struct("!H")
_I = struct.Struct("!I")
_HH = struct.Struct("!HH")
_u16 = _H.unpack_from
_u32 = _I.unpack_from
_p16 = _H.pack_into
_p32 = _I.pack_into
_IPHDR = struct.Struct("!BBHHHBBHII")
_TCPHDR = struct.Struct("!HHIIBBHHH")
_UDPHDR = struct.Struct("!HHHH")
_ARP = struct.Struct("!HHBBH6sI6sI")
_PSEUDO = struct.Struct("!IIBBH")
_ETH_IPV4 = struct.Struct("!12sHBBHHHBBHII")   # Ethernet II (both MACs in one run) + option-less IPv4
_TOS_LEN = struct.Struct("!xBH").unpack_from     # IPv4 header: (version/IHL,) TOS, total length
_II = struct.Struct("!II").unpack_from
# Ethernet II + option-less IPv4 + TCP without options: the 54 bytes every segment starts with,
# as TcpFrameTemplate packs them: runs of fields fixed per connection are one argument each
# (source MAC to TOS; flags/fragment offset, TTL and protocol; addresses and ports).
_ETH_IP_TCP = struct.Struct("!6s10sHHIH12sIIHHHH")
_MAC_TOS = struct.Struct("!6sHBB")         # TcpFrameTemplate's runs of fixed fields
_ADDRS = struct.Struct("!IIHH")
_MSS_OPTION = struct.Struct("!BBH")


# --- checksums -------------------------------------------------------------------------------

def _sum16(buf, start: int = 0, end: int | None = None) -> int:
    """Sum of the 16-bit big-endian words of buf[start:end], modulo 0xffff (not folded to 16 bits).

    Because 2**16 == 1 (mod 0xffff), the whole region read as one big integer has the
    same residue as the sum of its words: one C-level call instead of a Python loop.
    """
    if end is None:
        if not start:               # the whole buffer: no view to make
            n = int.from_bytes(buf, "big")
            return n << 8 if len(buf) & 1 else n
        end = len(buf)
    n = int.from_bytes(memoryview(buf)[start:end], "big")
    if (end - start) & 1:
        n <<= 8                   # odd length: pad with a zero byte (RFC 1071)
    return n


def _fold(n: int) -> int:
    """One's-complement checksum (the value to store) from a word sum as built by _sum16."""
    r = n % 0xFFFF
    if r:
        return 0xFFFF - r
    # A non-zero multiple of 0xffff is one's-complement "negative zero" (0xffff), whose
    # complement is 0; only an all-zero input sums to +0 and yields 0xffff.
    return 0 if n else 0xFFFF


def checksum(buf, start: int = 0, end: int | None = None) -> int:
    """RFC 1071 Internet checksum of buf[start:end]: the value to store in the header."""
    return _fold(_sum16(buf, start, end))


def csum_replace2(csum: int, old16: int, new16: int) -> int:
    """Checksum after a 16-bit field changed from old16 to new16 (RFC 1624 eqn. 3)."""
    s = (~csum & 0xFFFF) + (~old16 & 0xFFFF) + new16
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def csum_replace4(csum: int, old32: int, new32: int) -> int:
    """Checksum after a 32-bit field changed from old32 to new32 (RFC 1624 eqn. 3)."""
    s = ((~csum & 0xFFFF) + (~old32 >> 16 & 0xFFFF) + (~old32 & 0xFFFF)
         + (new32 >> 16) + (new32 & 0xFFFF))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _pseudo_sum(src: int, dst: int, proto: int, length: int) -> int:
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length


def l4_checksum(src: int, dst: int, proto: int, seg, start: int = 0, end: int | None = None) -> int:
    """TCP/UDP checksum of seg[start:end] with the IPv4 pseudo-header (RFC 9293 3.1, RFC 768).

    The checksum field inside the segment must be zero.  For UDP a result of 0 is
    returned as 0xffff (RFC 768: 0 means "no checksum").
    """
    if end is None:
        end = len(seg)
    c = _fold(_sum16(seg, start, end) + _pseudo_sum(src, dst, proto, end - start))
    if c == 0 and proto == IPPROTO_UDP:
        return 0xFFFF
    return c


# --- conversions ------------------------------------------------------------------------------

def ip_aton(s: str) -> int:
    """"10.0.0.1" -> 0x0a000001."""
    return _u32(socket.inet_aton(s))[0]


def ip_ntoa(a: int) -> str:
    """0x0a000001 -> "10.0.0.1"."""
    return f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"


def mac_aton(s: str) -> bytes:
    """"02:00:00:00:00:01" -> 6 bytes."""
    b = bytes.fromhex(s.replace(":", "").replace("-", ""))
    if len(b) != ETH_ALEN:
        raise ValueError(f"not a MAC address: {s!r}")
    return b


def mac_ntoa(m: bytes) -> str:
    """6 bytes -> "02:00:00:00:00:01"."""
    return ":".join(f"{x:02x}" for x in m)


# --- builders ---------------------------------------------------------------------------------

def ipv4_header_checksum(tos: int, total: int, ident: int, flags: int, ttl: int, proto: int, src: int,
               dst: int) -> int:
    """The checksum of an option-less IPv4 header, summed from its fields as integers."""
    # _fold(sum), inline: for a sum n > 0 (0x4500 is in it) `-n % 0xFFFF` is _fold(n).  The
    # addresses add as 32-bit numbers: the same modulo 0xffff as their two words each.
    return -(0x4500 + tos + total + ident + flags + (ttl << 8 | proto) + src + dst) % 0xFFFF


def ipv4_header(src: int, dst: int, proto: int, payload_len: int, ttl: int = 64, ident: int = 0,
                df: bool = True, tos: int = 0, frag_off: int = 0, mf: bool = False) -> bytes:
    """20-byte IPv4 header with its checksum.  `frag_off` is in bytes (a multiple of 8)."""
    flags = (IP_DF if df else 0) | (IP_MF if mf else 0) | (frag_off >> 3)
    total = IP_HLEN + payload_len
    return _IPHDR.pack(0x45, tos, total, ident, flags, ttl, proto,
                       ipv4_header_checksum(tos, total, ident, flags, ttl, proto, src, dst), src, dst)


def ipv4_packet(src: int, dst: int, proto: int, l4: bytes, **kw) -> bytes:
    """IPv4 header + `l4`; keywords as `ipv4_header`."""
    return ipv4_header(src, dst, proto, len(l4), **kw) + l4


def tcp_segment(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int,
                window: int = 65535, options: bytes = b"", payload: bytes = b"") -> bytes:
    """TCP header (+ options padded with EOL to 32 bits) + payload, checksum over the pseudo-header."""
    if len(options) & 3:
        options = options + b"\x00" * (4 - (len(options) & 3))
    hlen = TCP_HLEN + len(options)
    if hlen > TCP_MAX_HLEN:
        raise ValueError(f"TCP options too long: {len(options)} bytes")
    seg = bytearray(_TCPHDR.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                                 (hlen >> 2) << 4, flags, window, 0, 0))
    seg += options
    seg += payload
    _p16(seg, 16, l4_checksum(src, dst, IPPROTO_TCP, seg))
    return bytes(seg)


class TcpFrameTemplate:
    """What every frame of one TCP connection has in common, to build each in one step.

    `frame` gives the same bytes as ``ethernet_frame(dst_mac, src_mac, ETH_P_IP,
    ipv4_packet(src, dst, IPPROTO_TCP, tcp_segment(...), ident=ident, ttl=ttl, tos=tos,
    df=df))`` with the payload ``head + bytes(paylen - len(head))``: one buffer, one
    pack, and both checksums summed as integers -- the fixed fields' share once per
    connection, here, and the zero tail of the payload adds nothing to a
    one's-complement sum, so only `options` and `head` are read as bytes.
    """

    __slots__ = ("src_mac", "src", "dst", "sport", "dport", "window", "ttl", "tos", "frag",
                 "_ip_sum", "_tcp_sum", "_mac_tos", "_frag_ttl", "_addrs")

    def __init__(self, src_mac: bytes, src: int, dst: int, sport: int, dport: int,
                 window: int = 65535, ttl: int = 64, tos: int = 0, df: bool = True):
        self.src_mac, self.src, self.dst, self.sport, self.dport = src_mac, src, dst, sport, dport
        self.window, self.ttl, self.tos = window, ttl, tos
        self.frag = IP_DF if df else 0
        addr_sum = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
        # The header words that are the same in every frame, summed (the IP header's
        # includes its own length, IP_HLEN, of the total length field).
        self._ip_sum = 0x4500 + tos + self.frag + (ttl << 8 | IPPROTO_TCP) + addr_sum + IP_HLEN
        self._tcp_sum = addr_sum + IPPROTO_TCP + sport + dport + window
        # The same fields as the byte runs `frame` packs them in (see _ETH_IP_TCP).
        self._mac_tos = _MAC_TOS.pack(src_mac, ETH_P_IP, 0x45, tos)
        self._frag_ttl = self.frag << 16 | ttl << 8 | IPPROTO_TCP
        self._addrs = _ADDRS.pack(src, dst, sport, dport)

    def frame(self, seq: int, ack: int, flags: int, options: bytes = b"", head: bytes = b"",
              paylen: int = 0, ident: int = 0, dst_mac: bytes = ZERO_MAC) -> bytearray:
        """One segment's frame: `paylen` payload bytes, `head` then zeros."""
        seq &= 0xFFFFFFFF
        ack &= 0xFFFFFFFF
        # A 32-bit field adds as itself: its two words' sum is the same modulo 0xffff (2**16 is 1),
        # and only the sum modulo 0xffff matters below.
        tcp_sum = self._tcp_sum + seq + ack
        if options:
            olen = len(options)
            if olen & 3:
                options = options + b"\x00" * (4 - (olen & 3))
                olen = len(options)
            if olen > TCP_MAX_HLEN - TCP_HLEN:
                raise ValueError(f"TCP options too long: {olen} bytes")
            tcp_sum += _sum16(options)
        else:
            olen = 0
        if len(head) > paylen:
            raise ValueError(f"head ({len(head)} bytes) longer than the payload ({paylen})")
        if head:
            tcp_sum += _sum16(head)     # starts at an even offset of the segment: words line up
        hlen = TCP_HLEN + olen
        tcp_len = hlen + paylen
        offflags = hlen << 10 | flags   # data offset (hlen / 4) in the top 4 bits
        ip_len = IP_HLEN + tcp_len
        frame = bytearray(ETH_HLEN + ip_len)
        # Both sums are > 0 (each has the protocol in it), and for n > 0 `-n % 0xFFFF` is
        # _fold(n): written out as it runs for every segment sent.
        _ETH_IP_TCP.pack_into(frame, 0, dst_mac, self._mac_tos, ip_len, ident,
                              self._frag_ttl, -(self._ip_sum + tcp_len + ident) % 0xFFFF,
                              self._addrs, seq, ack, offflags, self.window,
                              -(tcp_sum + tcp_len + offflags) % 0xFFFF, 0)
        if olen:
            frame[ETH_HLEN + IP_HLEN + TCP_HLEN:ETH_HLEN + IP_HLEN + hlen] = options
        if head:
            at = ETH_HLEN + IP_HLEN + hlen
            frame[at:at + len(head)] = head
        return frame


def tcp_frame(src_mac: bytes, dst_mac: bytes, src: int, dst: int, sport: int, dport: int,
              seq: int, ack: int, flags: int, window: int = 65535, options: bytes = b"",
              head: bytes = b"", paylen: int = 0, ident: int = 0, ttl: int = 64, tos: int = 0,
              df: bool = True) -> bytearray:
    """A whole Ethernet + IPv4 + TCP frame whose payload is `head` then zeros, `paylen` bytes
    in all (see `TcpFrameTemplate`, which a TCP connection keeps to build each segment).

    >>> a, b = ip_aton("10.0.0.1"), ip_aton("10.0.0.2")
    >>> f = tcp_frame(b"\\x04" * 6, b"\\x02" * 6, a, b, 40000, 80, 7, 9, TH_ACK, head=b"GET", paylen=100)
    >>> f == ethernet_frame(b"\\x02" * 6, b"\\x04" * 6, ETH_P_IP, ipv4_packet(a, b, IPPROTO_TCP,
    ...     tcp_segment(a, b, 40000, 80, 7, 9, TH_ACK, payload=b"GET" + bytes(97))))
    True
    """
    return TcpFrameTemplate(src_mac, src, dst, sport, dport, window, ttl, tos, df).frame(
        seq, ack, flags, options, head, paylen, ident, dst_mac)


def payload_head(d, start: int, end: int) -> bytes:
    """d[start:end] without its trailing zeros: the leading bytes a payload carries (the
    simulator's payloads are a few meaningful bytes, then zeros).

    >>> payload_head(bytearray(b"xx\\x01\\x02\\x00\\x00yy"), 2, 6), payload_head(bytes(9), 0, 9)
    (b'\\x01\\x02', b'')
    """
    # Most payloads are all zeros.  Comparing the range with a block of zeros is one
    # memcpy and one memcmp; counting or stripping zeros goes byte by byte (4-15x slower).
    if end - start <= _ZERO_LEN and _ZERO_BLOCK.startswith(d[start:end]):
        return b""
    return bytes(d[start:end]).rstrip(b"\x00")


_ZERO_LEN = 65536               # longer than any IPv4 payload
_ZERO_BLOCK = bytes(_ZERO_LEN)


def tcp_mss_option(mss: int) -> bytes:
    """The 4-byte MSS option (RFC 9293 3.2)."""
    return _MSS_OPTION.pack(TCPOPT_MSS, TCPOLEN_MSS, mss)


def udp_datagram(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    """UDP header + payload with its checksum (a computed 0 is sent as 0xffff, RFC 768)."""
    seg = bytearray(_UDPHDR.pack(sport, dport, UDP_HLEN + len(payload), 0))
    seg += payload
    _p16(seg, 6, l4_checksum(src, dst, IPPROTO_UDP, seg))
    return bytes(seg)


def icmp_message(type: int, code: int, rest: bytes = b"\0\0\0\0", data: bytes = b"") -> bytes:
    """ICMP message: type, code, checksum, 4 bytes of `rest` (id/seq, next-hop MTU...), data."""
    m = bytearray(struct.pack("!BBH", type, code, 0))
    m += rest
    m += data
    _p16(m, 2, _fold(_sum16(m)))
    return bytes(m)


def icmp_error_payload(ip_packet_bytes) -> bytes:
    """What an ICMP error quotes: the offending IP header and its first 8 data bytes (RFC 792)."""
    ihl = (ip_packet_bytes[0] & 0x0F) << 2
    return bytes(ip_packet_bytes[:ihl + 8])


def arp_packet(op: int, sha: bytes, spa: int, tha: bytes, tpa: int) -> bytes:
    """28-byte Ethernet/IPv4 ARP body (RFC 826).  Not padded to the 60-byte Ethernet minimum."""
    return _ARP.pack(ARPHRD_ETHER, ETH_P_IP, ETH_ALEN, 4, op, sha, spa, tha, tpa)


def ethernet_frame(dst_mac: bytes, src_mac: bytes, ethertype: int, payload: bytes) -> bytearray:
    """Ethernet II frame (no FCS, no minimum-size padding)."""
    f = bytearray(dst_mac)
    f += src_mac
    f += _H.pack(ethertype)
    f += payload
    return f


# --- readers ------------------------------------------------------------------------------------

def eth_dst(d) -> bytes:
    return bytes(d[0:6])


def eth_src(d) -> bytes:
    return bytes(d[6:12])


def eth_type(d) -> int:
    return _u16(d, 12)[0]


def ip_src(d, l3: int = ETH_HLEN) -> int:
    return _u32(d, l3 + 12)[0]


def ip_dst(d, l3: int = ETH_HLEN) -> int:
    return _u32(d, l3 + 16)[0]


def ip_proto(d, l3: int = ETH_HLEN) -> int:
    return d[l3 + 9]


def ip_ttl(d, l3: int = ETH_HLEN) -> int:
    return d[l3 + 8]


def ip_tos(d, l3: int = ETH_HLEN) -> int:
    return d[l3 + 1]


def ip_ihl_bytes(d, l3: int = ETH_HLEN) -> int:
    return (d[l3] & 0x0F) << 2


def ip_total_len(d, l3: int = ETH_HLEN) -> int:
    return _u16(d, l3 + 2)[0]


def ip_id(d, l3: int = ETH_HLEN) -> int:
    return _u16(d, l3 + 4)[0]


def ip_df(d, l3: int = ETH_HLEN) -> bool:
    return bool(d[l3 + 6] & 0x40)


def ip_mf(d, l3: int = ETH_HLEN) -> bool:
    return bool(d[l3 + 6] & 0x20)


def ip_frag_off(d, l3: int = ETH_HLEN) -> int:
    """The raw 16-bit flags + fragment offset word, as the kernel's iph->frag_off (host order)."""
    return _u16(d, l3 + 6)[0]


def ip_frag_offset(d, l3: int = ETH_HLEN) -> int:
    """Fragment offset in bytes."""
    return (_u16(d, l3 + 6)[0] & IP_OFFMASK) << 3


def ip_is_fragment(d, l3: int = ETH_HLEN) -> bool:
    """True for any fragment (MF set or non-zero offset), as the kernel's ip_is_fragment()."""
    return bool(_u16(d, l3 + 6)[0] & (IP_MF | IP_OFFMASK))


def l4_offset(d, l3: int = ETH_HLEN) -> int:
    return l3 + ((d[l3] & 0x0F) << 2)


def l4_sport(d, l3: int = ETH_HLEN) -> int:
    return _u16(d, l3 + ((d[l3] & 0x0F) << 2))[0]


def l4_dport(d, l3: int = ETH_HLEN) -> int:
    return _u16(d, l3 + ((d[l3] & 0x0F) << 2) + 2)[0]


def tcp_flags(d, l3: int = ETH_HLEN) -> int:
    return d[l3 + ((d[l3] & 0x0F) << 2) + 13]


def tcp_seq(d, l3: int = ETH_HLEN) -> int:
    return _u32(d, l3 + ((d[l3] & 0x0F) << 2) + 4)[0]


def tcp_ack(d, l3: int = ETH_HLEN) -> int:
    return _u32(d, l3 + ((d[l3] & 0x0F) << 2) + 8)[0]


def tcp_window(d, l3: int = ETH_HLEN) -> int:
    return _u16(d, l3 + ((d[l3] & 0x0F) << 2) + 14)[0]


def tcp_hlen(d, l3: int = ETH_HLEN) -> int:
    """TCP header length in bytes (data offset * 4)."""
    return (d[l3 + ((d[l3] & 0x0F) << 2) + 12] >> 4) << 2


def tcp_options(d, l3: int = ETH_HLEN) -> bytes:
    l4 = l3 + ((d[l3] & 0x0F) << 2)
    return bytes(d[l4 + TCP_HLEN:l4 + ((d[l4 + 12] >> 4) << 2)])


def tcp_option(d, kind: int, l3: int = ETH_HLEN) -> bytes | None:
    """Value bytes (after kind and length) of the first TCP option `kind`, or None."""
    opts = tcp_options(d, l3)
    i, n = 0, len(opts)
    while i < n:
        k = opts[i]
        if k == TCPOPT_EOL:
            break
        if k == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= n or opts[i + 1] < 2:
            break                 # malformed: stop like tcp_parse_options()
        ln = opts[i + 1]
        if k == kind:
            return opts[i + 2:i + ln]
        i += ln
    return None


def tcp_payload_len(d, l3: int = ETH_HLEN) -> int:
    ihl = (d[l3] & 0x0F) << 2
    return _u16(d, l3 + 2)[0] - ihl - ((d[l3 + ihl + 12] >> 4) << 2)


def udp_payload_len(d, l3: int = ETH_HLEN) -> int:
    return _u16(d, l3 + ((d[l3] & 0x0F) << 2) + 4)[0] - UDP_HLEN


def icmp_type(d, l3: int = ETH_HLEN) -> int:
    return d[l3 + ((d[l3] & 0x0F) << 2)]


def icmp_code(d, l3: int = ETH_HLEN) -> int:
    return d[l3 + ((d[l3] & 0x0F) << 2) + 1]


def arp_fields(d) -> tuple[int, bytes, int, bytes, int]:
    """(op, sha, spa, tha, tpa) of the ARP packet in frame d."""
    _, _, _, _, op, sha, spa, tha, tpa = _ARP.unpack_from(d, ETH_HLEN)
    return op, sha, spa, tha, tpa


# --- in-place rewrites ------------------------------------------------------------------------------

def set_eth(d: bytearray, dst: bytes, src: bytes) -> None:
    """Set the Ethernet destination and source MACs."""
    d[0:6] = dst
    d[6:12] = src


def dec_ttl(d: bytearray, l3: int = ETH_HLEN) -> int:
    """Decrement the TTL and patch the header checksum; returns the new TTL.

    Mirrors ip_decrease_ttl() (include/net/ip.h): the TTL is the high byte of its
    16-bit word, so the checksum grows by 0x0100 with an end-around carry.
    """
    c = _u16(d, l3 + 10)[0] + 0x0100
    _p16(d, l3 + 10, (c + (c >= 0xFFFF)) & 0xFFFF)
    ttl = d[l3 + 8] - 1
    d[l3 + 8] = ttl
    return ttl


def _l4_csum_offset(d, l3: int) -> int:
    """Offset of the TCP/UDP checksum the pseudo-header covers, or -1 when there is none to fix.

    Non-first fragments carry no L4 header; ICMP has no pseudo-header.
    """
    if _u16(d, l3 + 6)[0] & IP_OFFMASK:
        return -1
    proto = d[l3 + 9]
    l4 = l3 + ((d[l3] & 0x0F) << 2)
    if proto == IPPROTO_TCP:
        off = l4 + 16
    elif proto == IPPROTO_UDP:
        off = l4 + 6
    else:
        return -1
    return off if off + 2 <= len(d) else -1


def _fix_l4(d: bytearray, off: int, proto: int, old: int, new: int, width: int) -> None:
    c = _u16(d, off)[0]
    if proto == IPPROTO_UDP:
        if c == 0:
            return                # RFC 768: no checksum, nothing to keep right
        c = csum_replace4(c, old, new) if width == 4 else csum_replace2(c, old, new)
        # CSUM_MANGLED_0 (include/net/checksum.h): a real 0 must go out as 0xffff.
        _p16(d, off, c or 0xFFFF)
    else:
        _p16(d, off, csum_replace4(c, old, new) if width == 4 else csum_replace2(c, old, new))


def _set_addr(d: bytearray, ip: int, l3: int, pos: int) -> None:
    old = _u32(d, l3 + pos)[0]
    if old == ip:
        return
    _p32(d, l3 + pos, ip)
    _p16(d, l3 + 10, csum_replace4(_u16(d, l3 + 10)[0], old, ip))
    off = _l4_csum_offset(d, l3)
    if off >= 0:
        _fix_l4(d, off, d[l3 + 9], old, ip, 4)


def set_ip_src(d: bytearray, ip: int, l3: int = ETH_HLEN) -> None:
    """Rewrite the IPv4 source; fixes the header checksum and the TCP/UDP pseudo-header checksum."""
    _set_addr(d, ip, l3, 12)


def set_ip_dst(d: bytearray, ip: int, l3: int = ETH_HLEN) -> None:
    """Rewrite the IPv4 destination; fixes the header checksum and the TCP/UDP pseudo-header checksum."""
    _set_addr(d, ip, l3, 16)


def _set_port(d: bytearray, port: int, l3: int, pos: int) -> None:
    proto = d[l3 + 9]
    if proto != IPPROTO_TCP and proto != IPPROTO_UDP:
        raise ValueError(f"no ports in IP protocol {proto}")
    l4 = l3 + ((d[l3] & 0x0F) << 2)
    old = _u16(d, l4 + pos)[0]
    if old == port:
        return
    _p16(d, l4 + pos, port)
    _fix_l4(d, l4 + (16 if proto == IPPROTO_TCP else 6), proto, old, port, 2)


def set_sport(d: bytearray, port: int, l3: int = ETH_HLEN) -> None:
    """Rewrite the TCP/UDP source port and patch the L4 checksum."""
    _set_port(d, port, l3, 0)


def set_dport(d: bytearray, port: int, l3: int = ETH_HLEN) -> None:
    """Rewrite the TCP/UDP destination port and patch the L4 checksum."""
    _set_port(d, port, l3, 2)


# --- structural changes (new bytearray) -----------------------------------------------------------

def ipip_encap(d, outer_src: int, outer_dst: int, ttl: int, df: bool, ident: int) -> bytearray:
    """IP-in-IP encapsulation (RFC 2003): a 20-byte outer header, protocol 4, after Ethernet.

    The outer TOS is copied from the inner header (RFC 2003 3.1; ip_vs_tunnel_xmit).  The
    Ethernet MACs are kept as they were: the output path sets them after its route lookup.
    """
    tos, inner_len = _TOS_LEN(d, ETH_HLEN)
    total = IP_HLEN + inner_len
    flags = IP_DF if df else 0
    csum = ipv4_header_checksum(tos, total, ident, flags, ttl, IPPROTO_IPIP, outer_src, outer_dst)
    out = bytearray(_ETH_IPV4.pack(d[0:12], ETH_P_IP, 0x45, tos, total, ident, flags, ttl,
                                   IPPROTO_IPIP, csum, outer_src, outer_dst))
    out += d[ETH_HLEN:ETH_HLEN + inner_len]     # a slice: cheaper than a memoryview's setup
    return out


def ipip_decap(d) -> bytearray:
    """Strip the outer IPv4 header of an IPIP frame; the inner packet follows the Ethernet header."""
    ihl = (d[ETH_HLEN] & 0x0F) << 2
    # One copy: the frame from `ihl` bytes in, so that the inner packet lands at offset 14,
    # then the Ethernet header over the 14 bytes in front of it.
    out = d[ihl:ETH_HLEN + _u16(d, ETH_HLEN + 2)[0]]
    if type(out) is not bytearray:
        out = bytearray(out)
    out[:ETH_HLEN] = d[:ETH_HLEN]
    return out


def tcp_add_option(d, opt: bytes, l3: int = ETH_HLEN) -> bytearray:
    """Insert `opt` after the existing TCP options (NOP-padded to 32 bits).

    Grows the header: data offset, IP total length, IP and TCP checksums are fixed.
    An EOL in the existing options would hide the new one, so EOL padding turns into
    NOPs.  Raises ValueError when the header would exceed 60 bytes (the caller then
    sends the packet without the option, like DPVS's tcp_in_add_toa()).
    """
    if len(opt) & 3:
        opt = bytes(opt) + b"\x01" * (4 - (len(opt) & 3))
    grow = len(opt)
    ihl = (d[l3] & 0x0F) << 2
    l4 = l3 + ihl
    thl = (d[l4 + 12] >> 4) << 2
    if thl + grow > TCP_MAX_HLEN:
        raise ValueError(f"no room for a {grow}-byte TCP option ({thl}-byte header)")
    total = _u16(d, l3 + 2)[0]
    out = d[:l4 + thl]                           # up to the end of the existing options
    if type(out) is not bytearray:
        out = bytearray(out)
    i, opts_end = l4 + TCP_HLEN, len(out)
    while i < opts_end:
        k = out[i]
        if k == TCPOPT_EOL:
            out[i:] = b"\x01" * (opts_end - i)
            break
        if k == TCPOPT_NOP:
            i += 1
        elif i + 1 < opts_end and out[i + 1] >= 2:
            i += out[i + 1]
        else:
            break
    out += opt
    out += d[l4 + thl:l3 + total]
    new_total = total + grow
    end = l3 + new_total
    _p16(out, l3 + 2, new_total)
    out[l4 + 12] = (((thl + grow) >> 2) << 4) | (out[l4 + 12] & 0x0F)
    # Both checksums from scratch.
    _p16(out, l3 + 10, 0)
    _p16(out, l3 + 10, _fold(_sum16(out, l3, l4)))
    _p16(out, l4 + 16, 0)
    src, dst = _II(out, l3 + 12)
    _p16(out, l4 + 16, l4_checksum(src, dst, IPPROTO_TCP, out, l4, end))
    return out


def _copied_options(hdr) -> bytes:
    """IP options to repeat in non-first fragments: those with the copied flag (RFC 791 3.1)."""
    opts = bytearray()
    i, n = IP_HLEN, len(hdr)
    while i < n:
        k = hdr[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        ln = hdr[i + 1] if i + 1 < n else 0
        if ln < 2:
            break
        if k & 0x80:
            opts += hdr[i:i + ln]
        i += ln
    if len(opts) & 3:
        opts += b"\x00" * (4 - (len(opts) & 3))
    return bytes(opts)


def ipv4_fragment(d, mtu: int) -> list[bytearray]:
    """Split the IPv4 packet in frame `d` into frames of at most `mtu` IP bytes (RFC 791).

    Fragment data is a multiple of 8 bytes except in the last piece.  Already
    fragmented packets keep their offset base and the last piece keeps the original
    MF.  DF is not looked at: deciding to send "fragmentation needed" is the caller's.
    """
    l3 = ETH_HLEN
    ihl = (d[l3] & 0x0F) << 2
    total = _u16(d, l3 + 2)[0]
    if total <= mtu:
        return [bytearray(d[:l3 + total])]
    eth = bytes(d[:l3])
    hdr = bytes(d[l3:l3 + ihl])
    rest_hdr = hdr[:IP_HLEN] + _copied_options(hdr)
    fl = _u16(d, l3 + 6)[0]
    base = (fl & IP_OFFMASK) << 3
    keep = fl & IP_DF
    orig_mf = fl & IP_MF
    data = memoryview(d)[l3 + ihl:l3 + total]
    frames = []
    pos = 0
    while pos < len(data):
        h = hdr if pos == 0 else rest_hdr
        room = (mtu - len(h)) & ~7
        if room <= 0:
            raise ValueError(f"MTU {mtu} too small to fragment a {len(h)}-byte header")
        chunk = data[pos:pos + room]
        last = pos + len(chunk) >= len(data)
        f = bytearray(eth)
        f += h
        f += chunk
        f[l3] = 0x40 | (len(h) >> 2)
        _p16(f, l3 + 2, len(h) + len(chunk))
        _p16(f, l3 + 6, keep | (orig_mf if last else IP_MF) | ((base + pos) >> 3))
        _p16(f, l3 + 10, 0)
        _p16(f, l3 + 10, _fold(_sum16(f, l3, l3 + len(h))))
        frames.append(f)
        pos += len(chunk)
    return frames


IP_FRAG_TIME = 30.0               # seconds a partial datagram is kept (include/net/ip.h IP_FRAG_TIME)


class Reassembler:
    """Collects IPv4 fragments by (src, dst, id, proto) and returns the whole datagram frame.

    >>> r = Reassembler()
    >>> pkt = ethernet_frame(ZERO_MAC, ZERO_MAC, ETH_P_IP,
    ...                      ipv4_packet(1, 2, IPPROTO_UDP, udp_datagram(1, 2, 5, 6, bytes(3000)), df=False))
    >>> [r.add(f) for f in ipv4_fragment(pkt, 1500)][-1] == pkt
    True
    """

    def __init__(self, timeout: float = IP_FRAG_TIME):
        self.timeout = timeout
        # key -> [first_seen, {offset: data}, total length or None, first fragment frame or None]
        self._pending: dict[tuple[int, int, int, int], list] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frame, now: float = 0.0) -> bytearray | None:
        """Take one frame; returns the reassembled frame when this completes it, else None.

        A frame that is not a fragment is returned as is (a copy).
        """
        l3 = ETH_HLEN
        fl = _u16(frame, l3 + 6)[0]
        if not fl & (IP_MF | IP_OFFMASK):
            return bytearray(frame)
        ihl = (frame[l3] & 0x0F) << 2
        total = _u16(frame, l3 + 2)[0]
        key = (_u32(frame, l3 + 12)[0], _u32(frame, l3 + 16)[0], _u16(frame, l3 + 4)[0], frame[l3 + 9])
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = [now, {}, None, None]
        off = (fl & IP_OFFMASK) << 3
        entry[1][off] = bytes(frame[l3 + ihl:l3 + total])
        if not fl & IP_MF:
            entry[2] = off + total - ihl
        if off == 0:
            entry[3] = bytes(frame[:l3 + ihl])
        if entry[2] is None or entry[3] is None:
            return None
        have = 0
        for o in sorted(entry[1]):
            if o > have:
                return None       # a hole
            have = max(have, o + len(entry[1][o]))
        if have < entry[2]:
            return None
        del self._pending[key]
        payload = bytearray(entry[2])
        for o in sorted(entry[1]):
            chunk = entry[1][o]
            payload[o:o + len(chunk)] = chunk[:entry[2] - o]
        head = bytearray(entry[3])
        _p16(head, l3 + 2, len(head) - l3 + len(payload))
        _p16(head, l3 + 6, _u16(head, l3 + 6)[0] & IP_DF)
        _p16(head, l3 + 10, 0)
        _p16(head, l3 + 10, _fold(_sum16(head, l3)))
        head += payload
        return head

    def expire(self, now: float) -> list[tuple[int, int, int, int]]:
        """Forget datagrams older than the timeout; returns their keys (for ICMP time exceeded)."""
        old = [k for k, e in self._pending.items() if now - e[0] >= self.timeout]
        for k in old:
            del self._pending[k]
        return old
