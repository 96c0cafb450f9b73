"""An in-memory `sync.ports.BlobPort`: blobs in a dict, "rows" as hash -> feed scopes, for protocol tests."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection
from typing import Any


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MemoryBlobs:
    """A node's blobs and the rows naming them; counts writers so tests can see none is left half-done."""

    def __init__(self, read_delay: float = 0.0, answer_delay: float = 0.0, scan_delay: float = 0.0) -> None:
        self.scan_delay = scan_delay
        """Seconds `wanted` takes, as a query of the node's rows would."""
        self.read_delay = read_delay
        """Seconds each read takes, as a disk read in a thread would."""
        self.answer_delay = answer_delay
        """Seconds `scopes_of` (the first step of answering a want) takes."""
        self.asked: list[str] = []
        self.blobs: dict[str, bytes] = {}
        self.rows: dict[str, set[str]] = {}
        self.open_writers = 0
        self.writers_opened = 0
        self.discarded = 0
        self.reads = 0

    def hold(self, data: bytes, scope: str = "channel:c") -> str:
        """Hold these bytes, named by a row in `scope`."""
        content_hash = sha256(data)
        self.blobs[content_hash] = data
        self.name(content_hash, scope)
        return content_hash

    def name(self, content_hash: str, scope: str = "channel:c") -> None:
        """A row in `scope` names this hash (its bytes may be elsewhere)."""
        self.rows.setdefault(content_hash, set()).add(scope)

    def name_on_arrival(self, store: Any, content_hash: str, scope: str = "channel:c") -> None:
        """Name the hash once `store` commits ops of a channel: as a file row arriving with a post would."""
        def on_commit(heads: dict[Any, Any]) -> None:
            if any(feed.scope.startswith("channel:") for feed in heads):
                self.name(content_hash, scope)
        store.subscribe(on_commit)

    async def wanted(self, limit: int, skip: Collection[str] = ()) -> list[str]:
        await asyncio.sleep(self.scan_delay)
        return [h for h in self.rows if h not in self.blobs and h not in skip][:limit]

    async def scopes_of(self, content_hash: str) -> set[str]:
        self.asked.append(content_hash)
        await asyncio.sleep(self.answer_delay)
        return set(self.rows.get(content_hash, ()))

    async def size(self, content_hash: str) -> int | None:
        data = self.blobs.get(content_hash)
        return None if data is None else len(data)

    async def read(self, content_hash: str, offset: int, length: int) -> bytes:
        self.reads += 1
        await asyncio.sleep(self.read_delay)
        return self.blobs[content_hash][offset:offset + length]

    async def writer(self, content_hash: str) -> MemoryBlobWriter:
        self.open_writers += 1
        self.writers_opened += 1
        return MemoryBlobWriter(self, content_hash)


class MemoryBlobWriter:
    def __init__(self, port: MemoryBlobs, content_hash: str):
        self._port = port
        self._hash = content_hash
        self._data = bytearray()
        self._open = True

    async def write(self, data: bytes) -> None:
        assert self._open
        self._data += data

    async def install(self) -> bool:
        if sha256(bytes(self._data)) != self._hash:
            await self.discard()
            return False
        self._close()
        self._port.blobs[self._hash] = bytes(self._data)
        return True

    async def discard(self) -> None:
        if self._open:
            self._close()
            self._port.discarded += 1

    def _close(self) -> None:
        self._open = False
        self._port.open_writers -= 1
