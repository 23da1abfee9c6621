"""Director data planes other than IPVS, with the same outward interface as `ipvssim.ipvs.director.Director`.

`iptables`: kube-proxy's iptables mode (one linear KUBE-SERVICES chain, random
endpoint choice, conntrack, DNAT) -- for comparing against IPVS
(docs/ipvs-reference.md section 1).
"""
from __future__ import annotations

__all__ = ["DATAPLANES"]

# Values of a director host's `dataplane:` key and of `ipvssim run --dataplane`.
DATAPLANES = ("ipvs", "iptables")
