"""Reading a bundle into a node: everything is verified before anything is applied, then all of it
is applied in one transaction of the node's one writer, or none of it.

Pass 1 reads the whole file: the header (this mesh, this node or nobody as recipient, an exporter
whose certificate this mesh's authority issued and who is not revoked), then every record, each
segment placed against what the store holds and the segments before it (hash links, head
signature), passed through the mesh's admission (enrolled authors, the authority's feed, revoked
authors' limits, hosting claims), every blob hashed; then the exporter's signature over the file.
Pass 2 reads the file again inside one writer transaction and applies the segments (the store
verifies each again); the transaction commits only if the file still hashes to what pass 1
verified. Attachments are installed as each one completes (their hashes were checked in pass 1):
should the transaction fail after all (the file changed underneath, or the clock check), their
bytes stay, named by no row, as bytes fetched for a peer's op that never came: invisible, and
used if a later import brings the rows. Memory stays bounded: records stream, and only one head
per feed is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edgenode.identity import node_display_id
from edgenode.peering.known_frontiers import record_known_frontier
from edgenode.mesh import Mesh, read_revocations
from edgenode.peering.need_to_know import check_hosting_claims
from edgenode.peering.trust import MeshTrust, revoked_error
from edgenode.services.blobs import BlobStore, IncomingBlob
from edgenode.store import Store
from sync import GENESIS, BrokenLinkError, DecodeError, FeedHead, FeedId, GapError, SignedOp, verify_segment
from sync.bundle_crypto import RecordOpener, Sealing, open_for_node, open_plain, open_with_passphrase
from sync.bundle_errors import BundleError, BundleKeyError, BundleSizeError, ForeignMeshError, WrongRecipientError
from sync.bundle_format import (
    BlobData, BlobStart, BundleHeader, BundleLimits, BundleReader, Covers, End, Frontier, Record, Segment,
)
from sync.errors import CertificateError
from sync.mesh import verify_peer_certificate

__all__ = ["ImportSummary", "BundleContents", "import_bundle", "inspect_bundle", "Progress"]

Progress = Callable[[int], None]
"""Told the bytes of the file read so far (pass 1, then pass 2 again from 0)."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    exporter: bytes
    segments: int
    ops: int
    applied: int
    duplicates: int
    blobs: int
    bytes: int


@dataclass(slots=True)
class BundleContents:
    """What a bundle says it carries, as far as it could be read (`inspect`)."""

    header: BundleHeader
    size: int
    opened: bool = False
    covered_feeds: int = 0
    covered_ops: int = 0
    frontier_feeds: int = 0
    end: End | None = None
    frontier: dict[FeedId, int] = field(default_factory=dict)


def _opener(header: BundleHeader, mesh: Mesh | None, passphrase: str | None) -> RecordOpener:
    sealing = header.key.sealing
    if sealing is Sealing.PLAIN:
        return open_plain(header.key)
    if sealing is Sealing.PASSPHRASE:
        if passphrase is None:
            raise BundleKeyError("the bundle is sealed to a passphrase: give it with --passphrase")
        return open_with_passphrase(header.key, passphrase)
    if mesh is None or header.recipient != mesh.node_key:
        raise BundleKeyError("the bundle is sealed to another node: only that node can open it")
    return open_for_node(header.key, mesh.signer.seed)


async def _check_header(header: BundleHeader, mesh: Mesh, store: Store) -> None:
    if header.mesh_id != mesh.ca.id:
        raise ForeignMeshError(f"the bundle is from mesh {header.mesh_id}; this node is in mesh {mesh.ca.id}")
    if header.recipient is not None and header.recipient != mesh.node_key:
        raise WrongRecipientError(f"the bundle is for node {node_display_id(header.recipient)}, not this node "
                                  f"({node_display_id(mesh.node_key)})")
    if verify_peer_certificate(header.exporter_certificate, mesh.ca, datetime.now(UTC)) != header.exporter:
        raise CertificateError("the bundle's certificate is not its exporter's")
    if header.exporter in await read_revocations(store, mesh.ca.authority_key):
        raise revoked_error(header.exporter)


def _read_header(path: Path, limits: BundleLimits) -> tuple[BundleHeader, int]:
    with open(path, "rb") as src:
        return BundleReader(src, limits).header, path.stat().st_size


async def _next(records: Iterator[Record]) -> Record | None:
    return await asyncio.to_thread(next, records, None)


class _BlobCheck:
    """Hashes one blob's bytes as they come, to compare with the hash the bundle names."""

    def __init__(self) -> None:
        self.start: BlobStart | None = None
        self._digest = hashlib.sha256()

    def begin(self, start: BlobStart) -> None:
        self.end()
        self.start, self._digest = start, hashlib.sha256()

    def add(self, data: bytes) -> None:
        self._digest.update(data)

    def end(self) -> None:
        if self.start is not None and self._digest.hexdigest() != self.start.content_hash:
            raise DecodeError(f"the bytes of blob {self.start.content_hash[:16]} do not match its hash")
        self.start = None


async def import_bundle(store: Store, mesh: Mesh, blobs: BlobStore, path: Path, *, passphrase: str | None = None,
                        limits: BundleLimits = BundleLimits(), progress: Progress | None = None,
                        now_ms: int = 0) -> ImportSummary:
    """Verify the bundle at `path` for this node, then apply all of it or nothing (see the module docstring)."""
    header, size = await asyncio.to_thread(_read_header, path, limits)
    if size > limits.max_bytes:
        raise BundleSizeError(f"the bundle is {size} bytes; the limit is {limits.max_bytes}")
    await _check_header(header, mesh, store)
    digest, frontier, counted = await _verify(store, mesh, path, passphrase, limits, progress)

    def segments() -> Iterator[list[SignedOp]]:
        with open(path, "rb") as src:
            reader = BundleReader(src, limits)
            incoming: IncomingBlob | None = None
            try:
                for record in reader.records(_opener(reader.header, mesh, passphrase)):
                    if progress is not None:
                        progress(reader.bytes_read)
                    if isinstance(record, BlobData):
                        if incoming is not None:
                            incoming.write(record.data)
                        continue
                    if incoming is not None:  # the blob is complete (its hash was checked in pass 1)
                        if not incoming.install():
                            raise BundleError("an attachment changed while the bundle was imported: nothing was applied")
                        incoming = None
                    if isinstance(record, Segment):
                        yield record.ops
                    elif isinstance(record, BlobStart) and not blobs.exists(record.content_hash):
                        incoming = blobs.receive(record.content_hash)
            finally:
                if incoming is not None:
                    incoming.discard()
            if reader.signed_digest != digest:
                raise BundleError("the bundle file changed while it was imported: nothing was applied")

    result = await store.apply_all(segments)
    if header.exporter != mesh.node_key:
        await record_known_frontier(store, header.exporter, frontier, now_ms=now_ms)
    return ImportSummary(header.exporter, counted.segments, counted.ops, result.applied + result.waiting,
                         result.duplicates, counted.blobs, size)


async def _verify(store: Store, mesh: Mesh, path: Path, passphrase: str | None, limits: BundleLimits,
                  progress: Progress | None) -> tuple[bytes, dict[FeedId, int], End]:
    """Pass 1: read and check everything; the signed digest, the exporter's frontier, and the counts."""
    trust = await MeshTrust.load(mesh, store)
    held = await store.heads()
    placed: dict[FeedId, FeedHead] = {}
    frontier: dict[FeedId, int] = {}
    seen = End(0, 0, 0, 0)
    blob = _BlobCheck()
    with open(path, "rb") as src:
        reader = BundleReader(src, limits)
        records = reader.records(_opener(reader.header, mesh, passphrase))
        while (record := await _next(records)) is not None:
            if progress is not None:
                progress(reader.bytes_read)
            if isinstance(record, Frontier):
                frontier.update((e.feed, e.upto) for e in record.extents)
            elif isinstance(record, Segment):
                blob.end()
                ops = record.ops
                feed = ops[0].feed
                head = placed.get(feed) or held.get(feed) or FeedHead(0, GENESIS)
                _place(head, ops)
                check_hosting_claims(ops)
                if len(await trust.admit(ops)) < len(ops):
                    raise revoked_error(feed.author)
                if ops[-1].seq > head.seq:
                    placed[feed] = FeedHead(ops[-1].seq, ops[-1].link())
                seen = End(seen.segments + 1, seen.ops + len(ops), seen.blobs, seen.blob_bytes)
            elif isinstance(record, BlobStart):
                blob.begin(record)
                seen = End(seen.segments, seen.ops, seen.blobs + 1, seen.blob_bytes + record.size)
            elif isinstance(record, BlobData):
                blob.add(record.data)
            elif isinstance(record, End):
                blob.end()
                if record != seen:
                    raise DecodeError(f"the bundle says it holds {record} but holds {seen}")
            elif not isinstance(record, Covers):
                raise DecodeError(f"unexpected record {type(record).__name__}")
    return reader.signed_digest, frontier, seen


def _place(head: FeedHead, ops: list[SignedOp]) -> None:
    """Check that a segment continues what is held (or overlaps it) and is authentic in itself."""
    first = ops[0]
    if first.seq > head.seq + 1:
        raise GapError(f"the bundle's ops of feed {first.feed.scope!r} start at {first.seq}, but this node holds "
                       f"only up to {head.seq}: export it again from what this node holds")
    verify_segment(FeedHead(first.seq - 1, first.prev), ops)
    if first.seq == head.seq + 1 and first.prev != head.link:
        raise BrokenLinkError(f"op {first.seq} of feed {first.feed.scope!r} does not link to the op held before it")


def inspect_bundle(path: Path, mesh: Mesh | None, *, passphrase: str | None = None,
                   limits: BundleLimits = BundleLimits()) -> BundleContents:
    """What the bundle at `path` says and holds, read whole (the signature checked) if this node can open
    it; applies nothing. Blocking: call from a thread."""
    with open(path, "rb") as src:
        reader = BundleReader(src, limits)
        contents = BundleContents(reader.header, path.stat().st_size)
        try:
            opener = _opener(reader.header, mesh, passphrase)
        except BundleKeyError:
            return contents
        contents.opened = True
        for record in reader.records(opener):
            if isinstance(record, Covers):
                contents.covered_feeds += len(record.extents)
                contents.covered_ops += sum(e.upto - e.after for e in record.extents)
            elif isinstance(record, Frontier):
                contents.frontier_feeds += len(record.extents)
            elif isinstance(record, End):
                contents.end = record
    return contents

