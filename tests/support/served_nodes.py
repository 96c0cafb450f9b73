"""Whole nodes served with peer sync, driven through their HTTP API (over httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from edgenode.api.app import build_app
from edgenode.data_lock import hold_data_folder
from edgenode.node import Node, open_node
from edgenode.peering import SyncService, SyncSettings, secure_settings
from edgenode.peering.ports import LiveFeedStore
from sync.discovery import MemoryDiscovery, MemoryLan
from sync.manager import Backoff, PeerAddress
from sync.peer import SessionConfig

from .server_process import free_port

PASSWORD = "password1"


@dataclass
class Served:
    node: Node
    sync: SyncService
    http: httpx.AsyncClient
    port: int

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def login(self, username: str) -> str:
        response = await self.call("POST", "/api/v4/users/login", json={"login_id": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.headers["Token"]


def memory_discovery(lan: MemoryLan) -> Callable[..., MemoryDiscovery]:
    def build(*, node: bytes, mesh: bytes, port: int | None, host: str, on_found: Any, on_lost: Any) -> MemoryDiscovery:
        return MemoryDiscovery(lan, node=node, mesh=mesh, address=PeerAddress("127.0.0.1", port) if port else None,
                               on_found=on_found, on_lost=on_lost)
    return build


@asynccontextmanager
async def served(data_dir: Path, settings: SyncSettings, *, enrolled: bool = False, **options: Any) -> AsyncIterator[Served]:
    """A node with peer sync and its HTTP app (over httpx's ASGI transport), as `edgenode serve` runs them;
    `enrolled`: the node is in a mesh and syncs over its TLS, with admission (otherwise plain TCP)."""
    async with AsyncExitStack() as stack:
        stack.enter_context(hold_data_folder(data_dir, "serving"))  # as `edgenode serve` owns its folder
        node = await stack.enter_async_context(open_node(data_dir))
        options.setdefault("backoff", Backoff(base=0.05, cap=0.2))
        feeds: LiveFeedStore | None = None
        if enrolled:
            settings, feeds = await secure_settings(node.store, data_dir, settings, allow_unenrolled=False)
        sync = await stack.enter_async_context(SyncService(node.store, data_dir, settings, feeds=feeds, **options))
        app = build_app(node.services)
        app.state.sync = sync
        http = await stack.enter_async_context(httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                 base_url="http://localhost"))
        yield Served(node, sync, http, settings.port)


def settings(**kw: Any) -> SyncSettings:
    return replace(SyncSettings(host="127.0.0.1", port=free_port(), mdns=False,
                                session=SessionConfig(keepalive=1)), **kw)


async def until(condition: Callable[[], Any], timeout: float = 15) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)
