"""A node's real app served by uvicorn on a free loopback port, inside the test's own event loop.

The node's store belongs to the loop that opened it, so the server runs as a task of that loop
rather than in a thread. The listening socket is bound before the server starts, so the URL is
known and connectable at once (early connections wait in the backlog).

    async with live_server(api.node) as base_url:   # "http://127.0.0.1:<port>"
        ...
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from starlette.applications import Starlette

from edgenode.api.app import build_app
from edgenode.http_server import server_config
from edgenode.node import Node
from edgenode.settings import Limits

__all__ = ["live_server", "websocket_url"]


class _InProcessServer(uvicorn.Server):
    """uvicorn.Server that leaves the test process's signal handlers alone and stops as soon as asked."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # Ctrl-C must still stop pytest, not just this server

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default headers once
        await self._stop.wait()  # rather than polling should_exit every 100 ms

    def stop(self) -> None:
        self.should_exit = True
        self._stop.set()


@asynccontextmanager
async def live_server(node: Node, limits: Limits | None = None, *, app: Starlette | None = None) -> AsyncIterator[str]:
    """Serve `node` over HTTP and WebSocket until the block ends, with the node's limits (or `limits`);
    yields the base URL. `app`: the node's app as the caller built it (with its sync service, say)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = server_config(app or build_app(node.services, bound_host="127.0.0.1"), "127.0.0.1", port,
                           limits or node.services.ctx.settings.limits, timeout_graceful_shutdown=5)
    server = _InProcessServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        ready.cancel()
        serving.result()  # raises why it could not start
        raise RuntimeError("the server stopped before it started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await serving
        sock.close()


def websocket_url(base_url: str) -> str:
    """The Mattermost WebSocket endpoint of a server at `base_url`."""
    return base_url.replace("http://", "ws://", 1) + "/api/v4/websocket"
