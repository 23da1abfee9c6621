"""What every rule group needs: the scenario, a topology view, the effective modes, findings."""
from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from ipvssim.scenario.model import HostSpec, Loc, RealServerSpec, Scenario, ServiceSpec, TrafficSpec
from ipvssim.validate.findings import Finding
from ipvssim.validate.rules import RULES
from ipvssim.validate.topology import TopologyView, Walk

__all__ = ["CheckContext", "Client", "ServerRef"]


@dataclass(frozen=True)
class Client:
    """One traffic source sending to a service: host, its source address, the traffic entry."""
    host: HostSpec
    cip: IPv4Address | None
    traffic: TrafficSpec
    where: str


@dataclass(frozen=True)
class ServerRef:
    """A real server of a service with everything rules ask about it."""
    service: ServiceSpec
    service_where: str
    spec: RealServerSpec
    where: str
    mode: str                   # as it forwards: "nat" behind an iptables director
    host: HostSpec | None
    dataplane: str = "ipvs"     # the director's: "ipvs" or "iptables"

    @property
    def label(self) -> str:
        return self.host.name if self.host is not None else str(self.spec.address)


class CheckContext:
    """Shared state of one validation run; rules call `emit`."""

    def __init__(self, scenario: Scenario, mode: str | None, dataplane: str | None = None):
        self.scenario = scenario
        self.mode = mode
        self.dataplane = dataplane      # overrides every director host's `dataplane:`
        self.view = TopologyView(scenario.topology)
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str, str]] = set()

    # -- model access ---------------------------------------------------------------
    def service_where(self, index: int, svc: ServiceSpec) -> str:
        return svc.path or f"services[{index}]"

    def services(self) -> list[tuple[ServiceSpec, str]]:
        return [(svc, self.service_where(i, svc)) for i, svc in enumerate(self.scenario.services)]

    def director_dataplane(self, svc: ServiceSpec) -> str:
        """"ipvs" or "iptables": the data plane of the service's director host."""
        if self.dataplane is not None:
            return self.dataplane
        director = self.view.host(svc.director)
        return director.dataplane if director is not None else "ipvs"

    def servers(self, svc: ServiceSpec, svc_where: str) -> list[ServerRef]:
        refs = []
        dataplane = self.director_dataplane(svc)
        for j, rs in enumerate(svc.real_servers):
            # kube-proxy's iptables rules DNAT every connection, whatever mode is named
            mode = "nat" if dataplane == "iptables" else self.named_mode(rs, svc)
            host = self.view.host(rs.host)
            if host is None:
                owners = self.view.owners(rs.address)
                host = owners[0] if owners else None
            refs.append(ServerRef(svc, svc_where, rs, rs.path or f"{svc_where}.real_servers[{j}]",
                                  mode, host, dataplane))
        return refs

    def named_mode(self, rs: RealServerSpec, svc: ServiceSpec) -> str:
        """The forwarding mode the scenario (or --mode) gives a real server."""
        return self.mode or rs.mode or svc.mode

    def traffic_where(self, index: int, t: TrafficSpec) -> str:
        return t.path or f"traffic[{index}]"

    def clients(self, svc: ServiceSpec) -> list[Client]:
        """Traffic sources that send to this service (VIP, port, protocol).

        The director itself is left out: VIP-ON-DIRECTOR-CLIENT covers it.
        """
        found = []
        for k, t in enumerate(self.scenario.traffic):
            if t.dst != svc.vip or t.protocol != svc.protocol or (svc.port and t.port != svc.port):
                continue
            for name in t.sources:
                host = self.view.host(name)
                if host is not None and name != svc.director:
                    found.append(Client(host, self.view.source_address(host, svc.vip), t,
                                        self.traffic_where(k, t)))
        return found

    def address_near(self, owner: HostSpec, host: HostSpec) -> IPv4Address | None:
        """`owner`'s address on one of `host`'s segments (a usable gateway for `host`)."""
        for iface in host.interfaces:
            if iface.kind != "ether":
                continue
            for o_iface in self.view.on_segment(owner, iface.segment):
                for a in o_iface.addresses:
                    if a.network.prefixlen < 32:
                        return a.ip
        return None

    def gateway_hint(self, host: HostSpec, avoid: str | None = None) -> str:
        """``via: ADDR`` of a forwarding host on one of `host`'s segments, for fix texts."""
        for iface in host.interfaces:
            if iface.kind != "ether":
                continue
            for other in self.scenario.topology.hosts:
                if other.name in (host.name, avoid) or not other.forwarding:
                    continue
                for o_iface in self.view.on_segment(other, iface.segment):
                    for a in o_iface.addresses:
                        if a.network.prefixlen < 32:
                            return f"via: {a.ip}}}] ({other.name})"
        return "via: ROUTER}] (a forwarding host on its segment)"

    @staticmethod
    def walk_fix(w: Walk, default: str) -> str:
        """The concrete fix when a walk died at a router that does not forward."""
        if w.cause == "no-forwarding":
            return f"on {w.hops[-1]}: forwarding: true (it routes between the segments on the way)"
        return default

    # -- reporting ------------------------------------------------------------------
    def emit(self, rule: str, where: str, loc: Loc | None, message: str, fix: str,
             severity: str | None = None, why: str | None = None) -> None:
        """Record a finding once (a host serving several services is checked repeatedly)."""
        key = (rule, where, message)
        if key in self._seen:
            return
        self._seen.add(key)
        spec = RULES[rule]
        self.findings.append(Finding(
            rule=rule, severity=severity or spec.severity, where=where,
            line=loc.line if loc is not None else None,
            file=loc.file if loc is not None else (self.scenario.file or None),
            message=message, why=why or spec.why, fix=fix))
