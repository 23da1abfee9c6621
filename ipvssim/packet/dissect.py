"""Looking at frames: Scapy dissection, field-by-field diffs and one-line summaries.

Only called when someone looks (trace rendering, tests, debugging) -- never on
the simulation's hot path.  `summary` reads the bytes with `wire` directly so a
long trace renders quickly; `to_scapy` and `field_diff` use Scapy.

>>> from ipvssim.packet.wire import *
>>> src, dst = ip_aton("10.0.0.10"), ip_aton("10.0.0.100")
>>> f = ethernet_frame(b"\\x02" * 6, b"\\x04" * 6, ETH_P_IP,
...     ipv4_packet(src, dst, IPPROTO_TCP, tcp_segment(src, dst, 40000, 80, 7, 0, TH_SYN)))
>>> summary(f)
'10.0.0.10.40000 > 10.0.0.100.80: Flags [S], seq 7, win 65535, length 0, ttl 64'
>>> g = bytearray(f); set_ip_dst(g, ip_aton("10.0.0.11"))
>>> field_diff(f, g)  # doctest: +NORMALIZE_WHITESPACE
[('IP.dst', '10.0.0.100', '10.0.0.11'), ('IP.chksum', '0x2663', '0x26bc'),
 ('TCP.chksum', '0xfedd', '0xff36')]
"""
from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror, ICMPerror
from scapy.layers.l2 import ARP, Ether
from scapy.packet import NoPayload, Packet, Padding, Raw

from . import wire as w

__all__ = ["to_scapy", "field_diff", "summary", "layer_labels"]

# Fields worth reporting per layer, in the order a reader scans a header.
_FIELDS: dict[type, tuple[str, ...]] = {
    Ether: ("dst", "src", "type"),
    ARP: ("op", "hwsrc", "psrc", "hwdst", "pdst"),
    IP: ("src", "dst", "ttl", "tos", "len", "id", "flags", "frag", "proto", "ihl", "chksum", "options"),
    TCP: ("sport", "dport", "seq", "ack", "dataofs", "flags", "window", "chksum", "options"),
    UDP: ("sport", "dport", "len", "chksum"),
    ICMP: ("type", "code", "chksum", "id", "seq", "nexthopmtu"),
}
_FIELDS[IPerror] = _FIELDS[IP]
_FIELDS[TCPerror] = _FIELDS[TCP]
_FIELDS[UDPerror] = _FIELDS[UDP]
_FIELDS[ICMPerror] = _FIELDS[ICMP]




def to_scapy(frame: bytes) -> Ether:
    """The frame dissected by Scapy (IPIP's inner header shows as a second IP layer)."""
    return Ether(bytes(frame))


def _layers(pkt: Packet) -> list[tuple[str, Packet]]:
    """(label, layer) pairs; with two IP headers the outer one is labelled "IP(outer)"."""
    out: list[tuple[str, Packet]] = []
    layer = pkt
    while not isinstance(layer, NoPayload):
        if isinstance(layer, Padding):
            break
        out.append((type(layer).__name__, layer))
        layer = layer.payload
    ips = [i for i, (name, _) in enumerate(out) if name == "IP"]
    for n, i in enumerate(ips[:-1]):
        out[i] = ("IP(outer)" if n == len(ips) - 2 else f"IP(outer{len(ips) - 1 - n})", out[i][1])
    return out


def layer_labels(frame: bytes) -> list[str]:
    """Labels of the layers `field_diff` compares, outermost first (e.g. ["Ether", "IP(outer)", "IP", "TCP"])."""
    return [name for name, _ in _layers(to_scapy(frame))]


def _value(layer: Packet, field: str):
    v = layer.getfieldval(field)
    if field == "chksum" or (field == "type" and isinstance(layer, Ether)):
        return f"0x{v:04x}" if isinstance(v, int) else v
    if type(v) in (int, str):
        return v
    if isinstance(v, bytes):
        return v.hex()
    return str(v)            # addresses, flag sets, option lists


def _describe(name: str, layer: Packet) -> str:
    if isinstance(layer, (IP, IPerror)):
        return f"{layer.src} > {layer.dst} proto {layer.proto}"
    if isinstance(layer, (TCP, UDP, TCPerror, UDPerror)):
        flags = f" {layer.flags}" if isinstance(layer, (TCP, TCPerror)) else ""
        return f"{layer.sport} > {layer.dport}{flags}"
    if isinstance(layer, Raw):
        return f"{len(layer.load)} bytes"
    return layer.mysummary() if hasattr(layer, "mysummary") else name


def field_diff(before: bytes, after: bytes) -> list[tuple[str, object, object]]:
    """What changed between two versions of a frame, as (field, old, new) rows.

    Layers are matched by label; a layer only in `after` is reported as
    (label, None, description), one only in `before` as (label, description, None).
    Fields are "Layer.field" (e.g. "IP.dst", "TCP.chksum"); addresses stay dotted,
    checksums are hex strings, payload changes are reported as "Raw.len".
    """
    a = _layers(to_scapy(before))
    b = _layers(to_scapy(after))
    b_map = dict(b)
    a_map = dict(a)
    rows: list[tuple[str, object, object]] = []
    # Walk in the order of `after` so additions land where they appear, removals first.
    for name, layer in a:
        if name not in b_map:
            rows.append((name, _describe(name, layer), None))
    for name, new in b:
        old = a_map.get(name)
        if old is None:
            rows.append((name, None, _describe(name, new)))
            continue
        if type(old) is not type(new):
            rows.append((name, _describe(name, old), _describe(name, new)))
            continue
        if isinstance(new, Raw):
            if len(old.load) != len(new.load):
                rows.append(("Raw.len", len(old.load), len(new.load)))
            elif old.load != new.load:
                rows.append(("Raw.load", "changed", "changed"))
            continue
        for field in _FIELDS.get(type(new), ()):
            if field not in new.fields and field not in old.fields:
                continue
            try:
                ov, nv = _value(old, field), _value(new, field)
            except AttributeError:
                continue
            if ov != nv:
                rows.append((f"{name}.{field}", ov, nv))
    return rows


# --- one-line text, tcpdump style, straight from the bytes ------------------------------------------

_TCP_FLAG_CHARS = ((w.TH_SYN, "S"), (w.TH_FIN, "F"), (w.TH_RST, "R"), (w.TH_PSH, "P"),
                   (w.TH_URG, "U"), (w.TH_ECE, "E"), (w.TH_CWR, "W"), (w.TH_ACK, "."))

_ICMP_NAMES = {
    (w.ICMP_ECHO, None): "echo request",
    (w.ICMP_ECHOREPLY, None): "echo reply",
    (w.ICMP_DEST_UNREACH, w.ICMP_NET_UNREACH): "net unreachable",
    (w.ICMP_DEST_UNREACH, w.ICMP_HOST_UNREACH): "host unreachable",
    (w.ICMP_DEST_UNREACH, w.ICMP_PROT_UNREACH): "protocol unreachable",
    (w.ICMP_DEST_UNREACH, w.ICMP_PORT_UNREACH): "port unreachable",
    (w.ICMP_DEST_UNREACH, w.ICMP_FRAG_NEEDED): "need to frag",
    (w.ICMP_TIME_EXCEEDED, w.ICMP_EXC_TTL): "time exceeded in-transit",
    (w.ICMP_TIME_EXCEEDED, w.ICMP_EXC_FRAGTIME): "ip reassembly time exceeded",
}


def _tcp_flag_text(flags: int) -> str:
    return "".join(c for bit, c in _TCP_FLAG_CHARS if flags & bit) or "none"


def _ip_summary(d, l3: int) -> str:
    src, dst = w.ip_ntoa(w.ip_src(d, l3)), w.ip_ntoa(w.ip_dst(d, l3))
    proto = w.ip_proto(d, l3)
    ttl = w.ip_ttl(d, l3)
    l4 = w.l4_offset(d, l3)
    if w.ip_frag_offset(d, l3):
        return (f"{src} > {dst}: frag id {w.ip_id(d, l3)} offset {w.ip_frag_offset(d, l3)}"
                f"{'+' if w.ip_mf(d, l3) else ''} proto {proto}, length {w.ip_total_len(d, l3) - (l4 - l3)}")
    frag = f", frag id {w.ip_id(d, l3)} MF" if w.ip_mf(d, l3) else ""
    if proto == w.IPPROTO_TCP and len(d) >= l4 + w.TCP_HLEN:
        flags = w.tcp_flags(d, l3)
        ack = f", ack {w.tcp_ack(d, l3)}" if flags & w.TH_ACK else ""
        mss = w.tcp_option(d, w.TCPOPT_MSS, l3)
        opts = f", mss {int.from_bytes(mss, 'big')}" if mss and len(mss) == 2 else ""
        return (f"{src}.{w.l4_sport(d, l3)} > {dst}.{w.l4_dport(d, l3)}: Flags [{_tcp_flag_text(flags)}], "
                f"seq {w.tcp_seq(d, l3)}{ack}, win {w.tcp_window(d, l3)}{opts}, "
                f"length {w.tcp_payload_len(d, l3)}, ttl {ttl}{frag}")
    if proto == w.IPPROTO_UDP and len(d) >= l4 + w.UDP_HLEN:
        return (f"{src}.{w.l4_sport(d, l3)} > {dst}.{w.l4_dport(d, l3)}: UDP, "
                f"length {w.udp_payload_len(d, l3)}, ttl {ttl}{frag}")
    if proto == w.IPPROTO_ICMP and len(d) >= l4 + w.ICMP_HLEN:
        t, c = d[l4], d[l4 + 1]
        name = _ICMP_NAMES.get((t, None)) or _ICMP_NAMES.get((t, c)) or f"type {t} code {c}"
        if t in (w.ICMP_ECHO, w.ICMP_ECHOREPLY):
            name += f", id {int.from_bytes(d[l4 + 4:l4 + 6], 'big')}, seq {int.from_bytes(d[l4 + 6:l4 + 8], 'big')}"
        elif t == w.ICMP_DEST_UNREACH and c == w.ICMP_FRAG_NEEDED:
            name += f" (mtu {int.from_bytes(d[l4 + 6:l4 + 8], 'big')})"
        quoted = ""
        if t in w.ICMP_ERROR_TYPES and len(d) >= l4 + w.ICMP_HLEN + w.IP_HLEN:
            q = l4 + w.ICMP_HLEN
            quoted = f" [{w.ip_ntoa(w.ip_src(d, q))} > {w.ip_ntoa(w.ip_dst(d, q))} proto {w.ip_proto(d, q)}]"
        return f"{src} > {dst}: ICMP {name}{quoted}, ttl {ttl}"
    if proto == w.IPPROTO_IPIP and len(d) >= l4 + w.IP_HLEN:
        return f"{src} > {dst}: IPIP ttl {ttl}{frag} ({_ip_summary(d, l4)})"
    return f"{src} > {dst}: proto {proto}, length {w.ip_total_len(d, l3) - (l4 - l3)}, ttl {ttl}{frag}"


def summary(frame: bytes) -> str:
    """One readable line for a frame, in the spirit of tcpdump."""
    etype = w.eth_type(frame)
    if etype == w.ETH_P_ARP and len(frame) >= w.ETH_HLEN + w.ARP_LEN:
        op, sha, spa, tha, tpa = w.arp_fields(frame)
        if op == w.ARPOP_REQUEST:
            return f"ARP, Request who-has {w.ip_ntoa(tpa)} tell {w.ip_ntoa(spa)}"
        if op == w.ARPOP_REPLY:
            return f"ARP, Reply {w.ip_ntoa(spa)} is-at {w.mac_ntoa(sha)}"
        return f"ARP, op {op}"
    if etype == w.ETH_P_IP and len(frame) >= w.ETH_HLEN + w.IP_HLEN:
        return _ip_summary(frame, w.ETH_HLEN)
    return f"{w.mac_ntoa(w.eth_src(frame))} > {w.mac_ntoa(w.eth_dst(frame))}, ethertype 0x{etype:04x}"
