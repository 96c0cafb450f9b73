"""Posts, threads and pins (/api/v4/posts), and read state (unread and mention counts)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import int_param, json_body, json_response, ok
from edgenode.services import BadRequest

from .common import path_id, services, user_param

__all__ = ["routes"]


async def create_post(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).posts.create(await json_body(request), session), 201)


async def get_post(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).posts.get(path_id(request, "post_id"), session))


async def update_post(request: Request) -> Response:
    session = await require_session(request)
    post_id = path_id(request, "post_id")
    body = await json_body(request)
    if body.get("id", post_id) != post_id:
        raise BadRequest("The post id in the body does not match the URL.", "api.context.invalid_body_param.app_error")
    changes: dict[str, Any] = {k: body[k] for k in ("message", "is_pinned", "props", "file_ids") if k in body}
    return json_response(await services(request).posts.patch(post_id, changes, session))


async def patch_post(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).posts.patch(path_id(request, "post_id"), await json_body(request), session))


async def delete_post(request: Request) -> Response:
    session = await require_session(request)
    await services(request).posts.delete(path_id(request, "post_id"), session)
    return ok()


async def get_thread(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).posts.thread(path_id(request, "post_id"), session))


async def post_file_infos(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).posts.file_infos(path_id(request, "post_id"), session))


async def pin_post(request: Request) -> Response:
    session = await require_session(request)
    await services(request).posts.set_pinned(path_id(request, "post_id"), True, session)
    return ok()


async def unpin_post(request: Request) -> Response:
    session = await require_session(request)
    await services(request).posts.set_pinned(path_id(request, "post_id"), False, session)
    return ok()


async def pinned_posts(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).posts.pinned(path_id(request, "channel_id"), session))


async def channel_unread(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).unreads.channel(
        user_param(request, session), path_id(request, "channel_id"), session))


async def teams_unread(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).unreads.teams(
        user_param(request, session), session, exclude_team=request.query_params.get("exclude_team", "")))


async def team_unread(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).unreads.team(
        user_param(request, session), path_id(request, "team_id"), session))


async def posts_around_unread(request: Request) -> Response:
    session = await require_session(request)
    limit_before = int_param(request, "limit_before", 60, maximum=200)
    limit_after = int_param(request, "limit_after", 60, maximum=200)
    if limit_before == 0 and limit_after == 0:
        raise BadRequest("limit_before and limit_after cannot both be 0.", "api.context.invalid_url_param.app_error")
    return json_response(await services(request).posts.around_last_unread(
        user_param(request, session), path_id(request, "channel_id"), session,
        limit_before=limit_before, limit_after=limit_after))


async def set_unread(request: Request) -> Response:
    session = await require_session(request)
    await json_body(request, required=False)  # {"collapsed_threads_supported": ...}: threads are not collapsed here
    return json_response(await services(request).unreads.mark_unread_from(
        user_param(request, session), path_id(request, "post_id"), session))


routes = [
    Route("/api/v4/posts", create_post, methods=["POST"]),
    Route("/api/v4/posts/{post_id}", get_post, methods=["GET"]),
    Route("/api/v4/posts/{post_id}", update_post, methods=["PUT"]),
    Route("/api/v4/posts/{post_id}", delete_post, methods=["DELETE"]),
    Route("/api/v4/posts/{post_id}/patch", patch_post, methods=["PUT"]),
    Route("/api/v4/posts/{post_id}/thread", get_thread, methods=["GET"]),
    Route("/api/v4/posts/{post_id}/files/info", post_file_infos, methods=["GET"]),
    Route("/api/v4/posts/{post_id}/pin", pin_post, methods=["POST"]),
    Route("/api/v4/posts/{post_id}/unpin", unpin_post, methods=["POST"]),
    Route("/api/v4/channels/{channel_id}/pinned", pinned_posts, methods=["GET"]),
    Route("/api/v4/users/{user_id}/channels/{channel_id}/unread", channel_unread, methods=["GET"]),
    Route("/api/v4/users/{user_id}/teams/unread", teams_unread, methods=["GET"]),
    Route("/api/v4/users/{user_id}/teams/{team_id}/unread", team_unread, methods=["GET"]),
    Route("/api/v4/users/{user_id}/channels/{channel_id}/posts/unread", posts_around_unread, methods=["GET"]),
    Route("/api/v4/users/{user_id}/posts/{post_id}/set_unread", set_unread, methods=["POST"]),
]
