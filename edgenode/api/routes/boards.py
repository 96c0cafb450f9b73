"""Focalboard's board, template, search, member and boards-and-blocks routes (server/api/boards.go, members.go)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from edgenode.api.json import json_body, json_response

from .boards_http import empty, plugin_routes, ref, session_and_services

__all__ = ["routes"]


async def team_boards(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.list_for_team(ref(request, "teamID"), session))


async def create_board(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.create(await json_body(request), session))


async def get_board(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.get(ref(request, "boardID"), session))


async def patch_board(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.patch(ref(request, "boardID"), await json_body(request), session))


async def delete_board(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.boards.set_deleted(ref(request, "boardID"), session, True)
    return empty()


async def undelete_board(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.boards.set_deleted(ref(request, "boardID"), session, False)
    return empty()


async def duplicate_board(request: Request) -> Response:
    session, s = await session_and_services(request)
    query = request.query_params
    return json_response(await s.boards.boards.duplicate(
        ref(request, "boardID"), session, as_template=query.get("asTemplate") == "true",
        to_team=query.get("toTeam") or None))


async def search_team(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.search(ref(request, "teamID"), request.query_params.get("q", ""),
                                                      session))


async def search_all(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.search(None, request.query_params.get("q", ""), session))


async def templates(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.templates(ref(request, "teamID"), session))


async def members(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.members.list_members(ref(request, "boardID"), session))


async def add_member(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.members.add(ref(request, "boardID"), await json_body(request), session))


async def update_member(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.members.update(ref(request, "boardID"), ref(request, "userID"),
                                                       await json_body(request), session))


async def remove_member(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.members.remove(ref(request, "boardID"), ref(request, "userID"), session)
    return empty()


async def join(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.members.join(ref(request, "boardID"), session))


async def leave(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.members.leave(ref(request, "boardID"), session)
    return empty()


async def boards_and_blocks(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.create_with_blocks(await json_body(request), session))


async def patch_boards_and_blocks(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.boards.patch_with_blocks(await json_body(request), session))


async def delete_boards_and_blocks(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.boards.delete_with_blocks(await json_body(request), session)
    return empty()


routes = plugin_routes([
    ("/teams/{teamID}/boards", team_boards, "GET"),
    ("/teams/{teamID}/boards/search", search_team, "GET"),
    ("/teams/{teamID}/templates", templates, "GET"),
    ("/boards/search", search_all, "GET"),
    ("/boards", create_board, "POST"),
    ("/boards/{boardID}", get_board, "GET"),
    ("/boards/{boardID}", patch_board, "PATCH"),
    ("/boards/{boardID}", delete_board, "DELETE"),
    ("/boards/{boardID}/undelete", undelete_board, "POST"),
    ("/boards/{boardID}/duplicate", duplicate_board, "POST"),
    ("/boards/{boardID}/members", members, "GET"),
    ("/boards/{boardID}/members", add_member, "POST"),
    ("/boards/{boardID}/members/{userID}", update_member, "PUT"),
    ("/boards/{boardID}/members/{userID}", remove_member, "DELETE"),
    ("/boards/{boardID}/join", join, "POST"),
    ("/boards/{boardID}/leave", leave, "POST"),
    ("/boards-and-blocks", boards_and_blocks, "POST"),
    ("/boards-and-blocks", patch_boards_and_blocks, "PATCH"),
    ("/boards-and-blocks", delete_boards_and_blocks, "DELETE"),
])
