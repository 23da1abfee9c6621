"""ARP (RFC 826): the neighbour cache of one host, requests, replies, and the Linux sysctls.

Modelled on net/ipv4/arp.c and net/core/neighbour.c with the default
`/proc/sys/net/ipv4/neigh/default/*` values:

* Resolution: a packet toward an unknown next hop creates an INCOMPLETE entry,
  is queued on it, and a broadcast request goes out at once; further requests
  every `RETRANS_TIME` until `MCAST_SOLICIT` have been sent; one `RETRANS_TIME`
  after the last, the entry fails: every queued packet is reported unreachable
  (the host sends ICMP host unreachable for it, as arp_error_report() does) and
  dropped "arp-failed".  The next packet starts a fresh resolution.
* Pending queue: at most `UNRES_QLEN` packets; a newcomer pushes out the oldest
  ("arp-queue-full"), as __neigh_event_send() does.
* Learning as arp_process() does with arp_accept=0: a request for one of our
  addresses that we answer creates or updates the sender's entry; any other ARP
  frame only updates an entry that already exists (a reply to our own request
  finds our INCOMPLETE entry); unsolicited replies create nothing.  Within
  `LOCKTIME` of an entry's last change a different MAC is ignored, so when
  several hosts answer the same request the *first* answer wins (the DR ARP
  problem: the router keeps whichever of director and real server replied first).
* arp_ignore (max of conf/all and conf/IFACE): 0 answer for any local address,
  whatever interface it is on (including lo); 1 only if the target address is
  configured on the receiving interface; 2 as 1 and the sender must be in that
  address's subnet; 8 never.  A request so ignored is dropped "arp_ignore".
* arp_announce (max of all and IFACE), the source address put in our requests:
  0 the queued packet's source if it is local to this host; 1 that source only
  if it shares a subnet of the outgoing interface with the target; 2 (and the
  fallback of 0 and 1) inet_select_addr(): the outgoing interface's primary
  address in the target's subnet, else its first primary address.

Not modelled: reachability confirmation and ageing (REACHABLE -> STALE ->
DELAY -> PROBE with unicast probes), gratuitous ARP, proxy ARP, arp_filter,
and the rp_filter check arp_process() applies to the sender's address.
Resolved entries stay valid for the whole run.
"""
from __future__ import annotations

from collections import deque

from ipvssim.packet.wire import (
    ARPOP_REPLY, ARPOP_REQUEST, BROADCAST_MAC, ETH_P_ARP, ZERO_MAC, arp_fields, arp_packet,
    ethernet_frame, ip_src, set_eth,
)

__all__ = ["NeighbourTable", "Neighbour", "MCAST_SOLICIT", "RETRANS_TIME", "UNRES_QLEN", "LOCKTIME"]

MCAST_SOLICIT = 3         # neigh/default/mcast_solicit: broadcast requests before giving up
RETRANS_TIME = 1.0        # neigh/default/retrans_time_ms = 1000
UNRES_QLEN = 101          # neigh/default/unres_qlen: SK_WMEM_MAX (212992) / truesize of a full frame
LOCKTIME = 1.0            # neigh/default/locktime (arp_tbl: 1 * HZ)


class Neighbour:
    """One entry: `mac` is None while INCOMPLETE (resolving), with packets waiting in `queue`."""

    __slots__ = ("iface", "ip", "mac", "queue", "probes", "updated")

    def __init__(self, iface, ip: int):
        self.iface = iface
        self.ip = ip
        self.mac: bytes | None = None
        self.queue: deque = deque()
        self.probes = 0
        self.updated = 0.0        # last change of the MAC (neighbour.updated)

    def __repr__(self) -> str:
        state = "INCOMPLETE" if self.mac is None else self.mac.hex(":")
        return f"<Neighbour {self.iface.name} {self.ip:#010x} {state}>"


class NeighbourTable:
    """The ARP cache of `host` (keyed by interface name and IPv4 address)."""

    def __init__(self, host):
        self.host = host
        self.entries: dict[tuple[str, int], Neighbour] = {}

    def lookup(self, iface_name: str, ip: int) -> bytes | None:
        """The resolved MAC of ip on that interface, or None."""
        n = self.entries.get((iface_name, ip))
        return None if n is None else n.mac

    def add(self, iface, ip: int, mac: bytes) -> None:
        """A resolved entry, as `ip neigh replace IP lladdr MAC dev IFACE` would make."""
        self._learn(iface, ip, mac, create=True, override=True)

    # -- output ------------------------------------------------------------------------
    def output(self, iface, nexthop: int, pkt) -> None:
        """Send pkt to nexthop on iface: at once if resolved, else after resolution."""
        n = self.entries.get((iface.name, nexthop))
        if n is not None and n.mac is not None:
            set_eth(pkt.data, n.mac, iface.mac)
            iface.transmit(pkt)
            return
        if n is None:
            n = self.entries[(iface.name, nexthop)] = Neighbour(iface, nexthop)
            n.queue.append(pkt)
            self._probe(n)
            return
        if len(n.queue) >= UNRES_QLEN:
            self.host.drop(n.queue.popleft(), "arp-queue-full", iface.name)
        n.queue.append(pkt)

    def _probe(self, n: Neighbour) -> None:
        host = self.host
        iface = n.iface
        src = self._solicit_source(iface, n.ip, n.queue[-1] if n.queue else None)
        frame = ethernet_frame(BROADCAST_MAC, iface.mac, ETH_P_ARP,
                               arp_packet(ARPOP_REQUEST, iface.mac, src or 0, ZERO_MAC, n.ip))
        host.send_frame(iface, frame)
        n.probes += 1
        ev = host.env.timeout(RETRANS_TIME, n)
        ev.callbacks.append(self._timer)

    def _timer(self, ev) -> None:
        n = ev._value
        key = (n.iface.name, n.ip)
        if self.entries.get(key) is not n or n.mac is not None:
            return                              # resolved (or replaced) meanwhile
        if n.probes < MCAST_SOLICIT:
            self._probe(n)
            return
        del self.entries[key]
        host = self.host
        while n.queue:
            host.neighbour_failed(n.queue.popleft(), n.iface)

    def _solicit_source(self, iface, target: int, pkt) -> int | None:
        """arp_solicit(): the sender protocol address of a request for target."""
        host = self.host
        announce = host.conf(iface, "arp_announce")
        if pkt is not None and announce < 2:
            saddr = ip_src(pkt.data)
            if host.is_local(saddr):
                if announce == 0:
                    return saddr
                if any(a.primary and a.covers(target) and a.covers(saddr) for a in iface.addresses):
                    return saddr
        return iface.select_address(target)

    # -- input -------------------------------------------------------------------------
    def receive(self, iface, pkt) -> None:
        """An ARP frame arrived on iface (already past the MAC filter)."""
        host = self.host
        op, sha, spa, tha, tpa = arp_fields(pkt.data)
        if op != ARPOP_REQUEST and op != ARPOP_REPLY:
            host.drop(pkt, "arp-bad-op", iface.name)
            return
        if op == ARPOP_REQUEST and spa != 0 and host.is_local(tpa) and tpa >> 24 != 127:
            if self._ignore(iface, spa, tpa):
                host.drop(pkt, "arp_ignore", iface.name)
                return
            # neigh_event_ns(): NEIGH_UPDATE_F_OVERRIDE
            self._learn(iface, spa, sha, create=True, override=True)
            reply = ethernet_frame(sha, iface.mac, ETH_P_ARP,
                                   arp_packet(ARPOP_REPLY, iface.mac, tpa, sha, spa))
            host.deliver(pkt, iface.name)
            host.send_frame(iface, reply)
            return
        if spa != 0:
            self._learn(iface, spa, sha, create=False, override=False)
        host.deliver(pkt, iface.name)

    def _ignore(self, iface, sip: int, tip: int) -> bool:
        """arp_ignore(): True when the sysctl forbids answering for tip on iface."""
        mode = self.host.conf(iface, "arp_ignore")
        if mode == 0:
            return False
        if mode == 1:
            return not iface.has_address(tip)
        if mode == 2:
            return not any(a.addr == tip and a.covers(sip) for a in iface.addresses)
        # 3 (scope-link addresses only) has no meaning without address scopes here;
        # 4-7 are reserved; 8 means never reply.
        return mode != 3

    def _learn(self, iface, ip: int, mac: bytes, create: bool, override: bool) -> None:
        key = (iface.name, ip)
        n = self.entries.get(key)
        if n is None:
            if not create:
                return
            n = self.entries[key] = Neighbour(iface, ip)
        mac = bytes(mac)
        if n.mac == mac:
            return
        now = self.host.env.now
        if n.mac is not None and not override and now <= n.updated + LOCKTIME:
            return
        n.mac = mac
        n.updated = now
        iface.neigh_hh[ip] = mac + iface.mac    # destination + source, ready to copy onto a frame
        # neigh_update(): an entry that just became valid releases its waiting packets in order.
        queue = n.queue
        while queue:
            p = queue.popleft()
            set_eth(p.data, n.mac, iface.mac)
            iface.transmit(p)
