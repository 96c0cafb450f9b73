"""The small interfaces the peering package needs from the rest of the node.

The store is joined by what each part reads, not by the whole `Store`: need-to-know, the blob port
and the status read with SQL; peer sync reads frontiers and segments and applies verified ones
(sync.ports.LiveFeedStore), either the store itself or the store behind mesh admission.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from sync.ports import LiveFeedStore

__all__ = ["StoreReads", "LiveFeedStore", "StatusSource"]


class StoreReads(Protocol):
    """Read-only SQL over the node's store (concurrent readers; never the writer)."""

    @property
    def node_id(self) -> bytes: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None: ...


class StatusSource(Protocol):
    """Something that tells the peering status as JSON values (GET /api/v4/edgenode/status, `edgenode status`)."""

    async def status(self) -> dict[str, Any]: ...
