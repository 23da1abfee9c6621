"""A Linux-like TCP: enough of it to make a load balancer's behaviour show.

What is modelled (and why it matters to IPVS scenarios): the three-way handshake
with the MSS option, SYN/SYN-ACK retransmission with Linux's retry counts (a
black-holed RS looks like a 127 s connect timeout), RST for segments that match
no socket (a NAT reply coming back from the RIP is reset by the client), slow
start / congestion avoidance / NewReno fast recovery / RFC 6298 RTO with Linux's
floor, delayed ACKs, FIN teardown in both directions and TIME_WAIT.

Deliberate simplifications (each documented where it lives):

* Options: the SYN and SYN-ACK carry only MSS -- no SACK, timestamps or window
  scaling.  The receive window is a fixed 65535 bytes, as an application that
  reads everything at once would advertise without scaling.
* No Nagle (each `send` is a whole message; Linux's Minshall variant would send
  such writes the same way), no quick-ack mode, no accept queue, no keepalive.
* Payload bytes are zeros except for application "heads" (see `TcpSocket.send`):
  a stream is its length plus a few leading bytes per message.

Sequence numbers are kept as offsets from the initial sequence numbers (the SYN
is offset 0, data byte i is offset i + 1), unbounded Python ints; they are
mapped to 32-bit wire values only when a segment is built or read.

The Host calls `TcpStack.receive` for locally addressed TCP and does the packet's
ledger bookkeeping from its return value (True: a socket or listener consumed it;
False: no socket, the stack already answered with RST where RFC 9293 says so).
"""
from __future__ import annotations

import struct
from typing import Callable

from ipvssim.packet.wire import (
    ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_PARAMETERPROB, ICMP_TIME_EXCEEDED, IPPROTO_TCP,
    TCP_HLEN, TCPOPT_MSS, TH_ACK, TH_FIN, TH_PSH, TH_RST, TH_SYN, TcpFrameTemplate, ip_ntoa,
    payload_head, tcp_mss_option, tcp_segment,
)
from ipvssim.net.events import FAR_DELAY, call_later

__all__ = [
    "TcpStack", "TcpSocket", "Timer",
    "TCP_INIT_CWND", "TCP_TIMEOUT_INIT", "TCP_TIMEOUT_FALLBACK", "TCP_RTO_MIN", "TCP_RTO_MAX",
    "TCP_SYN_RETRIES", "TCP_SYNACK_RETRIES", "TCP_RETRIES2", "TCP_TIMEWAIT_LEN", "TCP_FIN_TIMEOUT",
    "TCP_DELACK_MIN", "TCP_MSS_DEFAULT", "LOCAL_PORT_RANGE", "RCV_WINDOW", "DEFAULT_MTU",
    "CLOSED", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSING",
    "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK",
]

# --- Linux defaults (include/net/tcp.h, Documentation/networking/ip-sysctl.rst) -------------
TCP_INIT_CWND = 10              # segments (RFC 6928, include/net/tcp.h)
TCP_TIMEOUT_INIT = 1.0          # initial RTO, s (RFC 6298 2.1)
TCP_TIMEOUT_FALLBACK = 3.0      # RTO after a lost SYN/SYN-ACK without an RTT sample (RFC 6298 5.7)
TCP_RTO_MIN = 0.2               # s; Linux's floor, not the RFC's 1 s
TCP_RTO_MAX = 120.0             # s
TCP_SYN_RETRIES = 6             # net.ipv4.tcp_syn_retries: SYNs at 0,1,3,7,15,31,63 s, give up at 127 s
TCP_SYNACK_RETRIES = 5          # net.ipv4.tcp_synack_retries
TCP_RETRIES2 = 15               # net.ipv4.tcp_retries2 (counted in retransmissions here)
TCP_TIMEWAIT_LEN = 60.0         # s
TCP_FIN_TIMEOUT = 60.0          # net.ipv4.tcp_fin_timeout: orphaned FIN_WAIT2 lifetime, s
TCP_DELACK_MIN = 0.04           # s; delayed-ACK timer (include/net/tcp.h TCP_DELACK_MIN = HZ/25)
TCP_MSS_DEFAULT = 536           # assumed when the peer sends no MSS option (RFC 9293 3.7.1)
LOCAL_PORT_RANGE = (32768, 60999)   # net.ipv4.ip_local_port_range
RCV_WINDOW = 65535              # fixed advertised window (no window scaling)
DEFAULT_MTU = 1500
IP_TCP_HLEN = 40                # IPv4 + TCP headers without options: MSS = MTU - 40

CLOSED, SYN_SENT, SYN_RECV, ESTABLISHED = "CLOSED", "SYN_SENT", "SYN_RECV", "ESTABLISHED"
FIN_WAIT1, FIN_WAIT2, CLOSING, TIME_WAIT = "FIN_WAIT1", "FIN_WAIT2", "CLOSING", "TIME_WAIT"
CLOSE_WAIT, LAST_ACK = "CLOSE_WAIT", "LAST_ACK"

_SEND_STATES = frozenset({ESTABLISHED, CLOSE_WAIT, FIN_WAIT1, LAST_ACK, CLOSING})
_RECV_STATES = frozenset({ESTABLISHED, FIN_WAIT1, FIN_WAIT2})
_RST_SYN_ACK = TH_RST | TH_SYN | TH_ACK
_MASK = 0xFFFFFFFF
_HALF = 1 << 31
_HH = struct.Struct("!HH")
_II = struct.Struct("!II")
_TCP_FIELDS = struct.Struct("!HHIIBB")     # ports, seq, ack, data offset, flags: one read per segment
# The IP total length and addresses too, when no IP options lie between: one read.
_IP_TCP_FIELDS = struct.Struct("!H8xIIHHIIBB")
_I = struct.Struct("!I")
_H = struct.Struct("!H")


class Timer:
    """A restartable one-shot timer on a simpy environment without a process per arm.

    Re-arming for a later deadline keeps the already scheduled event and lets it
    re-schedule itself when it fires early (most RTO restarts push the deadline
    later, so the event queue holds one entry per timer, not one per ACK).
    Arming for an earlier deadline schedules a new event; the stale one is
    recognised by identity and ignored.  Given `far` (the run's `FarEvents`), events
    at least FAR_DELAY ahead are scheduled there, off the main event heap.

    On expiry it calls ``fn(owner)``: a function and its owner rather than a bound
    method, one object less per timer for the garbage collector to walk (a run keeps
    thousands of sockets, two timers each, in TIME_WAIT).
    """
    __slots__ = ("env", "fn", "owner", "far", "deadline", "_ev", "_ev_at")

    def __init__(self, env, fn: Callable[[object], None], owner=None, far=None):
        self.env = env
        self.fn = fn
        self.owner = owner
        self.far = far
        self.deadline: float | None = None
        self._ev = None
        self._ev_at = 0.0

    @property
    def active(self) -> bool:
        return self.deadline is not None

    def set(self, delay: float) -> None:
        """(Re)arm to fire `delay` seconds from now."""
        self.deadline = deadline = self.env._now + delay
        if self._ev is None or self._ev_at > deadline:
            self._schedule(delay)

    def cancel(self) -> None:
        self.deadline = None

    def _schedule(self, delay: float) -> None:
        # The event's value is the timer itself, so that one callbacks list serves every
        # timer event (no list and bound method made per event: ~6 per connection).
        if self.far is not None and delay >= FAR_DELAY:
            self._ev = self.far.schedule(delay, self, _TIMER_CALLBACKS)
        else:
            self._ev = call_later(self.env, delay, self, Timer._fire)
        self._ev_at = self.env._now + delay

    @staticmethod
    def _fire(ev) -> None:
        """One of a timer's events is due (the event's value is the timer)."""
        timer: Timer = ev._value
        if ev is not timer._ev:
            return                      # stale: the timer was re-armed for an earlier time
        timer._ev = None
        if timer.deadline is None:
            return
        remaining = timer.deadline - timer.env._now
        # Deadlines set as now+delay can differ from the event time by a rounding ulp.
        if remaining > 1e-12:
            timer._schedule(remaining)
            return
        timer.deadline = None
        timer.fn(timer.owner)


# The callbacks of every timer event on the far heap (see Timer._schedule).
_TIMER_CALLBACKS = [Timer._fire]


def _peer_mss(d, l4: int) -> int:
    """The MSS option of a SYN (RFC 9293 3.7.1), or 536 when there is none."""
    end = l4 + ((d[l4 + 12] >> 4) << 2)
    i = l4 + TCP_HLEN
    while i < end:
        kind = d[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end or d[i + 1] < 2:
            break
        if kind == TCPOPT_MSS and d[i + 1] == 4:
            return _H.unpack_from(d, i + 2)[0]
        i += d[i + 1]
    return TCP_MSS_DEFAULT


class TcpSocket:
    """One TCP connection endpoint.

    Callbacks (set by `TcpStack.connect` or by the listener's `on_accept`):
    `on_connected(sock)` when the handshake completes (active open);
    `on_data(sock, nbytes, head)` for in-order bytes, `head` being those bytes with
    trailing zeros stripped (the rest are zeros); `nbytes == 0` means the peer sent
    FIN (end of stream, like `recv()` returning 0);
    `on_closed(sock, reason)` exactly once: "closed" (both FINs exchanged),
    "reset", "timeout", "unreachable" (ICMP error during the handshake) or
    "no-route"/"no-port" (connect failed locally).
    """

    __slots__ = (
        "stack", "env", "local", "lport", "remote", "rport", "flow", "state",
        "on_connected", "on_data", "on_closed", "on_accept", "app",
        "iss", "irs", "snd_una", "snd_nxt", "snd_max", "data_end", "fin_off", "heads",
        "rcv_nxt", "ooo", "unacked", "mss", "adv_mss",
        "cwnd", "ssthresh", "dupacks", "in_recovery", "recover",
        "srtt", "rttvar", "rto", "backoff", "retries", "rtt_seq", "rtt_time", "syn_time",
        "rtx", "dack", "closed_reported",
        "segs_out", "retrans", "segs_in", "host", "_iface", "_nexthop", "_template", "_route_gen",
    )

    def __init__(self, stack: "TcpStack", local: int, lport: int, remote: int, rport: int, flow):
        self.stack = stack
        self.host = stack.host
        self.env = stack.env
        # The route toward the peer as of _route_gen: interface, next hop and the frame
        # template (None: no route).  Three slots, not a tuple: one object less per socket.
        self._iface = None
        self._nexthop = 0
        self._template: TcpFrameTemplate | None = None
        self._route_gen = -1
        self.local, self.lport, self.remote, self.rport = local, lport, remote, rport
        self.flow = flow
        self.state = CLOSED
        self.on_connected = None
        self.on_data = None
        self.on_closed = None
        self.on_accept = None
        self.app = None                 # free slot for the application's per-connection state
        self.iss = 0
        self.irs = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self.snd_max = 0                # highest offset ever sent (snd_nxt goes back after an RTO)
        self.data_end = 1               # offset after the last byte written by the app
        self.fin_off: int | None = None  # offset of our FIN once the app closed
        # (stream offset, non-zero leading bytes); None until the first head (most sockets
        # send none, and a run keeps thousands of sockets in TIME_WAIT).
        self.heads: list[tuple[int, bytes]] | None = None
        self.rcv_nxt = 0
        # (offset, length, head, fin), sorted; None until a segment arrives out of order.
        self.ooo: list[tuple[int, int, bytes, bool]] | None = None
        self.unacked = 0                # bytes received since our last ACK (delayed-ACK rule)
        self.adv_mss = stack.mss_for(remote)
        self.mss = self.adv_mss         # effective send MSS: min(ours, peer's)
        self.cwnd = TCP_INIT_CWND * self.mss
        self.ssthresh = 1 << 62         # "infinite" until the first loss (TCP_INFINITE_SSTHRESH)
        self.dupacks = 0
        self.in_recovery = False
        self.recover = 0
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = TCP_TIMEOUT_INIT
        self.backoff = 0
        self.retries = 0
        self.rtt_seq: int | None = None
        self.rtt_time = 0.0
        self.syn_time = 0.0
        self.rtx = Timer(self.env, TcpSocket._on_rtx_timer, self, stack.ctx.far)
        self.dack = Timer(self.env, TcpSocket._on_dack_timer, self, stack.ctx.far)
        self.closed_reported = False
        self.segs_out = 0               # segments sent (all kinds)
        self.retrans = 0                # segments retransmitted
        self.segs_in = 0                # segments received

    def __repr__(self) -> str:
        return (f"<TcpSocket {ip_ntoa(self.local)}:{self.lport} -> "
                f"{ip_ntoa(self.remote)}:{self.rport} {self.state}>")

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.local, self.lport, self.remote, self.rport)

    @property
    def bytes_acked(self) -> int:
        """Application bytes the peer has acknowledged."""
        return max(0, min(self.snd_una, self.data_end) - 1)

    # --- application interface ---------------------------------------------------------

    def send(self, nbytes: int, head: bytes = b"") -> None:
        """Queue `nbytes` stream bytes: `head` first, then zeros.

        Allowed from SYN_SENT on (sent once established) until `close`.
        """
        if nbytes <= 0:
            return
        if self.fin_off is not None or self.state not in (SYN_SENT, SYN_RECV, ESTABLISHED, CLOSE_WAIT):
            raise ValueError(f"send on a socket in {self.state}" + (" after close" if self.fin_off else ""))
        if len(head) > nbytes:
            raise ValueError(f"head ({len(head)} bytes) longer than the message ({nbytes})")
        if head:
            if self.heads is None:
                self.heads = []
            self.heads.append((self.data_end - 1, bytes(head)))
        self.data_end += nbytes
        self._push()

    def close(self) -> None:
        """Send FIN after the queued data (active close, or the second half of a passive one)."""
        state = self.state
        if state in (ESTABLISHED, SYN_RECV):
            self.state = FIN_WAIT1
        elif state == CLOSE_WAIT:
            self.state = LAST_ACK
        elif state == SYN_SENT:
            self._finish(None)          # nothing sent that needs a FIN; no callback asked for
            return
        else:
            return
        self.fin_off = self.data_end
        self._push()

    def abort(self) -> None:
        """Send RST and drop the connection (SO_LINGER 0 close)."""
        if self.state not in (CLOSED, SYN_SENT, TIME_WAIT):
            self._emit(self.snd_max, TH_RST | TH_ACK)
        self._finish(None)

    # --- segment output ----------------------------------------------------------------------

    def _emit(self, seq_off: int, flags: int, paylen: int = 0, head: bytes = b"",
              options: bytes = b"") -> None:
        """Send one segment: `paylen` payload bytes, `head` then zeros."""
        # seq and ack as offsets plus the initial numbers: frame() and tcp_segment() wrap them
        # to 32 bits.
        ack = 0
        if flags & TH_ACK:
            ack = self.irs + self.rcv_nxt
            self.unacked = 0
            self.dack.deadline = None   # dack.cancel(): this segment carries the ACK
        self.segs_out += 1
        seq = self.iss + seq_off
        host = self.host
        # The route toward the peer, kept until the host's routes or addresses change
        # (the kernel's sk_dst_cache): no lookup per segment.
        if self._route_gen != host.route_gen:
            self._route_gen = host.route_gen
            route = host.output_route(self.remote)
            if route is None:
                self._template = None
            else:
                self._iface, self._nexthop = route[0], route[1]
                self._template = TcpFrameTemplate(route[0].mac, self.local, self.remote,
                                                  self.lport, self.rport, RCV_WINDOW)
        template = self._template
        if template is None:
            # ip_send puts the attempt on the books and drops it "no-route".
            l4 = tcp_segment(self.local, self.remote, self.lport, self.rport, seq, ack, flags,
                             RCV_WINDOW, options, head + bytes(paylen - len(head)))
            host.ip_send(self.remote, IPPROTO_TCP, l4, src=self.local, flow=self.flow)
            return
        frame = template.frame(seq, ack, flags, options, head, paylen, host.next_ip_id())
        host.send_built(frame, self._iface, self._nexthop, self.flow)

    def _ack_now(self) -> None:
        # snd_max, not snd_nxt: after an RTO snd_nxt is rewound (tcp_acceptable_seq).
        self._emit(self.snd_max, TH_ACK)

    def _send_syn(self) -> None:
        flags = TH_SYN if self.state == SYN_SENT else TH_SYN | TH_ACK
        self._emit(0, flags, options=tcp_mss_option(self.adv_mss))

    def _payload_head(self, start: int, n: int) -> bytes:
        """The leading bytes of stream range [start, start+n) up to the end of the last head
        in it, zeros between heads; the rest of the range is zeros."""
        buf = None
        end = start + n
        for hs, hb in self.heads:
            he = hs + len(hb)
            if he <= start or hs >= end:
                continue
            a, b = max(hs, start), min(he, end)
            if buf is None:
                buf = bytearray(b - start)
            elif len(buf) < b - start:
                buf.extend(bytes(b - start - len(buf)))
            buf[a - start:b - start] = hb[a - hs:b - hs]
        return b"" if buf is None else bytes(buf)

    def _xmit(self, off: int, n: int) -> int:
        """Send the segment of `n` data bytes at sequence offset `off` (n = `_data_len(off)`),
        with FIN when that is next; returns the sequence space it used."""
        flags = TH_ACK
        if n and off + n == self.data_end:
            flags |= TH_PSH             # last segment of what the app wrote (tcp_push)
        used = n
        if self.fin_off is not None and off + n == self.fin_off:
            flags |= TH_FIN
            used += 1
        self._emit(off, flags, n, self._payload_head(off - 1, n) if n and self.heads else b"")
        return used

    def _push(self) -> None:
        """Send new segments while the congestion and receive windows allow."""
        if self.state not in _SEND_STATES:
            return
        end = self.data_end if self.fin_off is None else self.fin_off + 1
        if self.snd_nxt >= end:
            return                      # nothing new (most calls: an ACK of what is in flight)
        wnd = self.cwnd
        if wnd > RCV_WINDOW:
            wnd = RCV_WINDOW
        now = self.env._now
        while self.snd_nxt < end:
            off = self.snd_nxt
            n = self._data_len(off)
            # Whole segments only (no silly small ones), but always one when nothing is in
            # flight; a lone FIN goes regardless of cwnd (tcp_cwnd_test).
            if n and off > self.snd_una and off + n - self.snd_una > wnd:
                break
            used = self._xmit(off, n)
            if off < self.snd_max:
                self.retrans += 1
            elif self.rtt_seq is None:
                self.rtt_seq, self.rtt_time = off + used, now
            self.snd_nxt = off + used
            if self.snd_nxt > self.snd_max:
                self.snd_max = self.snd_nxt
            if self.rtx.deadline is None:       # not rtx.active
                self.rtx.set(self._current_rto())

    def _retransmit_head(self) -> None:
        self.retrans += 1
        self.rtt_seq = None             # Karn: no RTT sample from retransmitted data
        self._xmit(self.snd_una, self._data_len(self.snd_una))

    def _data_len(self, off: int) -> int:
        """Data bytes in a segment starting at sequence offset `off`: up to one MSS."""
        n = self.data_end - off
        if n <= 0:
            return 0
        mss = self.mss
        return mss if n > mss else n

    def _current_rto(self) -> float:
        rto = self.rto * (1 << self.backoff)
        return TCP_RTO_MAX if rto > TCP_RTO_MAX else rto

    # --- segment input -----------------------------------------------------------------------

    def _rcv_off(self, seq: int) -> int:
        diff = (seq - self.irs - self.rcv_nxt) & _MASK
        return self.rcv_nxt + (diff - (1 << 32) if diff >= _HALF else diff)

    def _segment(self, d, l4: int, seq: int, ack: int, thl: int, flags: int, plen: int) -> None:
        """Process one segment addressed to this socket (RFC 9293 3.10.7, simplified);
        the header fields come as TcpStack.receive read them (`thl`: header length,
        `plen`: payload length)."""
        self.segs_in += 1
        state = self.state
        if state == SYN_SENT:
            self._syn_sent(d, l4, flags, seq, ack)
            return
        fin = flags & TH_FIN
        seq_off = self._rcv_off(seq)
        if flags & _RST_SYN_ACK != TH_ACK:     # not a plain ACK (one test for the usual case)
            if flags & TH_RST:
                # RFC 9293: a reset is valid when its sequence number is in the window.
                if self.rcv_nxt <= seq_off < self.rcv_nxt + RCV_WINDOW:
                    # TIME_WAIT is simply ended (Linux, tcp_rfc1337 = 0); a SYN_RECV child was
                    # never accepted, so nobody is told.
                    self._finish(None if state in (TIME_WAIT, SYN_RECV) else "reset")
            elif flags & TH_SYN:
                if state == SYN_RECV and seq == self.irs:
                    self.retrans += 1
                    self._send_syn()        # the client's SYN was retransmitted: our SYN-ACK was lost
                else:
                    self._ack_now()    # challenge ACK (RFC 5961 4)
            return                          # (no RST, SYN or ACK: ignored)
        seg_len = plen + 1 if fin else plen
        # Old (duplicate) segments still have their ACK field processed, as Linux's
        # tcp_sequence() only rejects what lies beyond the window; the data path then
        # answers them with an immediate duplicate ACK.
        if seq_off > self.rcv_nxt + RCV_WINDOW:
            self._ack_now()
            return
        snd_una = self.snd_una
        diff = (ack - self.iss - snd_una) & _MASK        # ack as an offset, unwrapped near snd_una
        ack_off = snd_una + (diff - (1 << 32) if diff >= _HALF else diff)
        if state == SYN_RECV:
            if ack_off != 1:
                self.stack.send_reset(self.local, self.remote, self.lport, self.rport, ack, 0, False, self.flow)
                return
            self._established()
            if self.state == CLOSED:
                return
        elif state == TIME_WAIT:
            if seg_len:
                self._ack_now()    # a retransmitted FIN: our last ACK was lost
                self.rtx.set(TCP_TIMEWAIT_LEN)
            return
        if not self._ack(ack_off, seg_len):
            return
        if seg_len and self.state not in (CLOSED, TIME_WAIT):
            self._data(d, l4 + thl, seq_off, plen, fin)

    def _syn_sent(self, d, l4: int, flags: int, seq: int, ack: int) -> None:
        if flags & TH_ACK and ((ack - self.iss) & _MASK) != 1:
            if not flags & TH_RST:
                self.stack.send_reset(self.local, self.remote, self.lport, self.rport, ack, 0, False, self.flow)
            return
        if flags & TH_RST:
            if flags & TH_ACK:
                self._finish("reset")   # connection refused
            return
        if not (flags & TH_SYN and flags & TH_ACK):
            return                      # simultaneous open is not modelled
        self.irs = seq
        self.rcv_nxt = 1
        self.snd_una = 1
        self.mss = min(self.adv_mss, _peer_mss(d, l4))
        self.cwnd = TCP_INIT_CWND * self.mss
        self.rtx.cancel()
        self._handshake_rtt()
        self.state = ESTABLISHED
        self._ack_now()
        if self.on_connected is not None:
            self.on_connected(self)
        self._push()

    def _handshake_rtt(self) -> None:
        if self.retries == 0:
            self._rtt_sample(self.env._now - self.syn_time)
        else:
            self.rto = TCP_TIMEOUT_FALLBACK     # RFC 6298 5.7
        self.retries = 0
        self.backoff = 0

    def _established(self) -> None:
        """SYN_RECV -> ESTABLISHED on the ACK of our SYN-ACK: hand the socket to the listener."""
        self.snd_una = 1
        self.rtx.cancel()
        self._handshake_rtt()
        self.state = ESTABLISHED
        if self.on_accept is not None:
            self.on_accept(self)

    def _rtt_sample(self, r: float) -> None:
        """RFC 6298 2.2/2.3 smoothing; RTO = SRTT + max(4*RTTVAR, 200 ms) as Linux's tcp_set_rto,
        whose variance term never drops below tcp_rto_min."""
        if self.srtt is None:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        var = 4 * self.rttvar
        rto = self.srtt + (TCP_RTO_MIN if TCP_RTO_MIN > var else var)
        self.rto = TCP_RTO_MAX if rto > TCP_RTO_MAX else rto

    def _ack(self, ack_off: int, seg_len: int) -> bool:
        """The ACK field; returns False when the segment must not be processed further."""
        if ack_off > self.snd_max:
            self._ack_now()   # acks what we never sent (RFC 9293)
            return False
        snd_una = self.snd_una
        mss = self.mss
        if ack_off <= snd_una:
            if ack_off == snd_una and not seg_len and self.snd_max > snd_una:
                self._dupack()
            return True
        acked = ack_off - snd_una
        self.snd_una = ack_off
        if self.snd_nxt < ack_off:
            self.snd_nxt = ack_off      # the receiver had buffered what we were going to resend
        self.retries = 0
        self.backoff = 0
        if self.rtt_seq is not None and ack_off >= self.rtt_seq:
            self._rtt_sample(self.env._now - self.rtt_time)
            self.rtt_seq = None
        heads = self.heads
        while heads and heads[0][0] + len(heads[0][1]) < ack_off:
            heads.pop(0)
            if not heads:
                self.heads = None       # as before the first head: no empty list kept
        if self.in_recovery:
            if ack_off >= self.recover:
                # Full ACK: leave fast recovery (RFC 6582 3.2 step 3).
                self.in_recovery = False
                self.cwnd = self.ssthresh
                self.dupacks = 0
            else:
                # Partial ACK: the next hole is lost too; resend it and deflate (RFC 6582 3.2 step 4).
                self._retransmit_head()
                self.cwnd = max(self.cwnd - acked + mss, mss)
        else:
            self.dupacks = 0
            if self.cwnd < self.ssthresh:
                self.cwnd += acked                            # slow start (tcp_slow_start)
            else:
                # congestion avoidance (RFC 5681 3.1): max(1, mss * mss // cwnd)
                self.cwnd += mss * mss // self.cwnd or 1
        if self.snd_una >= self.snd_max:
            self.rtx.deadline = None    # rtx.cancel()
        else:
            self.rtx.set(self.rto)      # _current_rto(): no backoff once new data is acked
        fin_off = self.fin_off
        if fin_off is not None and ack_off > fin_off:
            state = self.state
            if state == FIN_WAIT1:
                self.state = FIN_WAIT2
                self.rtx.set(TCP_FIN_TIMEOUT)   # the app has closed: an orphan waits this long
            elif state == CLOSING:
                self._time_wait()
                return False
            elif state == LAST_ACK:
                self._finish("closed")
                return False
        self._push()
        return True

    def _dupack(self) -> None:
        self.dupacks += 1
        mss = self.mss
        if self.in_recovery:
            self.cwnd += mss            # each dup ACK: one more segment has left the network
            self._push()
        elif self.dupacks == 3:
            # Fast retransmit / fast recovery (RFC 5681 3.2, RFC 6582).
            flight = self.snd_max - self.snd_una
            self.ssthresh = max(flight // 2, 2 * mss)
            self.recover = self.snd_max
            self.in_recovery = True
            self._retransmit_head()
            self.cwnd = self.ssthresh + 3 * mss
            self._push()

    def _data(self, d, pay: int, seq_off: int, plen: int, fin: int) -> None:
        rcv_nxt = self.rcv_nxt
        if seq_off > rcv_nxt:
            # Out of order: keep it and tell the sender at once (duplicate ACK).
            if self.state in _RECV_STATES or not plen:
                head = payload_head(d, pay, pay + plen)
                self._ooo_insert(seq_off, plen, head, bool(fin))
            self._ack_now()
            return
        skip = rcv_nxt - seq_off
        if skip >= plen + (1 if fin else 0):
            self._ack_now()    # all old: the sender missed our ACK
            return
        if skip < plen:
            self._deliver(plen - skip, payload_head(d, pay + skip, pay + plen))
        got_fin = fin
        filled = False
        while self.ooo and self.ooo[0][0] <= self.rcv_nxt:
            o_off, o_len, o_head, o_fin = self.ooo.pop(0)
            filled = True
            o_skip = self.rcv_nxt - o_off
            if o_skip < o_len:
                self._deliver(o_len - o_skip, o_head[o_skip:])
            if o_fin and o_off + o_len == self.rcv_nxt:
                got_fin = True
        if got_fin:
            self._fin()
            return
        if filled:
            self._ack_now()    # a hole was filled: ACK now (RFC 5681 4.2)
        elif self.unacked > self.mss:
            self._ack_now()    # more than one full segment unacknowledged
        elif self.unacked and self.dack.deadline is None:     # not dack.active
            self.dack.set(TCP_DELACK_MIN)

    def _ooo_insert(self, off: int, n: int, head: bytes, fin: bool) -> None:
        ooo = self.ooo
        if ooo is None:
            ooo = self.ooo = []
        i = 0
        while i < len(ooo) and ooo[i][0] < off:
            i += 1
        if i < len(ooo) and ooo[i][0] == off and ooo[i][1] >= n:
            return
        ooo.insert(i, (off, n, head, fin))

    def _deliver(self, n: int, head: bytes) -> None:
        self.rcv_nxt += n
        self.unacked += n
        if self.state in _RECV_STATES and self.on_data is not None:
            self.on_data(self, n, head)

    def _fin(self) -> None:
        self.rcv_nxt += 1
        self.unacked += 1
        state = self.state
        if state == ESTABLISHED:
            # tcp_fin() enters pingpong (delayed-ACK) mode: an app that closes at once
            # sends its FIN with this ACK (the usual three-segment close).
            self.state = CLOSE_WAIT
            if self.on_data is not None:
                self.on_data(self, 0, b"")
            if self.unacked and self.dack.deadline is None:     # not dack.active
                self.dack.set(TCP_DELACK_MIN)
            return
        self._ack_now()
        if state == FIN_WAIT1:
            self.state = CLOSING
        elif state == FIN_WAIT2:
            self._time_wait()

    def _time_wait(self) -> None:
        self.state = TIME_WAIT
        self.dack.cancel()
        self.rtx.set(TCP_TIMEWAIT_LEN)
        self._report("closed")

    # --- timers ----------------------------------------------------------------------------

    def _on_dack_timer(self) -> None:
        if self.unacked and self.state not in (CLOSED, TIME_WAIT):
            self._ack_now()

    def _on_rtx_timer(self) -> None:
        state = self.state
        if state == TIME_WAIT:
            self._finish(None)
            return
        if state == FIN_WAIT2:
            self._finish("timeout")     # the peer never closed its half (tcp_fin_timeout)
            return
        if state == SYN_SENT or state == SYN_RECV:
            limit = TCP_SYN_RETRIES if state == SYN_SENT else TCP_SYNACK_RETRIES
            if self.retries >= limit:
                self._finish("timeout" if state == SYN_SENT else None)
                return
            self.retries += 1
            self.backoff += 1
            self.retrans += 1
            if state == SYN_SENT and self.flow is not None:
                self.flow.syn_retries += 1
            self._send_syn()
            self.rtx.set(self._current_rto())
            return
        if self.snd_una >= self.snd_max or state == CLOSED:
            return
        if self.retries >= TCP_RETRIES2:
            self._finish("timeout")
            return
        # RTO (RFC 6298 5.4-5.7, RFC 5681 3.1): loss window of one segment, go back to snd_una.
        if self.backoff == 0:
            self.ssthresh = max((self.snd_max - self.snd_una) // 2, 2 * self.mss)
        self.cwnd = self.mss
        self.in_recovery = False
        self.dupacks = 0
        self.retries += 1
        self.backoff += 1
        self.rtt_seq = None
        self.snd_nxt = self.snd_una
        self._push()
        self.rtx.set(self._current_rto())

    # --- teardown -----------------------------------------------------------------------------

    def _report(self, reason: str) -> None:
        if not self.closed_reported:
            self.closed_reported = True
            if self.on_closed is not None:
                self.on_closed(self, reason)

    def _finish(self, reason: str | None) -> None:
        """Leave the connection table; tell the app `reason` unless None or already told."""
        self.state = CLOSED
        self.rtx.cancel()
        self.dack.cancel()
        self.stack._forget(self)
        if reason is not None:
            self._report(reason)

    def icmp_error(self, type: int, code: int, mtu: int) -> None:
        """An ICMP error quoting one of our segments (tcp_v4_err)."""
        if type == ICMP_DEST_UNREACH and code == ICMP_FRAG_NEEDED:
            # PMTU discovery (RFC 1191): shrink the MSS and resend what was too big.
            if mtu and mtu - IP_TCP_HLEN < self.mss:
                self.mss = max(mtu - IP_TCP_HLEN, 8)
                self.cwnd = max(self.cwnd, self.mss)
                if self.state in _SEND_STATES and self.snd_una < self.snd_max:
                    self.snd_nxt = self.snd_una
                    self._push()
            return
        # Hard errors abort a connection still in its handshake; on an established one
        # Linux only records a soft error (without IP_RECVERR).
        if self.state in (SYN_SENT, SYN_RECV) and type in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED,
                                                          ICMP_PARAMETERPROB):
            self._finish("unreachable" if self.state == SYN_SENT else None)


class TcpStack:
    """The TCP of one host: listeners, the connection table, RST generation.

    >>> # stack = host.tcp; stack.listen(80, on_accept); stack.connect(dst, 80, flow, on_connected=...)
    """

    def __init__(self, host):
        self.host = host
        self.ctx = host.ctx
        self.env = host.ctx.env
        self.listeners: dict[int, Callable[[TcpSocket], None]] = {}
        self.conns: dict[tuple[int, int, int, int], TcpSocket] = {}
        self._port_offset: int | None = None
        self.resets_sent = 0
        # (src, dst, dport, parity) -> self._freed when a scan of the even (0) or odd (1)
        # ports found none free: until a socket is forgotten, later connects skip
        # that scan (otherwise each connect of a huge scenario costs up to 28k checks).
        self._exhausted: dict[tuple[int, int, int, int], int] = {}
        self._freed = 0

    # --- API ------------------------------------------------------------------------------------

    def listen(self, port: int, on_accept: Callable[[TcpSocket], None]) -> None:
        """Accept connections to `port` on any local address; `on_accept(sock)` when established."""
        self.listeners[port] = on_accept

    def unlisten(self, port: int) -> None:
        self.listeners.pop(port, None)

    def connect(self, dst: int, dport: int, flow=None, on_connected=None, on_data=None,
                on_closed=None, src: int | None = None, sport: int | None = None,
                app=None) -> TcpSocket:
        """Active open: send a SYN now and return the socket (state SYN_SENT).

        A connection that cannot start (no route, no free port) reports
        `on_closed(sock, "no-route" | "no-port" | "port-in-use")` from a zero-delay
        event, so the caller always gets the socket first.  `sport` binds a fixed
        local port (bind() + connect()): taken by a live or TIME_WAIT socket to the
        same peer, it fails "port-in-use" (EADDRNOTAVAIL), as without tcp_tw_reuse.
        `app` is put in the socket's `app` slot before anything can call back.
        """
        if src is None:
            src = self.host.route_source(dst)
        sock = TcpSocket(self, src or 0, 0, dst, dport, flow)
        sock.on_connected, sock.on_data, sock.on_closed = on_connected, on_data, on_closed
        sock.app = app
        if src is None:
            self._fail_soon(sock, "no-route")
            return sock
        if sport is not None:
            port = sport
            if (src, sport, dst, dport) in self.conns:
                self._fail_soon(sock, "port-in-use")
                return sock
        else:
            port = self._ephemeral_port(src, dst, dport)
        if port is None:
            self._fail_soon(sock, "no-port")
            return sock
        sock.lport = port
        sock.iss = self.ctx.rng.getrandbits(32)
        sock.state = SYN_SENT
        sock.syn_time = self.env._now
        self.conns[(src, port, dst, dport)] = sock      # sock.key
        sock._send_syn()
        sock.snd_nxt = sock.snd_max = 1
        sock.rtx.set(TCP_TIMEOUT_INIT)
        return sock

    def mss_for(self, dst: int) -> int:
        """MSS to advertise toward dst: route MTU - 40 (tcp_mss_to_mtu)."""
        route_mtu = getattr(self.host, "route_mtu", None)
        mtu = route_mtu(dst) if route_mtu is not None else None
        return (mtu or DEFAULT_MTU) - IP_TCP_HLEN

    # --- input -----------------------------------------------------------------------------------

    def receive(self, pkt, l3: int, l4: int) -> bool:
        """Demultiplex one locally addressed segment; False when no socket wanted it."""
        d = pkt.data
        if l4 == l3 + 20:               # no IP options: one read from the total length on
            total, src, dst, sport, dport, seq, ack, off, flags = _IP_TCP_FIELDS.unpack_from(d, l3 + 2)
        else:
            total = _H.unpack_from(d, l3 + 2)[0]
            src, dst = _II.unpack_from(d, l3 + 12)
            sport, dport, seq, ack, off, flags = _TCP_FIELDS.unpack_from(d, l4)
        sock = self.conns.get((dst, dport, src, sport))
        if sock is not None:
            if sock.state == TIME_WAIT and flags & (TH_SYN | TH_ACK | TH_RST) == TH_SYN \
                    and dport in self.listeners and sock._rcv_off(seq) > sock.rcv_nxt:
                # A new SYN beyond the old connection's sequence space may reuse the pair
                # (tcp_timewait_state_process: TCP_TW_SYN).
                sock._finish(None)
            else:
                thl = (off >> 4) << 2
                sock._segment(d, l4, seq, ack, thl, flags, total - (l4 - l3) - thl)
                return True
        if flags & TH_RST:
            return False                # never answer a reset
        on_accept = self.listeners.get(dport)
        if on_accept is not None and flags & (TH_SYN | TH_ACK) == TH_SYN:
            self._passive_open(pkt, l3, l4, src, dst, sport, dport, on_accept)
            return True
        self._reset_for(d, l3, l4, src, dst, sport, dport, flags, pkt.flow)
        return False

    def icmp_error(self, pkt, l3: int, type: int, code: int, mtu: int = 0) -> bool:
        """An ICMP error whose quoted packet (IP header at `l3` in pkt.data) is one of ours."""
        d = pkt.data
        src = _I.unpack_from(d, l3 + 12)[0]
        dst = _I.unpack_from(d, l3 + 16)[0]
        l4 = l3 + ((d[l3] & 0x0F) << 2)
        if len(d) < l4 + 8:
            return False
        sport, dport = _HH.unpack_from(d, l4)
        sock = self.conns.get((src, sport, dst, dport))
        if sock is None or sock.state == TIME_WAIT:
            return False
        # Only errors about data still in flight are believed (tcp_v4_err's window check).
        off = (_I.unpack_from(d, l4 + 4)[0] - sock.iss) & _MASK
        if not sock.snd_una <= off <= sock.snd_max:
            return False
        sock.icmp_error(type, code, mtu)
        return True

    def _passive_open(self, pkt, l3, l4, src, dst, sport, dport, on_accept) -> None:
        d = pkt.data
        sock = TcpSocket(self, dst, dport, src, sport, pkt.flow)
        sock.on_accept = on_accept
        sock.irs = _I.unpack_from(d, l4 + 4)[0]
        sock.rcv_nxt = 1
        sock.mss = min(sock.adv_mss, _peer_mss(d, l4))
        sock.cwnd = TCP_INIT_CWND * sock.mss
        sock.iss = self.ctx.rng.getrandbits(32)
        sock.state = SYN_RECV
        sock.syn_time = self.env._now
        self.conns[(dst, dport, src, sport)] = sock     # sock.key
        sock._send_syn()
        sock.snd_nxt = sock.snd_max = 1
        sock.rtx.set(TCP_TIMEOUT_INIT)

    # --- resets ----------------------------------------------------------------------------------

    def _reset_for(self, d, l3, l4, src, dst, sport, dport, flags, flow) -> None:
        """RST for a segment no connection wants (RFC 9293 3.10.7.1, tcp_v4_send_reset)."""
        if flags & TH_ACK:
            self.send_reset(dst, src, dport, sport, _I.unpack_from(d, l4 + 8)[0], 0, False, flow)
        else:
            thl = (d[l4 + 12] >> 4) << 2
            seg_len = _H.unpack_from(d, l3 + 2)[0] - (l4 - l3) - thl
            seg_len += (1 if flags & TH_SYN else 0) + (1 if flags & TH_FIN else 0)
            seq = _I.unpack_from(d, l4 + 4)[0]
            self.send_reset(dst, src, dport, sport, 0, (seq + seg_len) & _MASK, True, flow)

    def send_reset(self, src: int, dst: int, sport: int, dport: int, seq: int, ack: int,
                   with_ack: bool, flow=None) -> None:
        """Send a bare RST (window 0, as tcp_v4_send_reset)."""
        flags = TH_RST | TH_ACK if with_ack else TH_RST
        l4 = tcp_segment(src, dst, sport, dport, seq, ack, flags, window=0)
        self.resets_sent += 1
        self.host.ip_send(dst, IPPROTO_TCP, l4, src=src, flow=flow)

    # --- bookkeeping -----------------------------------------------------------------------------

    def _forget(self, sock: TcpSocket) -> None:
        key = sock.key
        if self.conns.get(key) is sock:
            del self.conns[key]
            self._freed += 1

    def _fail_soon(self, sock: TcpSocket, reason: str) -> None:
        sock.state = CLOSED
        ev = self.env.timeout(0)
        ev.callbacks.append(lambda _ev: sock._report(reason))

    def _ephemeral_port(self, src: int, dst: int, dport: int) -> int | None:
        """A source port for connect(), like __inet_hash_connect: even ports first from a
        seeded offset that advances per connection; a port is free when its 4-tuple is."""
        lo, hi = LOCAL_PORT_RANGE
        n = hi - lo + 1
        if self._port_offset is None:
            self._port_offset = self.ctx.rng.randrange(n)
        base = self._port_offset & ~1
        conns, listeners = self.conns, self.listeners
        for parity in (0, 1):
            if self._exhausted.get((src, dst, dport, parity)) == self._freed:
                continue
            for i in range(0, n, 2):
                port = lo + (base + parity + i) % n
                if port not in listeners and (src, port, dst, dport) not in conns:
                    self._port_offset += i + 2
                    return port
            self._exhausted[(src, dst, dport, parity)] = self._freed
        return None
