"""Store benchmarks, each figure printed beside a raw-SQLite baseline measured in the same run.

    python bench/bench_store.py [--quick] [--profile]

Machines running this are shared and noisy, so absolute rates say little; the ratio to a baseline
taken moments earlier on the same disk says more. Baselines use plain sqlite3 with the store's
durability settings (WAL, synchronous=FULL), on real files in a temp dir.

1. Local durable writes of one post Create each (HLC + encode + sign + append + materialize,
   acknowledged after COMMIT), (a) one writer awaiting each write, (b) 16 concurrent writers
   (group commit), vs raw sqlite3 inserting the same post rows one row per transaction.
   Store and raw runs are interleaved in rounds so drifting machine load hits both alike.
2. Bulk apply of foreign ops into a whole node (its search, hashtag and mention indexes included):
   100 feeds (4 authors x 25 channels) of post Creates, prepared in advance and encoded as
   1000-op segments; timed: Store.apply_bytes of every post segment (decode + verify + apply +
   commit), vs raw executemany of the same rows into the same tables with the same indexes in one
   transaction (a database made by the same migrations; the search indexes filled by the same
   set-based statements, at their fastest). At 10,000 and 100,000 ops, so growth shows.
3. Database bytes per post after the bulk apply (after a WAL checkpoint), vs the raw baseline's.

--profile additionally profiles the bulk apply across all threads with yappi (pip install yappi)
and prints the top functions by CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdt import Create, HybridClock, Stamp
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.schema import SCHEMA
from edgenode.store import Store, wall_clock_ms
from sync import GENESIS, FeedHead, SignedOp, Signer, decode_segment, encode_segment, verify_segment
from sync.codec import encode_op

SEGMENT_OPS = 1000
AUTHORS = 4
CHANNELS_PER_AUTHOR = 25
CONCURRENT_WRITERS = 16
TARGET_LOCAL_RATIO = 0.25
ROUND_POSTS = 320  # posts per round of part 1 (a multiple of CONCURRENT_WRITERS)
MIN_ROUNDS, MAX_ROUNDS = 2, 200
TARGET_APPLY_RATE = 50_000
TARGET_APPLY_RATIO = 0.5
TARGET_GROWTH = 0.85  # the rate at the largest size at least this share of the rate at the smallest
TARGET_BYTES_PER_POST = 800

# -- data --------------------------------------------------------------------------------------

_TEXT = (
    "the a incident deploy rollback on call pager alert latency p99 database replica failover "
    "ack ok thanks looking into it restart node disk full ssh bastion runbook checklist owner "
    "status update customer impact mitigated resolved postmortem tomorrow 10:00 link ticket"
)
_WORDS = _TEXT.split()
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_id(rng: random.Random) -> str:
    """A Mattermost-style 26-character id."""
    return "".join(rng.choices(_ID_ALPHABET, k=26))


def post_fields(rng: random.Random, channel_id: str, user_id: str, now_ms: int) -> dict[str, Any]:
    words = rng.choices(_WORDS, k=rng.randint(3, 40))
    return {
        "channel_id": channel_id,
        "user_id": user_id,
        "root_id": "",
        "message": " ".join(words),
        "type": "",
        "props": {},
        "hashtags": "",
        "is_pinned": False,
        "edit_at": 0,
        "create_at": now_ms,
        "update_at": now_ms,
        "delete_at": 0,
    }


POST_TABLE = SCHEMA.entities["post"]
POST_COLUMNS = [c.name for c in POST_TABLE.columns]
POST_TYPES = {c.name: c.type for c in POST_TABLE.columns}


def post_row(post_id: str, fields: dict[str, Any], stamp: bytes) -> tuple[Any, ...]:
    """The row the raw baseline inserts: the same values the store materializes."""
    values = []
    for name in POST_COLUMNS:
        value = fields.get(name)
        if value is not None and POST_TYPES[name] == "JSON":
            value = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        elif value is not None and POST_TYPES[name] == "BOOL":
            value = int(value)
        values.append(value)
    return (post_id, *values, stamp)


# -- raw sqlite3 baseline ----------------------------------------------------------------------

_AFFINITY = {"JSON": "TEXT", "BOOL": "INTEGER"}


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)  # autocommit: one transaction per statement
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    cols = ", ".join(f"{c.name} {_AFFINITY.get(c.type, c.type)}" for c in POST_TABLE.columns)
    conn.execute(
        f"CREATE TABLE posts (id TEXT PRIMARY KEY, {cols}, _stamp BLOB NOT NULL, _clk BLOB, "
        "_deleted INTEGER NOT NULL DEFAULT 0)"
    )
    for index in POST_TABLE.indexes:
        conn.execute(f"CREATE INDEX posts_{'_'.join(index)} ON posts ({', '.join(index)})")
    conn.execute(
        "CREATE TABLE ops (feed INTEGER NOT NULL, seq INTEGER NOT NULL, prev BLOB NOT NULL, "
        "hlc INTEGER NOT NULL, body BLOB NOT NULL, sig BLOB NOT NULL, state INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (feed, seq)) WITHOUT ROWID"
    )
    return conn


_POST_INSERT = f"INSERT INTO posts (id, {', '.join(POST_COLUMNS)}, _stamp) VALUES ({', '.join('?' * (len(POST_COLUMNS) + 2))})"


def raw_single_rows(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> float:
    """Seconds to insert rows one per (durable) transaction."""
    start = time.perf_counter()
    for row in rows:
        conn.execute(_POST_INSERT, row)
    return time.perf_counter() - start


async def whole_node_db(path: Path) -> None:
    """An empty database with exactly a whole node's tables, indexes, triggers and search indexes."""
    async with Store(path, SCHEMA, Signer.generate(), migrations=LOCAL_MIGRATIONS):
        pass


def raw_bulk(path: Path, op_rows: Sequence[tuple[Any, ...]], rows: Sequence[tuple[Any, ...]]) -> float:
    """Seconds to insert all op rows and post rows into a whole node's tables in one durable
    transaction, then fill its search, hashtag and mention indexes over them set-based (the
    node's own batch-trigger statements: the fastest way SQLite has to fill them)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -16384")  # as the store's connections
    try:
        fill = [sql for (sql,) in conn.execute("SELECT sql FROM _batch_triggers WHERE tbl = 'posts' ORDER BY name")]
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO ops (feed, seq, prev, hlc, body, sig) VALUES (?, ?, ?, ?, ?, ?)", op_rows)
        after = conn.execute("SELECT coalesce(max(rowid), 0) FROM posts").fetchone()[0]
        conn.executemany(_POST_INSERT, rows)
        for sql in fill:
            conn.execute(sql, {"after": after})
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def db_bytes(path: Path) -> int:
    """File bytes of a closed database after a WAL checkpoint (main file plus what is left of the WAL)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def table_bytes(path: Path, top: int = 6) -> list[tuple[str, int]]:
    """Bytes per table/index (dbstat), largest first."""
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [(str(n), int(b)) for n, b in rows[:top]]


# -- output ------------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def verdict(ok: bool) -> str:
    return "OK" if ok else "BELOW TARGET"


# -- 1. local durable writes -------------------------------------------------------------------


async def bench_local(tmp: Path, budget_s: float) -> None:
    """Each of (a) and (b) runs rounds of ROUND_POSTS posts until about budget_s seconds are spent."""
    rng = random.Random(1)
    signer = Signer.generate()
    now = wall_clock_ms()
    team_id = new_id(rng)
    channels = [new_id(rng) for _ in range(CONCURRENT_WRITERS)]
    user_id = new_id(rng)

    def make(channel: str) -> tuple[Create, tuple[Any, ...]]:
        post_id = new_id(rng)
        fields = post_fields(rng, channel, user_id, now)
        stamp = Stamp(now, 0, signer.node_tag).pack()
        return Create("post", post_id, fields, deps=[("channel", channel)]), post_row(post_id, fields, stamp)

    raw = raw_connect(tmp / "raw_local.db")
    async with Store(tmp / "local.db", SCHEMA, signer) as store:
        await store.write("directory", [
            Create("team", team_id, {"name": "ops", "type": "O"}),
            *[Create("channel", c, {"team_id": team_id, "type": "O", "name": f"ch{i}"}, deps=[("team", team_id)])
              for i, c in enumerate(channels)],
        ])
        # warm-up (statement caches, first pages), not timed
        warm = [make(channels[0]) for _ in range(20)]
        raw_single_rows(raw, [r for _, r in warm])
        for op, _ in warm:
            await store.write(f"channel:{channels[0]}", [op])

        # (a) one writer awaiting each write; rounds of raw then store until the time budget is spent
        raw_s = store_s = 0.0
        raw_n = store_n = rounds = 0
        while rounds < MIN_ROUNDS or (raw_s + store_s < budget_s and rounds < MAX_ROUNDS):
            batch = [make(channels[0]) for _ in range(ROUND_POSTS)]
            raw_s += raw_single_rows(raw, [r for _, r in batch])
            raw_n += len(batch)
            start = time.perf_counter()
            for op, _ in batch:
                await store.write(f"channel:{channels[0]}", [op])
            store_s += time.perf_counter() - start
            store_n += len(batch)
            rounds += 1
        store_rate, raw_rate = rate(store_n, store_s), rate(raw_n, raw_s)
        ratio = store_rate / raw_rate
        print(f"1a. local durable writes, 1 writer awaiting each single-post write ({store_n} posts, {rounds} rounds)")
        line("store.write", f"{store_rate:10,.0f} posts/s")
        line("raw sqlite3, 1 row per txn (WAL+FULL)", f"{raw_rate:10,.0f} rows/s")
        line("ratio store/raw", f"{ratio:10.2f}   target >= {TARGET_LOCAL_RATIO}  {verdict(ratio >= TARGET_LOCAL_RATIO)}")

        # (b) 16 concurrent writers, each awaiting its own single-post writes (group commit)
        per_writer = ROUND_POSTS // CONCURRENT_WRITERS
        raw_s = store_s = 0.0
        raw_n = store_n = commits = rounds = 0

        async def writer(channel: str, ops: list[Create]) -> None:
            for op in ops:
                await store.write(f"channel:{channel}", [op])

        while rounds < MIN_ROUNDS or (raw_s + store_s < budget_s and rounds < MAX_ROUNDS):
            work = {c: [make(c) for _ in range(per_writer)] for c in channels}
            rows = [r for items in work.values() for _, r in items]
            raw_s += raw_single_rows(raw, rows)
            raw_n += len(rows)
            before = store.commits
            start = time.perf_counter()
            await asyncio.gather(*(writer(c, [op for op, _ in items]) for c, items in work.items()))
            store_s += time.perf_counter() - start
            commits += store.commits - before
            store_n += len(rows)
            rounds += 1
        store_rate, raw_rate = rate(store_n, store_s), rate(raw_n, raw_s)
        ratio = store_rate / raw_rate
        print(f"1b. local durable writes, {CONCURRENT_WRITERS} concurrent writers ({store_n} posts, {rounds} rounds)")
        line("store.write (group commit)", f"{store_rate:10,.0f} posts/s")
        line("store.commits (transactions)", f"{commits:10,d}   = {store_n / max(commits, 1):.1f} posts per commit")
        line("raw sqlite3, 1 row per txn (WAL+FULL)", f"{raw_rate:10,.0f} rows/s")
        line("ratio store/raw", f"{ratio:10.2f}   target >= {TARGET_LOCAL_RATIO}  {verdict(ratio >= TARGET_LOCAL_RATIO)}")
    raw.close()


# -- 2. bulk apply of foreign ops ----------------------------------------------------------------


@dataclass
class Prepared:
    directory: list[bytes]          # encoded segments: teams and channels
    segments: list[bytes]           # encoded segments of post ops, 1000 ops (or fewer) each
    n_posts: int
    op_rows: list[tuple[Any, ...]]  # for the raw baseline: what the ops table receives
    post_rows: list[tuple[Any, ...]]


def _seal_feed(signer: Signer, clock: HybridClock, scope: str, ops: Sequence[Create], now: int) -> list[SignedOp]:
    """Sign ops as a feed, exactly as a source store's writer would (stamp, encode, seal, link)."""
    head = FeedHead(0, GENESIS)
    out = []
    for op in ops:
        signed = signer.seal(scope, head, clock.tick(now), encode_op(op))
        head = FeedHead(signed.seq, signed.link())
        out.append(signed)
    return out


def prepare_foreign(n_ops: int) -> Prepared:
    """100 feeds' worth of signed post Creates from 4 source authors (not timed)."""
    rng = random.Random(2)
    now = wall_clock_ms()
    feeds = AUTHORS * CHANNELS_PER_AUTHOR
    per_feed = [n_ops // feeds + (1 if i < n_ops % feeds else 0) for i in range(feeds)]
    directory: list[bytes] = []
    segments: list[bytes] = []
    op_rows: list[tuple[Any, ...]] = []
    post_rows: list[tuple[Any, ...]] = []
    feed_no = 0
    for _ in range(AUTHORS):
        signer = Signer.generate()
        clock = HybridClock(signer.node_tag)
        user_id = new_id(rng)
        team_id = new_id(rng)
        channels = [new_id(rng) for _ in range(CHANNELS_PER_AUTHOR)]
        dir_ops = [Create("team", team_id, {"name": f"team-{team_id[:6]}", "type": "O"})] + [
            Create("channel", c, {"team_id": team_id, "type": "O", "name": f"ch-{c[:6]}"}, deps=[("team", team_id)])
            for c in channels
        ]
        directory.append(encode_segment(_seal_feed(signer, clock, "directory", dir_ops, now)))
        for channel in channels:
            feed_no += 1
            posts = []
            for _ in range(per_feed[feed_no - 1]):
                post_id = new_id(rng)
                fields = post_fields(rng, channel, user_id, now)
                posts.append(Create("post", post_id, fields, deps=[("channel", channel)]))
            signed = _seal_feed(signer, clock, f"channel:{channel}", posts, now)
            for op, s in zip(posts, signed):
                op_rows.append((feed_no, s.seq, s.prev, (s.stamp.wall_ms << 16) | s.stamp.counter, s.body, s.signature))
                post_rows.append(post_row(op.id, dict(op.fields), s.stamp.pack()))
            for i in range(0, len(signed), SEGMENT_OPS):
                segments.append(encode_segment(signed[i:i + SEGMENT_OPS]))
    return Prepared(directory, segments, sum(per_feed), op_rows, post_rows)


async def apply_all(store: Store, prepared: Prepared) -> float:
    """Apply every post segment in order, one awaited apply_bytes each; returns seconds."""
    start = time.perf_counter()
    applied = 0
    for seg in prepared.segments:
        result = await store.apply_bytes(seg)
        applied += result.applied
    seconds = time.perf_counter() - start
    if applied != prepared.n_posts:
        raise SystemExit(f"bulk apply applied {applied} of {prepared.n_posts} ops")
    return seconds


def decode_verify_only(prepared: Prepared) -> float:
    """Seconds for decode + verify of every post segment, without a store (for the breakdown)."""
    start = time.perf_counter()
    for seg in prepared.segments:
        ops = decode_segment(seg)
        verify_segment(FeedHead(ops[0].seq - 1, ops[0].prev), ops)
    return time.perf_counter() - start


async def bench_bulk(tmp: Path, n_ops: int, profile: bool) -> float:
    """Prints the figures of parts 2 and 3 at n_ops; returns the store's rate."""
    t0 = time.perf_counter()
    prepared = prepare_foreign(n_ops)
    prep_s = time.perf_counter() - t0
    seg_bytes = sum(len(s) for s in prepared.segments)

    raw_dbs = [tmp / f"raw_bulk_{n_ops}_{i}.db" for i in (1, 2)]
    for raw_db in raw_dbs:
        await whole_node_db(raw_db)
    raw_before = raw_bulk(raw_dbs[0], prepared.op_rows, prepared.post_rows)

    path = tmp / f"target_{n_ops}.db"
    async with Store(path, SCHEMA, Signer.generate(), migrations=LOCAL_MIGRATIONS) as store:
        for seg in prepared.directory:
            await store.apply_bytes(seg)
        if profile:
            try:
                import yappi  # type: ignore[import-not-found]
            except ImportError:
                raise SystemExit("--profile needs yappi: pip install yappi") from None
            yappi.set_clock_type("cpu")
            yappi.start()
        before = store.commits
        store_s = await apply_all(store, prepared)
        if profile:
            yappi.stop()
        commits = store.commits - before
        posts = (await store.fetchone("SELECT count(*) FROM posts"))[0]  # type: ignore[index]

    raw_after = raw_bulk(raw_dbs[1], prepared.op_rows, prepared.post_rows)
    dv_s = decode_verify_only(prepared)

    n = prepared.n_posts
    raw_rate = rate(2 * n, raw_before + raw_after)
    store_rate = rate(n, store_s)
    print(f"2.  bulk apply of {n:,} foreign post ops into a whole node ({len(prepared.segments)} segments of "
          f"<= {SEGMENT_OPS} ops, {AUTHORS} authors x {CHANNELS_PER_AUTHOR} channel feeds, {seg_bytes / n:.0f} wire "
          f"bytes/op; prepared in {prep_s:.1f} s, not timed; load average {os.getloadavg()[0]:.2f})")
    line("store.apply_bytes (decode+verify+apply)", f"{store_rate:10,.0f} ops/s   ({store_s:.2f} s, {commits} commits)")
    line("raw executemany ops+posts+search, 1 txn", f"{raw_rate:10,.0f} ops/s   (mean of a run before and after: "
                                                    f"{rate(n, raw_before):,.0f}, {rate(n, raw_after):,.0f})")
    ratio = store_rate / raw_rate
    line("ratio store/raw", f"{ratio:10.2f}   target >= {TARGET_APPLY_RATIO}  {verdict(ratio >= TARGET_APPLY_RATIO)}")
    line("target", f"target >= {TARGET_APPLY_RATE:,} ops/s  {verdict(store_rate >= TARGET_APPLY_RATE)}")
    line("  breakdown: decode+verify alone, no store", f"{rate(n, dv_s):10,.0f} ops/s   "
         f"({dv_s / store_s:.0%} of the apply time)")
    if posts != n:
        print(f"  WARNING: {posts} posts materialized, expected {n}")

    store_bytes = db_bytes(path)
    raw_bytes = db_bytes(raw_dbs[1])
    print("3.  database size after the bulk apply (after WAL checkpoint)")
    line("store bytes per post", f"{store_bytes / n:10,.0f} B   ({store_bytes / 1e6:.1f} MB for {n:,} posts)  "
                                 f"target <= {TARGET_BYTES_PER_POST}  {verdict(store_bytes / n <= TARGET_BYTES_PER_POST)}")
    line("raw ops+posts tables, bytes per post", f"{raw_bytes / n:10,.0f} B")
    line("ratio store/raw", f"{store_bytes / raw_bytes:10.2f}")
    line("largest tables/indexes, bytes per post", ", ".join(f"{name} {b / n:.0f} B" for name, b in table_bytes(path)))

    if profile:
        print_profile()
    for leftover in (path, *raw_dbs):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{leftover}{suffix}").unlink(missing_ok=True)
    return store_rate


def print_profile(top: int = 30) -> None:
    import yappi

    print(f"\nprofile of the bulk apply (yappi, CPU time, all threads), top {top} by own time:")
    stats = yappi.get_func_stats()
    total = sum(s.tsub for s in stats) or 1.0
    stats.sort("tsub", "desc")
    print(f"  {'own %':>6} {'own s':>7} {'incl s':>7} {'calls':>9}  function")
    for s in list(stats)[:top]:
        where = f"{Path(s.module).name}:{s.lineno}" if s.module else ""
        print(f"  {s.tsub / total:6.1%} {s.tsub:7.2f} {s.ttot:7.2f} {s.ncall:9d}  {s.name} ({where})")
    print("  threads:")
    for t in yappi.get_thread_stats():
        print(f"    {t.name:<28} {t.ttot:7.2f} s CPU")


# -- main --------------------------------------------------------------------------------------


async def main(quick: bool, profile: bool, bulk_only: bool = False) -> None:
    started = time.perf_counter()
    print(f"edgenode store benchmark ({'quick' if quick else 'full'}), sqlite {sqlite3.sqlite_version}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="edgenode-bench-") as d:
        tmp = Path(d)
        if not bulk_only:
            await bench_local(tmp, budget_s=4.0 if quick else 15.0)
        sizes = [10_000] if quick else [10_000, 100_000]
        rates = [await bench_bulk(tmp, n, profile) for n in sizes]
        if len(rates) > 1:
            growth = rates[-1] / rates[0]
            print(f"4.  growth of the bulk apply rate from {sizes[0]:,} to {sizes[-1]:,} ops")
            line("rate at the largest / rate at the smallest", f"{growth:10.2f}   target >= {TARGET_GROWTH}  "
                                                                f"{verdict(growth >= TARGET_GROWTH)}")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (well under 40 s)")
    parser.add_argument("--profile", action="store_true", help="profile the bulk apply with yappi")
    parser.add_argument("--bulk-only", action="store_true", help="skip part 1 (local writes)")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.profile, args.bulk_only))
