"""ipvsadm views: byte-exact against ipvsadm.c's printf layouts for a known table."""
from ipaddress import IPv4Address
from types import SimpleNamespace as NS

from ipvssim.report.ipvsadm import ipvsadm_list, ipvsadm_save
from report_fakes import make_director


def known_director(scenario):
    director = make_director(scenario)
    rs2, rs1 = director.services[0].dests          # kernel order: newest first
    rs1.activeconns, rs1.inactconns = 2, 5
    rs2.inactconns = 1
    rs1.conns, rs1.inpkts, rs1.inbytes = 3, 15, 900
    rs2.conns, rs2.inpkts, rs2.inbytes = 1, 123456789, 300
    svc = director.services[0]       # the kernel keeps service totals of its own
    svc.conns, svc.inpkts, svc.inbytes = 4, 15 + 123456789, 1200
    return director


def test_list_matches_ipvsadm_Ln(scenario):
    assert ipvsadm_list(known_director(scenario)) == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  10.0.0.100:80 wrr persistent 360\n"
        "  -> 10.0.0.11:80                 Route   3      2          5         \n"
        "  -> 10.0.0.12:80                 Route   1      0          1         \n")


def test_stats_matches_ipvsadm_Ln_stats_with_large_number_suffix(scenario):
    assert ipvsadm_list(known_director(scenario), stats=True) == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
        "  -> RemoteAddress:Port\n"
        "TCP  10.0.0.100:80                       4  123456K        0     1200        0\n"
        "  -> 10.0.0.11:80                        3       15        0      900        0\n"
        "  -> 10.0.0.12:80                        1  123456K        0      300        0\n")


def test_save_matches_ipvsadm_Sn(scenario):
    assert ipvsadm_save(known_director(scenario)) == (
        "-A -t 10.0.0.100:80 -s wrr -p 360\n"
        "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3\n"
        "-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1\n")


def _dest(addr, port, mode, weight=1, **kw):
    return NS(addr=int(IPv4Address(addr)), port=port, weight=weight, mode=mode, activeconns=0,
              inactconns=0, u_threshold=kw.get("u", 0), l_threshold=kw.get("l", 0))


def test_flags_mask_modes_and_service_order():
    udp = NS(protocol=17, vaddr=int(IPv4Address("10.0.0.100")), port=53,
             spec=NS(scheduler="sh", persistence=60, persistence_netmask=24,
                     flags=("sh-port", "sh-fallback")),
             dests=[_dest("10.0.0.12", 5353, "nat", 2), _dest("10.0.0.11", 5353, "fullnat", u=100, l=50)])
    tcp = NS(protocol=6, vaddr=int(IPv4Address("10.0.0.200")), port=443,
             spec=NS(scheduler="wlc", persistence=0, persistence_netmask=32, flags=()),
             dests=[_dest("192.0.2.7", 443, "tun", 0)])
    director = NS(services=[udp, tcp])
    assert ipvsadm_list(director) == (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  10.0.0.200:443 wlc\n"
        "  -> 192.0.2.7:443                Tunnel  0      0          0         \n"
        "UDP  10.0.0.100:53 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0\n"
        "  -> 10.0.0.11:5353               FullNat 1      0          0         \n"
        "  -> 10.0.0.12:5353               Masq    2      0          0         \n")
    assert ipvsadm_save(director) == (
        "-A -t 10.0.0.200:443 -s wlc\n"
        "-a -t 10.0.0.200:443 -r 192.0.2.7:443 -i -w 0\n"
        "-A -u 10.0.0.100:53 -s sh -b sh-fallback,sh-port -p 60 -M 255.255.255.0\n"
        "-a -u 10.0.0.100:53 -r 10.0.0.11:5353 -b -w 1 -x 100 -y 50\n"
        "-a -u 10.0.0.100:53 -r 10.0.0.12:5353 -m -w 2\n")
