"""The rule catalogue: id, severity and the mechanism behind each rule.

docs/validator-rules.md is the long form of this table for students; a test keeps
the two in step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = ["Rule", "RULES"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str          # default severity; a few rules soften it case by case
    title: str
    why: str               # the mechanism, 1-2 sentences


def _r(id: str, severity: str, title: str, why: str) -> tuple[str, Rule]:
    return id, Rule(id, severity, title, why)


RULES: Mapping[str, Rule] = dict([
    # -- DR / TUN: the real server side -----------------------------------------------
    _r("DR-NO-VIP", "error", "DR/TUN real server without the VIP",
       "DR and TUN deliver the packet still addressed to the VIP; a host without the VIP "
       "as a local address treats it as not-for-me and, with forwarding off, drops it."),
    _r("DR-NOT-ON-LINK", "error", "DR real server not on a director segment",
       "DR only rewrites the destination MAC, so the director must reach the RIP on-link; "
       "otherwise it hands the frame (IP destination still the VIP) to the gateway on its route, "
       "which routes the VIP back to the director until the TTL runs out."),
    _r("DR-ARP", "error", "real server answers ARP for the VIP",
       "With arp_ignore=0 Linux answers ARP for every local address on every interface, "
       "and the effective value is max(all, receiving interface): routers and clients learn the "
       "real server's MAC for the VIP and send traffic straight to it, bypassing the director."),
    _r("DR-ARP-ANNOUNCE", "warning", "real server may announce the VIP in its ARP requests",
       "With arp_announce<2 an ARP request sent for a reply whose source is the VIP carries "
       "the VIP as sender address; neighbours on that segment update their cache entry for "
       "the VIP to the real server's MAC."),
    _r("PORT-MAPPING", "warning", "port mapping asked for in DR/TUN",
       "DR and TUN do not touch the transport header, so ipvsadm silently sets the real "
       "port to the virtual port for -g/-i servers (ipvsadm.c process_options)."),
    _r("DR-REPLY-VIA-DIRECTOR", "error", "DR/TUN reply routed through the director",
       "DR/TUN replies leave the real server with source VIP; a director that receives a "
       "packet whose source is one of its own addresses drops it as a martian source "
       "(fib_validate_source, accept_local=0)."),
    _r("RS-NO-ROUTE-TO-CLIENT", "error", "DR/TUN real server cannot reach the client",
       "In DR and TUN the real server answers the client directly by its own routing table; "
       "with no usable path the reply never arrives."),
    # -- NAT ----------------------------------------------------------------------------
    _r("NAT-REPLY-PATH", "error", "NAT reply does not pass through the director",
       "IPVS NAT rewrites the reply's source RIP back to the VIP only when the reply passes "
       "the director; a reply sent another way reaches the client from RIP, the client's TCP "
       "has no socket for it and answers RST, and the director's entry hangs in SYN_RECV."),
    _r("NAT-CLIENT-ON-RS-SUBNET", "error", "client on a NAT real server's subnet",
       "The real server reaches an on-link client directly (ARP, no gateway), so the reply "
       "bypasses the director with source RIP: the client answers RST, the connection never "
       "completes."),
    _r("NAT-NO-FORWARDING", "error", "NAT director without IP forwarding",
       "NAT replies are routed packets (addressed to the client) that IPVS de-NATs in the "
       "FORWARD hook; with ip_forward=0 the director never forwards them."),
    _r("IPTABLES-DNAT", "info", "the iptables data plane forwards every real server as NAT",
       "kube-proxy's iptables rules only DNAT, and conntrack reverses the reply: whatever IPVS "
       "mode a real server names, the director forwards as NAT, so the replies must come back "
       "through it and a DR, TUN or FULLNAT setup does not apply."),
    # -- TUN ----------------------------------------------------------------------------
    _r("TUN-NO-TUNL0", "error", "TUN real server without an IPIP device",
       "Without tunl0 (the ipip module) the real server has no handler for IP protocol 4 "
       "and answers the encapsulated packet with ICMP protocol unreachable."),
    _r("TUN-RP-FILTER", "error", "strict rp_filter on tunl0",
       "The decapsulated packet arrives on tunl0 with source CIP; strict reverse-path "
       "filtering (effective max(all, tunl0) = 1) finds the route back to CIP on another "
       "interface and drops the packet."),
    _r("TUN-MTU", "warning", "full-size packets do not fit into the tunnel",
       "IPIP adds a 20-byte header (RFC 2003), so a packet that filled the client's path MTU "
       "no longer fits the director-to-real-server path: with DF set the director answers "
       "ICMP fragmentation needed and drops it (a black hole where ICMP is filtered)."),
    # -- FULLNAT ------------------------------------------------------------------------
    _r("FULLNAT-NO-LADDR", "error", "FULLNAT service without local addresses",
       "FULLNAT replaces the client's source with a local address (LIP) of the director; "
       "with an empty pool no connection can be set up."),
    _r("FULLNAT-LADDR-NOT-LOCAL", "error", "FULLNAT local address not on the director",
       "Replies come back addressed to the LIP; if the director does not own it, nobody "
       "answers ARP for it and the director does not accept the replies as local."),
    _r("FULLNAT-LADDR-UNREACHABLE", "error", "real server cannot route back to a local address",
       "The real server replies to the LIP by ordinary routing; without a path that ends at "
       "the director the replies are lost."),
    # -- every mode ---------------------------------------------------------------------
    _r("VIP-UNREACHABLE", "error", "clients cannot reach the VIP",
       "The first packet has to arrive at the director addressed to the VIP: the VIP must be "
       "one of the director's addresses and every client needs a path to it."),
    _r("VIP-ON-DIRECTOR-CLIENT", "error", "the director is one of the clients",
       "IPVS schedules packets in LOCAL_IN and does not handle packets the director "
       "originates toward its own VIP: a local client talks to the director's own stack."),
    _r("RS-UNREACHABLE", "error", "director cannot reach a real server",
       "The director must route to the real server address to forward the request "
       "(rewritten, encapsulated or re-addressed)."),
    _r("RS-NO-HOST", "error", "real server address owned by no host",
       "Nothing in the topology has this address, so forwarded requests go nowhere."),
    _r("NO-APP", "error", "no application on the real server's port",
       "The real server's stack finds no socket for the port: TCP answers RST, UDP ICMP "
       "port unreachable."),
    _r("WEIGHT-ALL-ZERO", "warning", "every real server has weight 0",
       "Weight 0 means quiesced: the scheduler finds no destination and the director answers "
       "every new connection with ICMP port unreachable."),
    _r("SERVICE-NO-RS", "warning", "service without real servers",
       "With no destination the scheduler returns nothing and the director answers every new "
       "connection with ICMP port unreachable."),
    _r("TRAFFIC-NO-SERVICE", "warning", "traffic to a VIP on a port/protocol with no service",
       "IPVS only takes packets that match a virtual service (protocol, VIP, port); the rest "
       "go to the director's own stack, which has no socket: TCP RST or ICMP port unreachable."),
    _r("SCHED-FLAGS", "warning", "scheduler flags that do not fit the scheduler",
       "The kernel stores scheduler flags as generic bits (flag-1 = *-fallback, flag-2 = "
       "*-port) that only sh and mh read; any other scheduler ignores them."),
    _r("PERSIST-SCHED", "info", "persistence on a hashing scheduler",
       "Persistence consults its template (client address, port 0) before the scheduler; "
       "sh/mh already map a client to one server, dh maps everything to one server."),
    _r("SCHED-DEST-HASH", "warning", "destination-hashing scheduler on a single VIP",
       "dh (and lblc/lblcr) key on the packet's destination address, which is the VIP for "
       "every connection of a service: all connections go to one real server."),
])
