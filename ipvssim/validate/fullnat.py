"""Rules for FULLNAT: the local address pool and the real servers' way back to it."""
from __future__ import annotations

from ipvssim.validate.context import CheckContext

__all__ = ["check"]


def check(ctx: CheckContext) -> None:
    for svc, svc_where in ctx.services():
        director = ctx.view.host(svc.director)
        refs = [r for r in ctx.servers(svc, svc_where) if r.mode == "fullnat"]
        if director is None or not refs:
            continue
        if not svc.local_addresses:
            hint = ctx.view.source_address(director, refs[0].spec.address)
            ctx.emit("FULLNAT-NO-LADDR", svc_where, svc.loc,
                     f"service {svc.name or svc.vip} on {director.name} forwards to "
                     f"{', '.join(r.label for r in refs)} in FULLNAT but has no local_addresses",
                     f"local_addresses: [{hint or 'an address of ' + director.name}] "
                     f"(an address of {director.name} that the real servers route back to)")
            continue
        local = []
        for k, lip in enumerate(svc.local_addresses):
            if ctx.view.is_local(director, lip):
                local.append(lip)
                continue
            iface = next((i.name for i in director.interfaces if i.kind == "ether"), "eth0")
            ctx.emit("FULLNAT-LADDR-NOT-LOCAL", f"{svc_where}.local_addresses[{k}]", svc.loc,
                     f"local address {lip} of service {svc.name or svc.vip} is not configured "
                     f"on the director {director.name}",
                     f"on {director.name}: add {lip} to the interface facing the real servers "
                     f"(interfaces.{iface}.ip), or list one of {director.name}'s addresses")
        for ref in refs:
            if ref.host is None:
                continue
            for lip in local:
                w = ctx.view.walk(ref.host, lip)
                if w.reached == director.name:
                    continue
                reason = w.failure or f"the path ends at {w.reached}"
                near = ctx.address_near(director, ref.host)
                via = (f"via: {near}}}] ({director.name}'s own address on the way)" if near
                       else ctx.gateway_hint(ref.host))
                ctx.emit("FULLNAT-LADDR-UNREACHABLE", ctx.view.host_path(ref.host), ref.host.loc,
                         f"{ref.host.name} cannot reply to the local address {lip} of "
                         f"{director.name}: {reason} (path {' -> '.join(w.hops)})",
                         ctx.walk_fix(w, f"on {ref.host.name}: routes: [{{to: {lip}/32, "
                                         f"{via} toward {director.name}, "
                                         f"or pick a local address on {ref.host.name}'s network"))
