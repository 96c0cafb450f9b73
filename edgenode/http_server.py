"""How the API is served: uvicorn with the node's resource limits.

uvicorn times out idle keep-alive connections but not a client that opens a connection and then sends
nothing, or dribbles its request head a byte at a time (slow loris): each such connection would stay
open for ever, and enough of them exhaust file descriptors. So the node's HTTP protocol gives every
request head `Limits.header_timeout` seconds from the moment the connection opens (or the previous
response ends), like Go's ReadHeaderTimeout, and closes the connection when it runs out.
Connections beyond `Limits.max_connections` get 503; a request head is at most MAX_REQUEST_HEAD_BYTES;
a WebSocket message beyond WS_MAX_MESSAGE_BYTES closes the socket with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from edgenode.api.routes.websocket import MAX_ACTION_BYTES
from edgenode.settings import Limits

__all__ = ["MAX_REQUEST_HEAD_BYTES", "WS_MAX_MESSAGE_BYTES", "server_config"]

MAX_REQUEST_HEAD_BYTES = 64 * 1024
"""The request line and headers together (Mattermost's clients send a few kilobytes at most)."""
WS_MAX_MESSAGE_BYTES = 4 * MAX_ACTION_BYTES
"""Up to this, an oversized client action gets an error reply (it is counted in characters, up to 4
bytes each); beyond it the WebSocket library refuses to buffer more and closes the connection."""


class _HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request head does not arrive in time."""

    head_timeout: float = Limits().header_timeout

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._waiting_since: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        # uvicorn makes a new scope for every request head it completes (WebSocket upgrades too),
        # so "the scope is still the one we armed with" means "no new request head since".
        self._waiting_since = self.scope
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.scope is self._waiting_since and not self.transport.is_closing():
            self.transport.close()


def _protocol(limits: Limits) -> type[H11Protocol]:
    return type("HeadDeadlineProtocol", (_HeadDeadlineProtocol,), {"head_timeout": limits.header_timeout})


def server_config(app: Any, host: str, port: int, limits: Limits, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the API, with the node's limits; `options` pass through (tests).

    proxy_headers is off: the API is reached over loopback, which uvicorn trusts as a proxy by default,
    so X-Forwarded-For would name the client address and the login back-off per address
    (services/login_guard.py) could be escaped by sending a new one with every guess."""
    options.setdefault("proxy_headers", False)
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", ws="auto",
        http=_protocol(limits), timeout_keep_alive=limits.keep_alive_timeout,
        limit_concurrency=limits.max_connections, h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        ws_max_size=WS_MAX_MESSAGE_BYTES, **options)
