"""GET /api/v4/edgenode/status: this node's id and mesh, and every sync peer (system admins only).

Admins only because it reveals the mesh's topology (peer addresses and node ids) and sync errors.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_response
from edgenode.services import Forbidden
from edgenode.sync_service import SyncService, status_document

from .common import services

__all__ = ["routes"]


async def edgenode_status(request: Request) -> Response:
    session = await require_session(request)
    if not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.")
    sync: SyncService | None = getattr(request.app.state, "sync", None)
    if sync is not None:
        return json_response(await sync.status())
    store = services(request).ctx.store  # served without peer sync (e.g. tests)
    return json_response(status_document(node=store.node_id, settings=None, running=False, listening=[], peers=[],
                                         mdns=False))


routes = [Route("/api/v4/edgenode/status", edgenode_status, methods=["GET"])]
