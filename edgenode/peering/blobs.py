"""The node's file attachments as peer sync sees them: a `sync.ports.BlobPort` over the blob store.

A `file` row names its bytes by `content_hash`; a row that arrived from a peer may name bytes this
node does not hold yet, and `wanted` lists those. It reads only rows added since its last look
(by rowid), remembers the hashes still lacking, and re-checks the disk before answering, so
asking often (after every applied segment, from every session) costs an indexed query and a
few stats. One instance serves every session of the node.

A peer may receive a blob if it may receive a channel with a row naming it: `scopes_of` answers the
channels' feed scopes, and the session's need-to-know decides.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection

from edgenode.services.blobs import BlobStore, IncomingBlob
from edgenode.services.context import channel_scope

from .ports import StoreReads

__all__ = ["NodeBlobs"]

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_SCAN_ROWS = 5000


class NodeBlobs:
    """A BlobPort over `blobs` (the node's BlobStore) and the `files` rows of `store`."""

    def __init__(self, store: StoreReads, blobs: BlobStore):
        self._store = store
        self._blobs = blobs
        self._seen_rowid = 0
        self._lacking: dict[str, None] = {}  # ordered: oldest rows' blobs are asked for first
        self._scanning = asyncio.Lock()

    async def wanted(self, limit: int, skip: Collection[str] = ()) -> list[str]:
        async with self._scanning:
            await self._scan_new_rows()
            candidates = [h for h in self._lacking if h not in skip]
            lacking, present = await asyncio.to_thread(self._first_lacking, candidates, limit)
            for content_hash in present:
                del self._lacking[content_hash]  # arrived meanwhile (from another peer, or uploaded)
        return lacking

    def _first_lacking(self, hashes: list[str], limit: int) -> tuple[list[str], list[str]]:
        """The first `limit` of `hashes` not on disk, and those found on disk before them."""
        lacking: list[str] = []
        present: list[str] = []
        for content_hash in hashes:
            if len(lacking) >= limit:
                break
            (present if self._blobs.exists(content_hash) else lacking).append(content_hash)
        return lacking, present

    def _present(self, hashes: list[str]) -> set[str]:
        return {h for h in hashes if self._blobs.exists(h)}

    async def _scan_new_rows(self) -> None:
        while True:
            rows = await self._store.fetchall(
                "SELECT rowid, content_hash FROM files "
                "WHERE rowid > ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0 ORDER BY rowid LIMIT ?",
                (self._seen_rowid, _SCAN_ROWS))
            if not rows:
                return
            self._seen_rowid = int(rows[-1][0])
            named = [row[1] for row in rows if isinstance(row[1], str) and _HASH_RE.match(row[1])]
            present = await asyncio.to_thread(self._present, named)
            self._lacking.update((h, None) for h in named if h not in present)
            if len(rows) < _SCAN_ROWS:
                return

    async def scopes_of(self, content_hash: str) -> set[str]:
        rows = await self._store.fetchall(
            "SELECT DISTINCT channel_id FROM files WHERE content_hash = ? AND _deleted = 0", (content_hash,))
        return {channel_scope(row[0]) for row in rows if row[0]}

    async def size(self, content_hash: str) -> int | None:
        if not _HASH_RE.match(content_hash):
            return None
        return await asyncio.to_thread(self._blobs.size, content_hash)

    async def read(self, content_hash: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._blobs.read, content_hash, offset, length)

    async def writer(self, content_hash: str) -> IncomingWriter:
        return IncomingWriter(await asyncio.to_thread(self._blobs.receive, content_hash))


class IncomingWriter:
    """A sync.ports.BlobWriter: an IncomingBlob driven from the event loop, its file work in a thread."""

    def __init__(self, incoming: IncomingBlob):
        self._incoming = incoming

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._incoming.write, data)

    async def install(self) -> bool:
        return await asyncio.to_thread(self._incoming.install)

    async def discard(self) -> None:
        await asyncio.to_thread(self._incoming.discard)
