"""ASGI middleware: path normalisation and the headers every Mattermost response carries."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgenode.ids import new_id

__all__ = ["MattermostHeaders", "VERSION_ID"]

VERSION_ID = "9.11.0.edgenode"
_SLASHES = re.compile(r"/{2,}")


class MattermostHeaders:
    """Collapses repeated slashes (mattermostdriver asks for /posts/{id}//reactions) and adds
    X-Request-Id and X-Version-Id to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if "//" in path:
            path = _SLASHES.sub("/", path)
            scope = {**scope, "path": path, "raw_path": path.encode()}
        request_id = new_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-version-id", VERSION_ID.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
