"""Rules for TUN: the IPIP device, reverse-path filtering on it, and the tunnel MTU."""
from __future__ import annotations

from ipvssim.scenario.model import HostSpec, InterfaceSpec
from ipvssim.validate.context import CheckContext, ServerRef
from ipvssim.validate.topology import IPIP_OVERHEAD, effective_sysctl

__all__ = ["check"]

# Documentation/networking/ip-sysctl.rst rp_filter: 1 = strict (RFC 3704).
_RP_FILTER_STRICT = 1
# TCP MSS = MTU - 20 (IPv4) - 20 (TCP), no options (RFC 879 / RFC 6691).
_TCPIP_HEADERS = 40


def check(ctx: CheckContext) -> None:
    for svc, svc_where in ctx.services():
        director = ctx.view.host(svc.director)
        for ref in ctx.servers(svc, svc_where):
            if ref.mode != "tun" or ref.host is None:
                continue
            tunl0 = next((i for i in ref.host.interfaces if i.kind == "ipip"), None)
            if tunl0 is None:
                ctx.emit("TUN-NO-TUNL0", ctx.view.host_path(ref.host), ref.host.loc,
                         f"{ref.host.name} ({ref.spec.address}) is a TUN real server of "
                         f"{svc.vip}:{svc.port} but has no tunl0: it cannot decapsulate the "
                         f"IPIP packets from {svc.director}",
                         f"on {ref.host.name}: interfaces: {{tunl0: {{ip: [{svc.vip}/32]}}}}")
            else:
                _rp_filter(ctx, ref, tunl0)
            if director is not None:
                _mtu(ctx, ref, director)


def _rp_filter(ctx: CheckContext, ref: ServerRef, tunl0: InterfaceSpec) -> None:
    host = ref.host
    value = effective_sysctl(host, tunl0, "rp_filter")
    if value != _RP_FILTER_STRICT:
        return
    # Strict mode passes only if the route back to the source leaves via tunl0 itself.
    clients = [c for c in ctx.clients(ref.service) if c.cip is not None]
    failing = []
    for c in clients:
        r = ctx.view.route(host, c.cip)
        if r is None or r.iface.name != tunl0.name:
            failing.append((c, r))
    if clients and not failing:
        return
    detail = "; ".join(
        f"the route back to {c.cip} ({c.host.name}) leaves via "
        f"{r.iface.name if r else 'nothing'}" for c, r in failing) or \
        "the route back to any client leaves via another interface"
    ctx.emit("TUN-RP-FILTER", f"{ctx.view.host_path(host)}.sysctl", host.loc,
             f"{host.name}: effective rp_filter on {tunl0.name} = max(all={host.sysctl.rp_filter or 0}, "
             f"{tunl0.name}={tunl0.sysctl.rp_filter or 0}) = 1 (strict): decapsulated packets "
             f"arrive on {tunl0.name}, but {detail}",
             f"on {host.name}: sysctl: {{rp_filter: 0}} and interfaces.{tunl0.name}.sysctl: "
             f"{{rp_filter: 0}} (the larger of the two counts; 2 = loose also works)")


def _mtu(ctx: CheckContext, ref: ServerRef, director: HostSpec) -> None:
    svc, host = ref.service, ref.host
    to_rs = ctx.view.walk(director, ref.spec.address)
    if not to_rs.ok:
        return   # RS-UNREACHABLE says so
    room = to_rs.mtu - IPIP_OVERHEAD
    pmtu_disc = director.ipvs.pmtu_disc if director.ipvs is not None else 1
    for c in ctx.clients(svc):
        to_vip = ctx.view.walk(c.host, svc.vip, prefer=director.name)
        if not to_vip.ok or c.cip is None:
            continue
        size = to_vip.mtu
        why_size = f"its path MTU {to_vip.mtu}"
        back = ctx.view.route(host, c.cip)
        if svc.protocol == "tcp" and back is not None and back.mtu < size:
            # The client's segments are bounded by the MSS the real server advertises.
            size = back.mtu
            why_size = f"the MSS {back.mtu - _TCPIP_HEADERS} that {host.name} advertises"
        if size <= room:
            continue
        fix_iface = back.iface.name if back is not None else "eth0"
        ctx.emit("TUN-MTU", ref.where, ref.spec.loc,
                 f"{director.name} -> {host.name} has path MTU {to_rs.mtu}, {room} after the "
                 f"{IPIP_OVERHEAD}-byte IPIP header, but {c.host.name} sends {size}-byte packets "
                 f"({why_size})"
                 + ("" if pmtu_disc else f"; pmtu_disc=0 on {director.name}: they are fragmented"),
                 f"on {host.name}: interfaces.{fix_iface}.mtu: {room} (its SYN-ACK then advertises "
                 f"MSS {room - _TCPIP_HEADERS}), or raise the MTU between {director.name} and "
                 f"{host.name} to {size + IPIP_OVERHEAD}",
                 severity="warning" if pmtu_disc else "info")
