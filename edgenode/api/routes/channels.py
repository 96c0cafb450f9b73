"""Channels and channel members (/api/v4/channels)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import int_param, json_body, json_list_body, json_response, ok
from edgenode.services import BadRequest

from .common import paging, path_id, services, user_param

__all__ = ["routes"]


async def create_channel(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).channels.create(await json_body(request), session), 201)


async def create_direct(request: Request) -> Response:
    session = await require_session(request)
    ids = await json_list_body(request)
    return json_response(await services(request).channels.direct(ids, session), 201)


async def create_group(request: Request) -> Response:
    session = await require_session(request)
    ids = await json_list_body(request)
    return json_response(await services(request).channels.group(ids, session), 201)


async def get_channel(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).channels.get(path_id(request, "channel_id"), session))


async def patch_channel(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).channels.patch(path_id(request, "channel_id"), await json_body(request), session))


async def update_channel(request: Request) -> Response:
    session = await require_session(request)
    channel_id = path_id(request, "channel_id")
    body = await json_body(request)
    if body.get("id", channel_id) != channel_id:
        raise BadRequest("The channel id in the body does not match the URL.", "api.context.invalid_body_param.app_error")
    allowed: dict[str, Any] = {k: body[k] for k in ("name", "display_name", "header", "purpose") if k in body}
    return json_response(await services(request).channels.patch(channel_id, allowed, session))


async def archive_channel(request: Request) -> Response:
    session = await require_session(request)
    await services(request).channels.archive(path_id(request, "channel_id"), session)
    return ok()


async def restore_channel(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).channels.restore(path_id(request, "channel_id"), session))


async def list_members(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    channel_id = path_id(request, "channel_id")
    await svc.channels.readable(channel_id, session)
    page, per_page = paging(request)
    return json_response(await svc.channels.members(channel_id, page, per_page))


async def add_member(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    user_id = body.get("user_id")
    if not isinstance(user_id, str):
        raise BadRequest("Invalid user_id.", "api.context.invalid_body_param.app_error")
    return json_response(await services(request).channels.add_member(path_id(request, "channel_id"), user_id, session), 201)


async def get_member(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    channel_id = path_id(request, "channel_id")
    await svc.channels.readable(channel_id, session)
    return json_response(await svc.channels.member(channel_id, user_param(request, session)))


async def remove_member(request: Request) -> Response:
    session = await require_session(request)
    await services(request).channels.remove_member(path_id(request, "channel_id"), user_param(request, session), session)
    return ok()


async def member_roles(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    roles = body.get("roles")
    if not isinstance(roles, str):
        raise BadRequest("Invalid roles.", "api.context.invalid_body_param.app_error")
    await services(request).channels.update_member_roles(path_id(request, "channel_id"), user_param(request, session),
                                                         roles, session)
    return ok()


async def view_channel(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    channel_id = body.get("channel_id", "")
    if not isinstance(channel_id, str):
        raise BadRequest("Invalid channel_id.", "api.context.invalid_body_param.app_error")
    return json_response(await services(request).channels.view(user_param(request, session), channel_id, session))


async def channel_posts(request: Request) -> Response:
    session = await require_session(request)
    page, per_page = paging(request)
    return json_response(await services(request).posts.for_channel(
        path_id(request, "channel_id"), session, page=page, per_page=per_page,
        since=int_param(request, "since", 0), before=request.query_params.get("before", ""),
        after=request.query_params.get("after", "")))


async def channel_stats(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    channel_id = path_id(request, "channel_id")
    await svc.channels.readable(channel_id, session)
    pinned = await svc.ctx.store.fetchone("SELECT count(*) FROM posts WHERE channel_id = ? AND is_pinned = 1 AND _deleted = 0",
                                          (channel_id,))
    return json_response({"channel_id": channel_id, "member_count": await svc.channels.member_count(channel_id), "guest_count": 0,
                          "pinnedpost_count": pinned[0] if pinned else 0, "files_count": 0})


routes = [
    Route("/api/v4/channels", create_channel, methods=["POST"]),
    Route("/api/v4/channels/direct", create_direct, methods=["POST"]),
    Route("/api/v4/channels/group", create_group, methods=["POST"]),
    Route("/api/v4/channels/members/{user_id}/view", view_channel, methods=["POST"]),
    Route("/api/v4/channels/{channel_id}", get_channel, methods=["GET"]),
    Route("/api/v4/channels/{channel_id}", update_channel, methods=["PUT"]),
    Route("/api/v4/channels/{channel_id}", archive_channel, methods=["DELETE"]),
    Route("/api/v4/channels/{channel_id}/patch", patch_channel, methods=["PUT"]),
    Route("/api/v4/channels/{channel_id}/restore", restore_channel, methods=["POST"]),
    Route("/api/v4/channels/{channel_id}/stats", channel_stats, methods=["GET"]),
    Route("/api/v4/channels/{channel_id}/posts", channel_posts, methods=["GET"]),
    Route("/api/v4/channels/{channel_id}/members", list_members, methods=["GET"]),
    Route("/api/v4/channels/{channel_id}/members", add_member, methods=["POST"]),
    Route("/api/v4/channels/{channel_id}/members/{user_id}", get_member, methods=["GET"]),
    Route("/api/v4/channels/{channel_id}/members/{user_id}", remove_member, methods=["DELETE"]),
    Route("/api/v4/channels/{channel_id}/members/{user_id}/roles", member_roles, methods=["PUT"]),
]
