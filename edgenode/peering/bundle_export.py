"""Writing a bundle from a node's store: what goes in, for whom, sealed how.

- `--for NODE`: the feeds NODE is entitled to (need-to-know, the policy peer sync applies:
  edgenode/peering/need_to_know.py), from the last frontier we know NODE holds (edgenode/peering/known_frontiers.py),
  sealed to NODE's key;
- no recipient: public data only (what need-to-know gives a node that hosts nobody), in clear;
- `--all`: every feed, sealed to a passphrase (a backup, or moving a node).
The segments and blobs are written in the order a reader needs them: the mesh authority's feed,
then node enrolment records (so every author is known before its ops), the directory, the rest.
The file is written aside and renamed into place at the end: a failed export leaves nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.serialization import Encoding

from edgenode.peering.known_frontiers import known_frontier
from edgenode.mesh import Mesh, known_nodes, read_revocations
from edgenode.peering.need_to_know import NeedToKnow
from edgenode.peering.trust import publish_enrolment
from edgenode.services.blobs import BlobStore
from edgenode.services.context import DIRECTORY_SCOPE
from edgenode.store import Store
from crdt import Create
from sync import FeedId, SignedOp
from sync.bundle_crypto import KeyWrap, RecordSealer, seal_for_node, seal_for_passphrase, seal_plain
from sync.bundle_errors import BundleError
from sync.bundle_format import BLOB_CHUNK, BundleHeader, BundleWriter, End, Extent
from sync.codec import ops_of_kind
from sync.enrolment import NODE_SCOPE
from sync.revocation import MESH_SCOPE

__all__ = ["ExportRequest", "ExportSummary", "export_bundle", "bundle_file"]

_SEGMENT_OPS = 1000
_NOBODY = bytes(32)
"""The entitlement of a node that hosts no user and holds no role: public data."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    recipient: bytes | None = None
    passphrase: str | None = None
    """Set for `--all`: every feed, sealed to this passphrase."""
    full: bool = False
    """For a recipient: every op it may read, not only those beyond the frontier last known of it
    (it lost data, or refused a bundle that did not continue what it holds)."""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    recipient: bytes | None
    sealing: str
    feeds: int
    end: End
    blobs_missing: int
    bytes: int


def _order(feed: FeedId) -> tuple[int, str, bytes]:
    rank = {MESH_SCOPE: 0, NODE_SCOPE: 1, DIRECTORY_SCOPE: 2}.get(feed.scope, 3)
    return rank, feed.scope, feed.author


async def _entitled(store: Store, request: ExportRequest) -> Callable[[FeedId], bool]:
    if request.passphrase is not None:
        return lambda feed: True
    peer = request.recipient if request.recipient is not None else _NOBODY
    entitlement = await NeedToKnow(store).for_peer(peer)
    await entitlement.load()
    return lambda feed: feed.author == peer or entitlement.allows(feed.scope)


def _sealing(request: ExportRequest) -> tuple[KeyWrap, RecordSealer]:
    if request.passphrase is not None:
        if request.recipient is not None:
            raise BundleError("a bundle is for one node (--for) or for a passphrase (--all), not both")
        return seal_for_passphrase(request.passphrase)
    if request.recipient is not None:
        return seal_for_node(request.recipient)
    return seal_plain()


async def export_bundle(store: Store, mesh: Mesh, blobs: BlobStore, out: BinaryIO, request: ExportRequest, *,
                        now_ms: int) -> ExportSummary:
    """Write the bundle `request` asks for to `out`."""
    if request.recipient is not None:
        if request.recipient == mesh.node_key:
            raise BundleError("a bundle for this node itself carries nothing it lacks")
        if request.recipient not in await known_nodes(store, mesh):
            raise BundleError(f"no node with key {request.recipient.hex()[:16]}... is known here: a node is known "
                              "once its ops arrived (a sync, a bundle) or this authority invited it")
        if request.recipient in await read_revocations(store, mesh.ca.authority_key):
            raise BundleError("that node was revoked by the mesh authority: nothing is exported for it")
    await publish_enrolment(store, mesh, now_ms=now_ms)  # the reader must know our certificate from our ops too
    entitled = await _entitled(store, request)
    heads = {feed: head for feed, head in (await store.heads()).items() if entitled(feed)}
    known = await known_frontier(store, request.recipient) if request.recipient is not None and not request.full else {}
    plan = sorted((feed for feed, head in heads.items() if head.seq > known.get(feed, 0)), key=_order)
    wrap, sealer = _sealing(request)
    header = BundleHeader(mesh.ca.id, mesh.node_key, mesh.node_certificate.public_bytes(Encoding.DER),
                          request.recipient, now_ms, wrap)
    writer = await asyncio.to_thread(BundleWriter, out, header, sealer, store.signer)
    await asyncio.to_thread(writer.covers, [Extent(f, known.get(f, 0), heads[f].seq) for f in plan])
    await asyncio.to_thread(writer.frontier, [Extent(f, 0, h.seq) for f, h in sorted(heads.items(), key=lambda i: _order(i[0]))])
    named: dict[str, None] = {}
    for feed in plan:
        after = known.get(feed, 0)
        while after < heads[feed].seq:
            ops = await store.segment(feed, after, min(_SEGMENT_OPS, heads[feed].seq - after))
            if not ops:
                break
            named.update((h, None) for h in _blobs_named(ops))
            await asyncio.to_thread(writer.segment, ops)
            after = ops[-1].seq
    missing = 0
    for content_hash in named:
        size = await asyncio.to_thread(blobs.size, content_hash)
        if size is None:
            missing += 1  # the recipient asks a peer for it later, as after any sync
            continue
        await asyncio.to_thread(writer.blob, content_hash, size, _chunks(blobs, content_hash, size))
    end = await asyncio.to_thread(writer.finish)
    return ExportSummary(request.recipient, wrap.sealing.value, len(plan), end, missing, writer.bytes_written)


def _blobs_named(ops: list[SignedOp]) -> Iterator[str]:
    for _, op in ops_of_kind(ops, "file"):
        content_hash = dict(op.fields).get("content_hash") if isinstance(op, Create) else None
        if isinstance(content_hash, str) and len(content_hash) == 64:
            yield content_hash


def _chunks(blobs: BlobStore, content_hash: str, size: int) -> Iterator[bytes]:
    with open(blobs.path(content_hash), "rb") as blob:
        left = size
        while left > 0:
            chunk = blob.read(min(BLOB_CHUNK, left))
            if not chunk:
                raise BundleError(f"blob {content_hash} shrank while it was exported")
            left -= len(chunk)
            yield chunk


@contextmanager
def bundle_file(path: Path) -> Iterator[BinaryIO]:
    """A file to write a bundle to, put in place as `path` only if the block succeeds: a failed export
    leaves no half bundle (and overwrites nothing)."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
