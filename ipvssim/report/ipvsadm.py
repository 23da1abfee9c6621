"""A director's tables as `ipvsadm -Ln`, `-Ln --stats`, `-Lnc` and `-Sn` print them.

Layouts follow ipvsadm.c (print_title, print_service_entry, print_largenum,
fwd_name/fwd_switch, print_sched_flags of ipvsadm >= 1.28): the same printf
widths, the same sort (services by protocol, address, port; real servers by
address, port -- libipvs ipvs_cmp_services / ipvs_cmp_dests), trailing spaces
included, so the text can be diffed against a real director's.  FULLNAT is
shown the DPVS way (``FullNat``, ``-b``).

>>> from types import SimpleNamespace as NS
>>> from ipaddress import IPv4Address
>>> spec = NS(scheduler="rr", persistence=0, persistence_netmask=32, flags=())
>>> d = NS(addr=int(IPv4Address("10.0.0.11")), port=80, weight=1, mode="dr",
...        activeconns=2, inactconns=5, u_threshold=0, l_threshold=0)
>>> svc = NS(protocol=6, vaddr=int(IPv4Address("10.0.0.100")), port=80, spec=spec, dests=[d])
>>> print(ipvsadm_save(NS(services=[svc])), end="")
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1
"""
from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

__all__ = ["ipvsadm_list", "ipvsadm_save", "ipvsadm_connections", "IPVS_VERSION", "CONN_TAB_SIZE", "FORWARD_NAMES",
           "FORWARD_SWITCHES", "service_stats"]

# include/uapi/linux/ip_vs.h IP_VS_VERSION_CODE 0x010201 -> "1.2.1"; the connection
# hash table size is 1 << CONFIG_IP_VS_TAB_BITS (12 by default).
IPVS_VERSION = "1.2.1"
CONN_TAB_SIZE = 4096

# ipvsadm.c fwd_name() / fwd_switch(); FULLNAT from DPVS's ipvsadm.
FORWARD_NAMES = {"dr": "Route", "nat": "Masq", "tun": "Tunnel", "fullnat": "FullNat"}
FORWARD_SWITCHES = {"dr": "-g", "nat": "-m", "tun": "-i", "fullnat": "-b"}

_PROTO_NAMES = {6: "TCP", 17: "UDP"}
_PROTO_SWITCHES = {6: "-t", 17: "-u"}
# print_sched_flags(): the order ipvsadm prints the scheduler flags in.
_FLAG_ORDER = ("sh-fallback", "sh-port", "mh-fallback", "mh-port")
# ip_vs_proto.c ip_vs_ctpl_state_name_table: a template's state is NONE until a
# connection it controls gets established (IP_VS_CTPL_S_ASSURED).
_TEMPLATE_STATES = ("NONE", "ASSURED")

# print_service_entry(): svc_name is cut at 33 characters, a dest name at 28.
_SVC_NAME_MAX = 33
_DEST_NAME_MAX = 28


def _addr(a: int, port: int) -> str:
    return f"{IPv4Address(a)}:{port}"


def _largenum(i: int) -> str:
    """print_largenum() without --exact: 9 columns, K/M/G/T past 100 million."""
    i = int(i)
    if i < 100_000_000:
        return f"{i:9d}"
    if i < 1_000_000_000:
        return f"{i // 1000:8d}K"
    if i < 100_000_000_000:
        return f"{i // 1_000_000:8d}M"
    if i < 100_000_000_000_000:
        return f"{i // 1_000_000_000:8d}G"
    return f"{i // 1_000_000_000_000:8d}T"


def _sorted_services(director) -> list:
    return sorted(director.services, key=lambda s: (s.protocol, s.vaddr, s.port))


def _sorted_dests(svc) -> list:
    return sorted(svc.dests, key=lambda d: (d.addr, d.port))


def _sched_flags(svc) -> str:
    flags = set(getattr(svc.spec, "flags", ()) or ())
    return ",".join(f for f in _FLAG_ORDER if f in flags and f.startswith(svc.spec.scheduler + "-"))


def _netmask(plen: int) -> str:
    return str(IPv4Network(f"0.0.0.0/{plen}").netmask)


def service_stats(svc) -> dict[str, int]:
    """The service's own counters (the kernel keeps them apart from its servers', so a
    removed server's packets stay in the service total)."""
    return {name: int(getattr(svc, name)) for name in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")}


def ipvsadm_list(director, stats: bool = False) -> str:
    """The director's services as `ipvsadm -Ln` (or `ipvsadm -Ln --stats`) prints them."""
    lines = [f"IP Virtual Server version {IPVS_VERSION} (size={CONN_TAB_SIZE})"]
    if stats:
        lines.append(f"{'Prot LocalAddress:Port':<33} {'Conns':>8} {'InPkts':>8} {'OutPkts':>8} "
                     f"{'InBytes':>8} {'OutBytes':>8}")
        lines.append("  -> RemoteAddress:Port")
    else:
        lines.append("Prot LocalAddress:Port Scheduler Flags")
        lines.append("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
    for svc in _sorted_services(director):
        name = f"{_PROTO_NAMES.get(svc.protocol, '?')}  {_addr(svc.vaddr, svc.port)}"[:_SVC_NAME_MAX]
        spec = svc.spec
        if stats:
            s = service_stats(svc)
            lines.append(f"{name:<33}" + "".join(_largenum(s[k]) for k in
                                                   ("conns", "inpkts", "outpkts", "inbytes", "outbytes")))
        else:
            line = f"{name} {spec.scheduler}"
            flags = _sched_flags(svc)
            if flags:
                line += f" ({flags})"
            if spec.persistence:
                line += f" persistent {int(spec.persistence)}"
                if spec.persistence_netmask != 32:
                    line += f" mask {_netmask(spec.persistence_netmask)}"
            lines.append(line)
        for d in _sorted_dests(svc):
            dname = _addr(d.addr, d.port)[:_DEST_NAME_MAX]
            if stats:
                lines.append(f"  -> {dname:<28}" + "".join(
                    _largenum(getattr(d, k, 0)) for k in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")))
            else:
                lines.append(f"  -> {dname:<28} {FORWARD_NAMES[d.mode]:<7} {d.weight:<6d} "
                             f"{d.activeconns:<10d} {d.inactconns:<10d}")
    return "\n".join(lines) + "\n"


def ipvsadm_save(director) -> str:
    """The director's services as `ipvsadm -Sn` prints them (input for `ipvsadm -R`).

    A server's thresholds are written as ``-x``/``-y`` when set, so the table
    restores exactly.
    """
    lines = []
    for svc in _sorted_services(director):
        spec = svc.spec
        name = f"{_PROTO_SWITCHES.get(svc.protocol, '-t')} {_addr(svc.vaddr, svc.port)}"
        line = f"-A {name} -s {spec.scheduler}"
        flags = _sched_flags(svc)
        if flags:
            line += f" -b {flags}"
        if spec.persistence:
            line += f" -p {int(spec.persistence)}"
            if spec.persistence_netmask != 32:
                line += f" -M {_netmask(spec.persistence_netmask)}"
        lines.append(line)
        for d in _sorted_dests(svc):
            line = f"-a {name} -r {_addr(d.addr, d.port)} {FORWARD_SWITCHES[d.mode]} -w {d.weight}"
            if getattr(d, "u_threshold", 0):
                line += f" -x {d.u_threshold}"
            if getattr(d, "l_threshold", 0):
                line += f" -y {d.l_threshold}"
            lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def _expire_seconds(expires: float, now: float) -> int:
    """ip_vs_conn_seq_show(): ``(cp->timer.expires - jiffies) / HZ``, whole seconds, truncated."""
    return max(0, int(expires - now + 1e-9))


def ipvsadm_connections(director, now: float) -> str:
    """The connection table as `ipvsadm -Lnc` prints it at simulated time `now`.

    Rows come from /proc/net/ip_vs_conn (ip_vs_conn.c ip_vs_conn_seq_show) and
    are printed by ipvsadm.c print_conn: ``%-3s %-6s %-11s %-18s %-18s %s`` with
    the remaining time as MM:SS.  Persistence templates show client port 0 and
    the template state (NONE or ASSURED).  Order: connections then templates,
    each in creation order (the kernel walks its hash buckets instead).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> c = NS(protocol=6, caddr=int(IPv4Address("198.51.100.10")), cport=40000,
    ...        vaddr=int(IPv4Address("10.0.0.100")), vport=80, daddr=int(IPv4Address("10.0.0.11")),
    ...        dport=80, state="FIN_WAIT", expires=127.5, is_template=False)
    >>> print(ipvsadm_connections(NS(table=[c]), now=10.0), end="")
    IPVS connection entries
    pro expire state       source             virtual            destination
    TCP 01:57  FIN_WAIT    198.51.100.10:40000 10.0.0.100:80      10.0.0.11:80
    """
    lines = ["IPVS connection entries",
             f"pro expire {'state':<11} {'source':<18} {'virtual':<18} destination"]
    for c in director.table:
        secs = _expire_seconds(c.expires, now)
        if c.is_template:
            state = _TEMPLATE_STATES[1 if getattr(c, "assured", False) else 0]
        else:
            state = c.state
        expire = f"{secs // 60:02d}:{secs % 60:02d}"
        lines.append(f"{_PROTO_NAMES.get(c.protocol, 'IP'):<3} {expire:<6} "
                     f"{state:<11} {_addr(c.caddr, c.cport):<18} {_addr(c.vaddr, c.vport):<18} "
                     f"{_addr(c.daddr, c.dport)}")
    return "\n".join(lines) + "\n"
