"""The node's peering while it runs, opened in one place: `async with open_peering(store, data_dir, settings)`.

It secures the requested sync with the node's mesh (TLS, admission, revocations:
edgenode/peering/admission.py) and runs the sync service. A node in no mesh does not sync unless
asked to explicitly; it waits for an enrolment (`edgenode mesh init` in another process) and starts
syncing then, without a restart, while the API keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenode.store import Store
from sync.manager import PeerAddress
from sync.peer import SessionStats

from .admission import NotEnrolledError, secure_settings
from .mesh_folder import wait_for_mesh
from .service import SyncService, status_document, sync_once
from .settings import SyncSettings

__all__ = ["PeeringSettings", "Peering", "open_peering", "sync_now"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeeringSettings:
    sync: SyncSettings | None = None
    """The sync requested (listener, static peers, mDNS); None: the node does not sync."""
    allow_unenrolled: bool = False
    """Sync over plain TCP although the node is in no mesh (tests, trusted networks only)."""


class Peering:
    """The running peering of a node: its sync service once it runs (a StatusSource for the API)."""

    def __init__(self, store: Store, data_dir: Path, settings: PeeringSettings):
        self.store = store
        self.data_dir = data_dir
        self.settings = settings
        self.service: SyncService | None = None
        """None while sync is off: not requested, or waiting for an enrolment."""

    async def status(self) -> dict[str, Any]:
        if self.service is not None:
            return await self.service.status()
        return status_document(node=self.store.node_id, settings=None, running=False, listening=[], peers=[],
                               mdns=False)


@asynccontextmanager
async def open_peering(store: Store, data_dir: Path, settings: PeeringSettings,
                       **service_options: Any) -> AsyncIterator[Peering]:
    """Run the node's peering for the block; `service_options` go to the SyncService (tests: discovery, backoff)."""
    peering = Peering(store, data_dir, settings)
    requested = settings.sync
    async with AsyncExitStack() as running:
        late: asyncio.Task[None] | None = None
        if requested is not None:
            try:
                secured, feeds = await secure_settings(store, data_dir, requested,
                                                       allow_unenrolled=settings.allow_unenrolled)
            except NotEnrolledError:
                _log.warning("peer sync is off until this node is in a mesh (edgenode mesh init, in another "
                             "terminal, starts it without a restart)")

                async def start_when_enrolled() -> None:
                    try:
                        await wait_for_mesh(data_dir)
                        secured, feeds = await secure_settings(store, data_dir, requested, allow_unenrolled=False)
                        peering.service = await running.enter_async_context(
                            SyncService(store, data_dir, secured, feeds=feeds, **service_options))
                    except Exception as exc:  # the API keeps serving; the operator reads why sync is off
                        _log.error("peer sync could not start: %s", exc)
                        return
                    _log.warning("peer sync started: this node is now in mesh %s", secured.mesh_id)

                late = asyncio.create_task(start_when_enrolled(), name="peer-sync-when-enrolled")
            else:
                _announce(secured)
                peering.service = await running.enter_async_context(
                    SyncService(store, data_dir, secured, feeds=feeds, **service_options))
        try:
            yield peering
        finally:
            if late is not None:
                late.cancel()
                await asyncio.gather(late, return_exceptions=True)


def _announce(settings: SyncSettings) -> None:
    listening = f"on {settings.host}:{settings.port}" if settings.port else "not listening"
    peers = ", ".join(str(p) for p in settings.peers)
    _log.info("peer sync %s over %s%s%s", listening, settings.transport, ", mDNS on" if settings.mdns else "",
                 f", peers {peers}" if peers else "")


async def sync_now(store: Store, data_dir: Path, address: PeerAddress, *, timeout: float,
                   allow_unenrolled: bool) -> tuple[SessionStats, int]:
    """One sync with the peer at `address` under the node's mesh trust (`edgenode sync`); returns
    (stats, bytes on the wire). Raises NotEnrolledError on a node in no mesh unless `allow_unenrolled`."""
    settings, feeds = await secure_settings(store, data_dir, SyncSettings(), allow_unenrolled=allow_unenrolled)
    return await sync_once(store, address, settings, feeds=feeds, timeout=timeout, data_dir=data_dir)

