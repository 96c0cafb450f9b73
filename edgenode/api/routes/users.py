"""Users, sessions, personal access tokens and bots (/api/v4/users, /api/v4/bots)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session, session_or_none
from edgenode.api.json import json_body, json_list_body, json_response, ok
from edgenode.services import BadRequest, Forbidden, NotFound, Session
from edgenode.services.models import sanitize_profile
from edgenode.services.users import TOKEN_ROLE

from .common import paging, path_id, services, user_param

__all__ = ["routes"]


def _check_self_or_admin(user_id: str, session: Session) -> None:
    """Users may act on their own account; system admins on anyone's."""
    if user_id != session.user_id and not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.")


async def create_user(request: Request) -> Response:
    svc = services(request)
    body = await json_body(request)
    session = await session_or_none(request)
    # An empty node is open: its first user becomes the system admin. After that, admins add users.
    is_admin = session is not None and session.is_system_admin
    if not is_admin and (not svc.ctx.first_user_becomes_admin or await svc.users.count() > 0):
        # a node that joined a mesh gets its admins (and users) from the mesh's directory
        raise Forbidden("Only a system admin can create users on this node.", "api.user.create_user.signup_email_disabled.app_error")
    # Without an admin's session only the node's first user may sign up: the service checks that
    # inside the write, so of concurrent open sign-ups exactly one gets through.
    user = await svc.users.create(body, first_only=not is_admin)
    await svc.audit.record("createUser", user_id=session.user_id if session else user["id"], extra=f"user={user['id']}")
    return json_response(user, 201)


async def login(request: Request) -> Response:
    svc = services(request)
    body = await json_body(request)
    login_id, password = body.get("login_id"), body.get("password")
    if not isinstance(login_id, str) or not isinstance(password, str) or not login_id:
        raise BadRequest("login_id and password are required.", "api.user.login.blank_pwd.app_error")
    ip = request.client.host if request.client else ""
    session, user = await svc.users.login(login_id, password, str(body.get("device_id") or ""), ip)
    response = json_response(user, headers={"Token": session.token})
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        # Strict: no other site's page or link makes the browser send them (the web UI, docs/ui.md)
        response.set_cookie("MMAUTHTOKEN", session.token, httponly=True, samesite="strict", path="/")
        response.set_cookie("MMUSERID", session.user_id, path="/", samesite="strict")
        response.set_cookie("MMCSRF", session.id, path="/", samesite="strict")
    return response


async def logout(request: Request) -> Response:
    session = await session_or_none(request)
    if session is not None:
        await services(request).users.logout(session)
    response = ok()
    for name in ("MMAUTHTOKEN", "MMUSERID", "MMCSRF"):
        response.delete_cookie(name, path="/")
    return response


def _profile(user: dict[str, Any], session: Session) -> dict[str, Any]:
    return sanitize_profile(user, session.user_id, session.is_system_admin)


def _profiles(users: list[dict[str, Any]], session: Session) -> list[dict[str, Any]]:
    return [_profile(u, session) for u in users]


async def get_user(request: Request) -> Response:
    session = await require_session(request)
    return json_response(_profile(await services(request).users.get(user_param(request, session)), session))


async def get_by_username(request: Request) -> Response:
    session = await require_session(request)
    user = await services(request).users.get_by_username(request.path_params["username"])
    return json_response(_profile(user, session))


async def _strings(request: Request, what: str) -> list[str]:
    """A JSON array of at most 1,000 strings, the body of the bulk user lookups."""
    values = await json_list_body(request)
    if not all(isinstance(v, str) for v in values) or len(values) > 1000:
        raise BadRequest(f"Invalid {what}.", "api.context.invalid_body_param.app_error")
    return values


async def get_by_ids(request: Request) -> Response:
    session = await require_session(request)
    return json_response(_profiles(await services(request).users.get_many(await _strings(request, "user ids")), session))


async def get_by_usernames(request: Request) -> Response:
    session = await require_session(request)
    users = await services(request).users.get_many_by_username(await _strings(request, "usernames"))
    return json_response(_profiles(users, session))


async def _check_filters(request: Request, session: Session, team_id: str | None, *channel_ids: str | None) -> None:
    """A user list filtered by a team or channel tells who is in it: Mattermost asks view_team of the team
    and read_channel of the channel, so a private channel or another team stays closed (403)."""
    svc = services(request)
    if team_id:
        await svc.teams.check_view(team_id, session)
    for channel_id in channel_ids:
        if channel_id:
            await svc.channels.readable(channel_id, session)


async def list_users(request: Request) -> Response:
    session = await require_session(request)
    page, per_page = paging(request)
    in_team, in_channel = request.query_params.get("in_team") or None, request.query_params.get("in_channel") or None
    await _check_filters(request, session, in_team, in_channel)
    return json_response(_profiles(await services(request).users.list(page, per_page, in_team, in_channel), session))


async def search_users(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    term = body.get("term")
    if not isinstance(term, str):
        raise BadRequest("Invalid term.", "api.context.invalid_body_param.app_error")
    limit = body.get("limit", 100)
    if not isinstance(limit, int) or not 0 < limit <= 1000:
        limit = 100
    filters: dict[str, str | None] = {}
    for name in ("team_id", "in_channel_id", "not_in_channel_id"):
        value = body.get(name, "")
        if not isinstance(value, str):
            raise BadRequest(f"Invalid {name}.", "api.context.invalid_body_param.app_error")
        filters[name] = value or None
    await _check_filters(request, session, filters["team_id"], filters["in_channel_id"], filters["not_in_channel_id"])
    return json_response(_profiles(await services(request).users.search(
        term, limit, filters["team_id"], filters["in_channel_id"], filters["not_in_channel_id"]), session))


async def patch_user(request: Request) -> Response:
    session = await require_session(request)
    user_id = user_param(request, session)
    _check_self_or_admin(user_id, session)
    return json_response(await services(request).users.patch(user_id, await json_body(request)))


async def update_password(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    ip = request.client.host if request.client else ""
    await services(request).users.change_password(user_param(request, session), body.get("current_password"),
                                                  body.get("new_password"), session, ip)
    return ok()


async def update_roles(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    roles = body.get("roles")
    if not isinstance(roles, str):
        raise BadRequest("Invalid roles.", "api.context.invalid_body_param.app_error")
    await services(request).users.set_roles(user_param(request, session), roles, session)
    return ok()


async def update_active(request: Request) -> Response:
    session = await require_session(request)
    active = (await json_body(request)).get("active")
    if not isinstance(active, bool):
        raise BadRequest("Invalid active: true or false.", "api.context.invalid_body_param.app_error")
    await services(request).users.set_active(user_param(request, session), active, session)
    return ok()


async def create_token(request: Request) -> Response:
    session = await require_session(request)
    # create_user_access_token: system admins, and users an admin gave the system_user_access_token
    # role (for themselves), as in Mattermost's default roles
    if not session.is_system_admin and not (TOKEN_ROLE in session.roles.split()
                                            and user_param(request, session) == session.user_id):
        raise Forbidden("You do not have the appropriate permissions.", "api.context.permissions.app_error")
    body = await json_body(request)
    return json_response(await services(request).users.create_access_token(
        user_param(request, session), body.get("description", ""), session))


async def list_tokens(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).users.list_access_tokens(user_param(request, session), session))


async def revoke_token(request: Request) -> Response:
    session = await require_session(request)
    body = await json_body(request)
    token_id = body.get("token_id")
    if not isinstance(token_id, str):
        raise BadRequest("Invalid token_id.", "api.context.invalid_body_param.app_error")
    await services(request).users.revoke_access_token(token_id, session)
    return ok()


async def user_teams(request: Request) -> Response:
    session = await require_session(request)
    user_id = user_param(request, session)
    _check_self_or_admin(user_id, session)
    return json_response(await services(request).teams.for_user(user_id, session))


async def user_team_members(request: Request) -> Response:
    session = await require_session(request)
    user_id = user_param(request, session)
    _check_self_or_admin(user_id, session)
    return json_response(await services(request).teams.members_for_user(user_id))


async def user_channels(request: Request) -> Response:
    session = await require_session(request)
    user_id = user_param(request, session)
    _check_self_or_admin(user_id, session)
    team_id = path_id(request, "team_id")
    include_deleted = request.query_params.get("include_deleted") == "true"
    return json_response(await services(request).channels.for_user(user_id, team_id, include_deleted))


async def user_channel_members(request: Request) -> Response:
    session = await require_session(request)
    user_id = user_param(request, session)
    _check_self_or_admin(user_id, session)
    return json_response(await services(request).channels.members_for_user(user_id, path_id(request, "team_id")))


def _check_bot_admin(session: Session) -> None:
    """create_bot, read_bots and read_others_bots belong to system admins only in Mattermost's default
    roles (and a bot may never create bots)."""
    if not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.", "api.context.permissions.app_error")


async def create_bot(request: Request) -> Response:
    session = await require_session(request)
    _check_bot_admin(session)
    return json_response(await services(request).users.create_bot(await json_body(request), session), 201)


async def list_bots(request: Request) -> Response:
    _check_bot_admin(await require_session(request))
    page, per_page = paging(request)
    return json_response(await services(request).users.bots(page, per_page))


async def get_bot(request: Request) -> Response:
    session = await require_session(request)
    if not session.is_system_admin:
        # as Mattermost: without read_others_bots a bot is not found, so as not to reveal that a user is a bot
        raise NotFound("Unable to find the bot.", "store.sql_bot.get.missing.app_error")
    return json_response(await services(request).users.bot(request.path_params["bot_id"]))


routes = [
    Route("/api/v4/users", create_user, methods=["POST"]),
    Route("/api/v4/users", list_users, methods=["GET"]),
    Route("/api/v4/users/login", login, methods=["POST"]),
    Route("/api/v4/users/logout", logout, methods=["POST"]),
    Route("/api/v4/users/ids", get_by_ids, methods=["POST"]),
    Route("/api/v4/users/usernames", get_by_usernames, methods=["POST"]),
    Route("/api/v4/users/search", search_users, methods=["POST"]),
    Route("/api/v4/users/tokens/revoke", revoke_token, methods=["POST"]),
    Route("/api/v4/users/username/{username}", get_by_username, methods=["GET"]),
    Route("/api/v4/users/{user_id}", get_user, methods=["GET"]),
    Route("/api/v4/users/{user_id}/patch", patch_user, methods=["PUT"]),
    Route("/api/v4/users/{user_id}/roles", update_roles, methods=["PUT"]),
    Route("/api/v4/users/{user_id}/password", update_password, methods=["PUT"]),
    Route("/api/v4/users/{user_id}/active", update_active, methods=["PUT"]),
    Route("/api/v4/users/{user_id}/tokens", create_token, methods=["POST"]),
    Route("/api/v4/users/{user_id}/tokens", list_tokens, methods=["GET"]),
    Route("/api/v4/users/{user_id}/teams", user_teams, methods=["GET"]),
    Route("/api/v4/users/{user_id}/teams/members", user_team_members, methods=["GET"]),
    Route("/api/v4/users/{user_id}/teams/{team_id}/channels", user_channels, methods=["GET"]),
    Route("/api/v4/users/{user_id}/teams/{team_id}/channels/members", user_channel_members, methods=["GET"]),
    Route("/api/v4/bots", create_bot, methods=["POST"]),
    Route("/api/v4/bots", list_bots, methods=["GET"]),
    Route("/api/v4/bots/{bot_id}", get_bot, methods=["GET"]),
]
