"""Finding peers on the LAN: mDNS/DNS-SD (zeroconf), and an in-memory LAN for tests.

A node advertises `<id>._edgenode._tcp.local.` with its sync port and TXT records `v` (format),
`mesh` (the mesh tag, a hash of the mesh id), `node` (its node key, hex) and `port`. It browses for
the same service type and reports every peer *of its own mesh* to `on_found(node, addresses)`, and
`on_lost(node)` when the peer withdraws its record. The mesh tag only filters: what a peer may do
is decided by the TLS handshake, never by what it advertises.

The record follows the host's network (sync/netwatch.py): it carries the addresses usable now,
is withdrawn when none is left and registered again when one returns, and every change also
rebinds zeroconf to the current interfaces and restarts browsing, so a node that booted before its
network came up is found, and finds its peers, within seconds of the link coming up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self

from .errors import SyncError
from .manager import PeerAddress
from .netwatch import POLL_INTERVAL_S, AddressSource, Sleep, follow_addresses, usable_ipv4_addresses

if TYPE_CHECKING:  # imported when used: a node started with --no-mdns never loads zeroconf
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

__all__ = [
    "SERVICE_TYPE", "Announcement", "parse_announcement", "announcement_txt", "Discovery", "ZeroconfDiscovery",
    "MemoryLan", "MemoryDiscovery", "DiscoveryError", "FoundCallback", "LostCallback",
]

SERVICE_TYPE = "_edgenode._tcp.local."
TXT_VERSION = "1"
_log = logging.getLogger(__name__)

FoundCallback = Callable[[bytes, list[PeerAddress]], None]
LostCallback = Callable[[bytes], None]


class DiscoveryError(SyncError):
    """A service record that is not a usable edgenode announcement."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """What a peer advertises: who it is, which mesh, and where its sync port is."""

    node: bytes
    mesh: bytes
    addresses: tuple[PeerAddress, ...]


def announcement_txt(node: bytes, mesh: bytes, port: int) -> dict[str, str]:
    return {"v": TXT_VERSION, "mesh": mesh.hex(), "node": node.hex(), "port": str(port)}


def parse_announcement(txt: Mapping[str, str | None], hosts: Sequence[str], port: int) -> Announcement:
    """Check a resolved record's TXT values; raises DiscoveryError saying what is wrong."""
    if txt.get("v") != TXT_VERSION:
        raise DiscoveryError(f"unsupported announcement version {txt.get('v')!r}")
    try:
        node = bytes.fromhex(txt.get("node") or "")
        mesh = bytes.fromhex(txt.get("mesh") or "")
    except ValueError:
        raise DiscoveryError("node and mesh must be hex") from None
    if len(node) != 32 or not 0 < len(mesh) <= 32:
        raise DiscoveryError("node must be a 32-byte key and mesh a tag of 1..32 bytes")
    if not 0 < port < 65536 or not hosts:
        raise DiscoveryError("the record has no usable address or port")
    return Announcement(node, mesh, tuple(PeerAddress(h, port) for h in hosts))


class Discovery(Protocol):
    """Advertises this node and reports peers of its mesh until the block ends."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


class ZeroconfDiscovery:
    """mDNS advertisement and browsing with python-zeroconf, inside the caller's event loop.

    `port` None browses without advertising (a node that does not listen). `interfaces` limits the
    interfaces mDNS uses (addresses, default all). `addresses` fixes the advertised addresses;
    without it they follow the host's network (`address_source`, polled every `poll_interval`
    seconds with `sleep`): on every change the registration is updated (withdrawn when no address is
    left, registered again when one returns), zeroconf rescans its interfaces, and browsing starts
    over so that peers on a newly joined network are found at once.
    """

    def __init__(self, *, node: bytes, mesh: bytes, port: int | None, on_found: FoundCallback,
                 on_lost: LostCallback, interfaces: Sequence[str] | None = None,
                 addresses: Sequence[str] | None = None, resolve_timeout_ms: int = 3000,
                 address_source: AddressSource = usable_ipv4_addresses, poll_interval: float = POLL_INTERVAL_S,
                 sleep: Sleep = asyncio.sleep):
        self.node = node
        self.mesh = mesh
        self.port = port
        self._on_found = on_found
        self._on_lost = on_lost
        self._interfaces = list(interfaces) if interfaces else None
        self._fixed_addresses = frozenset(addresses) if addresses else None
        self._address_source = address_source
        self._poll_interval = poll_interval
        self._sleep = sleep
        self._resolve_timeout_ms = resolve_timeout_ms
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._followed = False  # the first call of `follow` finds zeroconf just opened: nothing to rescan
        self._names: dict[str, bytes] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def instance_name(self) -> str:
        return f"{self.node.hex()[:20]}.{SERVICE_TYPE}"

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except RuntimeError as exc:  # zeroconf finds no IPv4 interface at all: wait for one to appear
            if self._fixed_addresses is not None:
                raise OSError(str(exc)) from exc
            _log.info("mDNS waits for a network: %s", exc)
        # advertising probes the name for about a second: do not hold up the node's start for it
        if self._fixed_addresses is not None:
            self._spawn(self.follow(self._fixed_addresses))
        else:
            self._spawn(follow_addresses(self._address_source, self.follow, interval=self._poll_interval,
                                         sleep=self._sleep))
        return self

    async def _open(self) -> None:
        from zeroconf import InterfaceChoice, IPVersion
        from zeroconf.asyncio import AsyncZeroconf

        self._zc = AsyncZeroconf(interfaces=self._interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
        await self._browse()

    async def _browse(self) -> None:
        """(Re)start browsing: a new browser queries at once, on every interface zeroconf has now."""
        from zeroconf.asyncio import AsyncServiceBrowser

        assert self._zc is not None
        if self._browser is not None:
            await self._browser.async_cancel()
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, [SERVICE_TYPE], handlers=[self._on_change])

    async def follow(self, hosts: frozenset[str]) -> None:
        """Advertise exactly `hosts` from now on (none: withdraw), and look for peers on the network anew.

        The order matters: goodbyes and updates go out while the old interfaces are still bound;
        a first registration waits until zeroconf has a socket on the new interface.
        """
        first_look, self._followed = not self._followed, True
        if self._zc is None:
            try:
                await self._open()
            except RuntimeError as exc:
                _log.info("mDNS still waits for a network: %s", exc)
                return
        elif not first_look:
            if self._info is not None:
                await self._update_or_withdraw(hosts)
            await self._rescan_interfaces()
            await self._browse()
        if self._info is None and hosts and self.port is not None:
            await self._register(hosts)

    async def _rescan_interfaces(self) -> None:
        assert self._zc is not None
        if hasattr(self._zc, "async_update_interfaces"):  # zeroconf >= 0.150
            await self._zc.async_update_interfaces()
        else:  # an older zeroconf binds its interfaces once: a new instance is the only way to a new network
            await self._close()
            await self._open()

    async def _register(self, hosts: frozenset[str]) -> None:
        from zeroconf import NonUniqueNameException
        from zeroconf.asyncio import AsyncServiceInfo

        assert self._zc is not None and self.port is not None
        info = AsyncServiceInfo(
            SERVICE_TYPE, self.instance_name, port=self.port,
            properties=announcement_txt(self.node, self.mesh, self.port),
            server=f"edgenode-{self.node.hex()[:12]}.local.", parsed_addresses=sorted(hosts),
        )
        try:
            await (await self._zc.async_register_service(info, allow_name_change=True))
        except NonUniqueNameException as exc:
            _log.warning("could not advertise this node over mDNS: %s", exc)
            return
        self._info = info
        _log.info("mDNS: advertising this node at %s", ", ".join(sorted(hosts)))

    async def _update_or_withdraw(self, hosts: frozenset[str]) -> None:
        assert self._zc is not None and self._info is not None
        if hosts:
            # the address records carry the cache-flush bit: peers drop the addresses we no longer list
            self._info.addresses = sorted(hosts)
            await (await self._zc.async_update_service(self._info))
            _log.info("mDNS: now advertising this node at %s", ", ".join(sorted(hosts)))
        else:
            info, self._info = self._info, None
            await (await self._zc.async_unregister_service(info))
            _log.info("mDNS: no usable address left; withdrew this node's record")

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close()

    async def _close(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        if self._zc is not None:
            if self._info is not None:
                try:  # says goodbye, so peers stop dialing at once rather than when the record expires
                    await self._zc.async_unregister_service(self._info)
                except Exception as error:  # e.g. never registered: nothing to withdraw
                    _log.debug("mDNS unregister: %s", error)
                self._info = None
            await self._zc.async_close()
            self._zc = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_change(self, zeroconf: object, service_type: str, name: str, state_change: object) -> None:
        from zeroconf import ServiceStateChange

        if state_change is ServiceStateChange.Removed:
            node = self._names.pop(name, None)
            if node is not None:
                _log.info("mDNS: peer %s withdrew its record", node.hex()[:16])
                self._on_lost(node)
        else:
            self._spawn(self._resolve(service_type, name))

    async def _resolve(self, service_type: str, name: str) -> None:
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo

        assert self._zc is not None
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zc.zeroconf, self._resolve_timeout_ms):
            _log.debug("mDNS: %s did not resolve", name)
            return
        txt = {k: v for k, v in info.decoded_properties.items()}
        try:
            found = parse_announcement(txt, info.parsed_addresses(IPVersion.V4Only), info.port or 0)
        except DiscoveryError as exc:
            _log.debug("mDNS: ignoring %s: %s", name, exc)
            return
        if found.node == self.node or found.mesh != self.mesh:
            return
        self._names[name] = found.node
        _log.info("mDNS: found peer %s at %s", found.node.hex()[:16], ", ".join(map(str, found.addresses)))
        self._on_found(found.node, list(found.addresses))


@dataclass
class MemoryLan:
    """A LAN segment in one process: every MemoryDiscovery on it sees the others' announcements."""

    members: list[MemoryDiscovery] = field(default_factory=list)


class MemoryDiscovery:
    """The in-memory Discovery adapter: announcements reach the other members of a MemoryLan at once.

    With `address_source`, the member follows its "network" like ZeroconfDiscovery: it advertises
    `port` on the hosts the source returns, polled every `poll_interval` seconds; with no host it is
    off the LAN (withdrawn, and it sees no one), and when hosts appear it announces itself and sees
    the others anew.
    """

    def __init__(self, lan: MemoryLan, *, node: bytes, mesh: bytes, address: PeerAddress | None,
                 on_found: FoundCallback, on_lost: LostCallback, port: int | None = None,
                 address_source: AddressSource | None = None, poll_interval: float = POLL_INTERVAL_S,
                 sleep: Sleep = asyncio.sleep):
        if address_source is not None and (address is not None or port is None):
            raise ValueError("a member that follows an address source takes a port, not a fixed address")
        self.lan = lan
        self.node = node
        self.mesh = mesh
        self.addresses: tuple[PeerAddress, ...] = (address,) if address is not None else ()
        self.port = port
        self.on_found = on_found
        self.on_lost = on_lost
        self._source = address_source
        self._poll_interval = poll_interval
        self._sleep = sleep
        self._follower: asyncio.Task[None] | None = None

    def _same_mesh(self) -> list[MemoryDiscovery]:
        return [other for other in self.lan.members if other is not self and other.mesh == self.mesh]

    async def __aenter__(self) -> Self:
        self.lan.members.append(self)
        if self._source is not None:
            self._follower = asyncio.create_task(follow_addresses(
                self._source, self.follow, interval=self._poll_interval, sleep=self._sleep))
            return self
        for other in self._same_mesh():
            if other.addresses:
                self.on_found(other.node, list(other.addresses))
            if self.addresses:
                other.on_found(self.node, list(self.addresses))
        return self

    async def follow(self, hosts: frozenset[str]) -> None:
        """Advertise `port` on exactly `hosts` from now on (none: withdraw), and look at the LAN anew."""
        assert self.port is not None
        had_addresses = bool(self.addresses)
        self.addresses = tuple(PeerAddress(host, self.port) for host in sorted(hosts))
        for other in self._same_mesh():
            if self.addresses:
                other.on_found(self.node, list(self.addresses))
                if other.addresses:
                    self.on_found(other.node, list(other.addresses))
            elif had_addresses:
                other.on_lost(self.node)

    async def __aexit__(self, *exc: object) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        self.lan.members.remove(self)
        for other in self._same_mesh():
            if self.addresses:
                other.on_lost(self.node)
