"""Bundles through the API of a served node (system admins only): the CLI uses these when the node
is served, since the served process owns the store and its one writer.

POST /api/v4/edgenode/bundles/export   {"for": NODE, "all": bool, "full": bool, "passphrase": str} -> the file
POST /api/v4/edgenode/bundles/import   the bundle file as the body (X-Edgenode-Passphrase for --all)
                                       -> what was applied; an import raises the usual websocket events

Admins only: a public bundle holds the whole directory, an --all bundle everything, and an import
writes whatever an authentic bundle of the mesh carries.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from edgenode.api.auth import require_session
from edgenode.api.json import json_body, json_response
from edgenode.peering.bundle_export import ExportRequest, export_bundle
from edgenode.peering.bundle_import import import_bundle
from edgenode.mesh import MeshStateError, known_nodes, load_mesh, resolve_node
from edgenode.services import BadRequest, Forbidden
from edgenode.services.errors import PayloadTooLarge
from edgenode.services.context import Context
from sync import SyncError
from sync.bundle_format import BundleLimits

from .common import services

__all__ = ["routes", "MAX_BUNDLE_UPLOAD"]

MAX_BUNDLE_UPLOAD = 4 * 1024**3
_ERROR_ID = "api.edgenode.bundle.app_error"


async def _admin_context(request: Request) -> Context:
    session = await require_session(request)
    if not session.is_system_admin:
        raise Forbidden("You do not have the appropriate permissions.")
    return services(request).ctx


def _spool(ctx: Context) -> Path:
    """A private temporary file in the data folder (a bundle may not fit in memory, nor belong in /tmp)."""
    folder = ctx.data_dir / "bundles.tmp"
    folder.mkdir(mode=0o700, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, suffix=".bundle")
    os.close(fd)
    return Path(name)


async def export_route(request: Request) -> Response:
    ctx = await _admin_context(request)
    body = await json_body(request, required=False)
    recipient, everything, passphrase = body.get("for") or "", body.get("all") is True, body.get("passphrase") or ""
    if not isinstance(recipient, str) or not isinstance(passphrase, str):
        raise BadRequest("for and passphrase must be strings.", _ERROR_ID)
    if everything and (recipient or not passphrase):
        raise BadRequest("An all bundle needs a passphrase and no recipient.", _ERROR_ID)
    mesh = load_mesh(ctx.data_dir)
    if mesh is None:
        raise BadRequest("This node is in no mesh: bundles move data between nodes of one mesh.", _ERROR_ID)
    spool = _spool(ctx)
    try:
        key = resolve_node(recipient, await known_nodes(ctx.store, mesh)) if recipient else None
        with open(spool, "wb") as out:
            await export_bundle(ctx.store, mesh, services(request).files.blobs, out,
                                ExportRequest(key, passphrase if everything else None, body.get("full") is True),
                                now_ms=ctx.now_ms())
    except (SyncError, MeshStateError) as exc:
        spool.unlink(missing_ok=True)
        raise BadRequest(str(exc), _ERROR_ID) from None
    except BaseException:
        spool.unlink(missing_ok=True)
        raise
    return FileResponse(spool, media_type="application/octet-stream", filename="edgenode.bundle",
                        background=BackgroundTask(spool.unlink, missing_ok=True))


async def import_route(request: Request) -> Response:
    ctx = await _admin_context(request)
    mesh = load_mesh(ctx.data_dir)
    if mesh is None:
        raise BadRequest("This node is in no mesh: bundles move data between nodes of one mesh.", _ERROR_ID)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BUNDLE_UPLOAD:
        raise PayloadTooLarge(f"The bundle is larger than {MAX_BUNDLE_UPLOAD} bytes.", _ERROR_ID)
    spool = _spool(ctx)
    try:
        total = 0
        with open(spool, "wb") as out:
            async for chunk in request.stream():
                total += len(chunk)
                if total > MAX_BUNDLE_UPLOAD:
                    raise PayloadTooLarge(f"The bundle is larger than {MAX_BUNDLE_UPLOAD} bytes.", _ERROR_ID)
                await asyncio.to_thread(out.write, chunk)
        try:
            summary = await import_bundle(ctx.store, mesh, services(request).files.blobs, spool,
                                          passphrase=request.headers.get("x-edgenode-passphrase"),
                                          limits=BundleLimits(max_bytes=MAX_BUNDLE_UPLOAD), now_ms=ctx.now_ms())
        except SyncError as exc:
            raise BadRequest(str(exc), _ERROR_ID) from None
    finally:
        spool.unlink(missing_ok=True)
    return json_response({"exporter": summary.exporter.hex(), "segments": summary.segments, "ops": summary.ops,
                          "applied": summary.applied, "duplicates": summary.duplicates, "blobs": summary.blobs,
                          "bytes": summary.bytes})


routes = [
    Route("/api/v4/edgenode/bundles/export", export_route, methods=["POST"]),
    Route("/api/v4/edgenode/bundles/import", import_route, methods=["POST"]),
]
