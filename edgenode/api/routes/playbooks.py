"""The Playbooks plugin's API, part 1: playbooks (/plugins/playbooks/api/v0/playbooks), and the
plugin's error shape shared by every Playbooks route.

The plugin answers errors with `{"error": message}` (not API v4's shape) and a missing session with a
plain-text 401; `plugin_route` wraps a handler so domain errors come out that way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from crdt import CrdtError
from edgenode.api.auth import require_session
from edgenode.api.json import int_param, json_body, json_response
from edgenode.services import ServiceError, Unauthorized
from edgenode.store import SchemaViolation

from .common import services

__all__ = ["PREFIX", "empty", "plugin_route", "routes"]

PREFIX = "/plugins/playbooks/api/v0"
Handler = Callable[[Request], Awaitable[Response]]


def plugin_route(path: str, handler: Handler, methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Unauthorized:
            return PlainTextResponse("Not authorized", 401)
        except ServiceError as exc:
            return json_response({"error": exc.message}, exc.status)
        except (SchemaViolation, CrdtError) as exc:  # input the op model refuses: the caller's, and nothing was written
            return json_response({"error": f"invalid input: {exc}"}, 400)
    return Route(PREFIX + path, endpoint, methods=methods)


def empty(status: int) -> Response:
    return Response(status_code=status)


async def create_playbook(request: Request) -> Response:
    session = await require_session(request)
    playbook_id = await services(request).playbooks.create(await json_body(request), session)
    return json_response({"id": playbook_id}, 201, headers={"Location": f"/api/v0/playbooks/{playbook_id}"})


async def list_playbooks(request: Request) -> Response:
    session = await require_session(request)
    q = request.query_params
    return json_response(await services(request).playbooks.listing(
        session, team_id=q.get("team_id", ""), page=int_param(request, "page", 0),
        per_page=int_param(request, "per_page", 1000, minimum=1, maximum=1000), search_term=q.get("search_term", ""),
        with_archived=q.get("with_archived", "") == "true", sort=q.get("sort", "title"),
        direction=q.get("direction", "asc")))


async def get_playbook(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).playbooks.get(request.path_params["id"], session))


async def update_playbook(request: Request) -> Response:
    session = await require_session(request)
    await services(request).playbooks.update(request.path_params["id"], await json_body(request), session)
    return empty(200)


async def patch_playbook(request: Request) -> Response:
    session = await require_session(request)
    await services(request).playbooks.patch(request.path_params["id"], await json_body(request), session)
    return empty(204)


async def archive_playbook(request: Request) -> Response:
    session = await require_session(request)
    await services(request).playbooks.archive(request.path_params["id"], session)
    return empty(204)


async def restore_playbook(request: Request) -> Response:
    session = await require_session(request)
    await services(request).playbooks.archive(request.path_params["id"], session, archived=False)
    return empty(204)


async def duplicate_playbook(request: Request) -> Response:
    session = await require_session(request)
    return json_response({"id": await services(request).playbooks.duplicate(request.path_params["id"], session)}, 201)


async def export_playbook(request: Request) -> Response:
    session = await require_session(request)
    return json_response(await services(request).playbooks.export(request.path_params["id"], session))


async def import_playbook(request: Request) -> Response:
    session = await require_session(request)
    team_id = request.query_params.get("team_id", "")
    playbook_id = await services(request).playbooks.import_(await json_body(request), team_id, session)
    return json_response({"id": playbook_id}, 201, headers={"Location": f"/api/v0/playbooks/{playbook_id}"})


routes = [
    plugin_route("/playbooks", create_playbook, ["POST"]),
    plugin_route("/playbooks", list_playbooks, ["GET"]),
    plugin_route("/playbooks/import", import_playbook, ["POST"]),
    plugin_route("/playbooks/{id}", get_playbook, ["GET"]),
    plugin_route("/playbooks/{id}", update_playbook, ["PUT"]),
    plugin_route("/playbooks/{id}", patch_playbook, ["PATCH"]),
    plugin_route("/playbooks/{id}", archive_playbook, ["DELETE"]),
    plugin_route("/playbooks/{id}/restore", restore_playbook, ["PUT"]),
    plugin_route("/playbooks/{id}/duplicate", duplicate_playbook, ["POST"]),
    plugin_route("/playbooks/{id}/export", export_playbook, ["GET"]),
]
