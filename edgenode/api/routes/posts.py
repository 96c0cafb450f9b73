"""Posts and threads (/api/v4/posts)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_response, ok
from edgenode.services import BadRequest

from .common import path_id, services

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
    changes = {k: body[k] for k in ("message", "is_pinned", "props", "file_ids") if k in body}
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


routes = [
    Route("/api/v4/posts", create_post, methods=["POST"]),
    Route("/api/v4/posts/{post_id}", get_post, methods=["GET"]),
    Route("/api/v4/posts/{post_id}", update_post, methods=["PUT"]),
    Route("/api/v4/posts/{post_id}", delete_post, methods=["DELETE"]),
    Route("/api/v4/posts/{post_id}/patch", patch_post, methods=["PUT"]),
    Route("/api/v4/posts/{post_id}/thread", get_thread, methods=["GET"]),
]
