"""Enforcing revocations on what this node already holds: a revoked node's ops beyond its limit leave the store.

Admission (MeshTrust.admit) refuses those ops once this node knows of the revocation; the ones it
applied before the revocation op reached it are cut here, so that it ends up holding exactly what
every other replica holds. Run it whenever the revocations change.
"""

from __future__ import annotations

import logging

from edgenode.identity import node_display_id
from edgenode.mesh import MeshTrust
from edgenode.store import RetractResult, Store

__all__ = ["enforce_revocations"]

_log = logging.getLogger(__name__)


async def enforce_revocations(store: Store, trust: MeshTrust) -> RetractResult | None:
    """Retract every op the revocations no longer accept; None if the store holds none."""
    cuts = await trust.retractions()
    own = sorted(feed.scope for feed in cuts if feed.author == store.node_id)
    if own:
        # Cutting our own feeds would make us sign new ops at sequence numbers peers already hold;
        # a revoked node is refused by every peer anyway, so what it holds goes nowhere.
        _log.error("this node was revoked by the mesh authority; its own ops in %s stay here but no peer accepts them",
                   ", ".join(repr(scope) for scope in own))
    cuts = {feed: cut for feed, cut in cuts.items() if feed.author != store.node_id}
    if not cuts:
        return None
    result = await store.retract(cuts)
    for feed, removed in sorted(result.removed.items(), key=lambda item: (item[0].author, item[0].scope)):
        _log.warning("retracted %d ops of node %s in scope %r beyond its revocation limit (op %d)",
                     removed, node_display_id(feed.author), feed.scope, cuts[feed])
    return result if result.removed else None
