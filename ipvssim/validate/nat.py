"""Rules for NAT: the replies must come back through a forwarding director."""
from __future__ import annotations

from ipvssim.scenario.model import HostSpec
from ipvssim.validate.context import CheckContext, ServerRef

__all__ = ["check"]


def check(ctx: CheckContext) -> None:
    for svc, svc_where in ctx.services():
        director = ctx.view.host(svc.director)
        refs = [r for r in ctx.servers(svc, svc_where) if r.mode == "nat"]
        if director is None or not refs:
            continue
        if not director.forwarding:
            ctx.emit("NAT-NO-FORWARDING", ctx.view.host_path(director), director.loc,
                     f"{director.name} directs NAT service {svc.name or svc.vip} "
                     f"({', '.join(r.label for r in refs)}) but has forwarding: false: the "
                     f"replies from the real servers to the clients are not forwarded",
                     f"on {director.name}: forwarding: true")
        for ref in refs:
            if ref.host is not None:
                _reply_path(ctx, ref, director)


def _reply_path(ctx: CheckContext, ref: ServerRef, director: HostSpec) -> None:
    host = ref.host
    gw = ctx.address_near(director, ref.host)
    route_fix = (f"on {host.name}: routes: [{{to: default, via: {gw}}}] ({director.name}'s "
                 f"address on {host.name}'s network)" if gw is not None else
                 f"{director.name} has no address on {host.name}'s network: give it one and "
                 f"route {host.name}'s default via it, or use mode: fullnat")
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
                     f"[{{to: {c.cip}/32, via: {gw or director.name + ' address'}}}], "
                     f"or use mode: fullnat")
            continue
        w = ctx.view.walk(host, c.cip)
        if director.name in w.hops[1:]:
            continue
        path = " -> ".join(w.hops)
        ending = f"; {w.failure}" if w.failure else ""
        ctx.emit("NAT-REPLY-PATH", ctx.view.host_path(host), host.loc,
                 f"{host.name} sends its replies to {c.host.name} ({c.cip}) via {path}, "
                 f"not through the director {director.name}{ending}",
                 route_fix)
