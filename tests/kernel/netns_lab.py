"""Small networks of Linux network namespaces for the kernel-reference tests.

A `Lab` makes namespaces with unique names, links them with veth pairs and runs
commands inside them; `lab()` skips the test where namespaces cannot be made.
"""
from __future__ import annotations

import os
import shutil
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
