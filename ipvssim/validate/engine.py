"""`validate`: run every rule group over a scenario."""
from __future__ import annotations

from ipvssim.scenario.model import MODES, Scenario
from ipvssim.validate import common, dr, fullnat, nat, tun
from ipvssim.validate.context import CheckContext
from ipvssim.validate.findings import SEVERITIES, Finding

__all__ = ["validate"]

_GROUPS = (common, dr, nat, tun, fullnat)


def validate(scenario: Scenario, mode: str | None = None,
             dataplane: str | None = None) -> list[Finding]:
    """Static checks of a scenario, without simulating it.

    Parameters
    ----------
    scenario : Scenario
        As produced by the loader.
    mode : str, optional
        ``dr``, ``nat``, ``tun`` or ``fullnat``: check as if every real server used
        that forwarding mode (the CLI's ``--mode``); the topology is unchanged.
    dataplane : str, optional
        ``ipvs`` or ``iptables`` for every director (the CLI's ``--dataplane``);
        None = each director host's ``dataplane:``.  Behind an iptables director
        every real server is checked as NAT (kube-proxy only DNATs).

    Returns
    -------
    list of Finding
        Errors first, then warnings, then infos; within a severity in the order
        the rules found them.
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if dataplane is not None and dataplane not in ("ipvs", "iptables"):
        raise ValueError(f"unknown data plane {dataplane!r}; expected ipvs or iptables")
    ctx = CheckContext(scenario, mode, dataplane)
    for group in _GROUPS:
        group.check(ctx)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(ctx.findings, key=lambda f: rank[f.severity])
