"""Closing and reopening a store: the clock, the migrations and the data all carry over."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
from support.builders import CHANNEL, post, team_and_channel

from crdt import Add, Create, Delete, Increment, Stamp, Update
from edgenode.store import Store, StoreVersionError
from sync import GENESIS, FeedHead, verify_segment

HOUR_MS = 3_600_000
ALL_MIGRATIONS = ["0001_op_log", "0002_materialized_tables"]


async def _hlcs(store: Store) -> list[int]:
    return [r[0] for r in await store.fetchall("SELECT hlc FROM ops ORDER BY hlc")]


def _hlc(stamp: Stamp) -> int:
    return (stamp.wall_ms << 16) | stamp.counter


async def test_a_wall_clock_set_back_an_hour_across_a_restart_does_not_move_stamps_back(
    open_store: Callable[..., Store], clock: object
) -> None:
    async with open_store() as store:
        await store.write("directory", team_and_channel())
        await store.write("c", [post(f"{i:026d}", "before") for i in range(3)])
        last_before = store.last_stamp
        before = await _hlcs(store)

    clock.now_ms -= HOUR_MS  # type: ignore[attr-defined]
    async with open_store() as store:
        assert store.last_stamp == last_before
        (after,) = await store.write("c", [post("a" * 26, "after")])
        assert after.stamp > last_before
        assert _hlc(after.stamp) > max(before)
        # the feed still verifies: its stamps increase across the restart
        (feed,) = [f for f in await store.heads() if f.scope == "c"]
        assert verify_segment(FeedHead(0, GENESIS), await store.segment(feed)) == (await store.heads())[feed]


async def test_a_remote_stamp_observed_before_a_restart_still_orders_before_later_local_writes(
    open_store: Callable[..., Store], clock: object
) -> None:
    ahead_ms = 4 * 60 * 1000  # within the 5-minute drift limit

    def remote_clock() -> int:
        return clock.now_ms + ahead_ms  # type: ignore[attr-defined, no-any-return]

    async with open_store("remote", now_ms=remote_clock) as remote:
        remote_ops = await remote.write("directory", team_and_channel())
    async with open_store() as store:
        await store.write("mine", [Create("user", "u" * 26, {"username": "me"})])  # an earlier local stamp, far behind
        await store.apply(remote_ops)
        # closed right after the apply: only the apply's own commit can have saved what it observed

    clock.now_ms -= HOUR_MS  # type: ignore[attr-defined]
    async with open_store() as store:
        (mine,) = await store.write("c", [post("p" * 26, "after restart")])
        newest_remote = max(op.stamp for op in remote_ops)
        assert (mine.stamp.wall_ms, mine.stamp.counter) > (newest_remote.wall_ms, newest_remote.counter)
        assert _hlc(mine.stamp) > max((await _hlcs(store))[:-1])


async def test_reopening_applies_no_migration_twice(open_store: Callable[..., Store]) -> None:
    store = open_store()
    assert await store.open() == ALL_MIGRATIONS
    await store.close()
    store = open_store()
    assert await store.open() == []
    await store.close()
    with sqlite3.connect(store.path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")] == ALL_MIGRATIONS


async def test_a_database_migrated_by_a_newer_edgenode_refuses_to_open_and_says_to_upgrade(
    open_store: Callable[..., Store],
) -> None:
    async with open_store() as store:
        await store.write("directory", team_and_channel())
    with sqlite3.connect(store.path) as conn:
        conn.execute("INSERT INTO _migrations VALUES ('0003_from_the_future', 0)")
    conn.close()

    newer = open_store()
    with pytest.raises(StoreVersionError, match=r"migrations 0003_from_the_future from a newer edgenode; upgrade edgenode"):
        await newer.open()
    await newer.close()  # harmless after a failed open

    with sqlite3.connect(store.path) as conn:  # refused without touching anything
        assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM ops").fetchone()[0] == 2
    conn.close()


async def test_everything_written_before_a_restart_is_there_after_it(open_store: Callable[..., Store]) -> None:
    pid = "p" * 26
    async with open_store() as store:
        await store.write("directory", team_and_channel())
        await store.write("c", [post(pid, "hello"), post("q" * 26, "doomed"), Add("post.reactions", pid, "u1:smile")])
        await store.write("c", [Update("post", pid, {"message": "edited", "props": {"k": [1]}}), Delete("post", "q" * 26)])
        await store.write("c", [Increment("channel.posts", CHANNEL, 2)])
        digest, heads = await store.digest(), await store.heads()
        feeds = {feed: await store.segment(feed) for feed in heads}
        posts = [tuple(r) for r in await store.fetchall("SELECT * FROM posts ORDER BY id")]

    async with open_store() as store:
        assert await store.digest() == digest
        assert await store.heads() == heads
        assert {feed: await store.segment(feed) for feed in heads} == feeds
        assert [tuple(r) for r in await store.fetchall("SELECT * FROM posts ORDER BY id")] == posts
        reactions = await store.fetchall("SELECT post_id, user_id, emoji_name FROM reactions")
        assert [tuple(r) for r in reactions] == [(pid, "u1", "smile")]
        # new writes continue the feed from where it stopped
        (feed,) = [f for f in heads if f.scope == "c"]
        (sealed,) = await store.write("c", [Update("post", pid, {"message": "after restart"})])
        assert (sealed.seq, sealed.prev) == (heads[feed].seq + 1, heads[feed].link)
        assert await store.digest() != digest
