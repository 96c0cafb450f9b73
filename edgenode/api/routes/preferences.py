"""Preferences and saved posts (/api/v4/users/{user_id}/preferences, /posts/flagged)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_list_body, json_response, ok

from .common import optional_id, paging, services, user_param

__all__ = ["routes"]


async def get_preferences(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).preferences.for_user(user_param(request, session), session))


async def update_preferences(request: Request) -> Response:
    session = await require_session(request)
    await services(request).preferences.update(user_param(request, session), await json_list_body(request), session)
    return ok()


async def delete_preferences(request: Request) -> Response:
    session = await require_session(request)
    await services(request).preferences.delete(user_param(request, session), await json_list_body(request), session)
    return ok()


async def preferences_in_category(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).preferences.for_user(
        user_param(request, session), session, request.path_params["category"]))


async def preference_by_name(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).preferences.get(
        user_param(request, session), request.path_params["category"], request.path_params["preference_name"], session))


async def flagged_posts(request: Request) -> Response:
    session = await require_session(request)
    page, per_page = paging(request)
    return json_response(await services(request).preferences.flagged_posts(
        user_param(request, session), session, team_id=optional_id(request, "team_id"),
        channel_id=optional_id(request, "channel_id"), page=page, per_page=per_page))


routes = [
    Route("/api/v4/users/{user_id}/preferences", get_preferences, methods=["GET"]),
    Route("/api/v4/users/{user_id}/preferences", update_preferences, methods=["PUT"]),
    Route("/api/v4/users/{user_id}/preferences/delete", delete_preferences, methods=["POST"]),
    Route("/api/v4/users/{user_id}/preferences/{category}", preferences_in_category, methods=["GET"]),
    Route("/api/v4/users/{user_id}/preferences/{category}/name/{preference_name}", preference_by_name, methods=["GET"]),
    Route("/api/v4/users/{user_id}/posts/flagged", flagged_posts, methods=["GET"]),
]
