"""A real server of a virtual service: kernel `struct ip_vs_dest`.

Counts and the overload flag follow net/netfilter/ipvs/ip_vs_conn.c
(ip_vs_bind_dest / ip_vs_unbind_dest) and ip_vs_ctl.c (__ip_vs_update_dest);
the protocol state machines move connections between active and inactive
(ip_vs_proto_tcp.c set_tcp_state).
"""
from __future__ import annotations

from ipvssim.packet.wire import ip_ntoa

__all__ = ["Dest", "MODES", "find_dest"]

MODES = ("dr", "nat", "tun", "fullnat")


class Dest:
    """Real server state the schedulers and the connection table share.

    ``weight`` is a property: every assignment also keeps ``last_weight``
    (the latest non-zero weight, ip_vs_ctl.c __ip_vs_update_dest), which the
    mh scheduler builds its table from -- so a server edited to weight 0 keeps
    its Maglev slots and yields "no destination available" there.  The value
    lives in the slot ``_weight``, which the least-connection schedulers (wlc,
    lc, sed, nq) read directly in their per-server loops (one property call less
    per server and new connection); assignments must go through the property.

    Examples
    --------
    >>> d = Dest(addr=0x0A000001, port=80, weight=1, u_threshold=2)
    >>> d.bind_conn(is_template=False, active=False)
    >>> d.bind_conn(is_template=False, active=False)
    >>> d.overloaded, d.inactconns
    (True, 2)
    >>> d.unbind_conn(is_template=False, was_active=False)
    >>> d.overloaded      # 1 * 4 < 2 * 3: below 3/4 of the upper threshold
    False
    """
    __slots__ = ("addr", "port", "_weight", "last_weight", "mode", "u_threshold", "l_threshold",
                 "activeconns", "inactconns", "persistconns", "overloaded", "available", "label",
                 "conns", "inpkts", "outpkts", "inbytes", "outbytes")

    def __init__(self, addr: int, port: int, weight: int = 1, mode: str = "dr",
                 u_threshold: int = 0, l_threshold: int = 0, label: str = ""):
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.addr = addr
        self.port = port
        self._weight = weight
        # On add the kernel stores last_weight even when it is 0 (a server
        # added quiesced takes no mh slots).
        self.last_weight = weight
        self.mode = mode
        self.u_threshold = u_threshold
        self.l_threshold = l_threshold
        self.activeconns = 0
        self.inactconns = 0
        self.persistconns = 0
        self.overloaded = False     # IP_VS_DEST_F_OVERLOAD
        self.available = True       # IP_VS_DEST_F_AVAILABLE: cleared when unlinked from the service
        self.label = label
        # ipvsadm --stats counters, kept by the director.
        self.conns = 0
        self.inpkts = 0
        self.outpkts = 0
        self.inbytes = 0
        self.outbytes = 0

    @property
    def weight(self) -> int:
        return self._weight

    @weight.setter
    def weight(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"weight must be >= 0, got {value}")
        if value != 0:
            self.last_weight = value
        self._weight = value

    def update(self, weight: int, u_threshold: int | None = None,
               l_threshold: int | None = None) -> None:
        """ipvsadm -e: __ip_vs_update_dest() for an existing server.

        The caller then runs the scheduler's ``upd_dest`` hook.
        """
        self.weight = weight
        if u_threshold is not None:
            # Raising or removing the upper threshold clears the overload flag at once.
            if u_threshold == 0 or u_threshold > self.u_threshold:
                self.overloaded = False
            self.u_threshold = u_threshold
        if l_threshold is not None:
            self.l_threshold = l_threshold

    def total_conns(self) -> int:
        """ip_vs_dest_totalconns(): active + inactive (templates do not count)."""
        return self.activeconns + self.inactconns

    def bind_conn(self, is_template: bool, active: bool = False) -> None:
        """ip_vs_bind_dest(): a new entry starts inactive.

        ``active`` is only true for a non-template entry created already
        active (connection sync); a new local connection is always inactive.
        """
        if is_template:
            self.persistconns += 1
        elif active:
            self.activeconns += 1
        else:
            self.inactconns += 1
        if self.u_threshold and self.activeconns + self.inactconns >= self.u_threshold:
            self.overloaded = True

    def unbind_conn(self, is_template: bool, was_active: bool) -> None:
        """ip_vs_unbind_dest(): an entry expired; maybe leave the overload state.

        Mainline logic as of v6.x.  (A 2026 netdev patch, "ipvs: properly
        update the overload flag on dest edit", would fold this into one
        helper with the same thresholds.)
        """
        if is_template:
            self.persistconns -= 1
        elif was_active:
            self.activeconns -= 1
        else:
            self.inactconns -= 1
        total = self.activeconns + self.inactconns
        if self.l_threshold:
            if total < self.l_threshold:
                self.overloaded = False
        elif self.u_threshold:
            # Default lower threshold: 3/4 of the upper one.
            if total * 4 < self.u_threshold * 3:
                self.overloaded = False
        else:
            self.overloaded = False

    def conn_became_active(self) -> None:
        """A connection entered an active state (set_tcp_state: INACTIVE flag cleared)."""
        self.inactconns -= 1
        self.activeconns += 1

    def conn_became_inactive(self) -> None:
        """A connection left the active states (set_tcp_state: INACTIVE flag set)."""
        self.activeconns -= 1
        self.inactconns += 1

    def __repr__(self) -> str:
        a = self.addr
        ip = f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
        name = f"{self.label} " if self.label else ""
        return (f"<Dest {name}{ip}:{self.port} w={self._weight} act={self.activeconns} "
                f"inact={self.inactconns}{' OVERLOAD' if self.overloaded else ''}"
                f"{'' if self.available else ' removed'}>")


def find_dest(dests, key: str) -> Dest | None:
    """A real server of `dests` by its label (host name), "ADDR" or "ADDR:PORT"."""
    for d in dests:
        addr = ip_ntoa(d.addr)
        if key in (d.label, addr, f"{addr}:{d.port}"):
            return d
    return None
