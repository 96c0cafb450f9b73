"""Notices, while a node is served, that it was enrolled (`edgenode mesh init` in another process)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from edgenode.identity import IdentityError
from edgenode.mesh import Mesh, load_mesh
from sync.errors import MeshError

__all__ = ["wait_for_mesh"]

_log = logging.getLogger(__name__)


async def wait_for_mesh(data_dir: Path, interval: float = 1.0) -> Mesh:
    """Return this node's mesh once its data folder holds one, checking every `interval` seconds.

    Enrolment renames a complete mesh folder into place (edgenode/mesh.py `_enrol`), so a check
    never sees half of one. Polling, not a file watch: one stat a second, the same on every platform.
    """
    complained = ""
    while True:
        try:
            mesh = await asyncio.to_thread(load_mesh, data_dir)
        except (MeshError, IdentityError, OSError) as exc:  # e.g. a mesh folder of another node key: say so once, keep serving
            mesh = None
            if str(exc) != complained:
                complained = str(exc)
                _log.error("the mesh folder cannot be used: %s", exc)
        if mesh is not None:
            return mesh
        await asyncio.sleep(interval)
