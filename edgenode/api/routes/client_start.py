"""Routes the official clients call when they start, in Mattermost's shapes: user autocomplete and
statuses, custom emoji, the client license, and a user's sessions.

Listed before users.py in the app: /users/autocomplete would otherwise match /users/{user_id}.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import int_param, json_body, json_list_body, json_response, ok
from edgenode.ids import is_valid_id
from edgenode.services import BadRequest
from edgenode.services.autocomplete import AUTOCOMPLETE_LIMIT, UserAutocomplete
from edgenode.services.models import sanitize_profile
from edgenode.services.session_list import SessionList

from .common import optional_id, paging, services, user_param

__all__ = ["routes"]


async def autocomplete_users(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    name = request.query_params.get("name", "")
    if len(name) > 64:
        raise BadRequest("Invalid name parameter.", "api.context.invalid_url_param.app_error")
    limit = int_param(request, "limit", AUTOCOMPLETE_LIMIT, minimum=1, maximum=AUTOCOMPLETE_LIMIT)
    directory = UserAutocomplete(svc.ctx, svc.members, svc.teams, svc.channels)
    found = await directory.complete(
        name, session, team_id=optional_id(request, "in_team"), channel_id=optional_id(request, "in_channel"),
        limit=limit)
    return json_response({key: [sanitize_profile(u, session.user_id, session.is_system_admin) for u in users]
                          for key, users in found.items()})


async def statuses_by_ids(request: Request) -> Response:
    await require_session(request)
    ids = await json_list_body(request)
    if not ids or len(ids) > 1000 or not all(isinstance(i, str) and is_valid_id(i) for i in ids):
        raise BadRequest("Invalid user_ids in request body: a list of 1 to 1000 user ids.",
                         "api.context.invalid_body_param.app_error")
    # presence is node-local: who holds a WebSocket to this node (edgenode/services/presence.py)
    statuses = services(request).ctx.presence.statuses(dict.fromkeys(ids))
    return json_response([{"user_id": user_id, "status": status, "manual": False, "last_activity_at": 0,
                           "dnd_end_time": 0} for user_id, status in statuses.items()])


async def custom_emoji(request: Request) -> Response:
    await require_session(request)
    paging(request)  # rejects a bad page or per_page like every other list
    sort = request.query_params.get("sort", "")
    if sort not in ("", "name"):
        raise BadRequest("Invalid sort parameter: only name.", "api.context.invalid_url_param.app_error")
    return json_response([])  # this node has no custom emoji


async def client_license(request: Request) -> Response:
    # Mattermost answers a missing format with 501 (the new format was never built); a 400 says the
    # same without claiming a server error. Every client asks for format=old.
    if request.query_params.get("format", "") != "old":
        raise BadRequest("Invalid or missing format parameter: only format=old is supported.",
                         "api.license.client.old_format.app_error")
    return json_response({"IsLicensed": "false"})  # an unlicensed server: no enterprise features


async def user_sessions(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await SessionList(services(request).ctx).sessions(user_param(request, session), session))


async def revoke_session(request: Request) -> Response:
    session = await require_session(request)
    svc = services(request)
    user_id = user_param(request, session)
    body = await json_body(request)
    await SessionList(svc.ctx).revoke(user_id, body.get("session_id"), session)
    svc.users.forget_sessions()  # cached sessions would keep the revoked token alive for seconds
    await svc.audit.record("revokeSession", user_id=session.user_id,
                           extra=f"user={user_id} session_id={body.get('session_id')}")
    return ok()


routes = [
    Route("/api/v4/users/autocomplete", autocomplete_users, methods=["GET"]),
    Route("/api/v4/users/status/ids", statuses_by_ids, methods=["POST"]),
    Route("/api/v4/users/{user_id}/sessions", user_sessions, methods=["GET"]),
    Route("/api/v4/users/{user_id}/sessions/revoke", revoke_session, methods=["POST"]),
    Route("/api/v4/emoji", custom_emoji, methods=["GET"]),
    Route("/api/v4/license/client", client_license, methods=["GET"]),
]
