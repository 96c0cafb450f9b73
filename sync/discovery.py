"""Finding peers on the LAN: mDNS/DNS-SD (zeroconf), and an in-memory LAN for tests.

A node advertises `<id>._edgenode._tcp.local.` with its sync port and TXT records `v` (format),
`mesh` (the mesh tag, a hash of the mesh id), `node` (its node key, hex) and `port`. It browses for
the same service type and reports every peer *of its own mesh* to `on_found(node, addresses)`, and
`on_lost(node)` when the peer withdraws its record. The mesh tag only filters: what a peer may do
is decided by the TLS handshake, never by what it advertises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self

from .errors import SyncError
from .manager import PeerAddress

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


def _local_ipv4() -> list[str]:
    """This machine's IPv4 addresses outside loopback (what peers on the LAN can reach)."""
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                found.append(ip.ip)
    return found or ["127.0.0.1"]


class ZeroconfDiscovery:
    """mDNS advertisement and browsing with python-zeroconf, inside the caller's event loop.

    `port` None browses without advertising (a node that does not listen). `interfaces` limits the
    interfaces mDNS uses (addresses, default all); `addresses` are the ones advertised (default this
    machine's IPv4 addresses outside loopback).
    """

    def __init__(self, *, node: bytes, mesh: bytes, port: int | None, on_found: FoundCallback,
                 on_lost: LostCallback, interfaces: Sequence[str] | None = None,
                 addresses: Sequence[str] | None = None, resolve_timeout_ms: int = 3000):
        self.node = node
        self.mesh = mesh
        self.port = port
        self._on_found = on_found
        self._on_lost = on_lost
        self._interfaces = list(interfaces) if interfaces else None
        self._addresses = list(addresses) if addresses else None
        self._resolve_timeout_ms = resolve_timeout_ms
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._names: dict[str, bytes] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def instance_name(self) -> str:
        return f"{self.node.hex()[:20]}.{SERVICE_TYPE}"

    async def __aenter__(self) -> Self:
        from zeroconf import InterfaceChoice, IPVersion
        from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

        zc = AsyncZeroconf(interfaces=self._interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)
        self._zc = zc
        if self.port is not None:
            info = AsyncServiceInfo(
                SERVICE_TYPE, self.instance_name, port=self.port,
                properties=announcement_txt(self.node, self.mesh, self.port),
                server=f"edgenode-{self.node.hex()[:12]}.local.",
                parsed_addresses=self._addresses or _local_ipv4(),
            )
            self._info = info
            # registration probes the name for about a second: do not hold up the node's start for it
            self._spawn(self._register(info))
        self._browser = AsyncServiceBrowser(zc.zeroconf, [SERVICE_TYPE], handlers=[self._on_change])
        return self

    async def _register(self, info: AsyncServiceInfo) -> None:
        from zeroconf import NonUniqueNameException

        assert self._zc is not None
        try:
            await (await self._zc.async_register_service(info, allow_name_change=True))
        except NonUniqueNameException as exc:
            _log.warning("could not advertise this node over mDNS: %s", exc)

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            if self._info is not None:
                try:  # says goodbye, so peers stop dialing at once rather than when the record expires
                    await self._zc.async_unregister_service(self._info)
                except Exception as error:  # e.g. never registered: nothing to withdraw
                    _log.debug("mDNS unregister: %s", error)
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
    """The in-memory Discovery adapter: announcements reach the other members of a MemoryLan at once."""

    def __init__(self, lan: MemoryLan, *, node: bytes, mesh: bytes, address: PeerAddress | None,
                 on_found: FoundCallback, on_lost: LostCallback):
        self.lan = lan
        self.node = node
        self.mesh = mesh
        self.address = address
        self.on_found = on_found
        self.on_lost = on_lost

    async def __aenter__(self) -> Self:
        for other in self.lan.members:
            if other.mesh == self.mesh:
                if other.address is not None:
                    self.on_found(other.node, [other.address])
                if self.address is not None:
                    other.on_found(self.node, [self.address])
        self.lan.members.append(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.lan.members.remove(self)
        for other in self.lan.members:
            if other.mesh == self.mesh and self.address is not None:
                other.on_lost(self.node)
