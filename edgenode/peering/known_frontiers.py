"""What this node last knew each peer to hold: per peer node, per feed, a sequence number.

Learned from a completed sync session with the peer, or from a bundle the peer exported (every
bundle carries its exporter's frontier), and only ever raised: knowing less than the truth costs
a larger bundle, knowing more would leave ops out of one. `edgenode bundle export --for NODE`
sends what lies beyond it. Node-local, never replicated (the table: migration
local_0011_known_frontiers in edgenode/local_schema.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from sync import FeedId

__all__ = ["record_known_frontier", "known_frontier", "FrontierRecorder"]

_TABLE = "known_frontiers"


async def record_known_frontier(store: Any, node: bytes, heads: Mapping[FeedId, int], *, now_ms: int) -> None:
    """Remember that `node` holds at least `heads` (a sync's or a bundle's word for it)."""
    rows = [(node, feed.author, feed.scope, seq, now_ms) for feed, seq in heads.items() if seq > 0]
    if not rows:
        return

    def work(conn: sqlite3.Connection) -> None:
        conn.executemany(
            f"INSERT INTO {_TABLE} (node, author, scope, seq, learned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (node, author, scope) DO UPDATE SET seq = excluded.seq, learned_at = excluded.learned_at "
            "WHERE excluded.seq > seq", rows)

    await store.write_local(work)


async def known_frontier(store: Any, node: bytes) -> dict[FeedId, int]:
    """The last frontier we know `node` holds (empty if we never learned it)."""
    rows = await store.fetchall(f"SELECT author, scope, seq FROM {_TABLE} WHERE node = ?", (node,))
    return {FeedId(bytes(row[0]), row[1]): int(row[2]) for row in rows}


class FrontierRecorder:
    """Writes what sync sessions learned of each peer's frontier, for the peers whose frontier changed
    since the last call (the sync service calls it now and then, and when it stops)."""

    def __init__(self, store: Any):
        self._store = store
        self._recorded: dict[bytes, dict[FeedId, int]] = {}

    async def record(self, frontiers: Mapping[bytes, Mapping[FeedId, int]], *, now_ms: int) -> int:
        """Record the changed ones; returns how many peers' frontiers were written."""
        written = 0
        for node, frontier in frontiers.items():
            if self._recorded.get(node) == frontier:
                continue
            await record_known_frontier(self._store, node, frontier, now_ms=now_ms)
            self._recorded[node] = dict(frontier)
            written += 1
        return written
