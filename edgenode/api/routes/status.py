"""GET /api/v4/edgenode/status: this node's id and mesh, and every sync peer (system admins only).

Admins only because it reveals the mesh's topology (peer addresses and node ids) and sync errors.
"""

from __future__ import annotations

import asyncio
import os

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_response
from edgenode.data_lock import Owner
from edgenode.peering import StatusSource, complete_status, status_document
from edgenode.services import Forbidden

from .common import services

__all__ = ["routes"]


async def edgenode_status(request: Request) -> Response:
    session = await require_session(request)
    if not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.")
    sync: StatusSource | None = getattr(request.app.state, "sync", None)
    ctx = services(request).ctx
    if sync is not None:
        document = await sync.status()
    else:  # served without peer sync (no mesh yet, no sync port, or tests)
        document = status_document(node=ctx.store.node_id, settings=None, running=False, listening=[], peers=[],
                                   mdns=False)
    # the mesh as enrolled in the data folder: a node may be in one although sync is off (no sync port)
    served = Owner(os.getpid(), "serving")
    return json_response(await asyncio.to_thread(complete_status, document, ctx.data_dir, served))


routes = [Route("/api/v4/edgenode/status", edgenode_status, methods=["GET"])]
