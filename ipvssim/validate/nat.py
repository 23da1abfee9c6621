"""Rules for NAT: the replies must come back through a forwarding director."""
from __future__ import annotations

from ipvssim.scenario.model import HostSpec
from ipvssim.validate.context import CheckContext, ServerRef

__all__ = ["check"]

# The mechanism behind two NAT rules when the director runs kube-proxy's iptables rules.
_IPTABLES_NO_FORWARDING = (
    "kube-proxy DNATs in PREROUTING, so the requests (now addressed to a real server) and "
    "the replies (addressed to the client) are both routed packets; with ip_forward=0 the "
    "director forwards neither.")
_IPTABLES_REPLY_PATH = (
    "conntrack un-DNATs the reply (source RIP back to the VIP) only when it passes the "
    "director; a reply sent another way reaches the client from RIP:rport, the client's TCP "
    "has no socket for it and answers RST.")


def check(ctx: CheckContext) -> None:
    for svc, svc_where in ctx.services():
        director = ctx.view.host(svc.director)
        refs = [r for r in ctx.servers(svc, svc_where) if r.mode == "nat"]
        if director is None or not refs:
            continue
        iptables = refs[0].dataplane == "iptables"
        if iptables:
            _named_modes(ctx, refs, director)
        if not director.forwarding:
            if iptables:     # DNAT in PREROUTING: the requests are routed packets too
                what = f"DNATs service {svc.name or svc.vip} with the iptables data plane"
                lost = "the requests, DNATed to the real servers, and the replies are not forwarded"
            else:
                what = f"directs NAT service {svc.name or svc.vip}"
                lost = "the replies from the real servers to the clients are not forwarded"
            ctx.emit("NAT-NO-FORWARDING", ctx.view.host_path(director), director.loc,
                     f"{director.name} {what} ({', '.join(r.label for r in refs)}) but has "
                     f"forwarding: false: {lost}",
                     f"on {director.name}: forwarding: true",
                     why=_IPTABLES_NO_FORWARDING if iptables else None)
        for ref in refs:
            if ref.host is not None:
                _reply_path(ctx, ref, director)


def _named_modes(ctx: CheckContext, refs: list[ServerRef], director: HostSpec) -> None:
    """Real servers named DR/TUN/FULLNAT behind an iptables director: said once each."""
    for ref in refs:
        named = ctx.named_mode(ref.spec, ref.service)
        if named != "nat":
            ctx.emit("IPTABLES-DNAT", ref.where, ref.spec.loc,
                     f"{director.name} runs the iptables data plane, which DNATs every "
                     f"connection: {ref.label}'s mode {named} is not used, it is forwarded as NAT",
                     f"set the network up for NAT (the replies of {ref.label} through "
                     f"{director.name}), or run {director.name} with dataplane: ipvs")


def _reply_path(ctx: CheckContext, ref: ServerRef, director: HostSpec) -> None:
    host = ref.host
    gw = ctx.address_near(director, ref.host)
    other_mode = "" if ref.dataplane == "iptables" else ", or use mode: fullnat"
    route_fix = (f"on {host.name}: routes: [{{to: default, via: {gw}}}] ({director.name}'s "
                 f"address on {host.name}'s network)" if gw is not None else
                 f"{director.name} has no address on {host.name}'s network: give it one and "
                 f"route {host.name}'s default via it{other_mode}")
    for c in ctx.clients(ref.service):
        if c.cip is None or c.host.name == host.name:
            continue
        r = ctx.view.route(host, c.cip)
        if r is not None and r.via is None:
            net = next((a.network for a in r.iface.addresses if c.cip in a.network), None)
            ctx.emit("NAT-CLIENT-ON-RS-SUBNET", c.where, c.traffic.loc,
                     f"client {c.host.name} ({c.cip}) is on {host.name}'s subnet "
                     f"{net or ''} (segment {r.segment}): {host.name} answers it directly from "
                     f"{ref.spec.address}:{ref.spec.port}, not through {director.name}",
                     f"move {c.host.name} off segment {r.segment}, or on {host.name}: routes: "
                     f"[{{to: {c.cip}/32, via: {gw or director.name + ' address'}}}]"
                     f"{other_mode}")
            continue
        w = ctx.view.walk(host, c.cip)
        if director.name in w.hops[1:]:
            continue
        path = " -> ".join(w.hops)
        ending = f"; {w.failure}" if w.failure else ""
        plane = " (iptables data plane: DNAT)" if ref.dataplane == "iptables" else ""
        ctx.emit("NAT-REPLY-PATH", ctx.view.host_path(host), host.loc,
                 f"{host.name} sends its replies to {c.host.name} ({c.cip}) via {path}, "
                 f"not through the director {director.name}{plane}{ending}",
                 route_fix, why=_IPTABLES_REPLY_PATH if plane else None)
