"""Emoji reactions (/api/v4/reactions and the per-post reaction paths)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_list_body, json_response, ok
from edgenode.services import BadRequest

from .common import path_id, services, user_param

__all__ = ["routes"]


async def save_reaction(request: Request) -> Response:
    session = await require_session(request)
    # 200, not 201: Mattermost answers a saved reaction with the reaction and the default status
    return json_response(await services(request).reactions.add(await json_body(request), session))


async def post_reactions(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).reactions.for_post(path_id(request, "post_id"), session))


async def delete_reaction(request: Request) -> Response:
    session = await require_session(request)
    emoji_name = request.path_params["emoji_name"]
    if not isinstance(emoji_name, str) or not emoji_name:
        raise BadRequest("Invalid or missing emoji_name in request URL.", "api.context.invalid_url_param.app_error")
    await services(request).reactions.remove(user_param(request, session), path_id(request, "post_id"), emoji_name, session)
    return ok()


async def bulk_reactions(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).reactions.for_posts(await json_list_body(request), session))


routes = [
    Route("/api/v4/reactions", save_reaction, methods=["POST"]),
    Route("/api/v4/posts/ids/reactions", bulk_reactions, methods=["POST"]),
    Route("/api/v4/posts/{post_id}/reactions", post_reactions, methods=["GET"]),
    Route("/api/v4/users/{user_id}/posts/{post_id}/reactions/{emoji_name}", delete_reaction, methods=["DELETE"]),
]
