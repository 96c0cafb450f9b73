"""One process at a time owns a data folder: the one that serves it, syncs it once, or enrols it.

Two processes writing one store with one node key would sign two different ops at the same sequence
number of a feed: a fork every peer refuses. The owner holds an exclusive `flock` on `serve.lock` in
the data folder for its whole lifetime. The kernel drops the lock when the process dies (even by
kill -9), so no stale lock ever needs cleaning up; the pid written into the file only names the
owner in messages. Readers (`edgenode status`) test the lock without taking it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgenode.identity import KEY_FILE

__all__ = [
    "LOCK_FILE", "DataFolderError", "DataFolderBusyError", "UnusableDataFolderError", "NoNodeError", "Owner",
    "hold_data_folder", "owner_of", "require_node",
]

LOCK_FILE = "serve.lock"
_READER_GRACE_S = 0.5
"""How long an owner-to-be waits out a reader's test of the lock (`owner_of` holds it for microseconds)."""


class DataFolderError(Exception):
    """The data folder cannot be used as asked."""


class DataFolderBusyError(DataFolderError):
    """Another process owns the data folder (serves it, syncs it, or enrols it)."""


class UnusableDataFolderError(DataFolderError):
    """The data folder cannot be created or written (permissions, read-only disk, a file in the way)."""


class NoNodeError(DataFolderError):
    """The data folder holds no node (no node key): nothing to show, and nothing was created."""


@dataclass(frozen=True, slots=True)
class Owner:
    """The process holding a data folder's lock, as it described itself."""

    pid: int | None
    doing: str

    def __str__(self) -> str:
        return f"{self.doing} (pid {self.pid if self.pid is not None else 'unknown'})"


def require_node(data_dir: Path) -> None:
    """Refuse a folder without a node, before anything would create one there."""
    if not (data_dir / KEY_FILE).is_file():
        what = "does not exist" if not data_dir.exists() else "holds no node"
        raise NoNodeError(f"{data_dir} {what}: give the data folder of a node with --data "
                          f"(a new node starts with `edgenode serve --data DIR`)")


def _describe(fd: int) -> Owner:
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", errors="replace")
    except OSError:
        text = ""
    pid_text, _, doing = text.strip().partition(" ")
    return Owner(int(pid_text) if pid_text.isdigit() else None, doing or "running")


@contextmanager
def hold_data_folder(data_dir: Path, doing: str) -> Iterator[None]:
    """Own `data_dir` while the block runs (`doing`, e.g. "serving", names it to others), or raise
    DataFolderBusyError at once. Creates the folder (mode 0700) if it does not exist yet."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UnusableDataFolderError(f"cannot write to the data folder {data_dir}: {exc.strerror or exc}") from None
    try:
        if not _try_lock(fd, time.monotonic() + _READER_GRACE_S):
            owner = _describe(fd)
            raise DataFolderBusyError(
                f"the node in {data_dir} is already in use: {owner}; one process at a time may own a data folder"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {doing}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _try_lock(fd: int, until: float) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= until:
                return False
            time.sleep(0.02)  # a reader (`edgenode status`) may be testing the lock this instant


def owner_of(data_dir: Path) -> Owner | None:
    """The process that owns `data_dir` now, or None; reads only (creates no file)."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None  # no process ever took the lock here
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _describe(fd)
        return None
    finally:
        os.close(fd)
