"""Mesh trust at run time: who may connect, which ops may be applied, and each node's stated enrolment.

The mesh folder itself (init, invite, join, revoke) is edgenode/mesh.py; this module reads it and the
store while the node syncs. `MeshTrust` answers the two questions sync asks: may this peer connect
(`verify_peer`), and may these ops be applied (`admit`). Each node states its own enrolment in its
feed of scope "node" (`publish_enrolment`), which is how the nodes that never meet it learn that its
ops are admissible (see sync/enrolment.py).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from edgenode.identity import node_display_id
from edgenode.mesh import Mesh, read_revocations
from edgenode.store import Store
from sync import FeedHead, FeedId, SignedOp
from sync.enrolment import NODE_SCOPE, EnrolledKeys, node_record_op, record_from_fields
from sync.errors import EnrolmentRecordError, RevokedError
from sync.mesh import MeshCA
from sync.revocation import MESH_SCOPE, Revocations, accepted_prefix, check_author, retractions
from sync.tls import verify_peer

from .ports import StoreReads

__all__ = ["MeshTrust", "node_roles", "publish_enrolment", "revoked_error"]

_log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def publish_enrolment(store: Store, mesh: Mesh, *, now_ms: int) -> bool:
    """State this node's enrolment (its certificate) in its feed of scope "node", unless it already
    has; True if it wrote it now. Sync calls it before it starts, so the record goes out first."""
    if await store.fetchone("SELECT 1 FROM mesh_nodes WHERE id = ?", (mesh.node_key.hex(),)) is not None:
        return False
    await store.write(NODE_SCOPE, [node_record_op(mesh.node_certificate, create_at=now_ms)])
    return True


async def node_roles(store: StoreReads, node_key: bytes) -> frozenset[str] | None:
    """The roles a node's certificate grants (e.g. {"hub"}), from its record; None if no record of it
    is held. Admission checked every record in the table against the mesh CA."""
    row = await store.fetchone("SELECT roles FROM mesh_nodes WHERE id = ?", (node_key.hex(),))
    if row is None:
        return None
    return frozenset((row[0] or "").split())


async def _enrolled_keys(store: Store, ca: MeshCA) -> list[bytes]:
    """The keys of the node records this store holds, each checked again against the CA."""
    keys = []
    for node_id, name, certificate, roles in await store.fetchall(
            "SELECT id, name, certificate, roles FROM mesh_nodes"):
        try:
            keys.append(record_from_fields(node_id, {"name": name, "certificate": certificate, "roles": roles},
                                           ca).node_key)
        except EnrolmentRecordError as exc:  # admission would not have let it in; it proves nothing
            _log.warning("ignoring a node record in the store: %s", exc)
    return keys


class MeshTrust:
    """The mesh checks of a running node, over its store: who may connect, and which ops may be applied.

    Links are checked by a plain function (the transport calls it right after the handshake), so
    it reads a snapshot of the revocations: `load()` takes the first one, and `on_heads`, subscribed
    to the store, takes a new one whenever the authority's "mesh" feed advances. `admit` and
    `is_revoked` read the store itself. The enrolled keys are kept in memory: `load()` reads the
    node records the store holds, and every record admitted or peer verified since adds its key.
    """

    def __init__(self, mesh: Mesh, store: Store, now: Callable[[], datetime] = _utcnow):
        self.mesh = mesh
        self._store = store
        self._now = now
        self._revocations = Revocations()
        self._enrolled = EnrolledKeys(mesh.ca, [mesh.node_key])
        self._mesh_feed = FeedId(mesh.ca.authority_key, MESH_SCOPE)
        self.refreshing: asyncio.Task[Revocations] | None = None
        """The snapshot being taken after the mesh feed advanced, if any (tests await it)."""

    @classmethod
    async def load(cls, mesh: Mesh, store: Store, now: Callable[[], datetime] = _utcnow) -> MeshTrust:
        trust = cls(mesh, store, now)
        for key in await _enrolled_keys(store, mesh.ca):
            trust._enrolled.add(key)
        await trust.refresh()
        return trust

    @property
    def revocations(self) -> Revocations:
        """The snapshot `verify_peer` checks against."""
        return self._revocations

    async def refresh(self) -> Revocations:
        self._revocations = await read_revocations(self._store, self.mesh.ca.authority_key)
        return self._revocations

    def on_heads(self, heads: Mapping[FeedId, FeedHead]) -> None:
        """A store listener (`store.subscribe(trust.on_heads)`): new revocations count from the next link."""
        if self._mesh_feed in heads:
            self.refreshing = asyncio.get_running_loop().create_task(self.refresh())
            self.refreshing.add_done_callback(_log_failure)

    async def is_revoked(self, node_key: bytes) -> bool:
        return node_key in await self.refresh()

    def verify_peer(self, ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes:
        """The transport's hook, right after the TLS handshake and before any sync message: returns the
        peer's node key, or raises CertificateError / RevokedError (close the link, log the message).
        A verified peer counts as enrolled: its certificate was just checked."""
        key = verify_peer(ssl_object, self.mesh.ca, self._revocations, self._now())
        self._enrolled.add(key)
        return key

    async def admit(self, ops: Sequence[SignedOp]) -> list[SignedOp]:
        """The part of a foreign segment the mesh accepts, before it is applied.

        Raises UnknownAuthorError for a "mesh" feed not written by the authority,
        EnrolmentRecordError for a node record that is not its author's own true one, and
        UnenrolledAuthorError for an author with no known certificate. Returns the ops a revoked
        author's limits accept (a prefix, possibly empty); the caller drops the rest.
        """
        if not ops:
            return []
        check_author(ops[0].feed, self.mesh.ca.authority_key)
        revocations = await self.refresh()
        self._enrolled.admit(ops, revocations)
        return list(ops[:accepted_prefix(ops, revocations)])

    async def retractions(self) -> dict[FeedId, int]:
        """Feeds this store holds beyond what revocations accept, each with the sequence number to cut back to."""
        return retractions(await self._store.heads(), await self.refresh())


def _log_failure(task: asyncio.Task[Revocations]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.warning("could not reload revocations: %s", task.exception())


def revoked_error(node_key: bytes) -> RevokedError:
    """The error to report when ops of a revoked node are dropped."""
    return RevokedError(f"node {node_display_id(node_key)} was revoked by the mesh authority; its later ops are refused")
