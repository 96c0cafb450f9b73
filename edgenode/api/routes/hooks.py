"""Incoming and outgoing webhooks (/api/v4/hooks), and incoming hook execution at the site root (/hooks/{id})."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_response, ok, request_body
from edgenode.services import BadRequest
from edgenode.services.webhooks import IncomingHookRequest

from .common import paging, path_id, services

__all__ = ["routes"]

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _same_id(request: Request, body: dict[str, object], name: str) -> None:
    if body.get("id", request.path_params[name]) != request.path_params[name]:
        raise BadRequest("The id in the body does not match the URL.", "api.context.invalid_param.app_error")


def _replayed(request: Request, body: bytes) -> Request:
    """The request again, its body served from memory (it was read once already, under the size limit)."""
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


# -- incoming --------------------------------------------------------------------------------

async def create_incoming(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).webhooks.create(await json_body(request), session), 201)


async def list_incoming(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request).webhooks
    team_id = request.query_params.get("team_id") or None
    page, per_page = paging(request)
    hooks = await svc.list_hooks(team_id, session, page, per_page)
    if request.query_params.get("include_total_count", "").lower() in ("1", "t", "true"):
        return json_response({"incoming_webhooks": hooks, "total_count": await svc.count(team_id)})
    return json_response(hooks)


async def get_incoming(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).webhooks.get(path_id(request, "hook_id"), session))


async def update_incoming(request: Request) -> Response:
    """Answers 201 Created, as Mattermost's updateIncomingHook does."""
    session = await require_session(request)
    hook_id = path_id(request, "hook_id")
    body = await json_body(request)
    _same_id(request, body, "hook_id")
    return json_response(await services(request).webhooks.update(hook_id, body, session), 201)


async def delete_incoming(request: Request) -> Response:
    session = await require_session(request)
    await services(request).webhooks.delete(path_id(request, "hook_id"), session)
    return ok()


async def execute_incoming(request: Request) -> Response:
    """POST /hooks/{id}: a JSON body, a form with a `payload` field holding JSON, or plain form fields."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request_body(request)
    if media_type in _FORMS:
        form = await _replayed(request, body).form()
        incoming = IncomingHookRequest.from_form({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        incoming = IncomingHookRequest.from_json(body)
    await services(request).webhooks.execute(request.path_params["hook_id"], incoming)
    return Response(b"ok", headers={"content-type": "text/plain"})


# -- outgoing --------------------------------------------------------------------------------

async def create_outgoing(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).outgoing_hooks.create(await json_body(request), session), 201)


async def list_outgoing(request: Request) -> Response:
    session = await require_session(request)
    page, per_page = paging(request)
    return json_response(await services(request).outgoing_hooks.list_hooks(
        team_id=request.query_params.get("team_id") or None, channel_id=request.query_params.get("channel_id") or None,
        actor=session, page=page, per_page=per_page))


async def get_outgoing(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).outgoing_hooks.get(path_id(request, "hook_id"), session))


async def update_outgoing(request: Request) -> Response:
    session = await require_session(request)
    hook_id = path_id(request, "hook_id")
    body = await json_body(request)
    _same_id(request, body, "hook_id")
    return json_response(await services(request).outgoing_hooks.update(hook_id, body, session))


async def regen_outgoing_token(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).outgoing_hooks.regen_token(path_id(request, "hook_id"), session))


async def delete_outgoing(request: Request) -> Response:
    session = await require_session(request)
    await services(request).outgoing_hooks.delete(path_id(request, "hook_id"), session)
    return ok()


routes = [
    Route("/api/v4/hooks/incoming", create_incoming, methods=["POST"]),
    Route("/api/v4/hooks/incoming", list_incoming, methods=["GET"]),
    Route("/api/v4/hooks/incoming/{hook_id}", get_incoming, methods=["GET"]),
    Route("/api/v4/hooks/incoming/{hook_id}", update_incoming, methods=["PUT"]),
    Route("/api/v4/hooks/incoming/{hook_id}", delete_incoming, methods=["DELETE"]),
    Route("/api/v4/hooks/outgoing", create_outgoing, methods=["POST"]),
    Route("/api/v4/hooks/outgoing", list_outgoing, methods=["GET"]),
    Route("/api/v4/hooks/outgoing/{hook_id}", get_outgoing, methods=["GET"]),
    Route("/api/v4/hooks/outgoing/{hook_id}", update_outgoing, methods=["PUT"]),
    Route("/api/v4/hooks/outgoing/{hook_id}", delete_outgoing, methods=["DELETE"]),
    Route("/api/v4/hooks/outgoing/{hook_id}/regen_token", regen_outgoing_token, methods=["POST"]),
    Route("/hooks/{hook_id}", execute_incoming, methods=["POST"]),
]
