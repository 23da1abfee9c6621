"""Full NAT (DPVS/Alibaba LVS ``-b``, "FullNat"): both addresses and ports rewritten.

Request (client -> RS): src CIP:cport -> LIP:lport, dst VIP:vport -> RIP:rport,
TTL-1.  Reply (RS -> LIP:lport, arriving at the director's LOCAL_IN because the
LIP is local): src RIP:rport -> VIP:vport, dst LIP:lport -> CIP:cport, TTL-1
(the director routes it on like any forwarded packet).

Client address for the RS: the TOA option (kind 254, length 8: client port and
IPv4 address in network order).  DPVS (src/ipvs/ip_vs_proto_tcp.c
tcp_fnat_in_handler) inserts it into every client packet whose ACK number is
the RS's ISN + 1 and that is neither SYN nor RST -- the handshake's final ACK
and the data sent before the RS's first byte arrives -- when the TCP header
has 8 bytes of room and the packet still fits the route MTU.  The RS's ISN comes
from its SYN-ACK (tcp_out_init_seq), whose MSS option is lowered by 8 so that
full-sized client segments still fit with TOA (tcp_out_adjust_mss).
ipvssim places the option after the existing ones (`wire.tcp_add_option`),
DPVS right after the fixed header; a TOA reader scans all options either way.

Not modelled: DPVS's sequence-number randomisation and timestamp removal on
the SYN, SYN proxy, UOA for UDP.
"""
from __future__ import annotations

import struct
from collections import deque
from typing import Sequence

from ipvssim.ipvs.modes import (
    TTL_EXCEEDED,
    IcmpNeeded,
    decrement_ttl,
    rewrite_addresses,
)
from ipvssim.packet import wire

__all__ = ["request", "reply", "toa_option", "LocalAddressPool", "IcmpNeeded",
           "PORT_MIN", "PORT_MAX"]

# DPVS src/sa_pool.c DEF_MIN_PORT / DEF_MAX_PORT: the local ports FULLNAT lends out.
PORT_MIN = 1025
PORT_MAX = 65535

_TOA = struct.Struct("!BBHI")
_SYN_ACK = wire.TH_SYN | wire.TH_ACK
_NO_TOA = wire.TH_SYN | wire.TH_RST        # packets DPVS never gives a TOA
_TCP = wire.IPPROTO_TCP
_L3 = wire.ETH_HLEN
_TOA_LEN = wire.TCPOLEN_TOA
_U32 = struct.Struct("!I").unpack_from


def toa_option(cport: int, caddr: int) -> bytes:
    """The 8-byte TOA option: kind 254, length 8, client port, client IPv4 address."""
    return _TOA.pack(wire.TCPOPT_TOA, wire.TCPOLEN_TOA, cport, caddr)


def request(frame: bytearray, conn, route_mtu: int | None = None) -> bytearray | IcmpNeeded:
    """Rewrite a client packet toward the RS; returns the frame to send (new when TOA grew it).

    ``route_mtu``: MTU of the route to the RS; TOA is not added when it would
    push the packet past it (DPVS EDPVS_FRAG).  None = no limit.
    """
    if frame[_L3 + 8] <= 1:                  # the TTL: decrement_ttl()'s refusal, checked first
        return TTL_EXCEEDED
    fdata_seq = conn.fdata_seq
    if fdata_seq is not None and frame[_L3 + 9] == _TCP:
        # Every client packet after the RS's SYN-ACK is looked at, and almost none gets
        # a TOA: the TCP flags, ACK number and data offset and the IP total length are
        # read in place (wire.tcp_flags, tcp_ack, tcp_hlen, ip_total_len inlined).
        l4 = _L3 + ((frame[_L3] & 0x0F) << 2)
        if (not frame[l4 + 13] & _NO_TOA
                and _U32(frame, l4 + 8)[0] == fdata_seq
                and ((frame[l4 + 12] >> 4) << 2) + _TOA_LEN <= wire.TCP_MAX_HLEN
                and (route_mtu is None
                     or (frame[_L3 + 2] << 8 | frame[_L3 + 3]) + _TOA_LEN <= route_mtu)):
            decrement_ttl(frame)
            frame = wire.tcp_add_option(frame, toa_option(conn.cport, conn.caddr), _L3)
            conn.first_ack_done = True
            rewrite_addresses(frame, sport=conn.lport, dport=conn.dport, saddr=conn.laddr,
                              daddr=conn.daddr)
            return frame
    # The usual packet: TTL-1 and the rewrite in one pass.
    rewrite_addresses(frame, sport=conn.lport, dport=conn.dport, saddr=conn.laddr, daddr=conn.daddr,
                      dec_ttl=True)
    return frame


def reply(frame: bytearray, conn) -> bytearray | IcmpNeeded:
    """Rewrite an RS packet back to the client in place; returns `frame` or time exceeded."""
    if frame[_L3 + 8] <= 1:                  # the TTL: decrement_ttl()'s refusal, checked first
        return TTL_EXCEEDED
    if frame[_L3 + 9] == _TCP and frame[_L3 + ((frame[_L3] & 0x0F) << 2) + 13] & _SYN_ACK == _SYN_ACK:
        # The RS's SYN-ACK, once per connection: remember its ISN and make room for TOA.
        decrement_ttl(frame)
        conn.fdata_seq = (wire.tcp_seq(frame, _L3) + 1) & 0xFFFFFFFF
        _lower_mss(frame, _L3, _TOA_LEN)
        rewrite_addresses(frame, sport=conn.vport, dport=conn.cport, saddr=conn.vaddr,
                          daddr=conn.caddr)
        return frame
    # The usual packet: TTL-1 and the rewrite in one pass.
    rewrite_addresses(frame, sport=conn.vport, dport=conn.cport, saddr=conn.vaddr, daddr=conn.caddr,
                      dec_ttl=True)
    return frame


def _lower_mss(frame: bytearray, l3: int, by: int) -> None:
    """Reduce the MSS option value by `by`, patching the TCP checksum (RFC 1624)."""
    l4 = wire.l4_offset(frame, l3)
    end = l4 + wire.tcp_hlen(frame, l3)
    i = l4 + wire.TCP_HLEN
    while i < end:
        kind = frame[i]
        if kind == wire.TCPOPT_EOL:
            return
        if kind == wire.TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end or frame[i + 1] < 2:
            return                          # malformed options: leave them alone
        size = frame[i + 1]
        if kind == wire.TCPOPT_MSS and size == wire.TCPOLEN_MSS:
            old = int.from_bytes(frame[i + 2:i + 4], "big")
            new = max(old - by, 0)
            frame[i + 2:i + 4] = new.to_bytes(2, "big")
            csum = int.from_bytes(frame[l4 + 16:l4 + 18], "big")
            frame[l4 + 16:l4 + 18] = wire.csum_replace2(csum, old, new).to_bytes(2, "big")
            return
        i += size


class LocalAddressPool:
    """The FULLNAT local addresses of a service and the ports lent out on each.

    A local address:port pair must be unique per real server (the reply's
    4-tuple is RIP:rport -> LIP:lport), so ports are counted per (LIP, RIP,
    rport, protocol), as DPVS's sa_pool does per destination.  Addresses are
    tried round robin from the one after the last used (dp_vs_laddr_bind); on
    each, ports come in ascending order first and then in the order they were
    given back (a FIFO free list).

    >>> pool = LocalAddressPool([0x0A000A01, 0x0A000A02], ports=(5000, 5001))
    >>> [pool.allocate(0x0A000102, 80) for _ in range(5)]
    [(167774721, 5000), (167774722, 5000), (167774721, 5001), (167774722, 5001), None]
    """

    def __init__(self, addresses: Sequence[int], ports: tuple[int, int] = (PORT_MIN, PORT_MAX)):
        if not addresses:
            raise ValueError("a FULLNAT pool needs at least one local address")
        lo, hi = ports
        if not 0 < lo <= hi <= 65535:
            raise ValueError(f"bad port range {ports}")
        self.addresses = tuple(addresses)
        self.port_min, self.port_max = lo, hi
        self._next = 0
        # (laddr, rip, rport, proto) -> [next never-used port, deque of released ports, in use]
        self._state: dict[tuple[int, int, int, int], list] = {}
        self.in_use = 0
        self.failures = 0

    def allocate(self, rip: int, rport: int, proto: int = wire.IPPROTO_TCP) -> tuple[int, int] | None:
        """A free (laddr, lport) toward rip:rport, or None when every address is exhausted."""
        n = len(self.addresses)
        for k in range(n):
            i = (self._next + k) % n
            laddr = self.addresses[i]
            key = (laddr, rip, rport, proto)
            st = self._state.get(key)
            if st is None:
                st = self._state[key] = [self.port_min, deque(), 0]
            if st[0] <= self.port_max:
                port = st[0]
                st[0] += 1
            elif st[1]:
                port = st[1].popleft()
            else:
                continue
            st[2] += 1
            self.in_use += 1
            self._next = (i + 1) % n
            return laddr, port
        self.failures += 1
        return None

    def release(self, laddr: int, lport: int, rip: int, rport: int, proto: int = wire.IPPROTO_TCP) -> None:
        """Give a pair back (the connection entry expired)."""
        st = self._state[(laddr, rip, rport, proto)]
        st[1].append(lport)
        st[2] -= 1
        self.in_use -= 1

    def available(self, rip: int, rport: int, proto: int = wire.IPPROTO_TCP) -> int:
        """Pairs still free toward rip:rport."""
        per = self.port_max - self.port_min + 1
        used = 0
        for laddr in self.addresses:
            st = self._state.get((laddr, rip, rport, proto))
            used += st[2] if st is not None else 0
        return per * len(self.addresses) - used
