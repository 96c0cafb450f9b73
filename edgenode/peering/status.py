"""The status of a node as its data folder tells it: whether a process serves it, and its mesh.

`edgenode status` runs in another process than the node it describes, and the API answers from
inside it; both complete the sync status (edgenode/peering/service.py) here, so they say the same.
Being served is read from the data folder's lock (edgenode/data_lock.py), not from the sync status
file: a node served without peer sync writes no such file, and is served all the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgenode.data_lock import Owner, owner_of
from edgenode.identity import load_or_create_identity
from edgenode.mesh import load_mesh
from sync.errors import MeshError

from .service import read_status_file, status_document

__all__ = ["complete_status", "folder_status"]


def complete_status(document: dict[str, Any], data_dir: Path, owner: Owner | None) -> dict[str, Any]:
    """`document` with the node's mesh as enrolled in `data_dir` and who serves it (`owner`)."""
    document = dict(document)
    try:
        mesh = load_mesh(data_dir)
    except MeshError as exc:  # a damaged mesh folder: the status says so rather than failing
        mesh = None
        document["mesh"] = {**document["mesh"], "error": str(exc)}
    if mesh is not None:
        document["mesh"] = {**document["mesh"], "id": mesh.ca.id, "name": mesh.ca.name, "enrolled": True,
                            "role": "authority" if mesh.is_authority else "member"}
    served = owner is not None and owner.doing == "serving"
    document["served"] = {"running": served, "pid": owner.pid if owner is not None else None,
                          "doing": owner.doing if owner is not None else None}
    return document


def folder_status(data_dir: Path) -> dict[str, Any]:
    """The status of the node in `data_dir` (which must hold one), read from another process.

    The sync part comes from the status file only if the process serving the node now wrote it;
    otherwise sync is not running, and the peers are those the last run knew (with `updated_at`).
    """
    key = load_or_create_identity(data_dir).public_key
    owner = owner_of(data_dir)
    written = read_status_file(data_dir)
    ours = written is not None and written.get("node_key") == key.hex()
    live = (ours and owner is not None and written is not None and owner.pid == written.get("pid")
            and bool((written.get("sync") or {}).get("running")))
    if live and written is not None:
        document = written
    else:
        document = status_document(node=key, settings=None, running=False, listening=[], peers=[], mdns=False)
        if ours and written is not None:
            document["peers"], document["updated_at"] = written.get("peers", []), written.get("updated_at")
    return complete_status(document, data_dir, owner)
