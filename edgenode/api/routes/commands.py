"""Slash commands (/api/v4/commands) and their delayed responses at the site root (/hooks/commands/{id})."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_response, ok, request_body
from edgenode.services import BadRequest

from .common import path_id, services

__all__ = ["routes"]

_TRUE = ("1", "t", "true")  # Go's strconv.ParseBool, case-insensitively


def _site_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def create_command(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).commands.create(await json_body(request), session), 201)


async def list_commands(request: Request) -> Response:
    session = await require_session(request)
    custom_only = request.query_params.get("custom_only", "").lower() in _TRUE
    return json_response(await services(request).commands.list_commands(request.query_params.get("team_id", ""), session,
                                                                custom_only=custom_only))


async def execute_command(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).commands.execute(await json_body(request), session, _site_url(request)))


async def get_command(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).commands.get(path_id(request, "command_id"), session))


async def update_command(request: Request) -> Response:
    session = await require_session(request)
    command_id = path_id(request, "command_id")
    body = await json_body(request)
    if body.get("id", command_id) != command_id:
        raise BadRequest("The command id in the body does not match the URL.", "api.context.invalid_param.app_error")
    return json_response(await services(request).commands.update(command_id, body, session))


async def regen_command_token(request: Request) -> Response:
    session = await require_session(request)
    return json_response({"token": await services(request).commands.regen_token(path_id(request, "command_id"), session)})


async def delete_command(request: Request) -> Response:
    session = await require_session(request)
    await services(request).commands.delete(path_id(request, "command_id"), session)
    return ok()


async def autocomplete_commands(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).commands.autocomplete(path_id(request, "team_id"), session))


async def delayed_response(request: Request) -> Response:
    """POST /hooks/commands/{id}: a custom command answering later through its response_url."""
    body = await request_body(request)
    await services(request).commands.respond_later(request.path_params["hook_id"],
                                                   request.headers.get("content-type", ""), body)
    return Response(b"ok", headers={"content-type": "text/plain"})


routes = [
    Route("/api/v4/commands", create_command, methods=["POST"]),
    Route("/api/v4/commands", list_commands, methods=["GET"]),
    Route("/api/v4/commands/execute", execute_command, methods=["POST"]),
    Route("/api/v4/commands/{command_id}", get_command, methods=["GET"]),
    Route("/api/v4/commands/{command_id}", update_command, methods=["PUT"]),
    Route("/api/v4/commands/{command_id}", delete_command, methods=["DELETE"]),
    Route("/api/v4/commands/{command_id}/regen_token", regen_command_token, methods=["PUT"]),
    Route("/api/v4/teams/{team_id}/commands/autocomplete", autocomplete_commands, methods=["GET"]),
    Route("/hooks/commands/{hook_id}", delayed_response, methods=["POST"]),
]
