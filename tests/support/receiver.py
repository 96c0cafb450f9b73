"""A real HTTP server for integration tests: 127.0.0.1, an ephemeral port, a background thread.

It records every request it gets and answers each path as told (default: 200 with an empty body),
so outgoing webhooks and slash commands are tested over real sockets, with no mock of the client.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Received", "Receiver"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Reply:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Receiver:
    """Use as a context manager; `url(path)` is where to send, `take()` the next request received."""

    replies: dict[str, _Reply] = field(default_factory=dict)
    received: queue.Queue[Received] = field(default_factory=queue.Queue)

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                split = urlsplit(self.path)
                receiver.received.put(Received(
                    self.command, split.path, dict(parse_qsl(split.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
                reply = receiver.replies.get(split.path, _Reply())
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def answer(self, path: str, body: Any = b"", *, status: int = 200, content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        """How to answer requests for `path` from now on; a non-bytes body is sent as JSON."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.replies[path] = _Reply(status, content_type, raw, tuple((headers or {}).items()))

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def take(self, timeout: float = 5.0) -> Received:
        """The next request received (blocking: call through asyncio.to_thread from async code)."""
        return self.received.get(timeout=timeout)

    def pending(self) -> list[Received]:
        """Every request received and not yet taken, without waiting."""
        out = []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out
