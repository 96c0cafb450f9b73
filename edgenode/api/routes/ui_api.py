"""The small API the web UI needs beyond Mattermost's (docs/ui.md), under /api/v4/edgenode/:

- POST /api/v4/edgenode/delivery: a list of post ids -> whether each has reached another node yet,
  and how many peers this node is connected to now (any signed-in user; only posts they may read);
- GET /api/v4/edgenode/revocations: the nodes the mesh authority revoked (system admins, as the status).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_list_body, json_response
from edgenode.ids import is_valid_id
from edgenode.services import BadRequest, Forbidden
from edgenode.services.delivery import MAX_POSTS, Delivery
from sync.feed import FeedId

from .common import services

__all__ = ["routes"]


def _sync_manager(request: Request) -> Any:
    """The peer manager of the running sync service, or None when the node is served without peer sync."""
    sync = getattr(request.app.state, "sync", None)
    return getattr(sync, "manager", None)


async def delivery(request: Request) -> Response:
    session = await require_session(request)
    ids = await json_list_body(request)
    if len(ids) > MAX_POSTS or not all(isinstance(i, str) and is_valid_id(i) for i in ids):
        raise BadRequest(f"Invalid post ids in request body: a list of at most {MAX_POSTS} post ids.",
                         "api.context.invalid_body_param.app_error")
    svc = services(request)
    manager = _sync_manager(request)
    frontiers: dict[bytes, dict[FeedId, int]] = manager.peer_frontiers() if manager is not None else {}
    posts = await Delivery(svc.ctx, svc.channels).reached(list(dict.fromkeys(ids)), session, frontiers)
    connected = manager.connected_peers() if manager is not None else 0
    return json_response({"posts": posts, "peers_connected": connected})


async def revocations(request: Request) -> Response:
    session = await require_session(request)
    if not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.")
    rows = await services(request).ctx.store.fetchall(
        "SELECT node_key, revoked_at, reason FROM revocations WHERE _deleted = 0 ORDER BY revoked_at")
    return json_response([{"node_key": row["node_key"], "revoked_at": row["revoked_at"], "reason": row["reason"]}
                          for row in rows])


routes = [
    Route("/api/v4/edgenode/delivery", delivery, methods=["POST"]),
    Route("/api/v4/edgenode/revocations", revocations, methods=["GET"]),
]
