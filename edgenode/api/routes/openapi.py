"""The API's own OpenAPI document (/api/v4/openapi.json), limited to the routes this app serves."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from edgenode.api.json import json_response
from edgenode.api.middleware import VERSION_ID
from edgenode.api.openapi_spec import build_document

__all__ = ["PLUGIN_PREFIX", "http_routes", "routes"]

PLUGIN_PREFIX = "/plugins/"
"""Plugin APIs (Playbooks, Boards) have their own shapes and error bodies: not part of the v4 document."""

_OWN_APIS = ("/plugins/", "/api/v2/")
"""Plugin APIs (Focalboard's, under both its prefixes) are other APIs with their own error body: not
part of this Mattermost v4 document."""


def http_routes(table: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path template) an app routes over HTTP; HEAD (implied by GET) and websockets left out."""
    for route in table:
        if isinstance(route, Mount):
            yield from http_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD" and not (prefix + route.path).startswith(_OWN_APIS):
                    yield method, prefix + route.path


def _document(request: Request) -> dict[str, Any]:
    state = request.app.state
    cached: dict[str, Any] | None = getattr(state, "openapi_document", None)
    if cached is None:
        cached = build_document(http_routes(request.app.routes), VERSION_ID)
        state.openapi_document = cached
    return cached


async def openapi_json(request: Request) -> Response:
    return json_response(_document(request))


routes: list[BaseRoute] = [
    Route("/api/v4/openapi.json", openapi_json, methods=["GET"]),
]
