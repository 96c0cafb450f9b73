"""The browser boundary: which Host names the API answers, and which Origins may act with its cookie.

DNS rebinding: a page on evil.example whose name is made to resolve to 127.0.0.1 reaches the node as
if it were its own origin, but the Host header its requests carry is still evil.example. So the API
answers only Host names it knows: loopback names (localhost and *.localhost, 127.0.0.0/8, ::1), the
address it is bound to when that is a specific one, and the names the operator lists
(`allowed_hosts` in settings.toml, `edgenode serve --allowed-host`).

Cross-origin requests: a page of another origin (another port of 127.0.0.1 is another origin) can make
the browser send the node's session cookie with a form POST or a WebSocket upgrade. So a WebSocket
upgrade, and a state-changing request carrying the session cookie, are refused when their Origin is
present and not the node's own (the scheme, host and port the request was sent to). Requests that
authenticate with a bearer token are left alone: a browser never adds one by itself, so another
origin cannot forge them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from .errors import error_body
from .json import json_response

__all__ = ["BrowserBoundary", "host_allowed", "same_origin", "split_host"]

_WILDCARDS = {"", "0.0.0.0", "::"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SESSION_COOKIE = "MMAUTHTOKEN"


def split_host(authority: str) -> tuple[str, int | None] | None:
    """A Host header (or URL authority) as (lower-case host without brackets or final dot, port); None if malformed."""
    try:
        parts = urlsplit("//" + authority)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return host.rstrip("."), port


def _is_loopback_name(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    """Whether the API answers a request with this Host header (None: the header is missing)."""
    parsed = split_host(host_header) if host_header is not None else None
    return parsed is not None and (_is_loopback_name(parsed[0]) or parsed[0] in allowed)


def same_origin(origin: str, scheme: str, host_header: str) -> bool:
    """Whether a browser's Origin is the origin the request was sent to (scheme, host, port)."""
    request_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    theirs = split_host(parts.netloc) if parts.scheme in ("http", "https") else None
    ours = split_host(host_header)
    if theirs is None or ours is None:
        return False  # includes the opaque origin "null" of sandboxed pages and file: URLs
    return (parts.scheme == request_scheme and theirs[0] == ours[0]
            and (theirs[1] or _DEFAULT_PORTS[parts.scheme]) == (ours[1] or _DEFAULT_PORTS[request_scheme]))


def _has_session_cookie(headers: Headers) -> bool:
    for value in headers.getlist("cookie"):
        # Starlette's parser is the one the session lookup reads (Request.cookies): whatever it finds
        # counts, even where SimpleCookie reads a quoted value spanning the session cookie.
        if _SESSION_COOKIE in cookie_parser(value):
            return True
        try:
            cookie = SimpleCookie(value)
        except CookieError:
            return True  # unreadable to us, perhaps not to the parser that reads the session: assume it is there
        if _SESSION_COOKIE in cookie:
            return True
    return False


def _normal(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


class BrowserBoundary:
    """Pure ASGI middleware refusing foreign Host names (400) and cross-origin cookie writes and WebSockets (403)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] = (), bound_host: str | None = None):
        self.app = app
        names = {_normal(name) for name in allowed_hosts}
        if bound_host is not None and _normal(bound_host) not in _WILDCARDS:
            names.add(_normal(bound_host))
        self.allowed = frozenset(names)
        # Host header -> allowed: a node is reached under a handful of names, and parsing one costs a
        # urlsplit and an ipaddress parse per request; bounded, since clients choose the header
        self._hosts: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is None or not self._host_allowed(host):
            await self._refuse(scope, receive, send, 400, "api.context.host_not_allowed.app_error",
                               "This server does not answer under that host name; an operator may add it "
                               "to allowed_hosts.")
            return
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, scope["scheme"], host):
            websocket = scope["type"] == "websocket"
            if websocket or (scope["method"] not in _SAFE_METHODS and _has_session_cookie(headers)):
                await self._refuse(scope, receive, send, 403, "api.context.origin_not_allowed.app_error",
                                   "Requests from another origin may not use this server's session "
                                   "cookie or WebSocket.")
                return
        await self.app(scope, receive, send)

    def _host_allowed(self, host: str) -> bool:
        allowed = self._hosts.get(host)
        if allowed is None:
            allowed = host_allowed(host, self.allowed)
            if len(self._hosts) >= 64:
                self._hosts.clear()
            self._hosts[host] = allowed
        return allowed

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, error_id: str, message: str) -> None:
        response = json_response(error_body(HTTPConnection(scope), status, error_id, message), status)
        if scope["type"] == "http":
            await response(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await WebSocket(scope, receive, send).send_denial_response(response)
        else:
            await send({"type": "websocket.close", "code": 1008})
