"""Rules for DR (and the real-server side TUN shares with it): VIP, ARP, on-link, replies."""
from __future__ import annotations

from ipaddress import IPv4Address

from ipvssim.scenario.model import HostSpec, InterfaceSpec, ServiceSpec
from ipvssim.validate.context import CheckContext, ServerRef
from ipvssim.validate.topology import effective_sysctl

__all__ = ["check"]

_NON_ARP_KINDS = ("loopback", "ipip")
# Documentation/networking/ip-sysctl.rst: arp_announce 2 = always use the best local
# address for the target as ARP sender, never the packet's source (the VIP).
_ARP_ANNOUNCE_BEST_LOCAL = 2


def check(ctx: CheckContext) -> None:
    for svc, svc_where in ctx.services():
        director = ctx.view.host(svc.director)
        for ref in ctx.servers(svc, svc_where):
            if ref.mode not in ("dr", "tun"):
                continue
            _port_mapping(ctx, ref)
            if ref.host is None:
                continue
            _vip_present(ctx, ref)
            _arp(ctx, ref, director)
            if director is not None:
                if ref.mode == "dr":
                    _on_link(ctx, ref, director)
                _reply_path(ctx, ref, director)


def _port_mapping(ctx: CheckContext, ref: ServerRef) -> None:
    svc, rs = ref.service, ref.spec
    if svc.port == 0 or rs.port == svc.port:
        return
    flag = "-g" if ref.mode == "dr" else "-i"
    ctx.emit("PORT-MAPPING", ref.where, rs.loc,
             f"{ref.label} asks for port {rs.port} behind {svc.vip}:{svc.port} in {ref.mode.upper()}: "
             f"`ipvsadm -a -t {svc.vip}:{svc.port} -r {rs.address}:{rs.port} {flag}` silently "
             f"uses {rs.address}:{svc.port}, so {ref.label} receives port {svc.port}",
             f"set port: {svc.port} on this real server (and let its app listen on "
             f"{svc.protocol}/{svc.port}), or use mode: nat or fullnat, which map ports")


def _vip_present(ctx: CheckContext, ref: ServerRef) -> None:
    host, vip = ref.host, ref.service.vip
    if ctx.view.devices_with(host, vip):
        return
    dev = "lo" if ref.mode == "dr" else "tunl0"
    ctx.emit("DR-NO-VIP", ctx.view.host_path(host), host.loc,
             f"{host.name} ({ref.spec.address}) is a {ref.mode.upper()} real server of "
             f"{_svc_label(ref.service)} but has no address {vip}: it drops packets addressed "
             f"to the VIP",
             f"on {host.name}: interfaces: {{{dev}: {{ip: [{vip}/32]}}}}"
             + (", sysctl: {arp_ignore: 1, arp_announce: 2}" if ref.mode == "dr" else ""))


def _vip_segments(ctx: CheckContext, vip: IPv4Address, director: HostSpec | None) -> set[str]:
    """Segments on which somebody ARPs for the VIP: its subnet, or where the director has it."""
    names = {s.name for s in ctx.view.segments_containing(vip)}
    if director is not None:
        names |= {i.segment for i in ctx.view.devices_with(director, vip) if i.kind == "ether"}
    return names


def _arp(ctx: CheckContext, ref: ServerRef, director: HostSpec | None) -> None:
    host, vip = ref.host, ref.service.vip
    if not ctx.view.devices_with(host, vip):
        return
    host_where = ctx.view.host_path(host)
    for seg in sorted(_vip_segments(ctx, vip, director)):
        for iface in ctx.view.on_segment(host, seg):
            answerers = {i.name for h, i in ctx.view.arp_answerers(seg, vip) if h.name == host.name}
            if iface.name in answerers:
                _arp_answer(ctx, ref, iface, seg, host_where)
            announce = effective_sysctl(host, iface, "arp_announce")
            if announce < _ARP_ANNOUNCE_BEST_LOCAL:
                ctx.emit("DR-ARP-ANNOUNCE", f"{host_where}.sysctl", host.loc,
                         f"{host.name} sends ARP requests on {iface.name} (segment {seg}) with "
                         f"effective arp_announce = max(all={host.sysctl.arp_announce or 0}, "
                         f"{iface.name}={iface.sysctl.arp_announce or 0}) = {announce}: for its "
                         f"replies (source {vip}) it announces {vip} with its own MAC",
                         f"on {host.name}: sysctl: {{arp_announce: 2}}", severity="warning")


def _arp_answer(ctx: CheckContext, ref: ServerRef, iface: InterfaceSpec, seg: str,
                host_where: str) -> None:
    host, vip = ref.host, ref.service.vip
    if any(a.ip == vip for a in iface.addresses):
        ctx.emit("DR-ARP", ctx.view.iface_path(host, iface), iface.loc or host.loc,
                 f"{host.name} has the VIP {vip} on {iface.name} (segment {seg}) and answers ARP "
                 f"for it there whatever arp_ignore says: the VIP's traffic may go to "
                 f"{host.name} instead of the director {ref.service.director}",
                 f"on {host.name}: remove {vip} from {iface.name} and put it on "
                 f"{'lo' if ref.mode == 'dr' else 'tunl0'} as {vip}/32; "
                 f"sysctl: {{arp_ignore: 1, arp_announce: 2}}")
        return
    value = effective_sysctl(host, iface, "arp_ignore")
    elsewhere = [i.name for i in host.interfaces
                 if i is not iface and (i.sysctl.arp_ignore or 0) > value]
    trap = (f"; arp_ignore set on {', '.join(elsewhere)} does not count: the check uses the "
            f"receiving interface {iface.name}" if elsewhere else "")
    ctx.emit("DR-ARP", f"{host_where}.sysctl", host.loc,
             f"{host.name} answers ARP for the VIP {vip} on {iface.name} (segment {seg}): "
             f"effective arp_ignore = max(all={host.sysctl.arp_ignore or 0}, "
             f"{iface.name}={iface.sysctl.arp_ignore or 0}) = {value}{trap}",
             f"on {host.name}: sysctl: {{arp_ignore: 1, arp_announce: 2}} "
             f"(host level = conf/all, or interfaces.{iface.name}.sysctl)")


def _on_link(ctx: CheckContext, ref: ServerRef, director: HostSpec) -> None:
    rip = ref.spec.address
    r = ctx.view.route(director, rip)
    if r is None or r.via is None:
        return   # no route: RS-UNREACHABLE; on-link: fine
    gw = ctx.view.resolve(r.segment, r.via) if r.segment else None
    segs = sorted({i.segment for i in director.interfaces if i.kind == "ether"})
    ctx.emit("DR-NOT-ON-LINK", ref.where, ref.spec.loc,
             f"{ref.label} ({rip}) is not on a segment of the director {director.name} "
             f"({', '.join(segs)}): {director.name} would hand the frame for {ref.service.vip} "
             f"to the gateway {r.via}{f' ({gw.name})' if gw else ''} on {r.iface.name}, which "
             f"routes the VIP back to {director.name}",
             f"attach {ref.label} to one of {', '.join(segs)} with an address there, "
             f"or use mode: tun (any routed real server) or fullnat")


def _reply_path(ctx: CheckContext, ref: ServerRef, director: HostSpec) -> None:
    host = ref.host
    for c in ctx.clients(ref.service):
        if c.cip is None or c.host.name == host.name:
            continue
        w = ctx.view.walk(host, c.cip)
        path = " -> ".join(w.hops)
        if director.name in w.hops[1:]:
            ctx.emit("DR-REPLY-VIA-DIRECTOR", ctx.view.host_path(host), host.loc,
                     f"{host.name}'s replies to {c.host.name} ({c.cip}) leave with source "
                     f"{ref.service.vip} via {path}: the director {director.name} owns "
                     f"{ref.service.vip} and drops them as martian source",
                     f"on {host.name}: routes: [{{to: default, "
                     f"{ctx.gateway_hint(host, avoid=director.name)} (not {director.name}), "
                     f"or use mode: nat")
            continue
        if w.reached == c.host.name:
            continue
        ctx.emit("RS-NO-ROUTE-TO-CLIENT", ctx.view.host_path(host), host.loc,
                 f"{host.name} cannot send its replies to {c.host.name} ({c.cip}): "
                 f"{w.failure or 'the path ends at ' + str(w.reached)} (path {path})",
                 ctx.walk_fix(w, f"on {host.name}: routes: [{{to: default, "
                                 f"{ctx.gateway_hint(host, avoid=director.name)} toward {c.cip}"))


def _svc_label(svc: ServiceSpec) -> str:
    return f"{svc.name or 'service'} ({svc.protocol} {svc.vip}:{svc.port})"
