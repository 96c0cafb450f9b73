"""The node's store: a SQLite file holding the signed op log and the tables materialized from it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from crdt import MAX_DRIFT_MS, Op, Stamp
from sync import FeedHead, FeedId, ForkError, SignedOp, Signer, decode_segment, encoding, verify_segment

from .errors import RetractError, StoreClosedError
from .materialize import digest_queries
from .migrations import BackupScrub, Migration
from .oplog import checkpoint_at_or_before, ops_from_rows
from .retract import RetractResult
from .schema import Schema
from .writer import RemoteResult, Writer

__all__ = ["ChangeListener", "OpsListener", "Precondition", "Store", "wall_clock_ms"]

T = TypeVar("T")
HeadsListener = Callable[[dict[FeedId, FeedHead]], None]
ChangeListener = Callable[[frozenset[str] | None], None]
OpsListener = Callable[[Sequence[Op] | None], None]
"""Told which kinds of entity and set (an op's `kind`) a commit may have changed; None: any table at all."""
Precondition = Callable[[sqlite3.Connection], None]
"""Runs in the writer's transaction before a write; raises to refuse it."""
_log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Store:
    """Open with `async with Store(path, schema, signer) as store:`; all writes go through one writer."""

    def __init__(
        self,
        path: Path | str,
        schema: Schema,
        signer: Signer,
        *,
        now_ms: Callable[[], int] = wall_clock_ms,
        max_drift_ms: int = MAX_DRIFT_MS,
        readers: int = 2,
        migrations: Sequence[tuple[str, Migration]] = (),
        backup_scrub: BackupScrub | None = None,
    ):
        self.path = Path(path)
        self.schema = schema
        self.signer = signer
        self._writer = Writer(self.path, schema, signer, now_ms, max_drift_ms, migrations, backup_scrub)
        self._reader_count = readers
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self._all_readers: list[aiosqlite.Connection] = []
        self._listeners: list[HeadsListener] = []
        self._retract_listeners: list[HeadsListener] = []
        self._change_listeners: list[ChangeListener] = []
        self._ops_listeners: list[OpsListener] = []

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> list[str]:
        """Create or migrate the database and start the writer; returns the migrations applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        applied = await self._writer.open()
        self._readers = asyncio.Queue()
        for _ in range(self._reader_count):
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA query_only = 1")
            self._all_readers.append(conn)
            self._readers.put_nowait(conn)
        return applied

    async def close(self) -> None:
        for conn in self._all_readers:
            await conn.close()
        self._all_readers.clear()
        self._readers = None
        await self._writer.close()

    @property
    def node_id(self) -> bytes:
        return self.signer.public_key

    @property
    def last_stamp(self) -> Stamp:
        return self._writer.clock.last

    @property
    def commits(self) -> int:
        """Transactions committed since open (fewer than writes when group commit works)."""
        return self._writer.commits

    # -- writes ----------------------------------------------------------------------------

    async def write(self, scope: str, ops: Sequence[Op], *, check: Precondition | None = None) -> list[SignedOp]:
        """Author ops in our feed for `scope`; returns once they are durable. All or nothing.

        `check`, if given, runs on the write connection in the writer's transaction just before the
        ops are written: whatever it raises aborts this write alone and reaches the caller. A rule
        such as "this name is free" then holds against every concurrent write on this node.
        """
        return (await self.write_scopes([(scope, ops)], check=check))[0]

    async def write_scopes(self, writes: Sequence[tuple[str, Sequence[Op]]], *,
                           check: Precondition | None = None) -> list[list[SignedOp]]:
        """Author ops in several of our feeds in one transaction (e.g. a channel removal that both the
        channel's nodes and the removed user's nodes must receive); all or nothing. `check` as in write()."""
        batches = [(scope, list(ops)) for scope, ops in writes]

        def run() -> list[list[SignedOp]]:
            if check is not None:
                self._writer.local_state(check)
            return [self._writer.local(scope, ops) for scope, ops in batches]

        written = [op for _, ops in batches for op in ops]
        kinds = frozenset(op.kind for op in written)
        sealed: list[list[SignedOp]] = await self._writer.submit(run, done=lambda: self._changed(kinds, written))
        heads = {ops[-1].feed: FeedHead(ops[-1].seq, ops[-1].link()) for ops in sealed if ops}
        if heads:
            self._advanced(heads)
        return sealed

    async def write_local(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Change node-local tables (sessions, audit, ...) that are not replicated; durable like write()."""
        # node-local tables are no op's kind: anything may have changed
        return await self._writer.submit(lambda: self._writer.local_state(work),  # type: ignore[no-any-return]
                                         done=self._changed_any)

    async def apply(self, ops: Sequence[SignedOp]) -> RemoteResult:
        """Verify and apply a contiguous segment of a foreign feed; all or nothing.

        Raises a sync.VerificationError naming the reason for inauthentic input, ForkError (after
        recording the evidence) when the author signed two different ops at one sequence number.
        """
        ops = list(ops)
        if not ops:
            return RemoteResult()
        # Hashing and the signature check run off the event loop, before the writer sees anything.
        await asyncio.to_thread(verify_segment, FeedHead(ops[0].seq - 1, ops[0].prev), ops)
        # The kinds are inside the encoded bodies; decoding them here again would cost more than the
        # readers' caches save, and foreign segments are rarer than local writes: anything may have changed.
        result: RemoteResult = await self._writer.submit(lambda: self._writer.remote(ops), done=self._changed_any)
        if result.fork is not None:
            raise ForkError(result.fork)
        if result.head is not None and (result.applied or result.waiting or result.invalid):
            self._advanced({ops[0].feed: result.head})
        return result

    async def apply_all(self, segments: Callable[[], Iterable[Sequence[SignedOp]]]) -> RemoteResult:
        """Verify and apply many segments of foreign feeds in one transaction: all or nothing (a bundle).

        `segments` is called in the writer's thread, so it may stream them from a file; whatever it
        or a segment raises (ForkError for an equivocation, a VerificationError) rolls back every
        segment and reaches the caller. Returns the counts summed over all segments.
        """
        def run() -> tuple[RemoteResult, dict[FeedId, FeedHead]]:
            total, heads = RemoteResult(), {}
            for segment in segments():
                ops = list(segment)
                if not ops:
                    continue
                verify_segment(FeedHead(ops[0].seq - 1, ops[0].prev), ops)
                result = self._writer.remote(ops)
                if result.fork is not None:
                    raise ForkError(result.fork)
                total.applied += result.applied
                total.waiting += result.waiting
                total.invalid += result.invalid
                total.duplicates += result.duplicates
                if result.head is not None and (result.applied or result.waiting or result.invalid):
                    heads[ops[0].feed] = result.head
            return total, heads

        total, heads = await self._writer.submit(run, done=self._changed_any)
        if heads:
            self._advanced(heads)
        return total  # type: ignore[no-any-return]

    async def apply_bytes(self, segment: bytes) -> RemoteResult:
        """Decode, verify and apply an encoded segment (as received from a peer or a bundle)."""
        ops = await asyncio.to_thread(decode_segment, segment)
        return await self.apply(ops)

    async def retract(self, cuts: Mapping[FeedId, int]) -> RetractResult:
        """Cut each feed back to its sequence number and rebuild the materialized state without the
        ops cut, as if they had never arrived; all or nothing.

        For ops a replica applied before it learned they must not count (a revoked node's ops beyond
        its limit). Ops of other authors that depended on a cut op wait for it again. O(log size):
        every op left is applied again, in one writer transaction. Feeds already at or below their
        cut are left alone. Raises RetractError for a negative cut or a cut of this node's own feed
        (it would sign new ops at sequence numbers its peers already hold).
        """
        started = time.perf_counter()
        cuts = dict(cuts)
        for feed, cut in cuts.items():
            if isinstance(cut, bool) or not isinstance(cut, int) or cut < 0:
                raise RetractError(f"feed {feed.scope!r} cannot be cut back to {cut!r}: give a sequence number of 0 or more")
            if feed.author == self.node_id:
                raise RetractError(f"feed {feed.scope!r} is this node's own: cutting it would make this node sign "
                                   "a second op at sequence numbers its peers already hold")
        if not cuts:
            return RetractResult({}, {}, elapsed_s=time.perf_counter() - started)
        result: RetractResult = await self._writer.submit(lambda: self._writer.retract(cuts), done=self._changed_any)
        if result.heads:
            self._notify(self._retract_listeners, result.heads)
        return replace(result, elapsed_s=time.perf_counter() - started)

    def subscribe(self, listener: HeadsListener) -> Callable[[], None]:
        """Call `listener` with the feeds whose heads advanced, after each commit that advanced any
        (local writes and applied foreign ops); returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe_retractions(self, listener: HeadsListener) -> Callable[[], None]:
        """Call `listener` with the feeds cut back and their new (lower) heads, after each retraction
        that cut any; returns the function that unsubscribes it.

        Kept apart from subscribe(): those listeners are told only of heads that advanced (a peer
        session pushes what lies beyond what it last saw), and a retraction advances nothing.
        """
        self._retract_listeners.append(listener)
        return lambda: self._retract_listeners.remove(listener) if listener in self._retract_listeners else None

    def subscribe_changes(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener` after every write this store commits, with the kinds of entity and set it may
        have changed (None: it may have changed anything: foreign ops, retractions, node-local tables);
        returns the function that unsubscribes it.

        For caches of what readers found: a listener runs on the event loop right after the writer's
        transaction ended and before any of its writers resume, so a cache that drops what the kinds
        touch is never stale for a request that starts after the write returned. (A fill racing with a
        commit must be discarded: see services/read_cache.py.) Listeners must be quick and must not raise.
        """
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener) if listener in self._change_listeners else None

    def subscribe_ops(self, listener: OpsListener) -> Callable[[], None]:
        """Like subscribe_changes, but `listener` gets the ops this node wrote (None: anything may have
        changed), called at the same moment; for caches that keep answers per entity and refresh only
        the entities a commit touched. Returns the function that unsubscribes it."""
        self._ops_listeners.append(listener)
        return lambda: self._ops_listeners.remove(listener) if listener in self._ops_listeners else None

    def _changed_any(self) -> None:
        self._changed(None, None)

    def _changed(self, kinds: frozenset[str] | None, ops: Sequence[Op] | None) -> None:
        for listener in list(self._change_listeners):
            try:
                listener(kinds)
            except Exception:
                _log.exception("a store change listener failed")
        for ops_listener in list(self._ops_listeners):
            try:
                ops_listener(ops)
            except Exception:
                _log.exception("a store ops listener failed")

    def _advanced(self, heads: dict[FeedId, FeedHead]) -> None:
        self._notify(self._listeners, heads)

    @staticmethod
    def _notify(listeners: list[HeadsListener], heads: dict[FeedId, FeedHead]) -> None:
        for listener in list(listeners):
            try:
                listener(heads)
            except Exception:  # a listener's bug must not fail a write that is already durable
                _log.exception("a store listener failed")

    # -- reads -----------------------------------------------------------------------------

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """Borrow a read-only connection; reads run concurrently with the writer (WAL)."""
        if self._readers is None:
            raise StoreClosedError("the store is closed")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            if self._readers is not None:
                self._readers.put_nowait(conn)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self.reader() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def digest(self) -> str:
        """A hash of all materialized state; replicas holding the same ops have the same digest."""
        h = hashlib.blake2b(digest_size=32)
        async with self.reader() as conn:
            await conn.execute("BEGIN")  # one snapshot for every table
            try:
                for label, sql in digest_queries(self.schema):
                    h.update(encoding.pack(label))
                    for row in await conn.execute_fetchall(sql):
                        values = tuple(row)
                        if label.startswith("entity:") and values[1]:
                            values = values[:2]
                        h.update(encoding.pack(list(values)))
            finally:
                await conn.execute("COMMIT")
        return h.hexdigest()

    async def heads(self) -> dict[FeedId, FeedHead]:
        """How far we hold every feed (our frontier)."""
        rows = await self.fetchall("SELECT author, scope, seq, link FROM feeds WHERE seq > 0")
        return {FeedId(r["author"], r["scope"]): FeedHead(r["seq"], r["link"]) for r in rows}

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]:
        """Up to `limit` ops of a feed after `after_seq`, as they were signed.

        The log keeps `prev` only at checkpoints (see oplog.stored_prev), so the rows from the
        checkpoint at or before the first wanted op are read, and each prev is the link of the op
        before it.
        """
        first = after_seq + 1
        checkpoint = checkpoint_at_or_before(first)
        rows = await self.fetchall(
            "SELECT o.seq, o.prev, o.hlc, o.body, o.sig FROM ops o JOIN feeds f ON f.id = o.feed "
            "WHERE f.author = ? AND f.scope = ? AND o.seq >= ? ORDER BY o.seq LIMIT ?",
            (feed.author, feed.scope, checkpoint, limit + first - checkpoint),
        )
        ops = ops_from_rows(feed, rows)
        return [op for op in ops if op.seq >= first]

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"
