"""Enforcing revocations on what this node already holds: a revoked node's ops beyond its limit leave the store.

Admission (MeshTrust.admit) refuses those ops once this node knows of the revocation; the ones it
applied before the revocation op reached it are cut here, so that it ends up holding exactly what
every other replica holds. Run it whenever the revocations change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Mapping

from edgenode.identity import node_display_id
from edgenode.store import RetractResult, Store
from sync import FeedHead, FeedId
from sync.revocation import MESH_SCOPE

from .trust import MeshTrust

__all__ = ["enforce_revocations", "RevocationEnforcer"]

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


class RevocationEnforcer:
    """Runs `enforce_revocations` once at start and again whenever the authority's "mesh" feed
    advances (a store listener: `store.subscribe(enforcer.on_heads)`), one run at a time."""

    def __init__(self, store: Store, trust: MeshTrust):
        self._store = store
        self._trust = trust
        self._mesh_feed = FeedId(trust.mesh.ca.authority_key, MESH_SCOPE)
        self._running: asyncio.Task[None] | None = None
        self._again = False
        self._listeners: list[Callable[[Container[bytes]], None]] = []

    def on_revoked(self, listener: Callable[[Container[bytes]], None]) -> None:
        """Call `listener` with the revoked node keys after every run (e.g. to end their live sessions)."""
        self._listeners.append(listener)

    @property
    def running(self) -> asyncio.Task[None] | None:
        """The run in progress, if any (tests await it)."""
        return self._running

    def on_heads(self, heads: Mapping[FeedId, FeedHead]) -> None:
        if self._mesh_feed in heads:
            self.start()

    def start(self) -> None:
        if self._running is not None and not self._running.done():
            self._again = True  # a revocation arrived during the run: look again once it is over
            return
        self._running = asyncio.get_running_loop().create_task(self._run(), name="enforce-revocations")

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await enforce_revocations(self._store, self._trust)
            except Exception:  # the next revocation (or restart) tries again; sync must go on meanwhile
                _log.exception("could not retract the ops of revoked nodes")
            for listener in self._listeners:
                listener(self._trust.revocations)
            if not self._again:
                return
