"""Post search (POST /api/v4/teams/{team_id}/posts/search, POST /api/v4/posts/search for every team)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_response
from edgenode.services import BadRequest

from .common import path_id, services

__all__ = ["routes"]

_INVALID_BODY = "api.post.search_posts.invalid_body.app_error"
# Mattermost decodes the body into typed fields: a value of the wrong type fails the whole request.
_FIELD_TYPES: dict[str, type] = {"terms": str, "is_or_search": bool, "time_zone_offset": int,
                                 "include_deleted_channels": bool, "page": int, "per_page": int}


def _search_params(body: dict[str, Any]) -> dict[str, Any]:
    for name, expected in _FIELD_TYPES.items():
        value = body.get(name)
        # null is "not given", as in Go; a bool is not an int here even though Python says so
        if value is not None and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
            raise BadRequest(f"Invalid {name} in request body: it must be a {expected.__name__}.", _INVALID_BODY)
    terms = body.get("terms")
    if not terms:
        raise BadRequest("Invalid or missing terms in request body.", "api.context.invalid_body_param.app_error")
    return {
        "terms": terms,
        "is_or_search": bool(body.get("is_or_search") or False),
        "time_zone_offset": body.get("time_zone_offset") or 0,
        "include_deleted_channels": bool(body.get("include_deleted_channels") or False),
        "page": body.get("page") or 0,
        "per_page": 60 if body.get("per_page") is None else body["per_page"],
    }


async def _body(request: Request) -> dict[str, Any]:
    try:
        return await json_body(request)
    except BadRequest as error:
        raise BadRequest(error.message, _INVALID_BODY) from None


def _no_cache(data: dict[str, Any]) -> Response:
    return json_response(data, headers={"Cache-Control": "no-cache, no-store, must-revalidate"})


async def search_team_posts(request: Request) -> Response:
    session = await require_session(request)
    team_id = path_id(request, "team_id")
    params = _search_params(await _body(request))
    return _no_cache(await services(request).search.search(team_id, actor=session, **params))


async def search_all_posts(request: Request) -> Response:
    session = await require_session(request)
    params = _search_params(await _body(request))
    return _no_cache(await services(request).search.search("", actor=session, **params))


routes: list[BaseRoute] = [
    Route("/api/v4/teams/{team_id}/posts/search", search_team_posts, methods=["POST"]),
    Route("/api/v4/posts/search", search_all_posts, methods=["POST"]),
]
