"""What every Focalboard route shares: its two prefixes, the X-Requested-With rule and the plugin's error body.

The plugin answers errors as `{"error": message, "errorCode": status}` (server/api/api.go), not
Mattermost's error JSON, and refuses any v2 request without `X-Requested-With: XMLHttpRequest`
(a CSRF guard: browsers send that header only from scripts of the same origin).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crdt import CrdtError
from edgenode.api.auth import require_session
from edgenode.api.json import json_response
from edgenode.services import Services, Session
from edgenode.services.boards_json import check_ref
from edgenode.services.errors import ServiceError
from edgenode.store import SchemaViolation

__all__ = ["PREFIXES", "plugin_routes", "plugin_error", "ref", "session_and_services", "empty"]

PREFIXES = ("/plugins/focalboard/api/v2", "/api/v2")

log = logging.getLogger("edgenode.api.boards")

Handler = Callable[[Request], Awaitable[Response]]


def plugin_error(status: int, message: str) -> Response:
    return json_response({"error": message, "errorCode": status}, status)


def _guarded(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        if request.headers.get("x-requested-with") != "XMLHttpRequest":
            return plugin_error(400, "checkCSRFToken FAILED")
        try:
            return await handler(request)
        except ServiceError as exc:
            return plugin_error(exc.status, exc.message)
        except (CrdtError, SchemaViolation) as exc:  # input the op model refuses: nothing was written
            return plugin_error(400, f"invalid input: {exc}")
    return run


def plugin_routes(table: Sequence[tuple[str, Handler, str]]) -> list[Route]:
    """(path, handler, method) under each prefix, each behind the plugin's checks."""
    return [Route(prefix + path, _guarded(handler), methods=[method])
            for prefix in PREFIXES for path, handler, method in table]


def ref(request: Request, name: str) -> str:
    return check_ref(request.path_params[name], name)


async def session_and_services(request: Request) -> tuple[Session, Services]:
    session = await require_session(request)
    return session, request.app.state.services


def empty() -> Response:
    return json_response({})
