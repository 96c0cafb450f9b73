"""Following the host's network: the IPv4 addresses peers can reach us at, polled until they change.

A field laptop's network comes and goes (a cable plugged, Wi-Fi joined, a DHCP renewal, a link
lost), and a node often starts before any of it is up. `follow_addresses` hands the current set of
usable addresses to a callback at once and again whenever the set changes; discovery re-advertises
and re-browses on each call. It polls, because neither zeroconf nor ifaddr reports changes and a
netlink subscription would be Linux-only; a poll is one getifaddrs() call, run off the event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import logging
import socket
import struct
import sys
from collections.abc import Awaitable, Callable

__all__ = ["POLL_INTERVAL_S", "AddressSource", "Sleep", "follow_addresses", "usable_ipv4_addresses"]

AddressSource = Callable[[], frozenset[str]]
"""Returns the addresses this host can be reached at right now (blocking is allowed: it runs in a thread)."""
Sleep = Callable[[float], Awaitable[None]]

POLL_INTERVAL_S = 2.0
"""How often the interfaces are read: a peer learns of a new link within this, plus mDNS's own ~1 s."""

_log = logging.getLogger(__name__)

# SIOCGIFFLAGS: the kernel's flags of an interface, with IFF_RUNNING (a carrier) computed live.
_SIOCGIFFLAGS = {"linux": 0x8913, "darwin": 0xC0206911}.get(sys.platform)
_IFF_UP, _IFF_RUNNING = 0x1, 0x40
_IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux and macOS: a 16-byte name, then a union of at most 24


def usable_ipv4_addresses() -> frozenset[str]:
    """This host's IPv4 addresses outside loopback, on interfaces that are up and have a carrier.

    An address stays configured on an unplugged interface, but no peer can reach it there.
    """
    import ifaddr  # a dependency of zeroconf: loaded only by a node that uses mDNS

    found: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for adapter in ifaddr.get_adapters():
            ipv4 = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback]
            if ipv4 and _link_is_up(probe, adapter.name):
                found.update(ipv4)
    return frozenset(found)


def _link_is_up(probe: socket.socket, name: str | bytes) -> bool:
    if _SIOCGIFFLAGS is None:  # no portable way to ask elsewhere: count every configured address
        return True
    raw_name = name if isinstance(name, bytes) else name.encode()
    try:
        answer = fcntl.ioctl(probe.fileno(), _SIOCGIFFLAGS, struct.pack(f"16s{_IFREQ_SIZE - 16}x", raw_name[:15]))
    except OSError:  # vanished between the listing and this question
        return False
    flags: int = struct.unpack_from("16sH", answer)[1]
    return flags & (_IFF_UP | _IFF_RUNNING) == _IFF_UP | _IFF_RUNNING


async def follow_addresses(source: AddressSource, apply: Callable[[frozenset[str]], Awaitable[None]], *,
                           interval: float = POLL_INTERVAL_S, sleep: Sleep = asyncio.sleep) -> None:
    """Call `apply(addresses)` with the current set at once, then after each change, until cancelled.

    A failing `apply` is logged and retried at the next poll (the network is in flux: a socket may
    vanish under it); a failing `source` counts as "no change".
    """
    applied: frozenset[str] | None = None
    while True:
        current: frozenset[str] | None
        try:
            current = await asyncio.to_thread(source)
        except OSError as exc:
            _log.warning("cannot read this host's network interfaces: %s", exc)
            current = applied
        if current is not None and current != applied:
            _log.info("network addresses now: %s", ", ".join(sorted(current)) or "none")
            try:
                await apply(current)
            except Exception as exc:  # noqa: BLE001 -- retried: one bad moment must not end discovery for good
                _log.warning("could not follow the network change (retrying in %s s): %r", interval, exc)
            else:
                applied = current
        await sleep(interval)
