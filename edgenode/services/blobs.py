"""Content-addressed file storage: each blob once, named by its SHA-256, written atomically.

A blob is in place (written to a temporary file, fsynced, renamed, directory fsynced) before any
op names it, so a replica that holds a file entity holds its bytes too, even after a crash.
Blocking file work runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobStore", "BlobTooLarge", "IncomingBlob", "StoredBlob"]

_CHUNK = 1024 * 1024
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobTooLarge(Exception):
    """The stream is longer than the limit; nothing was kept."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    content_hash: str
    size: int
    head: bytes
    """The first bytes, enough to recognise an image format and read its dimensions."""


class BlobStore:
    def __init__(self, root: Path):
        self._root = root

    def path(self, content_hash: str) -> Path:
        """files/ab/cdef...: two hex digits of fan-out keep directories small."""
        if not _HASH_RE.match(content_hash):
            raise ValueError(f"not a sha256 hex digest: {content_hash!r}")
        return self._root / content_hash[:2] / content_hash[2:]

    async def put(self, stream: BinaryIO, max_size: int) -> StoredBlob:
        """Copy the stream into the store; raises BlobTooLarge past `max_size` bytes."""
        return await asyncio.to_thread(self._put, stream, max_size)

    def _put(self, stream: BinaryIO, max_size: int) -> StoredBlob:
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp_name = tempfile.mkstemp(dir=self._root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_size:
                        raise BlobTooLarge(f"larger than {max_size} bytes")
                    if len(head) < 64 * 1024:
                        head += chunk[: 64 * 1024 - len(head)]
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            content_hash = digest.hexdigest()
            self._install(tmp_name, content_hash)
            return StoredBlob(content_hash, size, head)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def _install(self, tmp_name: str, content_hash: str) -> None:
        """Rename a written, fsynced temporary file into place as `content_hash` (and fsync the folder)."""
        final = self.path(content_hash)
        if final.exists():
            os.unlink(tmp_name)  # the same bytes are already stored
            return
        if not final.parent.is_dir():
            final.parent.mkdir(mode=0o700, exist_ok=True)  # the data folder stays private
            _fsync_dir(self._root)
        os.replace(tmp_name, final)
        _fsync_dir(final.parent)

    def exists(self, content_hash: str) -> bool:
        return self.path(content_hash).is_file()

    def size(self, content_hash: str) -> int | None:
        """The stored blob's length, or None if it is not here (blocking: call from a thread)."""
        try:
            return self.path(content_hash).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, content_hash: str, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` (fewer at the end; blocking: call from a thread)."""
        with open(self.path(content_hash), "rb") as blob:
            blob.seek(offset)
            return blob.read(length)

    def receive(self, content_hash: str) -> IncomingBlob:
        """Start writing a blob that should hash to `content_hash` (blocking: call from a thread)."""
        self.path(content_hash)  # refuses a malformed hash before any file is made
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._root, prefix=".sync-")
        return IncomingBlob(self, content_hash, os.fdopen(fd, "wb"), tmp_name)


class IncomingBlob:
    """A blob arriving in pieces (from a peer): written aside, hashed as it comes, installed if it matches.

    Every method blocks; the caller runs them in a thread, one at a time.
    """

    def __init__(self, store: BlobStore, content_hash: str, file: BinaryIO, tmp_name: str):
        self._store = store
        self._hash = content_hash
        self._file = file
        self._tmp_name = tmp_name
        self._digest = hashlib.sha256()
        self._done = False

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        self._file.write(data)

    def install(self) -> bool:
        """Put the blob in place (durably) if its bytes hash to the expected digest; else discard it."""
        if self._digest.hexdigest() != self._hash:
            self.discard()
            return False
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._done = True
        try:
            self._store._install(self._tmp_name, self._hash)
        except BaseException:
            _unlink(self._tmp_name)
            raise
        return True

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        _unlink(self._tmp_name)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
