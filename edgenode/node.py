"""The composition root: builds a node's subsystems from its data folder, in one place."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode import local_schema
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.mesh import load_mesh
from edgenode.outbound import GuardedClient, InternalAllowList
from edgenode.peering import PeeringSettings, StatusSource, open_peering
from edgenode.private_files import secure_data_dir
from edgenode.schema import SCHEMA
from edgenode.services import Context, Services
from edgenode.settings import NodeSettings, load_settings
from edgenode.store import Store

__all__ = ["Node", "open_node", "serve_http", "serve_node"]


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
        await services.playbook_keywords.start()  # posts with a playbook's keywords suggest or start it
        await services.playbook_notifier.start()  # status-update reminders from now on
        await services.boards.peer_events.start()  # and so do board ops from peers
        try:
            yield Node(data_dir, store, services)
        finally:
            await services.playbook_notifier.stop()
            await services.playbook_keywords.stop()
            await services.peer_events.stop()
            await services.boards.peer_events.stop()
            await services.commands.stop()  # cancels delayed /echo answers
            await services.outgoing.stop()
            await outbound.aclose()


async def serve_node(node: Node, host: str, port: int, stop: asyncio.Event, peering: PeeringSettings, *,
                     sockets: list[socket.socket] | None = None) -> None:
    """Serve the API and the node's peering beside it (edgenode/peering/runtime.py) until `stop` is set."""
    from edgenode.api.app import build_app

    app = build_app(node.services, bound_host=host)
    async with open_peering(node.store, node.data_dir, peering) as running:
        app.state.sync = running  # GET /api/v4/edgenode/status reads it
        await serve_http(node, host, port, stop, running, sockets=sockets, app=app)


async def serve_http(node: Node, host: str, port: int, stop: asyncio.Event, sync: StatusSource | None = None, *,
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
