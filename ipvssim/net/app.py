"""The request/response application: a server and the client drivers that measure flows.

Protocol (docs/DESIGN.md): a request starts with the 8-byte header
`struct.pack("!II", request_len, response_len)` followed by zeros up to
request_len bytes.  The server answers with response_len bytes (zeros) once the
whole request is in.  Over TCP the client closes first after the full response
(like an HTTP/1.1 client), and the server closes when it sees the client's FIN.
Over UDP every request datagram carries the header and the response is split
into datagrams that fit the path MTU.
"""
from __future__ import annotations

import struct
from typing import Callable, Iterable

from ipvssim.net.tcp import CLOSE_WAIT, DEFAULT_MTU, ESTABLISHED, TcpSocket
from ipvssim.net.udp import UdpSocket
from ipvssim.packet.wire import IP_HLEN, UDP_HLEN

__all__ = ["ServerApp", "tcp_client", "udp_client", "REQUEST_HEADER", "HEADER_LEN",
           "UDP_TIMEOUT", "udp_chunks"]

REQUEST_HEADER = struct.Struct("!II")   # request length, response length wanted
HEADER_LEN = REQUEST_HEADER.size
UDP_TIMEOUT = 5.0                       # s a UDP client waits for the whole response

DoneCallback = Callable[[object], None]


def _route_mtu(host, dst: int) -> int:
    route_mtu = getattr(host, "route_mtu", None)
    return (route_mtu(dst) if route_mtu is not None else None) or DEFAULT_MTU


def udp_chunks(total: int, mtu: int, min_size: int = 0) -> list[int]:
    """Datagram payload sizes for `total` bytes, each fitting `mtu` unfragmented.

    Every piece is at least `min_size` bytes (room for the request header).

    >>> udp_chunks(3000, 1500)
    [1472, 1472, 56]
    >>> udp_chunks(1475, 1500, min_size=8)
    [1467, 8]
    """
    room = mtu - IP_HLEN - UDP_HLEN
    sizes = [room] * (total // room)
    if total % room or not sizes:
        sizes.append(total % room)
    if len(sizes) > 1 and sizes[-1] < min_size:
        sizes[-2] -= min_size - sizes[-1]
        sizes[-1] = min_size
    return sizes


class _TcpRequest:
    """Server-side state of one TCP connection: the request being read."""
    __slots__ = ("got", "hdr", "request_len", "response_len")

    def __init__(self):
        self.next_request()

    def next_request(self) -> None:
        self.got = 0                        # bytes of the current request read so far
        self.hdr = bytearray()
        self.request_len: int | None = None
        self.response_len = 0


class ServerApp:
    """Answers the request/response protocol on the given (protocol, port) pairs.

    UDP replies leave from the address the request was sent to (as a server bound
    to each local address does), so a real server answering for a VIP on its
    loopback replies from the VIP.

    >>> # ServerApp(host, listen=[("tcp", 80), ("udp", 53)])
    """

    def __init__(self, host, listen: Iterable[tuple[str, int]] = (("tcp", 80),)):
        self.host = host
        self.env = host.ctx.env
        self.connections = 0            # TCP connections accepted
        self.requests = 0               # requests answered (TCP and UDP)
        self.udp_pending: dict[tuple[int, int, int], list[int]] = {}   # (src, sport, dst) -> [got, resp]
        self._on_tcp_data = self._tcp_data  # one bound method for every accepted socket
        for proto, port in listen:
            if proto == "tcp":
                host.tcp.listen(port, self._accept)
            elif proto == "udp":
                host.udp.bind(port, self._datagram)
            else:
                raise ValueError(f"unknown protocol {proto!r}")

    def _served(self, flow) -> None:
        self.requests += 1
        if flow is not None:
            flow.served_by = self.host.name
            if flow.real_server is None:     # no director picked it (e.g. ARP bypass)
                flow.real_server = self.host.name

    # --- TCP -----------------------------------------------------------------------------------

    def _accept(self, sock: TcpSocket) -> None:
        self.connections += 1
        sock.app = _TcpRequest()
        sock.on_data = self._on_tcp_data

    def _tcp_data(self, sock: TcpSocket, n: int, head: bytes) -> None:
        if n == 0:
            sock.close()                # the client closed: close our half too
            return
        st: _TcpRequest = sock.app
        # A chunk may hold the end of one request and the header of the next
        # (`head` is the chunk's bytes with trailing zeros stripped).
        off = 0
        while off < n:
            if st.request_len is None:
                take = min(HEADER_LEN - len(st.hdr), n - off)
                part = head[off:off + take]
                st.hdr += part
                st.hdr += bytes(take - len(part))
                if len(st.hdr) == HEADER_LEN:
                    request_len, st.response_len = REQUEST_HEADER.unpack(st.hdr)
                    st.request_len = max(request_len, HEADER_LEN)
            else:
                take = min(st.request_len - st.got, n - off)
            st.got += take
            off += take
            if st.request_len is not None and st.got >= st.request_len:
                self._served(sock.flow)
                sock.send(st.response_len)
                st.next_request()

    # --- UDP -----------------------------------------------------------------------------------

    def _datagram(self, sock: UdpSocket, src: int, sport: int, dst: int, n: int, head: bytes,
                  flow) -> None:
        if n < HEADER_LEN:
            return                      # not our protocol
        request_len, response_len = REQUEST_HEADER.unpack((head + bytes(HEADER_LEN))[:HEADER_LEN])
        key = (src, sport, dst)
        st = self.udp_pending.get(key)
        if st is None:
            st = self.udp_pending[key] = [0, response_len]
        st[0] += n
        if st[0] < request_len:
            return
        del self.udp_pending[key]
        self._served(flow)
        for size in udp_chunks(response_len, _route_mtu(self.host, src)) if response_len else ():
            sock.sendto(src, sport, size, src=dst, flow=flow)


# --- client drivers ---------------------------------------------------------------------------------

def _conclude(env, flow, failure: str | None, on_done) -> None:
    """End a client connection: the flow succeeds (failure None) or fails, then on_done."""
    if failure is None:
        flow.succeed(env.now)
    else:
        flow.fail(env.now, failure)
    if on_done is not None:
        on_done(flow)


class _TcpClient:
    """One client connection: `requests` request/response exchanges, `think` s apart.

    It is its socket's `app`; the socket's callbacks are the static methods `connected`,
    `data` and `closed`, the same functions for every client -- not three bound methods
    made per connection (and kept, for the collector to walk, through TIME_WAIT).
    """
    __slots__ = ("env", "flow", "request", "response", "requests", "think", "on_done", "done",
                 "answered", "got")

    def __init__(self, env, flow, request: int, response: int, on_done, requests: int = 1,
                 think: float = 0.0):
        self.env, self.flow, self.request, self.response = env, flow, request, response
        self.requests, self.think = requests, think
        self.on_done = on_done
        self.done = False
        self.answered = 0               # responses received in full
        self.got = 0                    # bytes of the current response

    @staticmethod
    def connected(sock: TcpSocket) -> None:
        sock.app._ask(sock)

    def _ask(self, sock: TcpSocket) -> None:
        if self.done or sock.state not in (ESTABLISHED, CLOSE_WAIT):
            return                      # the connection died while we were thinking
        sock.send(self.request, REQUEST_HEADER.pack(self.request, self.response))
        if self.response == 0:
            # nothing comes back: the exchange is over once the request is queued
            self._answered(sock)

    @staticmethod
    def data(sock: TcpSocket, n: int, head: bytes) -> None:
        if n == 0:
            sock.close()                # the server closed first (early or after an error)
            return
        client: _TcpClient = sock.app
        client.flow.received += n
        client.got += n
        if not client.done and client.got >= client.response:
            client._answered(sock)

    def _answered(self, sock: TcpSocket) -> None:
        self.answered += 1
        self.got = 0
        if self.answered >= self.requests:
            sock.close()
            self._finish(None)
        elif self.think > 0:
            ev = self.env.timeout(self.think)
            ev.callbacks.append(lambda _ev: self._ask(sock))
        else:
            self._ask(sock)

    @staticmethod
    def closed(sock: TcpSocket, reason: str) -> None:
        client: _TcpClient = sock.app
        if client.done:
            return
        if reason == "closed":
            client._finish(None if client.answered >= client.requests else "closed")
            return
        if reason == "reset":
            client.flow.resets += 1
        client._finish(reason)

    def _finish(self, failure: str | None) -> None:
        self.done = True
        _conclude(self.env, self.flow, failure, self.on_done)


def tcp_client(host, dst: int, dport: int, request: int, response: int, flow,
               on_done: DoneCallback | None = None, requests: int = 1, think: float = 0.0,
               sport: int | None = None) -> TcpSocket:
    """Open a TCP connection, make `requests` request/response exchanges, close.

    Requests shorter than the 8-byte header are sent as 8 bytes.  Response bytes
    are counted into `flow.received`; after each full response the client waits
    `think` seconds (idle connection) before the next request; after the last it
    closes and the flow succeeds -- or fails with the socket's reason ("reset",
    "timeout", "unreachable", "port-in-use" ...).  `sport` binds a fixed client
    port.  `on_done(flow)` is called once either way.
    """
    c = _TcpClient(host.ctx.env, flow, max(request, HEADER_LEN), response, on_done, requests, think)
    return host.tcp.connect(dst, dport, flow, on_connected=_TcpClient.connected,
                            on_data=_TcpClient.data, on_closed=_TcpClient.closed, sport=sport,
                            app=c)


class _UdpClient:
    __slots__ = ("env", "flow", "response", "on_done", "done", "sock")

    def __init__(self, env, flow, response: int, on_done):
        self.env, self.flow, self.response, self.on_done = env, flow, response, on_done
        self.done = False
        self.sock: UdpSocket | None = None

    def datagram(self, sock, src, sport, dst, n, head, flow) -> None:
        self.flow.received += n
        if self.flow.received >= self.response:
            self._finish(None)

    def error(self, sock, type, code, dst, dport) -> None:
        self._finish("icmp-unreachable")

    def timeout(self, _ev) -> None:
        self._finish("timeout")

    def _finish(self, failure: str | None) -> None:
        if self.done:
            return
        self.done = True
        self.sock.close()
        _conclude(self.env, self.flow, failure, self.on_done)


def udp_client(host, dst: int, dport: int, request: int, response: int, flow,
               on_done: DoneCallback | None = None, timeout: float = UDP_TIMEOUT,
               sport: int | None = None) -> UdpSocket | None:
    """Send the request datagram(s) from a connected ephemeral socket and wait for the response.

    The request is split to fit the route MTU, each datagram starting with the
    header.  Success when `response` bytes have arrived; failure "timeout" after
    `timeout` seconds (no retries) or "icmp-unreachable" on an ICMP error.
    `sport` sends from a fixed port (fails "port-in-use" while it is bound).
    `on_done(flow)` is called once either way.
    """
    env = host.ctx.env
    request = max(request, HEADER_LEN)
    c = _UdpClient(env, flow, response, on_done)
    try:
        sock = c.sock = host.udp.bind(sport or 0, c.datagram, c.error)
    except ValueError:                  # EADDRINUSE: the fixed port is still bound
        _conclude(env, flow, "port-in-use", on_done)
        return None
    sock.connect(dst, dport)
    head = REQUEST_HEADER.pack(request, response)
    for size in udp_chunks(request, _route_mtu(host, dst), HEADER_LEN):
        if not sock.sendto(dst, dport, size, head, flow=flow):
            c._finish("no-route")
            return sock
    if response == 0:
        c._finish(None)                 # fire and forget: nothing will come back
    else:
        ev = env.timeout(timeout)
        ev.callbacks.append(c.timeout)
    return sock
