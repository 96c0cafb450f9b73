"""The single writer: one thread owns the only read-write connection and commits in groups.

Requests queue up while a transaction commits; the next transaction takes all of them, so under
load one fsync acknowledges many writes (group commit). Each request runs inside a savepoint: a
request that fails rolls back alone and its caller gets the error, the others still commit.
A caller's future resolves only after COMMIT returned, so an acknowledged write is durable.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crdt import HybridClock, Op, Stamp
from sync import (
    GENESIS, FeedHead, FeedId, ForkError, InvalidOpError, SignedOp, Signer, VerificationError,
    check_continues, encode_op,
)

from .decode import BodyDecoder
from .errors import MissingDependencyError, SchemaViolation, StoreClosedError
from .materialize import Columns, Materializer, OpState, validate
from .migrations import BackupScrub, Migration, backup_before_migrating, migrate
from .oplog import PREV_CHECKPOINT, stored_prev
from .retract import RetractResult, retract_feeds
from .schema import Schema

__all__ = ["Writer", "RemoteResult", "connect", "stored_prev", "PREV_CHECKPOINT"]

_MAX_BATCH = 1024


def connect(path: Path | str, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas every edgenode connection uses."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a commit is on disk before COMMIT returns, so an acknowledged write survives power loss too
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = OFF")
    # 16 MiB: enough for the pages random-id inserts touch in a 100k-post store's indexes (the op log
    # and the post rows are appended in order); 64 MiB was not measurably faster applying 100k ops
    # and keeps up to 48 MiB more resident per node (docs/performance.md)
    conn.execute("PRAGMA cache_size = -16384")
    if read_only:
        conn.execute("PRAGMA query_only = 1")
    return conn


@dataclass(slots=True)
class RemoteResult:
    """What applying a segment did; `fork` is set (and nothing applied) when the author equivocated."""

    applied: int = 0
    waiting: int = 0
    invalid: int = 0
    duplicates: int = 0
    fork: str | None = None
    head: FeedHead | None = None


@dataclass(slots=True)
class _Request:
    run: Callable[[], Any]
    done: Callable[[], None] | None = None
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Writer:
    """Owns the read-write connection; every change to the database goes through here."""

    def __init__(self, path: Path, schema: Schema, signer: Signer, now_ms: Callable[[], int], max_drift_ms: int,
                 migrations: Sequence[tuple[str, Migration]] = (), backup_scrub: BackupScrub | None = None):
        self._path = path
        self._migrations = migrations
        self._backup_scrub = backup_scrub
        self._schema = schema
        self._decoder = BodyDecoder(schema)
        self._signer = signer
        self._now_ms = now_ms
        self._max_drift_ms = max_drift_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgenode-writer")
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._conn: sqlite3.Connection | None = None
        self._mat: Materializer | None = None
        self._clock: HybridClock | None = None
        self._heads: dict[FeedId, tuple[int, FeedHead]] = {}
        self.commits = 0

    # -- lifetime --------------------------------------------------------------------------

    async def open(self) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            applied = await loop.run_in_executor(self._executor, self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._task = asyncio.create_task(self._run(), name="edgenode-writer")
        return applied

    def _open(self) -> list[str]:
        conn = connect(self._path)
        try:
            backup_before_migrating(conn, self._path, self._migrations, scrub=self._backup_scrub)  # to undo an upgrade
            conn.execute("BEGIN IMMEDIATE")
            applied = migrate(conn, self._schema, self._migrations)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        self._conn = conn
        self._mat = Materializer(conn, self._schema)
        row = conn.execute("SELECT value FROM meta WHERE key = 'clock'").fetchone()
        self._clock = HybridClock(self._signer.node_tag, Stamp.unpack(row[0]) if row else None, self._max_drift_ms)
        return applied

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._conn is not None:  # after a failed open there is nothing left to close
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            # TRUNCATE, not just the checkpoint SQLite runs at the last close: a WAL file is reused from
            # its start, so frames of older transactions (the clear tokens local_0006 hashed, a
            # retracted node's ops) stay in its tail until it is cut; and if any other connection to
            # the file outlives this one, the file is not deleted at close.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    @property
    def clock(self) -> HybridClock:
        assert self._clock is not None, "writer not open"
        return self._clock

    # -- the queue -------------------------------------------------------------------------

    async def submit(self, run: Callable[[], Any], *, done: Callable[[], None] | None = None) -> Any:
        """Run `run` in the writer's next transaction; its result once committed.

        `done`, if given, is called on the event loop once the transaction ended (committed or not),
        before any caller of the batch resumes, even if this caller was cancelled meanwhile.
        """
        if self._task is None:
            raise StoreClosedError("the store is closed")
        request = _Request(run, done)
        await self._queue.put(request)
        return await request.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            outcomes = await loop.run_in_executor(self._executor, self._commit, [r.run for r in batch])
            for request in batch:
                if request.done is not None:
                    request.done()
            for request, (ok, value) in zip(batch, outcomes):
                if request.future.done():
                    continue
                if ok:
                    request.future.set_result(value)
                else:
                    request.future.set_exception(value)

    def _commit(self, runs: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        conn = self._conn
        assert conn is not None and self._mat is not None and self._clock is not None
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")  # inside the try: a locked or failing disk fails this batch, not the writer
            for run in runs:
                conn.execute("SAVEPOINT request")
                try:
                    value = run()
                    conn.execute("RELEASE request")
                    outcomes.append((True, value))
                except Exception as exc:  # one bad request must not stop the others
                    conn.execute("ROLLBACK TO request")
                    conn.execute("RELEASE request")
                    self._forget()
                    outcomes.append((False, exc))
            conn.execute(
                "INSERT INTO meta VALUES ('clock', ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                (self._clock.last.pack(),),
            )
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:  # e.g. disk full at COMMIT: nothing of this batch is durable
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._forget()
            return [(False, exc) for _ in runs]
        return outcomes

    def _forget(self) -> None:
        self._heads.clear()
        assert self._mat is not None
        self._mat.forget()

    # -- work run inside the writer thread ---------------------------------------------------

    def _head(self, feed: FeedId) -> tuple[int, FeedHead]:
        cached = self._heads.get(feed)
        if cached is not None:
            return cached
        conn = self._conn
        assert conn is not None
        row = conn.execute("SELECT id, seq, link FROM feeds WHERE author = ? AND scope = ?",
                           (feed.author, feed.scope)).fetchone()
        if row is None:
            rowid = conn.execute("INSERT INTO feeds (author, scope, seq, link) VALUES (?, ?, 0, ?)",
                                 (feed.author, feed.scope, GENESIS)).lastrowid
            assert rowid is not None
            cached = (rowid, FeedHead(0, GENESIS))
        else:
            cached = (row[0], FeedHead(row[1], row[2]))
        self._heads[feed] = cached
        return cached

    def _set_head(self, feed: FeedId, rowid: int, head: FeedHead) -> None:
        assert self._conn is not None
        self._conn.execute("UPDATE feeds SET seq = ?, link = ? WHERE id = ?", (head.seq, head.link, rowid))
        self._heads[feed] = (rowid, head)

    def local_state(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `work` on the write connection, for node-local tables outside the op log (runs in the writer thread)."""
        assert self._conn is not None
        return work(self._conn)

    def local(self, scope: str, ops: Sequence[Op]) -> list[SignedOp]:
        """Stamp, encode, sign, append and materialize ops authored here (runs in the writer thread)."""
        conn, mat, clock = self._conn, self._mat, self._clock
        assert conn is not None and mat is not None and clock is not None
        prepared = [(op, validate(self._schema, op)) for op in ops]
        feed = FeedId(self._signer.public_key, scope)
        rowid, head = self._head(feed)
        now = self._now_ms()
        sealed = []
        for op, columns in prepared:
            missing = mat.missing_dependency(op)
            if missing is not None:
                raise MissingDependencyError(f"{missing[0]} {missing[1]!r} does not exist on this node")
            stamp = clock.tick(now)
            signed = self._signer.seal(scope, head, stamp, encode_op(op))
            conn.execute(
                "INSERT INTO ops (feed, seq, prev, hlc, body, sig) VALUES (?, ?, ?, ?, ?, ?)",
                (rowid, signed.seq, stored_prev(signed), _hlc(stamp), signed.body, signed.signature),
            )
            mat.apply(rowid, signed.seq, stamp, op, columns)
            head = FeedHead(signed.seq, signed.link())
            sealed.append(signed)
        self._set_head(feed, rowid, head)
        return sealed

    def remote(self, ops: Sequence[SignedOp]) -> RemoteResult:
        """Append and materialize a verified segment of a foreign feed (runs in the writer thread).

        The segment's links and head signature were checked by the caller; here it is placed
        against what we hold: already-held ops are skipped if identical and are fork evidence if not.
        """
        conn, mat, clock = self._conn, self._mat, self._clock
        assert conn is not None and mat is not None and clock is not None
        result = RemoteResult()
        feed = ops[0].feed
        rowid, head = self._head(feed)
        fresh: list[SignedOp] = []
        for op in ops:
            if op.seq > head.seq:
                fresh.append(op)
                continue
            # the signature covers prev, so equal stamp, body and signature mean the same op
            held = conn.execute("SELECT hlc, body, sig FROM ops WHERE feed = ? AND seq = ?",
                                (rowid, op.seq)).fetchone()
            if held == (_hlc(op.stamp), op.body, op.signature):
                result.duplicates += 1
            else:
                return self._fork(rowid, op, result)
        result.head = head
        if not fresh:
            return result
        try:
            check_continues(head, fresh[0])
        except ForkError:
            return self._fork(rowid, fresh[0], result)
        except VerificationError as exc:
            if fresh[0].seq == head.seq + 1:  # right place, other history: the author signed two versions
                return self._fork(rowid, fresh[0], result)
            raise exc
        now = self._now_ms()
        clock.check(fresh[-1].stamp, now)  # stamps increase along a verified feed: the last is the latest
        conn.executemany(
            "INSERT INTO ops (feed, seq, prev, hlc, body, sig) VALUES (?, ?, ?, ?, ?, ?)",
            [(rowid, op.seq, stored_prev(op), _hlc(op.stamp), op.body, op.signature) for op in fresh],
        )
        valid: list[tuple[int, int, Stamp, Op, Columns]] = []
        for op in fresh:
            try:
                decoded, columns = self._decoder.decode(op.body)
                valid.append((rowid, op.seq, op.stamp, decoded, columns))
            except (InvalidOpError, SchemaViolation) as exc:
                # Authentic but unusable (e.g. written by a newer version): keep it in the log so
                # the feed stays whole, and record why it was not applied.
                conn.execute("UPDATE ops SET state = ? WHERE feed = ? AND seq = ?", (int(OpState.INVALID), rowid, op.seq))
                conn.execute("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)", (rowid, op.seq, str(exc)))
                result.invalid += 1
        for (_, seq, _, _, _), state in zip(valid, mat.apply_many(valid)):
            if state is OpState.WAITING:
                conn.execute("UPDATE ops SET state = ? WHERE feed = ? AND seq = ?", (int(state), rowid, seq))
                result.waiting += 1
            else:
                result.applied += 1
        clock.observe(max(op.stamp for op in fresh), now)
        head = FeedHead(fresh[-1].seq, fresh[-1].link())
        self._set_head(feed, rowid, head)
        result.head = head
        return result

    def retract(self, cuts: Mapping[FeedId, int]) -> RetractResult:
        """Cut feeds back and rebuild the materialized state without the ops cut (runs in the writer thread)."""
        assert self._conn is not None and self._mat is not None
        try:
            return retract_feeds(self._conn, self._mat, self._schema, cuts)
        finally:
            self._forget()  # cached heads and known entities may describe what was cut

    def _fork(self, rowid: int, op: SignedOp, result: RemoteResult) -> RemoteResult:
        assert self._conn is not None
        self._conn.execute("INSERT OR IGNORE INTO forks VALUES (?, ?, ?, ?)", (rowid, op.seq, op.to_bytes(), self._now_ms()))
        result.fork = f"feed {op.feed.scope!r} of author {op.feed.author.hex()[:16]} has two different ops at sequence {op.seq}"
        return result


def _hlc(stamp: Stamp) -> int:
    return (stamp.wall_ms << 16) | stamp.counter
