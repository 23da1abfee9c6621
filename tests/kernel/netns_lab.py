"""Small networks of Linux network namespaces for the kernel-reference tests.

A `Lab` makes namespaces with unique names, links them with veth pairs and runs
commands inside them; `lab()` skips the test where namespaces cannot be made.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from contextlib import contextmanager

import pytest

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, ip and iptables")

# A client's TCP connect from inside a namespace: what it ends in.
CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(1.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error", e.errno)
"""


# Send one UDP datagram (argv: address, TTL, payload size, DF 0/1), then read the first
# ICMP error that comes back on a raw socket: "SOURCE TYPE CODE MTU", or "none".
ICMP_PROBE = """
import socket, struct, sys
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(2)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, int(sys.argv[2]))
if sys.argv[4] == "1":
    udp.setsockopt(socket.IPPROTO_IP, 10, 2)   # IP_MTU_DISCOVER, IP_PMTUDISC_DO (linux/in.h)
udp.sendto(b"x" * int(sys.argv[3]), (sys.argv[1], 53))
try:
    pkt, (src, _) = icmp.recvfrom(2048)
except socket.timeout:
    print("none")
else:
    ihl = (pkt[0] & 15) * 4
    t, c, _, _, mtu = struct.unpack_from("!BBHHH", pkt, ihl)
    print(src, t, c, mtu)
"""


def flow_outcome(flow) -> str:
    """A simulated connection's end in the words of CONNECT."""
    if flow.status == "succeeded":
        return "connected"
    return "refused" if flow.reason == "reset" else "timeout"


def first_icmp_to(frames, addr: str) -> tuple:
    """(source, type, code, next-hop MTU) of the first ICMP to `addr` among captured
    (time, frame) records -- ICMP_PROBE's answer, from ipvssim -- or ("none",)."""
    dst = bytes(map(int, addr.split(".")))
    for _t, f in frames:
        if f[23] == 1 and f[30:34] == dst:
            t, c, _, _, mtu = struct.unpack_from("!BBHHH", f, 34)
            return ".".join(map(str, f[26:30])), t, c, mtu
    return ("none",)


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30).stdout


class Lab:
    def __init__(self, names):
        tag = uuid.uuid4().hex[:6]
        self.ns = {name: f"ipvssim-{name}-{tag}" for name in names}

    def run(self, name: str, *args: str, check: bool = True) -> str:
        return sh("ip", "netns", "exec", self.ns[name], *args, check=check)

    def link(self, a: str, a_dev: str, b: str, b_dev: str) -> None:
        sh("ip", "link", "add", a_dev, "netns", self.ns[a], "type", "veth", "peer", "name", b_dev,
           "netns", self.ns[b])

    def addr(self, name: str, dev: str, *addresses: str) -> None:
        for a in addresses:
            self.run(name, "ip", "addr", "add", a, "dev", dev)
        self.run(name, "ip", "link", "set", dev, "up")

    def connect(self, name: str, addr: str, port: int) -> str:
        return self.run(name, "python3", "-c", CONNECT, addr, str(port)).strip()

    def probe(self, name: str, addr: str, ttl: int = 64, size: int = 32, df: bool = False) -> tuple:
        """ICMP_PROBE from `name`: (source, type, code, mtu) of the error, or ("none",)."""
        out = self.run(name, "python3", "-c", ICMP_PROBE, addr, str(ttl), str(size),
                       "1" if df else "0").split()
        return (out[0], *map(int, out[1:])) if len(out) == 4 else tuple(out)

    def vip_on_lo_pair(self, cip: str, rip: str, vip: str, sysctl: str, value: int) -> None:
        """Namespaces c and rs on one link; rs holds `vip` on lo, conf/all and conf/r0
        `sysctl` (arp_ignore, arp_announce) set to `value`."""
        self.link("c", "c0", "rs", "r0")
        self.addr("c", "c0", f"{cip}/24")
        self.addr("rs", "r0", f"{rip}/24")
        self.run("rs", "ip", "addr", "add", f"{vip}/32", "dev", "lo")
        for conf in ("all", "r0"):
            self.run("rs", "sysctl", "-qw", f"net.ipv4.conf.{conf}.{sysctl}={value}")


@contextmanager
def lab(*names: str):
    """A Lab of namespaces `names` (lo up in each), removed afterwards."""
    lab = Lab(names)
    try:
        for n in lab.ns.values():
            sh("ip", "netns", "add", n)
    except (subprocess.CalledProcessError, OSError) as err:
        for n in lab.ns.values():
            sh("ip", "netns", "del", n, check=False)
        pytest.skip(f"network namespaces unavailable: {err}")
    try:
        for name in names:
            lab.run(name, "ip", "link", "set", "lo", "up")
        yield lab
    finally:
        for n in lab.ns.values():
            sh("ip", "netns", "del", n, check=False)
