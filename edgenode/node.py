"""The composition root: builds a node's subsystems from its data folder, in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.schema import SCHEMA
from edgenode.services import Context, Services
from edgenode.store import Store

__all__ = ["Node", "open_node", "serve_http"]


@dataclass(slots=True)
class Node:
    data_dir: Path
    store: Store
    services: Services

    @property
    def id(self) -> str:
        return node_display_id(self.store.node_id)


@asynccontextmanager
async def open_node(data_dir: Path) -> AsyncIterator[Node]:
    """Open (creating on first use) the node whose data lives in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    signer = load_or_create_identity(data_dir)
    async with Store(data_dir / STORE_FILE, SCHEMA, signer, migrations=LOCAL_MIGRATIONS) as store:
        yield Node(data_dir, store, Services.build(Context(store, data_dir)))


async def serve_http(node: Node, host: str, port: int) -> None:
    """Serve the Mattermost-compatible API until the server is told to stop (SIGINT/SIGTERM)."""
    import uvicorn

    from edgenode.api.app import build_app

    config = uvicorn.Config(build_app(node.services), host=host, port=port, log_level="warning",
                            lifespan="off", ws="auto")
    await uvicorn.Server(config).serve()
