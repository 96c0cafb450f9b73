"""Peer sync for a node: the peer manager, LAN discovery, a one-shot sync, and the status that the API and CLI show.

`edgenode serve` runs a `SyncService` beside the HTTP API (opened by edgenode/peering/runtime.py). The running node writes its sync status
to `sync-status.json` in the data folder (when it changes, at most once a second), which is how
`edgenode status`, a separate process, reads it.

Transport: with the mesh's TLS contexts (`SyncSettings.server_ssl`/`client_ssl`/`verify_peer`) links
are mutual TLS 1.3 between enrolled nodes. Without them sync speaks plain TCP, and anyone who can
reach the sync port can read and write every feed: acceptable in tests and on a trusted development
network only. Production nodes must run with the mesh contexts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, Self

from edgenode.identity import node_display_id
from edgenode.services.blobs import BlobStore
from edgenode.store import Store
from sync.discovery import Discovery, FoundCallback, LostCallback, ZeroconfDiscovery
from sync.manager import PeerAddress, PeerManager, PeerStatus, tcp_dialer
from sync.peer import PeerSession, SessionStats, mesh_tag

from .blobs import NodeBlobs
from .need_to_know import NeedToKnow
from .ports import LiveFeedStore, StoreReads
from .settings import UNENROLLED_MESH, SyncSettings

__all__ = [
    "SyncService", "DiscoveryFactory", "sync_once", "status_document", "read_status_file", "running_pid",
    "fork_reports", "zeroconf_discovery", "STATUS_FILE",
]

STATUS_FILE = "sync-status.json"
_log = logging.getLogger(__name__)


class DiscoveryFactory(Protocol):
    def __call__(self, *, node: bytes, mesh: bytes, port: int | None, host: str,
                 on_found: FoundCallback, on_lost: LostCallback) -> Discovery: ...


def zeroconf_discovery(*, node: bytes, mesh: bytes, port: int | None, host: str,
                       on_found: FoundCallback, on_lost: LostCallback) -> Discovery:
    """mDNS on every interface, or only on `host`'s when sync listens on one address."""
    only = [host] if host not in ("", "0.0.0.0", "::") else None
    return ZeroconfDiscovery(node=node, mesh=mesh, port=port, on_found=on_found, on_lost=on_lost,
                             interfaces=only, addresses=only)


class SyncService:
    """Run with `async with SyncService(store, data_dir, settings) as sync:`; `await sync.status()` any time.

    Peers read and write `feeds` (the store behind mesh admission: edgenode/peering/admission.py), or
    the store itself when it is None; need-to-know, blobs and the status read `store`."""

    def __init__(self, store: Store, data_dir: Path, settings: SyncSettings, *, feeds: LiveFeedStore | None = None,
                 discovery: DiscoveryFactory | None = zeroconf_discovery, clock: Callable[[], float] = time.time,
                 status_interval: float = 1.0, **manager_options: Any):
        self.store = store
        self.data_dir = data_dir
        self.settings = settings
        self._clock = clock
        self._discovery_factory = discovery if settings.mdns else None
        self._status_interval = status_interval
        self.manager = PeerManager(
            feeds if feeds is not None else store, node=store.node_id, mesh=mesh_tag(settings.mesh_id),
            listen=PeerAddress(settings.host, settings.port) if settings.port else None,
            server_ssl=settings.server_ssl, client_ssl=settings.client_ssl, verify_peer=settings.verify_peer,
            static_peers=settings.peers, config=settings.session, clock=clock,
            entitlements=NeedToKnow(store) if settings.need_to_know else None,
            blobs=NodeBlobs(store, BlobStore(data_dir / "files")), **manager_options)
        if settings.watch_revocations is not None:
            settings.watch_revocations(
                lambda revoked: self.manager.disconnect(revoked, "this node was revoked by the mesh authority"))
        self._discovery: Discovery | None = None
        self._writer: asyncio.Task[None] | None = None
        self._running = False

    async def __aenter__(self) -> Self:
        if self.settings.server_ssl is None:
            _log.warning("peer sync runs over plain TCP without mesh trust: anyone who can reach port %s can read "
                         "and write this node's data; production nodes must sync over the mesh's TLS",
                         self.settings.port)
        await self.manager.start()
        self._running = True
        try:
            if self._discovery_factory is not None:
                port = self.manager.listening[0].port if self.manager.listening else None
                discovery = self._discovery_factory(
                    node=self.store.node_id, mesh=self.manager.mesh, port=port, host=self.settings.host,
                    on_found=self.manager.discovered, on_lost=self.manager.lost)
                try:
                    self._discovery = await discovery.__aenter__()
                except OSError as exc:  # offline-first: no usable interface must not stop the node
                    _log.warning("mDNS is unavailable (%s): peers are not discovered; --peer still works", exc)
            self._writer = asyncio.create_task(self._write_status_loop(), name="sync-status-file")
        except BaseException:
            await self.manager.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._running = False
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        try:
            if self._discovery is not None:
                await self._discovery.__aexit__(None, None, None)
        finally:
            await self.manager.stop()
            await self._write_status(await self.status())

    async def status(self) -> dict[str, Any]:
        """This node, its mesh, and every peer with how it was found and how far behind it is (JSON-ready)."""
        return status_document(
            node=self.store.node_id, settings=self.settings, running=self._running,
            listening=[str(a) for a in self.manager.listening], peers=await self.manager.status(),
            mdns=self._discovery is not None, forks=await fork_reports(self.store))

    async def _write_status_loop(self) -> None:
        last: dict[str, Any] | None = None
        while True:
            current = await self.status()
            if current != last:
                await self._write_status(current)
                last = current
            await asyncio.sleep(self._status_interval)

    async def _write_status(self, document: dict[str, Any]) -> None:
        document = {**document, "updated_at": int(self._clock() * 1000), "pid": os.getpid()}
        try:
            await asyncio.to_thread(_write_private_json, self.data_dir / STATUS_FILE, document)
        except OSError as exc:  # status is a convenience: a full disk must not stop sync
            _log.warning("could not write %s: %s", self.data_dir / STATUS_FILE, exc)


def _write_private_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


_FORKS = ("SELECT f.author, f.scope, k.seq, max(k.seen_at) AS seen_at FROM forks k JOIN feeds f ON f.id = k.feed "
          "GROUP BY k.feed, k.seq ORDER BY seen_at DESC LIMIT ?")


async def fork_reports(store: StoreReads, limit: int = 20) -> list[dict[str, Any]]:
    """The newest forks detected (an author signed two different ops at one sequence number of a
    feed): the second op was quarantined in the `forks` table and the segment refused."""
    return [{"author": node_display_id(row["author"]), "author_key": row["author"].hex(), "scope": row["scope"],
             "seq": row["seq"], "seen_at": row["seen_at"]}
            for row in await store.fetchall(_FORKS, (limit,))]


def status_document(*, node: bytes, settings: SyncSettings | None, running: bool, listening: list[str],
                    peers: list[PeerStatus], mdns: bool, forks: list[dict[str, Any]] | None = None,
                    mesh_id: str | None = None, mesh_role: str | None = None) -> dict[str, Any]:
    """The status as JSON values: times in epoch milliseconds, node ids as shown everywhere else.

    The mesh is the sync settings' if given, else `mesh_id` (the node's enrolment when sync is off),
    else none; `mesh_role` says "authority" or "member" when known."""
    if settings is not None:
        mesh_id = settings.mesh_id
    mesh_id = mesh_id or UNENROLLED_MESH
    return {
        "node": node_display_id(node),
        "node_key": node.hex(),
        "mesh": {"id": mesh_id, "tag": mesh_tag(mesh_id).hex(), "enrolled": mesh_id != UNENROLLED_MESH,
                 "role": mesh_role if mesh_id != UNENROLLED_MESH else None},
        "sync": {
            "running": running,
            "listening": listening,
            "transport": settings.transport if settings is not None else None,
            "mdns": mdns,
            "static_peers": [str(p) for p in settings.peers] if settings is not None else [],
        },
        "peers": [
            {
                "node": node_display_id(p.node) if p.node is not None else None,
                "node_key": p.node.hex() if p.node is not None else None,
                "addresses": list(p.addresses),
                "found": list(p.found),
                "connected": p.connected,
                "last_contact_at": _ms(p.last_contact),
                "last_sync_at": _ms(p.last_sync),
                "to_send": p.to_send,
                "to_receive": p.to_receive,
                "ops_sent": p.ops_sent,
                "ops_received": p.ops_received,
                "failures": p.failures,
                "next_attempt_at": _ms(p.next_attempt),
                "last_error": p.last_error,
                "diverged": [{"author": node_display_id(f.author), "author_key": f.author.hex(), "scope": f.scope}
                             for f in p.diverged],
            }
            for p in sorted(peers, key=lambda p: (p.node is None, p.node or b"", p.addresses))
        ],
        "forks": forks or [],
    }


def read_status_file(data_dir: Path) -> dict[str, Any] | None:
    """The status the running (or last) `edgenode serve` of this data folder wrote, if any."""
    try:
        document = json.loads((data_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def running_pid(document: dict[str, Any] | None) -> int | None:
    """The pid of the serve process that wrote `document`, if it says it runs and that process is alive."""
    if not document or not document.get("sync", {}).get("running"):
        return None
    pid = document.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by someone else
    return pid


async def sync_once(store: Store, address: PeerAddress, settings: SyncSettings, *, feeds: LiveFeedStore | None = None,
                    timeout: float = 10.0, data_dir: Path | None = None) -> tuple[SessionStats, int]:
    """Dial `address`, sync both ways until both ends are caught up, hang up; returns (stats, bytes on the wire).

    The peer reads and writes `feeds` (the store behind admission) if given, else `store`. With
    `data_dir` (the node's data folder) the file attachments' bytes move too.

    Raises sync.PeerUnreachableError (one line, says why) when no connection can be made.
    """
    dial = tcp_dialer(settings.client_ssl, settings.verify_peer, timeout)
    link, verified = await dial(address)
    session = PeerSession(feeds if feeds is not None else store, link, node=store.node_id, mesh=mesh_tag(settings.mesh_id), initiator=True,
                          config=replace(settings.session, live=False), verified_node=verified,
                          entitlements=NeedToKnow(store) if settings.need_to_know else None,
                          blobs=NodeBlobs(store, BlobStore(data_dir / "files")) if data_dir is not None else None)
    stats = await session.run()
    return stats, link.bytes_sent + link.bytes_received
