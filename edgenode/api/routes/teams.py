"""Teams and team members (/api/v4/teams)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_response, ok
from edgenode.services import BadRequest, Forbidden

from .common import paging, path_id, services

__all__ = ["routes"]


async def create_team(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).teams.create(await json_body(request), session), 201)


async def list_teams(request: Request) -> Response:
    session = await require_session(request)
    page, per_page = paging(request)
    return json_response(await services(request).teams.list(page, per_page, session))


async def get_team(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).teams.get(path_id(request, "team_id"), session))


async def get_team_by_name(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).teams.get_by_name(request.path_params["name"], session))


async def patch_team(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).teams.patch(path_id(request, "team_id"), await json_body(request), session))


async def list_members(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    team_id = path_id(request, "team_id")
    await svc.teams.check_view(team_id, session)
    page, per_page = paging(request)
    return json_response(await svc.teams.members(team_id, page, per_page))


async def add_member(request: Request) -> Response:
    session = await require_session(request)
    team_id = path_id(request, "team_id")
    body = await json_body(request)
    user_id = body.get("user_id")
    if not isinstance(user_id, str):
        raise BadRequest("Invalid user_id.", "api.context.invalid_body_param.app_error")
    if body.get("team_id", team_id) != team_id:
        raise BadRequest("team_id in the body does not match the URL.", "api.context.invalid_body_param.app_error")
    return json_response(await services(request).teams.add_member(team_id, user_id, session), 201)


async def get_member(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    team_id = path_id(request, "team_id")
    await svc.teams.check_view(team_id, session)
    user_id = session.user_id if request.path_params["user_id"] == "me" else path_id(request, "user_id")
    return json_response(await svc.teams.member(team_id, user_id))


async def remove_member(request: Request) -> Response:
    session = await require_session(request)
    user_id = session.user_id if request.path_params["user_id"] == "me" else path_id(request, "user_id")
    await services(request).teams.remove_member(path_id(request, "team_id"), user_id, session)
    return ok()


async def public_channels(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    team_id = path_id(request, "team_id")
    if not session.is_system_admin and not await svc.members.is_team_member(team_id, session.user_id):
        raise Forbidden("You do not have the appropriate permissions.")
    page, per_page = paging(request)
    return json_response(await svc.channels.public_for_team(team_id, page, per_page))


async def channel_by_name(request: Request) -> Response:
    session = await require_session(request)
    include_deleted = request.query_params.get("include_deleted") == "true"
    return json_response(await services(request).channels.get_by_name(
        path_id(request, "team_id"), request.path_params["channel_name"], session, include_deleted))


async def channel_by_team_and_channel_name(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    team = await svc.teams.get_by_name(request.path_params["team_name"], session)
    include_deleted = request.query_params.get("include_deleted") == "true"
    return json_response(await svc.channels.get_by_name(team["id"], request.path_params["channel_name"], session, include_deleted))


routes = [
    Route("/api/v4/teams", create_team, methods=["POST"]),
    Route("/api/v4/teams", list_teams, methods=["GET"]),
    Route("/api/v4/teams/name/{name}", get_team_by_name, methods=["GET"]),
    Route("/api/v4/teams/name/{team_name}/channels/name/{channel_name}", channel_by_team_and_channel_name, methods=["GET"]),
    Route("/api/v4/teams/{team_id}", get_team, methods=["GET"]),
    Route("/api/v4/teams/{team_id}/patch", patch_team, methods=["PUT"]),
    Route("/api/v4/teams/{team_id}/members", list_members, methods=["GET"]),
    Route("/api/v4/teams/{team_id}/members", add_member, methods=["POST"]),
    Route("/api/v4/teams/{team_id}/members/{user_id}", get_member, methods=["GET"]),
    Route("/api/v4/teams/{team_id}/members/{user_id}", remove_member, methods=["DELETE"]),
    Route("/api/v4/teams/{team_id}/channels", public_channels, methods=["GET"]),
    Route("/api/v4/teams/{team_id}/channels/name/{channel_name}", channel_by_name, methods=["GET"]),
]
