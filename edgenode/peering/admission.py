"""Mesh trust at the sync edge: TLS settings for an enrolled node, and a store that admits only
what the mesh accepts.

A node that is not enrolled in a mesh does not sync unless asked to explicitly (plain TCP, for
tests and trusted development networks), so a fresh `edgenode serve` never opens its data to the LAN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from edgenode.mesh import load_mesh
from edgenode.store import RemoteResult, Store, wall_clock_ms
from sync import FeedHead, FeedId, SignedOp

from .need_to_know import check_hosting_claims
from .ports import LiveFeedStore
from .revocations import RevocationEnforcer
from .settings import SyncSettings
from .trust import MeshTrust, publish_enrolment, revoked_error

__all__ = ["AdmittingStore", "secure_settings", "NotEnrolledError"]


class NotEnrolledError(Exception):
    """Sync was asked for on a node that is in no mesh."""


class AdmittingStore:
    """The store as peer sync sees it: foreign ops pass the mesh's checks before they are applied."""

    def __init__(self, store: Store, trust: MeshTrust, enforcer: RevocationEnforcer | None = None):
        self._store = store
        self._trust = trust
        self._enforcer = enforcer
        self.node_id = store.node_id

    @property
    def store(self) -> Store:
        """The store admitted ops go into (need-to-know and the status read it directly)."""
        return self._store

    async def heads(self) -> dict[FeedId, FeedHead]:
        return await self._store.heads()

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]:
        return await self._store.segment(feed, after_seq, limit)

    async def apply(self, ops: Sequence[SignedOp]) -> RemoteResult:
        # raises for a "mesh" feed not written by the authority, a false node record, an unenrolled author
        check_hosting_claims(ops)
        admitted = await self._trust.admit(ops)
        if ops and not admitted:
            raise revoked_error(ops[0].feed.author)
        result = await self._store.apply(admitted)
        if self._enforcer is not None and admitted and admitted[0].feed.author in self._trust.revocations:
            # admitted before a revocation that arrived during the apply: the enforcer cuts what it must
            self._enforcer.start()
        return result

    def subscribe(self, listener: Callable[[dict[FeedId, FeedHead]], None]) -> Callable[[], None]:
        return self._store.subscribe(listener)



async def secure_settings(store: Store, data_dir: Path, settings: SyncSettings, *,
                          allow_unenrolled: bool) -> tuple[SyncSettings, LiveFeedStore]:
    """The settings and the feeds to sync with: mesh TLS and admission on an enrolled node, which first
    states its enrolment in its "node" feed if it has not yet; plain TCP (and the store itself) only
    when explicitly allowed on an unenrolled one."""
    mesh = load_mesh(data_dir)
    if mesh is None:
        if not allow_unenrolled:
            raise NotEnrolledError("this node is in no mesh: run `edgenode mesh init` or `edgenode mesh join TOKEN` "
                                   "first (or pass --unenrolled-sync to sync over plain TCP on a trusted network)")
        return settings, store
    await publish_enrolment(store, mesh, now_ms=wall_clock_ms())
    trust = await MeshTrust.load(mesh, store)
    store.subscribe(trust.on_heads)
    enforcer = RevocationEnforcer(store, trust)
    store.subscribe(enforcer.on_heads)
    enforcer.start()  # ops applied before a revocation arrived, in an earlier run
    secured = replace(settings, server_ssl=mesh.server_context(), client_ssl=mesh.client_context(),
                      verify_peer=trust.verify_peer, mesh_id=mesh.ca.id, watch_revocations=enforcer.on_revoked)
    return secured, AdmittingStore(store, trust, enforcer)
