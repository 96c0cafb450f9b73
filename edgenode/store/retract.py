"""Retraction: cut feeds back to an earlier sequence number and rebuild the state as if the ops cut had never arrived.

Materialization only ever adds (CRDT merges are monotone), so ops cannot be un-applied one by one.
Instead every materialized table is emptied and every op left in the log is applied again, in
stamp order (a dependency's stamp precedes its dependents', so few ops wait), through the same
Materializer as the apply path. Ops that depended on a cut op end up waiting for it, like ops that
arrived before their dependency. Runs inside one writer transaction: all or nothing.

Node-local tables derived from an entity table by triggers (full-text indexes, mentions) must drop
a row's entries when its `_deleted` becomes 1, as they do for a Delete op: before its rows are
removed, every live row of a table that has triggers is tombstoned, so those tables empty
themselves by their own rules and are refilled by their insert triggers during the replay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from crdt import Op, Stamp
from sync import GENESIS, FeedHead, FeedId, InvalidOpError

from .errors import SchemaViolation
from .decode import BodyDecoder
from .materialize import Columns, Materializer, OpState
from .oplog import checkpoint_at_or_before, ops_from_rows
from .schema import Schema

__all__ = ["REPLAY_BATCH", "RetractResult", "retract_feeds"]

REPLAY_BATCH = 4096
"""Ops read and applied per step of the replay: bounded memory, and long runs for apply_many."""


@dataclass(frozen=True, slots=True)
class RetractResult:
    """What a retraction did."""

    removed: dict[FeedId, int]
    """Ops removed per feed; feeds that lost nothing are absent."""
    heads: dict[FeedId, FeedHead]
    """The new head of every feed in `removed`."""
    replayed: int = 0
    """Ops applied again to rebuild the materialized state."""
    waiting: int = 0
    """Ops left waiting for a dependency afterwards (e.g. a reply to a retracted post)."""
    elapsed_s: float = 0.0
    """Wall time from the request to its commit."""

    @property
    def total_removed(self) -> int:
        return sum(self.removed.values())


def retract_feeds(conn: sqlite3.Connection, mat: Materializer, schema: Schema, cuts: Mapping[FeedId, int]) -> RetractResult:
    """Delete each feed's ops after its cut, set its head there, and rebuild every materialized table.

    Runs inside the writer's open transaction; the caller rolls it back if anything raises.
    Cutting nothing (every feed already at or below its cut) changes nothing.
    """
    removed: dict[FeedId, int] = {}
    heads: dict[FeedId, FeedHead] = {}
    for feed, cut in sorted(cuts.items(), key=lambda item: (item[0].author, item[0].scope)):
        row = conn.execute("SELECT id, seq FROM feeds WHERE author = ? AND scope = ?", (feed.author, feed.scope)).fetchone()
        if row is None or row[1] <= cut:
            continue
        rowid = row[0]
        head = FeedHead(cut, _link_at(conn, feed, rowid, cut)) if cut else FeedHead(0, GENESIS)
        removed[feed] = conn.execute("DELETE FROM ops WHERE feed = ? AND seq > ?", (rowid, cut)).rowcount
        conn.execute("DELETE FROM rejected WHERE feed = ? AND seq > ?", (rowid, cut))
        # A fork row pairs the op it holds with the one we held at its seq; once ours is gone it
        # proves nothing, and those seqs are refused from now on anyway.
        conn.execute("DELETE FROM forks WHERE feed = ? AND seq > ?", (rowid, cut))
        conn.execute("UPDATE feeds SET seq = ?, link = ? WHERE id = ?", (head.seq, head.link, rowid))
        heads[feed] = head
    if not removed:
        return RetractResult({}, {})
    _clear_materialized(conn, schema)
    mat.forget()
    replayed = _replay(conn, mat, schema)
    waiting = conn.execute(
        "UPDATE ops SET state = ? WHERE (feed, seq) IN (SELECT feed, seq FROM waiting)", (int(OpState.WAITING),)
    ).rowcount
    return RetractResult(removed, heads, replayed, waiting)


def _link_at(conn: sqlite3.Connection, feed: FeedId, rowid: int, seq: int) -> bytes:
    """The link of op `seq`: its prev is recomputed from the nearest checkpoint, as segment() does."""
    checkpoint = checkpoint_at_or_before(seq)
    rows = conn.execute("SELECT seq, prev, hlc, body, sig FROM ops WHERE feed = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                        (rowid, checkpoint, seq)).fetchall()
    ops = ops_from_rows(feed, rows)
    if not ops or ops[-1].seq != seq:
        raise sqlite3.DatabaseError(f"the log of feed {feed.scope!r} of author {feed.author.hex()[:16]} "
                                    f"cannot be read back to op {seq}; run `PRAGMA integrity_check`")
    return ops[-1].link()


def _clear_materialized(conn: sqlite3.Connection, schema: Schema) -> None:
    with_triggers = {row[0] for row in conn.execute("SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'")}
    for entity in schema.entities.values():
        if entity.table in with_triggers:
            conn.execute(f"UPDATE {entity.table} SET _deleted = 1 WHERE _deleted = 0")
        conn.execute(f"DELETE FROM {entity.table}")
    for set_table in schema.sets.values():
        conn.execute(f"DELETE FROM {set_table.table}")
    for table in ("set_tags", "set_removed", "counter_incs", "counter_totals", "waiting"):
        conn.execute(f"DELETE FROM {table}")


def _replay(conn: sqlite3.Connection, mat: Materializer, schema: Schema) -> int:
    """Apply every op of the log that is not invalid again, in stamp order; returns how many."""
    authors = {rowid: FeedId(author, scope) for rowid, author, scope in conn.execute("SELECT id, author, scope FROM feeds")}
    conn.execute("UPDATE ops SET state = ? WHERE state = ?", (int(OpState.APPLIED), int(OpState.WAITING)))
    # The order is fixed in a temporary table first: the replay updates `ops` as it goes, and a
    # query still reading a table that is being changed may see the change.
    conn.execute("DROP TABLE IF EXISTS temp.retract_replay")
    conn.execute("CREATE TEMP TABLE retract_replay AS SELECT feed, seq FROM ops WHERE state = ? ORDER BY hlc, feed, seq",
                 (int(OpState.APPLIED),))
    replayed = 0
    last = 0
    decoder = BodyDecoder(schema)
    while True:
        rows = conn.execute(
            "SELECT r.rowid, r.feed, r.seq, o.hlc, o.body FROM temp.retract_replay r "
            "JOIN ops o ON o.feed = r.feed AND o.seq = r.seq WHERE r.rowid > ? ORDER BY r.rowid LIMIT ?",
            (last, REPLAY_BATCH),
        ).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        items: list[tuple[int, int, Stamp, Op, Columns]] = []
        for _, rowid, seq, hlc, body in rows:
            try:
                op, columns = decoder.decode(body)
                items.append((rowid, seq, Stamp(hlc >> 16, hlc & 0xFFFF, authors[rowid].node_tag), op, columns))
            except (InvalidOpError, SchemaViolation) as exc:
                # applied once, unusable now (the schema lost a kind): recorded as the apply path would
                conn.execute("UPDATE ops SET state = ? WHERE feed = ? AND seq = ?", (int(OpState.INVALID), rowid, seq))
                conn.execute("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)", (rowid, seq, str(exc)))
        mat.apply_many(items)
        replayed += len(items)
    conn.execute("DROP TABLE temp.retract_replay")  # on failure, the rollback removes it
    return replayed
