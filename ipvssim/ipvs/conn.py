"""The IPVS connection table: entries, lookups, TCP/UDP state machines, timers, templates.

Mirrors net/netfilter/ipvs/ip_vs_conn.c (ip_vs_conn_new, ip_vs_conn_expire,
ip_vs_check_template), ip_vs_proto_tcp.c (tcp_states, set_tcp_state,
tcp_timeouts), ip_vs_proto_udp.c (udp_state_transition) and the port-reuse
decision of ip_vs_core.c (is_new_conn_expected, ip_vs_in).

Timers: the kernel re-arms an entry's timer to ``now + cp->timeout`` after every
packet (ip_vs_conn_put).  Here `state_transition` (called once per packet) does
the same, and `expire(now)` pops a heap of (time, seq, conn) with lazy
invalidation: an entry whose timer moved later is pushed again with its new time,
one whose timer moved earlier gets a new heap entry and the old one is skipped.
So no table scan happens per packet.

>>> from ipvssim.ipvs.dest import Dest
>>> t = ConnTable()
>>> rs = Dest(addr=0x0A000102, port=80)
>>> c = t.new(proto=6, caddr=0x0A000001, cport=40000, vaddr=0x0A000064, vport=80,
...           daddr=rs.addr, dport=80, dest=rs, mode="dr", now=0.0)
>>> t.state_transition(c, INPUT, 0x02, now=0.0)      # SYN
>>> c.state, c.expires, rs.activeconns
('SYN_RECV', 60.0, 1)
>>> [x.state for x in t.expire(60.0)], len(t), rs.inactconns + rs.activeconns
(['SYN_RECV'], 0, 0)
"""
from __future__ import annotations

import heapq
from typing import Iterator

from ipvssim.scenario.model import DEFAULT_TCP_TIMEOUTS, IpvsSettings

__all__ = [
    "IPVSConnection", "ConnTable", "INPUT", "OUTPUT", "INPUT_ONLY",
    "IP_VS_CONN_F_NOOUTPUT", "IP_VS_CONN_F_INACTIVE", "IP_VS_CONN_F_TEMPLATE",
    "TCP_STATES", "ACTIVE_STATES", "UDP_STATE", "TEMPLATE_EXPIRE_LATER",
    "KEEP", "RESCHEDULE", "DROP", "is_new_conn_expected",
]

IPPROTO_TCP = 6
IPPROTO_UDP = 17

# Packet directions (include/net/ip_vs.h IP_VS_DIR_*).
INPUT = 0
OUTPUT = 1
INPUT_ONLY = 2

# Connection flags (include/uapi/linux/ip_vs.h).
IP_VS_CONN_F_NOOUTPUT = 0x0080     # DR/TUN: the director never sees the replies
IP_VS_CONN_F_INACTIVE = 0x0100     # counted in dest.inactconns
IP_VS_CONN_F_TEMPLATE = 0x1000     # persistence template
# Template state bit IP_VS_CTPL_S_ASSURED (include/net/ip_vs.h) lives in ct->state in
# the kernel; ipvssim keeps state names as strings, so it is a private flag bit here.
_CTPL_ASSURED = 0x10000

# ip_vs_conn_new(): a fresh entry's timer before its first state transition.
INITIAL_TIMEOUT = 3.0
# ip_vs_conn_expire(): an entry that still controls others is re-armed for 60 s.
TEMPLATE_EXPIRE_LATER = 60.0

# Kernel state order (ip_vs_proto_tcp.c tcp_state_name_table, IP_VS_TCP_S_*).
TCP_STATES = ("NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE",
              "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK")
# ip_vs_proto_tcp.c tcp_state_active_table: states counted in dest->activeconns.
ACTIVE_STATES = frozenset({"ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"})
# ip_vs_proto_udp.c udp_state_name_table[IP_VS_UDP_S_NORMAL].
UDP_STATE = "UDP"

_NO, _ES, _SS, _SR, _FW, _TW, _CL, _CW, _LA, _LI, _SA = TCP_STATES

# ip_vs_proto_tcp.c tcp_states[] (not the secure_tcp tcp_states_dos[]), mainline v6.x.
# Rows: direction offset (INPUT 0, OUTPUT 4, INPUT_ONLY 8) + event (syn 0, fin 1, ack 2,
# rst 3); columns: the current state in TCP_STATES order.
_TCP_STATE_ROWS = (
    # INPUT
    (_SR, _ES, _ES, _SR, _SR, _SR, _SR, _SR, _SR, _SR, _SR),   # syn
    (_CL, _CW, _SS, _TW, _TW, _TW, _CL, _CW, _LA, _LI, _TW),   # fin
    (_ES, _ES, _SS, _ES, _FW, _TW, _CL, _CW, _CL, _LI, _ES),   # ack
    (_CL, _CL, _CL, _SR, _CL, _CL, _CL, _CL, _LA, _LI, _SR),   # rst
    # OUTPUT
    (_SS, _ES, _SS, _SR, _SS, _SS, _SS, _SS, _SS, _LI, _SR),
    (_TW, _FW, _SS, _TW, _FW, _TW, _CL, _TW, _LA, _LI, _TW),
    (_ES, _ES, _SS, _ES, _FW, _TW, _CL, _CW, _LA, _ES, _ES),
    (_CL, _CL, _SS, _CL, _CL, _TW, _CL, _CL, _CL, _CL, _CL),
    # INPUT-ONLY
    (_SR, _ES, _ES, _SR, _SR, _SR, _SR, _SR, _SR, _SR, _SR),
    (_CL, _FW, _SS, _TW, _FW, _TW, _CL, _CW, _LA, _LI, _TW),
    (_ES, _ES, _SS, _ES, _FW, _TW, _CL, _CW, _CL, _LI, _ES),
    (_CL, _CL, _CL, _SR, _CL, _CL, _CL, _CL, _LA, _LI, _CL),
)
# Per row, current state name -> next state name (dict lookups on the hot path).
_TCP_NEXT = tuple(dict(zip(TCP_STATES, row)) for row in _TCP_STATE_ROWS)
_DIR_OFFSET = {INPUT: 0, OUTPUT: 4, INPUT_ONLY: 8}    # tcp_state_off[]

_TH_FIN, _TH_SYN, _TH_RST, _TH_ACK = 0x01, 0x02, 0x04, 0x10
_NEVER = float("inf")      # an entry's _timer_at when it has no authoritative heap slot
_EVENT_FLAGS = _TH_FIN | _TH_SYN | _TH_RST | _TH_ACK     # the bits tcp_state_idx() reads

# Results of ConnTable.new_syn_action().
KEEP = "keep"               # the SYN goes to the existing entry's real server
RESCHEDULE = "reschedule"   # the old entry is expired now, the SYN is scheduled afresh
DROP = "drop"               # the old entry is expired now and this SYN is dropped


def _tcp_event(flags: int) -> int:
    """tcp_state_idx(): rst beats syn beats fin beats ack; -1 for none of them."""
    if flags & _TH_RST:
        return 3
    if flags & _TH_SYN:
        return 0
    if flags & _TH_FIN:
        return 1
    if flags & _TH_ACK:
        return 2
    return -1


def _rows_by_flags(off: int) -> tuple[dict[str, str], ...]:
    """For one direction, per value of ``flags & _EVENT_FLAGS``: current state -> next state.

    set_tcp_state() with the event already chosen, so a packet costs two tuple
    indexes and one dict lookup; no event (none of the four flags) closes the entry.
    """
    close = dict.fromkeys(TCP_STATES, _CL)
    return tuple(close if _tcp_event(f) < 0 else _TCP_NEXT[off + _tcp_event(f)]
                 for f in range(_EVENT_FLAGS + 1))


# Indexed by direction (INPUT, OUTPUT, INPUT_ONLY), then by the packet's flags & _EVENT_FLAGS.
_TCP_NEXT_BY_FLAGS = tuple(_rows_by_flags(_DIR_OFFSET[d]) for d in (INPUT, OUTPUT, INPUT_ONLY))


class IPVSConnection:
    """One entry of the connection table (kernel `struct ip_vs_conn`).

    Addresses are ints, ports ints.  ``laddr``/``lport`` are the FULLNAT local
    address and port (None in other modes).  ``expires`` is the absolute simulated
    time the timer fires; ``timeout`` the period it is re-armed with.
    """
    __slots__ = ("protocol", "caddr", "cport", "vaddr", "vport", "daddr", "dport", "laddr", "lport",
                 "mode", "state", "dest", "timeout", "expires", "control", "n_control",
                 "is_template", "flags", "inpkts", "outpkts", "inbytes", "outbytes",
                 "first_ack_done", "fdata_seq", "flow", "service", "pool", "linked", "_timer_at",
                 "route", "route_gen")

    def __init__(self, protocol: int, caddr: int, cport: int, vaddr: int, vport: int, daddr: int,
                 dport: int, mode: str, dest, flags: int, laddr: int | None = None,
                 lport: int | None = None):
        self.protocol = protocol
        self.caddr = caddr
        self.cport = cport
        self.vaddr = vaddr
        self.vport = vport
        self.daddr = daddr
        self.dport = dport
        self.laddr = laddr
        self.lport = lport
        self.mode = mode
        self.state = UDP_STATE if protocol == IPPROTO_UDP else "NONE"
        self.dest = dest
        self.timeout = INITIAL_TIMEOUT
        self.expires = 0.0
        self.control: IPVSConnection | None = None   # the template controlling this entry
        self.n_control = 0                            # entries this one controls
        self.is_template = (flags & IP_VS_CONN_F_TEMPLATE) != 0
        self.flags = flags
        self.inpkts = self.outpkts = self.inbytes = self.outbytes = 0
        self.first_ack_done = False    # FULLNAT: a TOA option has been inserted
        self.fdata_seq: int | None = None   # FULLNAT: RS ISN + 1, from its SYN-ACK (DPVS)
        self.flow = None
        self.service = None
        self.pool = None               # FULLNAT LocalAddressPool that lent laddr:lport
        self.linked = False            # in the table (hashed)
        self._timer_at = _NEVER        # time of the heap entry that is authoritative
        # The director's output_route(daddr) as of its host's route_gen (-1: not looked up yet).
        self.route = None
        self.route_gen = -1

    @property
    def inactive(self) -> bool:
        """Counted in dest.inactconns (IP_VS_CONN_F_INACTIVE)."""
        return bool(self.flags & IP_VS_CONN_F_INACTIVE)

    @property
    def assured(self) -> bool:
        """Template reached IP_VS_CTPL_S_ASSURED (a controlled connection got established)."""
        return bool(self.flags & _CTPL_ASSURED)

    def __repr__(self) -> str:
        def ip(a):
            return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
        kind = "TPL " if self.is_template else ""
        return (f"<IPVSConnection {kind}{self.mode} {self.state} c={ip(self.caddr)}:{self.cport} "
                f"v={ip(self.vaddr)}:{self.vport} d={ip(self.daddr)}:{self.dport} "
                f"expires={self.expires:g}>")


def is_new_conn_expected(conn: IPVSConnection, conn_reuse_mode: int) -> bool:
    """ip_vs_core.c is_new_conn_expected(): may a new SYN on this entry start afresh?

    TCP entries in TIME_WAIT or CLOSE; with bit 2 of conn_reuse_mode also
    FIN_WAIT entries of input-only (DR/TUN) connections.  UDP: never.
    """
    if conn.protocol != IPPROTO_TCP:
        return False
    s = conn.state
    return (s == "TIME_WAIT" or s == "CLOSE"
            or (bool(conn_reuse_mode & 2) and s == "FIN_WAIT"
                and bool(conn.flags & IP_VS_CONN_F_NOOUTPUT)))


class ConnTable:
    """The director's connection table: three hashes, one timer heap.

    - input: (proto, caddr, cport, vaddr, vport) -- what a request carries;
    - output: what a reply carries as (proto, src, sport, dst, dport): NAT
      (proto, daddr, dport, caddr, cport), FULLNAT (proto, daddr, dport, laddr, lport);
      DR/TUN entries have none (their replies never reach the director);
    - templates: (proto, caddr & netmask, vaddr, vport or 0) (fwmark services are not
      modelled).

    The first two are public as ``by_input`` and ``by_output``: a data plane that has
    already built a packet's (proto, saddr, sport, daddr, dport) tuple looks it up
    there directly (`in_get`/`out_get` build the same tuple from five arguments).

    ``timeouts`` maps each TCP state name and "UDP" to seconds; ``ipvsadm --set
    tcp tcpfin udp`` (IpvsSettings.timeouts_*) sets ESTABLISHED, FIN_WAIT and UDP.
    """

    def __init__(self, settings: IpvsSettings | None = None):
        self.settings = settings or IpvsSettings()
        s = self.settings
        self.timeouts: dict[str, float] = {k: float(v) for k, v in DEFAULT_TCP_TIMEOUTS.items()}
        self.timeouts["ESTABLISHED"] = float(s.timeouts_tcp)
        self.timeouts["FIN_WAIT"] = float(s.timeouts_tcpfin)
        self.timeouts[UDP_STATE] = float(s.timeouts_udp)
        self.by_input: dict[tuple, IPVSConnection] = {}
        self.by_output: dict[tuple, IPVSConnection] = {}
        self._tpl: dict[tuple, IPVSConnection] = {}
        self._heap: list[tuple[float, int, IPVSConnection]] = []
        self._seq = 0
        self.now = 0.0            # latest time the table was told about
        self.count = 0            # linked entries, templates included (ipvs->conn_count)
        self.created = 0
        self.expired = 0

    # -- creation ----------------------------------------------------------------------------
    def new(self, *, proto: int, caddr: int, cport: int, vaddr: int, vport: int, daddr: int,
            dport: int, dest, mode: str, now: float, laddr: int | None = None,
            lport: int | None = None, control: IPVSConnection | None = None, pool=None,
            flow=None) -> IPVSConnection:
        """ip_vs_conn_new() for a connection: hash it, bind it to `dest` (inactive), arm 3 s.

        ``control`` is the persistence template (ip_vs_control_add); ``pool`` the
        FULLNAT LocalAddressPool to give ``laddr:lport`` back to when the entry goes.
        """
        # __ip_vs_update_dest(): every dest's conn_flags carry INACTIVE, and NOOUTPUT
        # unless it is masquerading; FULLNAT replies come back through the director too.
        flags = IP_VS_CONN_F_INACTIVE
        if mode == "dr" or mode == "tun":
            flags |= IP_VS_CONN_F_NOOUTPUT
        c = IPVSConnection(proto, caddr, cport, vaddr, vport, daddr, dport, mode, dest, flags,
                           laddr, lport)
        c.pool = pool
        c.flow = flow
        if control is not None:
            c.control = control
            control.n_control += 1
        self.by_input[(proto, caddr, cport, vaddr, vport)] = c
        if mode == "nat":
            self.by_output[(proto, daddr, dport, caddr, cport)] = c
        elif mode == "fullnat":
            self.by_output[(proto, daddr, dport, laddr, lport)] = c
        if dest is not None:
            dest.bind_conn(is_template=False)
        self._link(c, now)
        return c

    def new_template(self, *, proto: int, caddr: int, vaddr: int, vport: int, dest, timeout: float,
                     now: float, dport: int | None = None) -> IPVSConnection:
        """ip_vs_sched_persist(): a persistence template (client port 0) for `caddr` (already masked).

        It lives ``timeout`` seconds after its last use, and longer while it
        controls connections.
        """
        c = IPVSConnection(proto, caddr, 0, vaddr, vport, dest.addr,
                           dest.port if dport is None else dport, dest.mode, dest,
                           IP_VS_CONN_F_TEMPLATE)
        c.timeout = float(timeout)
        self._tpl[(proto, caddr, vaddr, vport)] = c
        dest.bind_conn(is_template=True)
        self._link(c, now)
        return c

    def _link(self, c: IPVSConnection, now: float) -> None:
        c.linked = True
        self.count += 1
        self.created += 1
        self.now = now
        self._arm(c, now + c.timeout)

    # -- lookups -------------------------------------------------------------------------------
    def in_get(self, proto: int, saddr: int, sport: int, daddr: int, dport: int) -> IPVSConnection | None:
        """The entry a request (src CIP:cport, dst VIP:vport) belongs to (ip_vs_conn_in_get)."""
        return self.by_input.get((proto, saddr, sport, daddr, dport))

    def out_get(self, proto: int, saddr: int, sport: int, daddr: int, dport: int) -> IPVSConnection | None:
        """The NAT/FULLNAT entry a reply (src RIP:rport, dst CIP:cport or LIP:lport) belongs to."""
        return self.by_output.get((proto, saddr, sport, daddr, dport))

    def template_get(self, proto: int, caddr: int, vaddr: int, vport: int) -> IPVSConnection | None:
        """The persistence template for a masked client address (ip_vs_ct_in_get)."""
        return self._tpl.get((proto, caddr, vaddr, vport))

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[IPVSConnection]:
        """Linked entries -- connections then templates -- in creation order (ipvsadm -Lnc)."""
        seen = set()
        for c in list(self.by_input.values()) + list(self._tpl.values()):
            if id(c) not in seen:
                seen.add(id(c))
                yield c

    # -- templates -------------------------------------------------------------------------------
    def check_template(self, ct: IPVSConnection) -> bool:
        """ip_vs_check_template(): is the template's server still usable?

        No when the server was removed, or has weight 0 while
        expire_quiescent_template is set.  A template found unusable is
        invalidated -- unhashed, no longer found -- but keeps its server binding
        until its own timer expires, as in the kernel (ports set to 0xffff).
        """
        dest = ct.dest
        if dest is not None and dest.available and not (
                self.settings.expire_quiescent_template and dest.weight == 0):
            return True
        key = (ct.protocol, ct.caddr, ct.vaddr, ct.vport)
        if self._tpl.get(key) is ct:
            del self._tpl[key]
        ct.vport = ct.dport = 0xFFFF
        return False

    def touch_template(self, ct: IPVSConnection, timeout: float, now: float) -> None:
        """A new connection used the template: re-arm its timer (ip_vs_conn_put in ip_vs_sched_persist).

        The kernel re-arms with the template's own ``cp->timeout`` -- the
        service's persistence timeout from creation, or 60 s once the timer has
        fired while connections were still attached -- so ``timeout`` is not used
        to change it; it is accepted because callers have it at hand.
        """
        self.touch(ct, now)

    # -- timers ------------------------------------------------------------------------------------
    def touch(self, c: IPVSConnection, now: float) -> None:
        """Re-arm the entry's timer to ``now + c.timeout`` (ip_vs_conn_put after a packet)."""
        self.now = now
        self._arm(c, now + c.timeout)

    def _arm(self, c: IPVSConnection, when: float) -> None:
        c.expires = when
        # Lazy heap: only a timer that moved earlier than the entry's pending heap
        # slot needs a new slot; a later one is found and re-pushed when the old pops.
        if when < c._timer_at:
            c._timer_at = when
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, c))

    def _move_first_slot(self, c: IPVSConnection) -> None:
        """The heap's first slot is c's, and c now expires later: move the slot there.

        The heappop() and the _arm(c, c.expires) push in one heapreplace(); the slots
        are the same, and their (time, seq) keys are unique, so they pop in the same order.
        """
        when = c.expires
        c._timer_at = when
        self._seq += 1
        heapq.heapreplace(self._heap, (when, self._seq, c))

    def next_expiry(self) -> float | None:
        """The time the next timer fires (when `expire` will remove or re-arm something), or None."""
        heap = self._heap
        while heap:
            at, _, c = heap[0]
            if not c.linked or at != c._timer_at:
                heapq.heappop(heap)             # stale slot
            elif c.expires > at:
                self._move_first_slot(c)        # timer pushed later
            else:
                return at
        return None

    def expire(self, now: float) -> list[IPVSConnection]:
        """Run every timer due by `now` (ip_vs_conn_expire); returns the entries removed.

        An entry that still controls others (a template with connections) is not
        removed: it is re-armed for 60 s after the time its timer fired.
        """
        if now > self.now:                     # self.now = max(self.now, now), called per packet
            self.now = now
        heap = self._heap
        if not heap or heap[0][0] > now:
            return []                          # nothing due: what almost every packet sees
        gone: list[IPVSConnection] = []
        while heap and heap[0][0] <= now:
            at, _, c = heap[0]
            if not c.linked or at != c._timer_at:
                heapq.heappop(heap)            # stale slot
            elif c.expires > at:
                self._move_first_slot(c)       # re-armed later since this slot was pushed
            else:
                heapq.heappop(heap)
                c._timer_at = _NEVER
                self._fire(c, at, gone)
        return gone

    def _fire(self, c: IPVSConnection, at: float, gone: list[IPVSConnection]) -> None:
        if c.n_control:
            # expire_later: still controlling connections.
            c.timeout = TEMPLATE_EXPIRE_LATER
            self._arm(c, at + TEMPLATE_EXPIRE_LATER)
            return
        self._unlink(c)
        gone.append(c)
        ct = c.control
        if ct is not None:
            ct.n_control -= 1
            c.control = None
            # A connection killed on purpose (timeout 0, expire_now) takes with it a
            # template nobody else uses that never saw an established connection.
            if c.timeout == 0 and ct.n_control == 0 and ct.linked and not ct.assured:
                self.expire_now(ct, at)

    def _unlink(self, c: IPVSConnection) -> None:
        c.linked = False
        self.count -= 1
        self.expired += 1
        p = c.protocol
        if c.is_template:
            key = (p, c.caddr, c.vaddr, c.vport)
            if self._tpl.get(key) is c:
                del self._tpl[key]
        else:
            key = (p, c.caddr, c.cport, c.vaddr, c.vport)
            if self.by_input.get(key) is c:
                del self.by_input[key]
            if c.mode == "nat":
                key = (p, c.daddr, c.dport, c.caddr, c.cport)
            elif c.mode == "fullnat":
                key = (p, c.daddr, c.dport, c.laddr, c.lport)
            else:
                key = None
            if key is not None and self.by_output.get(key) is c:
                del self.by_output[key]
            if c.pool is not None:
                c.pool.release(c.laddr, c.lport, c.daddr, c.dport, p)
        if c.dest is not None:
            c.dest.unbind_conn(is_template=c.is_template, was_active=not c.inactive)

    def expire_now(self, c: IPVSConnection, now: float | None = None) -> list[IPVSConnection]:
        """ip_vs_conn_expire_now(): fire the entry's timer at once; returns what was removed.

        The lookups stop finding it immediately (so a new entry with the same
        key can be created right after).  An entry that controls others stays,
        re-armed for 60 s, as when its timer fires normally.
        """
        if not c.linked:
            return []
        at = self.now if now is None else now
        c.timeout = 0.0
        c._timer_at = _NEVER
        gone: list[IPVSConnection] = []
        c.expires = at
        self._fire(c, at, gone)
        return gone

    # -- state machines ------------------------------------------------------------------------------
    def state_transition(self, c: IPVSConnection, direction: int, tcp_flags: int, now: float) -> None:
        """Account one packet of the entry: next state, active/inactive move, timer re-armed.

        TCP follows set_tcp_state() over tcp_states[]; an input-only entry
        (IP_VS_CONN_F_NOOUTPUT, DR/TUN) uses the INPUT-ONLY rows until a packet of
        the output direction is seen.  UDP (udp_state_transition) only re-arms
        with the UDP timeout.  `direction` is INPUT or OUTPUT.
        """
        if c.protocol == IPPROTO_TCP:
            rows = _TCP_NEXT_BY_FLAGS[direction]
            if c.flags & IP_VS_CONN_F_NOOUTPUT:
                if direction == OUTPUT:
                    c.flags &= ~IP_VS_CONN_F_NOOUTPUT
                else:
                    rows = _TCP_NEXT_BY_FLAGS[INPUT_ONLY]
            old = c.state
            new = rows[tcp_flags & _EVENT_FLAGS][old]
            if new != old:
                dest = c.dest
                if dest is not None:
                    if not c.flags & IP_VS_CONN_F_INACTIVE and new not in ACTIVE_STATES:
                        dest.conn_became_inactive()
                        c.flags |= IP_VS_CONN_F_INACTIVE
                    elif c.flags & IP_VS_CONN_F_INACTIVE and new in ACTIVE_STATES:
                        dest.conn_became_active()
                        c.flags &= ~IP_VS_CONN_F_INACTIVE
                if new == "ESTABLISHED":
                    self._assure_control(c)
                c.state = new
            timeout = self.timeouts[new]
        else:
            timeout = self.timeouts[UDP_STATE]
            if direction == OUTPUT:
                self._assure_control(c)
        c.timeout = timeout
        self.now = now
        # _arm(c, now + timeout), inlined: this runs for every packet, and almost
        # always the timer only moves later, which needs no heap slot.
        when = now + timeout
        c.expires = when
        if when < c._timer_at:
            c._timer_at = when
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, c))

    @staticmethod
    def _assure_control(c: IPVSConnection) -> None:
        """ip_vs_control_assure_ct(): the template saw a working connection."""
        ct = c.control
        if ct is not None:
            ct.flags |= _CTPL_ASSURED

    # -- port reuse --------------------------------------------------------------------------------------
    def new_syn_action(self, c: IPVSConnection, *, legacy_conntrack: bool = False) -> str:
        """What ip_vs_in() does with a new SYN that matched entry `c`: KEEP, RESCHEDULE or DROP.

        Controlled (persistent) entries are kept.  expire_nodest_conn with the
        server at weight 0, or conn_reuse_mode with the entry in TIME_WAIT/CLOSE
        (bit 2: FIN_WAIT of DR/TUN), lets the SYN be scheduled anew.  With
        conntrack=1 on kernels before 5.9 (``legacy_conntrack``), the SYN still
        matched the old conntrack entry: the kernel expired the IPVS entry and
        dropped the SYN, and the client retransmitted it 1 s later.  Since 5.9
        (ip_vs_conn_uses_old_conntrack) the reused tuple gets a fresh conntrack
        entry, so the SYN is rescheduled without the drop.
        """
        if c.control is not None:
            return KEEP
        s = self.settings
        old_ct = legacy_conntrack and bool(s.conntrack)
        dest = c.dest
        if s.expire_nodest_conn and dest is not None and dest.weight == 0:
            resched = True
        elif s.conn_reuse_mode and is_new_conn_expected(c, s.conn_reuse_mode):
            # An entry with dependants is only rescheduled when no old conntrack is in the way.
            resched = c.n_control == 0 or not old_ct
        else:
            return KEEP
        if not resched:
            return KEEP
        return DROP if old_ct else RESCHEDULE

    def is_reusable_for_new_syn(self, c: IPVSConnection) -> bool:
        """True when a new SYN on `c` is scheduled afresh (new_syn_action == RESCHEDULE, kernel >= 5.9)."""
        return self.new_syn_action(c) == RESCHEDULE
