"""UDP sockets: bind, sendto, connect-filtering and ICMP errors (RFC 768, net/ipv4/udp.c).

A datagram's payload is zeros except an application "head" (leading bytes), as
for TCP.  Receivers get `(nbytes, head)` with trailing zeros stripped from head.

A socket may be *connected* (`UdpSocket.connect`), as resolvers using glibc's
res_send are: it then only accepts datagrams from that peer (udp4_lib_lookup
scores a connected socket only for its own remote address), and ICMP errors
about its datagrams reach it (an unconnected socket without IP_RECVERR is not
told).  A reply from the wrong source address therefore finds no socket and
the host answers it with ICMP port unreachable -- the UDP face of a NAT
misconfiguration.
"""
from __future__ import annotations

import struct
from typing import Callable

from ipvssim.net.tcp import LOCAL_PORT_RANGE
from ipvssim.packet.wire import IPPROTO_UDP, UDP_HLEN, payload_head, udp_datagram

__all__ = ["UdpStack", "UdpSocket"]

_I = struct.Struct("!I")
_HH = struct.Struct("!HH")
_H = struct.Struct("!H")

# on_datagram(sock, src, sport, dst, nbytes, head, flow)
DatagramCallback = Callable[["UdpSocket", int, int, int, int, bytes, object], None]
# on_error(sock, type, code, dst, dport)
ErrorCallback = Callable[["UdpSocket", int, int, int, int], None]


class UdpSocket:
    """A bound UDP port.  `addr` None means every local address (INADDR_ANY)."""
    __slots__ = ("stack", "port", "addr", "remote", "rport", "on_datagram", "on_error", "app",
                 "sent", "received")

    def __init__(self, stack: "UdpStack", port: int, addr: int | None, on_datagram, on_error):
        self.stack = stack
        self.port = port
        self.addr = addr
        self.remote: int | None = None
        self.rport = 0
        self.on_datagram = on_datagram
        self.on_error = on_error
        self.app = None                 # free slot for the application
        self.sent = 0
        self.received = 0

    def __repr__(self) -> str:
        return f"<UdpSocket :{self.port}{' connected' if self.remote is not None else ''}>"

    def connect(self, dst: int, dport: int) -> None:
        """Accept datagrams only from dst:dport and receive ICMP errors about ours."""
        self.remote, self.rport = dst, dport

    def sendto(self, dst: int, dport: int, nbytes: int, head: bytes = b"", src: int | None = None,
               flow=None) -> bool:
        """Send one datagram of `nbytes` payload bytes (`head` then zeros).

        The source is `src`, else the bound address, else the route's preferred
        source.  Returns False when there is no route (nothing was sent).
        """
        if len(head) > nbytes:
            raise ValueError(f"head ({len(head)} bytes) longer than the datagram ({nbytes})")
        host = self.stack.host
        if src is None:
            src = self.addr if self.addr is not None else host.route_source(dst)
            if src is None:
                return False
        payload = head + bytes(nbytes - len(head)) if head else bytes(nbytes)
        l4 = udp_datagram(src, dst, self.port, dport, payload)
        self.sent += 1
        host.ip_send(dst, IPPROTO_UDP, l4, src=src, flow=flow)
        return True

    def close(self) -> None:
        self.stack.unbind(self)


class UdpStack:
    """The UDP of one host: one socket per local port (no SO_REUSEPORT)."""

    def __init__(self, host):
        self.host = host
        self.ctx = host.ctx
        self.sockets: dict[int, UdpSocket] = {}

    def bind(self, port: int = 0, on_datagram: DatagramCallback | None = None,
             on_error: ErrorCallback | None = None, addr: int | None = None) -> UdpSocket:
        """Bind `port` (0: an ephemeral port, as an unbound sendto() gets).

        Raises ValueError if the port is taken (EADDRINUSE) or no ephemeral port is free.
        """
        if port == 0:
            port = self._ephemeral_port()
        elif port in self.sockets:
            raise ValueError(f"UDP port {port} already bound on {self.host.name}")
        sock = UdpSocket(self, port, addr, on_datagram, on_error)
        self.sockets[port] = sock
        return sock

    def unbind(self, sock: UdpSocket) -> None:
        if self.sockets.get(sock.port) is sock:
            del self.sockets[sock.port]

    def receive(self, pkt, l3: int, l4: int) -> bool:
        """Deliver one locally addressed datagram; False when no socket matches
        (the host then answers ICMP port unreachable)."""
        d = pkt.data
        sport, dport = _HH.unpack_from(d, l4)
        sock = self.sockets.get(dport)
        if sock is None:
            return False
        src = _I.unpack_from(d, l3 + 12)[0]
        dst = _I.unpack_from(d, l3 + 16)[0]
        if sock.addr is not None and sock.addr != dst:
            return False
        if sock.remote is not None and (sock.remote != src or sock.rport != sport):
            return False
        n = _H.unpack_from(d, l4 + 4)[0] - UDP_HLEN
        sock.received += 1
        if sock.on_datagram is not None:
            head = payload_head(d, l4 + UDP_HLEN, l4 + UDP_HLEN + n)
            sock.on_datagram(sock, src, sport, dst, n, head, pkt.flow)
        return True

    def icmp_error(self, pkt, l3: int, type: int, code: int, mtu: int = 0) -> bool:
        """An ICMP error quoting one of our datagrams (IP header at `l3` in pkt.data);
        reaches a connected socket whose peer it names (__udp4_lib_err)."""
        d = pkt.data
        l4 = l3 + ((d[l3] & 0x0F) << 2)
        if len(d) < l4 + 4:
            return False
        sport, dport = _HH.unpack_from(d, l4)
        dst = _I.unpack_from(d, l3 + 16)[0]
        sock = self.sockets.get(sport)
        if sock is None or sock.remote != dst or sock.rport != dport:
            return False
        if sock.on_error is not None:
            sock.on_error(sock, type, code, dst, dport)
        return True

    def _ephemeral_port(self) -> int:
        """A random free port in the local range, scanning upward from a random start
        (udp_lib_get_port)."""
        lo, hi = LOCAL_PORT_RANGE
        n = hi - lo + 1
        start = self.ctx.rng.randrange(n)
        for i in range(n):
            port = lo + (start + i) % n
            if port not in self.sockets:
                return port
        raise ValueError(f"no free UDP port on {self.host.name}")
