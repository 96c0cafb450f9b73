"""The small API the web UI needs beyond Mattermost's (docs/ui.md), under /api/v4/edgenode/:

- POST /api/v4/edgenode/delivery: a list of post ids -> whether each has reached another node yet,
  and how many peers this node is connected to now (any signed-in user; only posts they may read);
- GET /api/v4/edgenode/revocations: the nodes the mesh authority revoked (system admins, as the status);
- POST /api/v4/edgenode/mesh/invites and /mesh/revocations: what `edgenode mesh invite` and `mesh revoke` do,
  for the system console (system admins, on the mesh's authority node; audited).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode import mesh as mesh_shell
from edgenode.api.json import json_body, json_list_body, json_response
from edgenode.identity import node_display_id
from edgenode.ids import is_valid_id
from edgenode.services import BadRequest, Forbidden, Session
from edgenode.store import wall_clock_ms
from sync.errors import MeshError
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
    _require_admin(await require_session(request))
    rows = await services(request).ctx.store.fetchall(
        "SELECT node_key, revoked_at, reason FROM revocations WHERE _deleted = 0 ORDER BY revoked_at")
    return json_response([{"node_key": row["node_key"], "revoked_at": row["revoked_at"], "reason": row["reason"]}
                          for row in rows])


def _require_admin(session: Session) -> None:
    if not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.")


def _mesh_refused(exc: MeshError) -> BadRequest:
    return BadRequest(str(exc), "api.edgenode.mesh.app_error")


async def create_invite(request: Request) -> Response:
    session = await require_session(request)
    _require_admin(session)
    hub = (await json_body(request, required=False)).get("hub", False)
    if not isinstance(hub, bool):
        raise BadRequest("Invalid hub: true or false.", "api.context.invalid_body_param.app_error")
    svc = services(request)

    def work() -> tuple[str, bytes]:  # reads the mesh folder and appends to its invite log: off the loop
        mesh = mesh_shell.require_mesh(svc.ctx.data_dir)
        mesh.require_authority()
        token, invite = mesh_shell.create_invite(mesh, hub=hub)
        return token, invite.node_key
    try:
        token, key = await asyncio.to_thread(work)
    except MeshError as exc:
        raise _mesh_refused(exc) from None
    await svc.audit.record("createMeshInvite", user_id=session.user_id,
                           extra=f"node={node_display_id(key)} hub={hub}")
    # the token is a secret (it holds the new node's private key): never cached anywhere
    return json_response({"token": token, "node": node_display_id(key), "node_key": key.hex(), "hub": hub}, 201,
                         headers={"Cache-Control": "no-store"})


async def revoke_node(request: Request) -> Response:
    session = await require_session(request)
    _require_admin(session)
    body = await json_body(request)
    node, reason = body.get("node"), body.get("reason", "")
    if not isinstance(node, str) or not isinstance(reason, str) or len(reason) > 1000:
        raise BadRequest("Invalid body: node (display id or hex key) and an optional reason.",
                         "api.context.invalid_body_param.app_error")
    svc = services(request)
    store = svc.ctx.store
    try:
        mesh = await asyncio.to_thread(mesh_shell.require_mesh, svc.ctx.data_dir)
        mesh.require_authority()
        key = mesh_shell.resolve_node(node, await mesh_shell.known_nodes(store, mesh))
        revocation = await mesh_shell.revoke(store, mesh, key, reason, now_ms=wall_clock_ms())
    except MeshError as exc:
        raise _mesh_refused(exc) from None
    await svc.audit.record("revokeMeshNode", user_id=session.user_id, extra=f"node={node_display_id(key)}")
    return json_response({"node_key": key.hex(), "revoked_at": revocation.revoked_at, "reason": revocation.reason},
                         201)


routes = [
    Route("/api/v4/edgenode/delivery", delivery, methods=["POST"]),
    Route("/api/v4/edgenode/revocations", revocations, methods=["GET"]),
    Route("/api/v4/edgenode/mesh/invites", create_invite, methods=["POST"]),
    Route("/api/v4/edgenode/mesh/revocations", revoke_node, methods=["POST"]),
]
