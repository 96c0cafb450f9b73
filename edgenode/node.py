"""The composition root: builds a node's subsystems from its data folder, in one place."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode import local_schema
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.mesh import load_mesh
from edgenode.outbound import GuardedClient, InternalAllowList
from edgenode.private_files import secure_data_dir
from edgenode.schema import SCHEMA
from edgenode.services import Context, Services
from edgenode.settings import NodeSettings, load_settings
from edgenode.store import Store
from edgenode.sync_service import SyncService, SyncSettings

__all__ = ["Node", "open_node", "serve_http", "serve_node", "LateSync"]

_log = logging.getLogger(__name__)

LateSync = Callable[[], Awaitable[tuple[SyncSettings, Any]]]
"""Waits until the node may sync (e.g. `edgenode mesh init` ran while it was served), then returns
the settings and store to sync with, as `serve_node`'s `sync` and `sync_store`."""


@dataclass(slots=True)
class Node:
    data_dir: Path
    store: Store
    services: Services

    @property
    def id(self) -> str:
        return node_display_id(self.store.node_id)


@asynccontextmanager
async def open_node(data_dir: Path, settings: NodeSettings | None = None) -> AsyncIterator[Node]:
    """Open (creating on first use) the node whose data lives in `data_dir`, with `settings` if given,
    else those of its settings file (edgenode/settings.py)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings if settings is not None else load_settings(data_dir)
    signer = load_or_create_identity(data_dir)
    secure_data_dir(data_dir, STORE_FILE)  # before SQLite opens the store: its -wal and -shm take the db's mode
    async with Store(data_dir / STORE_FILE, SCHEMA, signer, migrations=LOCAL_MIGRATIONS,
                     backup_scrub=local_schema.scrub_backup) as store:
        enrolment = load_mesh(data_dir)
        outbound = GuardedClient(InternalAllowList.parse(settings.allowed_untrusted_internal_connections))
        context = Context(store, data_dir, first_user_becomes_admin=enrolment is None or enrolment.is_authority,
                          settings=settings, outbound=outbound)
        services = Services.build(context)
        await services.outgoing.start()  # outgoing webhooks fire on posts from now on
        await services.peer_events.start()  # ops from peers raise WebSocket events from now on
        try:
            yield Node(data_dir, store, services)
        finally:
            await services.peer_events.stop()
            await services.commands.stop()  # cancels delayed /echo answers
            await services.outgoing.stop()
            await outbound.aclose()


async def serve_node(node: Node, host: str, port: int, stop: asyncio.Event, sync: SyncSettings | None,
                     sync_store: Any = None, *, sockets: list[socket.socket] | None = None,
                     late_sync: LateSync | None = None) -> None:
    """Serve the API and, unless `sync` is None, peer sync beside it (through `sync_store`, the store as
    the mesh admits foreign ops into it; the store itself if None), until `stop` is set.

    Without `sync`, `late_sync` (if given) is awaited beside the API, and peer sync starts when it
    returns: a node enrolled while it runs starts syncing without a restart."""
    from edgenode.api.app import build_app

    app = build_app(node.services, bound_host=host)
    app.state.sync = None  # GET /api/v4/edgenode/status reads it
    async with AsyncExitStack() as running:
        if sync is not None:
            app.state.sync = await running.enter_async_context(
                SyncService(sync_store if sync_store is not None else node.store, node.data_dir, sync))

        async def start_late(wait: LateSync) -> None:
            try:
                settings, store = await wait()
                app.state.sync = await running.enter_async_context(
                    SyncService(store if store is not None else node.store, node.data_dir, settings))
            except Exception as exc:  # the API keeps serving; the operator reads why sync is off
                _log.error("peer sync could not start: %s", exc)
                return
            _log.warning("peer sync started: this node is now in mesh %s", settings.mesh_id)

        late = asyncio.create_task(start_late(late_sync)) if sync is None and late_sync is not None else None
        try:
            await serve_http(node, host, port, stop, app.state.sync, sockets=sockets, app=app)
        finally:
            if late is not None:
                late.cancel()
                await asyncio.gather(late, return_exceptions=True)


async def serve_http(node: Node, host: str, port: int, stop: asyncio.Event, sync: SyncService | None = None, *,
                     sockets: list[socket.socket] | None = None, app: Any = None) -> None:
    """Serve the Mattermost-compatible API until `stop` is set (the CLI sets it on SIGINT/SIGTERM), on
    `sockets` if given (the CLI binds the port itself, to report a port in use in one line)."""
    import uvicorn

    from edgenode.api.app import build_app
    from edgenode.http_server import server_config

    class _Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            # Signals belong to the caller, which owns the store's lifetime: uvicorn must not
            # re-raise them after shutdown, or the process dies before the store is closed.
            yield

    if app is None:
        app = build_app(node.services, bound_host=host)
        app.state.sync = sync  # GET /api/v4/edgenode/status reads it
    config = server_config(app, host, port, node.services.ctx.settings.limits)
    server = _Server(config)

    async def stop_when_told() -> None:
        await stop.wait()
        server.should_exit = True  # also honoured if set before the server finished starting

    watcher = asyncio.create_task(stop_when_told())
    try:
        await server.serve(sockets=sockets)
    finally:
        watcher.cancel()
