"""Rules for every mode: reaching the VIP and the real servers, apps, weights, schedulers."""
from __future__ import annotations

from ipvssim.scenario.model import HostSpec, ServiceSpec
from ipvssim.validate.context import CheckContext, ServerRef

__all__ = ["check"]

# include/uapi/linux/ip_vs.h: sh and mh read the same two generic flag bits
# (IP_VS_SVC_F_SCHED1 = *-fallback, IP_VS_SVC_F_SCHED2 = *-port).
_FLAG_SCHEDULERS = ("sh", "mh")
_HASHING = ("sh", "mh", "dh")
_DEST_KEYED = ("dh", "lblc", "lblcr")


def check(ctx: CheckContext) -> None:
    _traffic(ctx)
    for svc, svc_where in ctx.services():
        director = ctx.view.host(svc.director)
        refs = ctx.servers(svc, svc_where)
        _weights(ctx, svc, svc_where)
        _scheduler(ctx, svc, svc_where)
        if director is not None:
            _vip(ctx, svc, svc_where, director)
        for ref in refs:
            if ref.host is None:
                ctx.emit("RS-NO-HOST", ref.where, ref.spec.loc,
                         f"real server {ref.spec.address}:{ref.spec.port} of "
                         f"{svc.name or svc.vip} is not an address of any host",
                         "use host: NAME, or an address configured on a host's interface")
                continue
            if director is not None:
                _reach_rs(ctx, ref, director)
            _app(ctx, ref)


def _traffic(ctx: CheckContext) -> None:
    services = ctx.scenario.services
    vips = {s.vip for s in services}
    for k, t in enumerate(ctx.scenario.traffic):
        where = ctx.traffic_where(k, t)
        for svc in services:
            if t.dst == svc.vip and svc.director in t.sources:
                ctx.emit("VIP-ON-DIRECTOR-CLIENT", where, t.loc,
                         f"traffic {t.name or k} is sent from the director {svc.director} to its own "
                         f"VIP {svc.vip}: IPVS does not schedule locally originated packets",
                         f"send from a host other than {svc.director} (from: [CLIENT])")
        if t.dst in vips and not any(
                t.dst == s.vip and t.protocol == s.protocol and (s.port == 0 or s.port == t.port)
                for s in services):
            offered = ", ".join(f"{s.protocol}/{s.port}" for s in services if s.vip == t.dst)
            ctx.emit("TRAFFIC-NO-SERVICE", where, t.loc,
                     f"traffic {t.name or k} goes to {t.protocol} {t.dst}:{t.port}, but the services "
                     f"on {t.dst} are {offered}",
                     f"to: {t.dst}:PORT and protocol matching a service ({offered})")


def _vip(ctx: CheckContext, svc: ServiceSpec, svc_where: str, director: HostSpec) -> None:
    if not ctx.view.is_local(director, svc.vip):
        iface = next((i.name for i in director.interfaces if i.kind == "ether"), "eth0")
        ctx.emit("VIP-UNREACHABLE", svc_where, svc.loc,
                 f"the VIP {svc.vip} of {svc.name or 'the service'} is not configured on the "
                 f"director {director.name}",
                 f"on {director.name}: interfaces.{iface}.ip: [..., {svc.vip}/32]")
        return
    for c in ctx.clients(svc):
        w = ctx.view.walk(c.host, svc.vip, prefer=director.name)
        if w.reached == director.name:
            continue
        reason = w.failure or f"it is delivered to {w.reached} instead"
        ctx.emit("VIP-UNREACHABLE", c.where, c.traffic.loc,
                 f"{c.host.name} cannot reach the VIP {svc.vip} on {director.name}: {reason} "
                 f"(path {' -> '.join(w.hops)})",
                 ctx.walk_fix(w, f"on {c.host.name}: routes: [{{to: default, "
                                 f"{ctx.gateway_hint(c.host)}, and forwarding: true on every "
                                 f"router on the way to {director.name}"))


def _reach_rs(ctx: CheckContext, ref: ServerRef, director: HostSpec) -> None:
    rip = ref.spec.address
    fix = ""
    if ref.mode == "dr":
        # DR needs only the first hop; a gatewayed route is DR-NOT-ON-LINK.
        r = ctx.view.route(director, rip)
        if r is None:
            reason = f"{director.name} has no route to {rip}"
        elif r.via is not None or ctx.view.resolve(r.segment, rip) is ref.host:
            return
        else:
            reason = f"no host on segment {r.segment} answers ARP for {rip}"
        hops = director.name
    else:
        w = ctx.view.walk(director, rip)
        if w.reached == ref.host.name:
            return
        reason = w.failure or f"the path ends at {w.reached}"
        hops = " -> ".join(w.hops)
        if w.cause == "no-forwarding":
            fix = ctx.walk_fix(w, "")
    if not fix:
        fix = (f"on {director.name}: routes: [{{to: default, {ctx.gateway_hint(director)} "
               f"toward {rip}, or attach {director.name} to {ref.label}'s segment")
    ctx.emit("RS-UNREACHABLE", ref.where, ref.spec.loc,
             f"the director {director.name} cannot reach {ref.label} ({rip}): {reason} "
             f"(path {hops})", fix)


def _app(ctx: CheckContext, ref: ServerRef) -> None:
    svc, host = ref.service, ref.host
    if ref.mode in ("dr", "tun") and svc.port:
        ports = [svc.port]     # ipvsadm forces rport = vport (see PORT-MAPPING)
    elif ref.spec.port:
        ports = [ref.spec.port]
    else:
        ports = sorted({t.port for t in ctx.scenario.traffic if t.dst == svc.vip})
    listening = set(host.app.listen) if host.app is not None else set()
    for port in ports:
        if (svc.protocol, port) in listening:
            continue
        have = ", ".join(f"{p}/{n}" for p, n in sorted(listening)) or "nothing"
        ctx.emit("NO-APP", ref.where, ref.spec.loc,
                 f"{host.name} receives {svc.protocol}/{port} for {svc.vip}:{svc.port} "
                 f"({ref.mode}) but listens on {have}",
                 f"on {host.name}: app: {{listen: [{svc.protocol}/{port}]}}")


def _weights(ctx: CheckContext, svc: ServiceSpec, svc_where: str) -> None:
    if not svc.real_servers:
        ctx.emit("SERVICE-NO-RS", svc_where, svc.loc,
                 f"service {svc.name or svc.vip} ({svc.protocol} {svc.vip}:{svc.port}) has no "
                 f"real servers",
                 "add real_servers: [{host: RS}]")
    elif all(rs.weight == 0 for rs in svc.real_servers):
        names = ", ".join(rs.label for rs in svc.real_servers)
        ctx.emit("WEIGHT-ALL-ZERO", svc_where, svc.loc,
                 f"every real server of {svc.name or svc.vip} ({names}) has weight 0 at start",
                 "give at least one real server weight: 1 or more")


def _scheduler(ctx: CheckContext, svc: ServiceSpec, svc_where: str) -> None:
    sched = svc.scheduler
    for flag in svc.flags:
        owner = flag.split("-", 1)[0]
        if owner == sched:
            continue
        if sched in _FLAG_SCHEDULERS:
            twin = f"{sched}-{flag.split('-', 1)[1]}"
            ctx.emit("SCHED-FLAGS", svc_where, svc.loc,
                     f"{svc.name or svc.vip} uses scheduler {sched} with flag {flag}: the kernel "
                     f"stores it as the generic bit that {sched} reads as {twin}",
                     f"flags: [{twin}] (same bit, honest name)", severity="info")
        else:
            ctx.emit("SCHED-FLAGS", svc_where, svc.loc,
                     f"{svc.name or svc.vip} has flag {flag} but scheduler {sched}: only "
                     f"{owner} reads it, {sched} ignores it",
                     f"scheduler: {owner}, or drop {flag} from flags")
    if svc.persistence > 0 and sched in _HASHING:
        _persistence(ctx, svc, svc_where)
    if sched in _DEST_KEYED:
        sev = "warning" if sched == "dh" else "info"
        spill = ("" if sched == "dh" else
                 f"; {sched} moves on only when that server is overloaded "
                 f"(more active connections than its weight)")
        ctx.emit("SCHED-DEST-HASH", svc_where, svc.loc,
                 f"{svc.name or svc.vip} uses {sched}, which keys on the destination address: "
                 f"every connection to {svc.vip} picks the same real server{spill}",
                 "scheduler: sh or mh (per-client hashing), or wlc/rr", severity=sev)


def _persistence(ctx: CheckContext, svc: ServiceSpec, svc_where: str) -> None:
    sched = svc.scheduler
    port_flags = [f for f in svc.flags if f.endswith("-port")]
    if port_flags:
        ctx.emit("PERSIST-SCHED", svc_where, svc.loc,
                 f"{svc.name or svc.vip} combines persistence {svc.persistence:g}s with {sched} "
                 f"and {port_flags[0]}: the template is keyed on the client address alone "
                 f"(port 0), so after the first connection every connection of a client goes "
                 f"to one server and the per-port spread is lost",
                 f"drop persistence (persistence: 0), or drop {port_flags[0]}",
                 severity="warning")
        return
    if sched == "dh":
        what = "already sends every connection to one server (the destination is always the VIP)"
    elif svc.persistence_netmask < 32:
        what = (f"hashes each client address on its own, while the /{svc.persistence_netmask} "
                f"template ties the whole client network to the first server chosen")
    else:
        what = "already sends a client address to one server"
    ctx.emit("PERSIST-SCHED", svc_where, svc.loc,
             f"{svc.name or svc.vip} combines persistence {svc.persistence:g}s with {sched}, which "
             f"{what}; the templates only add stickiness across weight changes, and a server "
             f"set to weight 0 keeps its persistent clients (expire_quiescent_template=0)",
             "persistence: 0 (the hash already sticks), or a non-hashing scheduler such as wlc")
