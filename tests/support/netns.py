"""A virtual LAN of network namespaces for tests that need real multicast (mDNS) without leaving the machine.

    with virtual_lan(["a", "b"], subnet="10.201.0") as lan:
        lan.run("a", sys.executable, "-c", ...)     # argv for Popen: runs inside a's namespace
        lan.set_link("b", up=False); lan.add_address("b", "10.201.0.12")

Each member gets a namespace with loopback up and one veth link `eth0` to a bridge in a hub
namespace, with the address `SUBNET.<index + 1>/24` (unless `addressed=False`); the root namespace
gets no interface, so no packet leaves the test's LAN. Everything is deleted on exit. Needs root
and iproute2: the context manager skips the test (with the reason) otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

__all__ = ["VirtualLan", "ip", "virtual_lan"]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs `ip ARGS` (iproute2); raises CalledProcessError with its output when it fails and `check`."""
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


@dataclass
class VirtualLan:
    subnet: str
    names: tuple[str, ...]
    namespaces: dict[str, str]  # member name -> namespace

    def address(self, name: str, host: int | None = None) -> str:
        """The member's address on the LAN, or another host number in the subnet."""
        return f"{self.subnet}.{self.names.index(name) + 1 if host is None else host}"

    def run(self, name: str, *command: str) -> list[str]:
        """The argv that runs `command` inside the member's namespace."""
        return ["ip", "netns", "exec", self.namespaces[name], *command]

    def set_link(self, name: str, *, up: bool) -> None:
        ip("-n", self.namespaces[name], "link", "set", "eth0", "up" if up else "down")

    def add_address(self, name: str, address: str) -> None:
        ip("-n", self.namespaces[name], "addr", "add", f"{address}/24", "dev", "eth0")

    def remove_address(self, name: str, address: str) -> None:
        ip("-n", self.namespaces[name], "addr", "del", f"{address}/24", "dev", "eth0")


@contextmanager
def virtual_lan(names: Sequence[str], *, subnet: str, addressed: bool = True) -> Iterator[VirtualLan]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces (CI runs as root)")
    if shutil.which("ip") is None:
        pytest.skip("needs the `ip` command: apt-get install iproute2")
    tag = f"{os.getpid() % 100000}{subnet.split('.')[1]}"
    hub_ns = f"enhub{tag}"
    lan = VirtualLan(subnet, tuple(names), {name: f"en{tag}{name}" for name in names})
    made: list[str] = []
    try:
        probe = ip("netns", "add", hub_ns, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot create network namespaces here: {probe.stderr.strip()}")
        made.append(hub_ns)
        hub = ("-n", hub_ns)
        ip(*hub, "link", "set", "lo", "up")
        ip(*hub, "link", "add", "br0", "type", "bridge")
        ip(*hub, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")  # flood mDNS to every port
        ip(*hub, "link", "set", "br0", "up")
        for index, (name, ns) in enumerate(lan.namespaces.items()):
            ip("netns", "add", ns)
            made.append(ns)
            # both ends are created directly inside their namespaces: the root namespace never has them
            ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"port{index}", "netns", hub_ns)
            ip(*hub, "link", "set", f"port{index}", "master", "br0", "up")
            if addressed:
                lan.add_address(name, lan.address(name))
            # as systemd sets it: removing an interface's first address keeps the others (a DHCP renewal)
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"],
                           check=True, timeout=20)
            ip("-n", ns, "link", "set", "eth0", "up", "multicast", "on")
            ip("-n", ns, "link", "set", "lo", "up")
            # multicast leaves by eth0 even while it has no address (and so no route of its own) yet
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        yield lan
    finally:
        for ns in reversed(made):
            ip("netns", "del", ns, check=False)
