"""Retraction: a feed cut back to an earlier op leaves the store as if the ops cut had never arrived.

The reference is always a fresh store that applied only the ops kept: same digest, same rows,
same search index; the log, the heads and later appends continue from the cut.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable

import pytest
from support.builders import CHANNEL, post, team_and_channel

from crdt import Add, Create, Delete, Increment, Remove, Stamp, Update
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.store import RetractError, Store
from edgenode.store.oplog import PREV_CHECKPOINT
from sync import GENESIS, FeedHead, FeedId, SignedOp

ALICE_POST = "a" * 26
MALLORY_POST = "m" * 26


def _open(open_store: Callable[..., Store], name: str) -> Store:
    return open_store(name, migrations=LOCAL_MIGRATIONS)  # with the search index and mentions of a real node


async def _feed(store: Store, author: Store, scope: str) -> list[SignedOp]:
    return await store.segment(FeedId(author.node_id, scope), 0, 100_000)


async def _pull(dst: Store, src: Store) -> None:
    """dst takes everything src holds that dst lacks."""
    have = await dst.heads()
    for feed, head in (await src.heads()).items():
        after = have[feed].seq if feed in have else 0
        if head.seq > after:
            await dst.apply(await src.segment(feed, after, 100_000))


async def _search(store: Store, words: str) -> list[str]:
    rows = await store.fetchall("SELECT p.id FROM post_search s JOIN posts p ON p.rowid = s.rowid "
                                "WHERE post_search MATCH ? ORDER BY p.id", (words,))
    return [r[0] for r in rows]


async def _check_indexes(store: Store) -> None:
    """FTS5's own check of both indexes (raises if either is damaged), and each word's matches
    against a scan of the live posts."""
    def check(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO post_search (post_search) VALUES ('integrity-check')")
        conn.execute("INSERT INTO post_hashtags (post_hashtags) VALUES ('integrity-check')")
    await store.write_local(check)
    for word in _WORDS:
        scanned = await store.fetchall("SELECT id FROM posts WHERE _deleted = 0 AND ' ' || message || ' ' LIKE ? "
                                       "ORDER BY id", (f"% {word} %",))
        assert await _search(store, word) == [r[0] for r in scanned], word


_WORDS = ("rivers", "flood", "defaced", "reply", "message", "edit")


async def _state(store: Store) -> dict[str, object]:
    """The digest plus the node-local tables derived from posts, which the digest does not cover."""
    await _check_indexes(store)
    mentions = await store.fetchall("SELECT user_id, post_id FROM post_mentions ORDER BY 1, 2")
    return {
        "digest": await store.digest(),
        "mentions": [tuple(r) for r in mentions],
        "search": {w: await _search(store, w) for w in _WORDS},
        "hashtags": [r[0] for r in await store.fetchall(
            "SELECT p.id FROM post_hashtags h JOIN posts p ON p.rowid = h.rowid WHERE post_hashtags MATCH '\"#flood\" OR \"#tag1\"' "
            "ORDER BY p.id")],
    }


async def _world_and_mallory(alice: Store, mallory: Store, bob: Store) -> tuple[list[SignedOp], list[SignedOp]]:
    """Alice's team, channel and post; Mallory's one kept op and her later ones (a post, a reaction,
    a member add, an edit of Alice's post); Bob's reply to and reaction on Mallory's later post."""
    await alice.write("directory", team_and_channel())
    await alice.write("chan", [post(ALICE_POST, "about rivers")])
    await _pull(mallory, alice)
    kept = await mallory.write("chan", [post("k" * 26, "kept before the revocation")])
    later = await mallory.write("chan", [
        Create("post", MALLORY_POST, {"channel_id": CHANNEL, "user_id": "m" * 26, "message": "spam flood #flood",
                                      "hashtags": "#flood", "mentions": '["' + "a" * 26 + '"]', "create_at": 2,
                                      "root_id": ""}, deps=[("channel", CHANNEL)]),
        Add("post.reactions", ALICE_POST, "mallory:thumbsdown"),
        Add("channel.members", CHANNEL, "mallory"),
        Update("post", ALICE_POST, {"message": "defaced"}),
        Increment("channel.posts", CHANNEL, 1),
    ])
    await _pull(bob, mallory)
    await bob.write("replies", [
        Create("post", "r" * 26, {"channel_id": CHANNEL, "user_id": "b" * 26, "message": "a reply",
                                  "root_id": MALLORY_POST, "create_at": 3}, deps=[("post", MALLORY_POST)]),
        Add("post.reactions", MALLORY_POST, "bob:laughing"),
    ])
    return kept, later


async def test_a_cut_feed_leaves_the_state_of_a_store_that_only_applied_the_kept_ops(
    open_store: Callable[..., Store],
) -> None:
    async with _open(open_store, "alice") as alice, _open(open_store, "mallory") as mallory, \
            _open(open_store, "bob") as bob, _open(open_store, "victim") as victim, _open(open_store, "fresh") as fresh:
        kept, later = await _world_and_mallory(alice, mallory, bob)
        for store in (alice, mallory, bob):
            await _pull(victim, store)
        await _pull(fresh, alice)
        await fresh.apply(kept)
        await fresh.apply(await _feed(bob, bob, "replies"))
        assert await _search(victim, "defaced") == [ALICE_POST]

        feed = FeedId(mallory.node_id, "chan")
        result = await victim.retract({feed: 1})

        assert result.removed == {feed: len(later)}
        assert result.heads == {feed: FeedHead(1, kept[0].link())}
        assert await _state(victim) == await _state(fresh)
        assert (await victim.heads())[feed] == FeedHead(1, kept[0].link())
        assert await victim.segment(feed) == kept
        assert (await victim.fetchone("SELECT message FROM posts WHERE id = ?", (ALICE_POST,)))[0] == "about rivers"
        assert await victim.fetchall("SELECT * FROM reactions") == []
        assert await victim.fetchall("SELECT * FROM channel_members") == []


async def test_ops_that_depended_on_a_retracted_op_wait_for_it_again(open_store: Callable[..., Store]) -> None:
    async with _open(open_store, "alice") as alice, _open(open_store, "mallory") as mallory, \
            _open(open_store, "bob") as bob, _open(open_store, "victim") as victim:
        _, later = await _world_and_mallory(alice, mallory, bob)
        for store in (alice, mallory, bob):
            await _pull(victim, store)
        bobs = FeedId(bob.node_id, "replies")

        result = await victim.retract({FeedId(mallory.node_id, "chan"): 1})

        assert result.waiting == 2
        states = await victim.fetchall("SELECT o.seq, o.state FROM ops o JOIN feeds f ON f.id = o.feed "
                                       "WHERE f.author = ? ORDER BY o.seq", (bob.node_id,))
        assert [tuple(r) for r in states] == [(1, 1), (2, 1)]
        waiting = await victim.fetchall("SELECT dep_kind, dep_id, seq FROM waiting ORDER BY seq")
        assert [tuple(r) for r in waiting] == [("post", MALLORY_POST, 1), ("post", MALLORY_POST, 2)]
        assert await victim.fetchone("SELECT 1 FROM posts WHERE id = ?", ("r" * 26,)) is None
        assert (await victim.heads())[bobs].seq == 2
        # not lost: should the post they depend on arrive again (here: straight into the store,
        # with no mesh to refuse it), they are applied
        await victim.apply(later)
        assert (await victim.fetchone("SELECT root_id FROM posts WHERE id = ?", ("r" * 26,)))[0] == MALLORY_POST
        assert await victim.digest() == await bob.digest()


async def test_retracting_nothing_changes_nothing(open_store: Callable[..., Store]) -> None:
    async with _open(open_store, "alice") as alice, _open(open_store, "victim") as victim:
        await alice.write("directory", team_and_channel())
        await _pull(victim, alice)
        feed = FeedId(alice.node_id, "directory")
        digest, heads, commits = await victim.digest(), await victim.heads(), victim.commits

        assert (await victim.retract({})).removed == {}
        assert victim.commits == commits  # not even a transaction
        assert (await victim.retract({feed: 2, FeedId(alice.node_id, "elsewhere"): 0})).removed == {}
        assert (await victim.retract({feed: 5})).removed == {}

        assert (await victim.digest(), await victim.heads()) == (digest, heads)


async def test_a_feed_cut_back_continues_from_the_cut_across_checkpoints(open_store: Callable[..., Store]) -> None:
    async with _open(open_store, "alice") as alice, _open(open_store, "victim") as victim:
        await alice.write("directory", team_and_channel())
        ops = await alice.write("chan", [post(f"{i:026d}", f"m{i}") for i in range(PREV_CHECKPOINT + 10)])
        await _pull(victim, alice)
        feed = FeedId(alice.node_id, "chan")
        for cut in (PREV_CHECKPOINT + 3, PREV_CHECKPOINT + 1, PREV_CHECKPOINT, 5, 0):
            result = await victim.retract({feed: cut})
            expected = FeedHead(cut, ops[cut - 1].link()) if cut else FeedHead(0, GENESIS)
            assert result.heads == {feed: expected}
            assert (await victim.heads()).get(feed) == (expected if cut else None)
            assert await victim.segment(feed, 0, 100_000) == ops[:cut]
            # the author's own copy, re-offered, continues the cut feed: not a fork, not a gap
            applied = await victim.apply(ops)
            assert (applied.duplicates, applied.applied) == (cut, len(ops) - cut)
            assert await victim.digest() == await alice.digest()


async def test_a_failure_midway_leaves_the_store_exactly_as_before(open_store: Callable[..., Store]) -> None:
    async with _open(open_store, "alice") as alice, _open(open_store, "mallory") as mallory, \
            _open(open_store, "bob") as bob, _open(open_store, "victim") as victim:
        await _world_and_mallory(alice, mallory, bob)
        for store in (alice, mallory, bob):
            await _pull(victim, store)
        before = await _state(victim)
        heads = await victim.heads()
        ops = await victim.fetchall("SELECT feed, seq, state FROM ops ORDER BY 1, 2")
        # a real SQLite error in the middle of the replay: Alice's post fails to be inserted again
        await victim.write_local(lambda conn: conn.execute(
            f"CREATE TEMP TRIGGER fail_replay AFTER INSERT ON posts WHEN new.id = '{ALICE_POST}' "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"))

        with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
            await victim.retract({FeedId(mallory.node_id, "chan"): 1})

        assert await _state(victim) == before
        assert await victim.heads() == heads
        assert await victim.fetchall("SELECT feed, seq, state FROM ops ORDER BY 1, 2") == ops
        await victim.write_local(lambda conn: conn.execute("DROP TRIGGER temp.fail_replay"))
        assert (await victim.retract({FeedId(mallory.node_id, "chan"): 1})).removed  # and it can still be done


async def test_listeners_hear_of_the_cut_heads_and_heads_listeners_of_nothing(open_store: Callable[..., Store]) -> None:
    async with _open(open_store, "alice") as alice, _open(open_store, "victim") as victim:
        await alice.write("directory", team_and_channel())
        ops = await alice.write("chan", [post(f"{i:026d}", "m") for i in range(3)])
        await _pull(victim, alice)
        advanced: list[dict[FeedId, FeedHead]] = []
        cut: list[dict[FeedId, FeedHead]] = []
        victim.subscribe(advanced.append)
        victim.subscribe_retractions(cut.append)

        await victim.retract({FeedId(alice.node_id, "chan"): 1})

        assert cut == [{FeedId(alice.node_id, "chan"): FeedHead(1, ops[0].link())}]
        assert advanced == []


async def test_a_negative_cut_or_a_cut_of_this_nodes_own_feed_is_refused(open_store: Callable[..., Store]) -> None:
    async with _open(open_store, "victim") as victim:
        await victim.write("directory", team_and_channel())
        heads = await victim.heads()
        with pytest.raises(RetractError, match="this node's own"):
            await victim.retract({FeedId(victim.node_id, "directory"): 1})
        with pytest.raises(RetractError, match="cannot be cut back to -1"):
            await victim.retract({FeedId(bytes(32), "directory"): -1})
        assert await victim.heads() == heads


# -- random histories --------------------------------------------------------------------------


async def _random_history(rng: random.Random, authors: list[Store]) -> None:
    """Authors writing in turn, each after pulling from another now and then, so ops depend across feeds."""
    await authors[0].write("directory", team_and_channel())
    for author in authors[1:]:
        await _pull(author, authors[0])
    for step in range(50):
        author = rng.choice(authors)
        if rng.random() < 0.3:
            await _pull(author, rng.choice(authors))
        posts = [r[0] for r in await author.fetchall("SELECT id FROM posts")]
        action = rng.random()
        if action < 0.35 or not posts:
            pid = f"p{step:02d}{rng.randrange(10**6):06d}".ljust(26, "p")
            root = rng.choice(posts) if posts and rng.random() < 0.3 else ""
            await author.write("chan", [Create("post", pid, {
                "channel_id": CHANNEL, "user_id": "u" * 26, "message": f"message {step} #tag{step % 3}",
                "hashtags": f"#tag{step % 3}", "root_id": root, "mentions": '["' + "x" * 26 + '"]', "create_at": step,
            }, deps=[("channel", CHANNEL), *([("post", root)] if root else [])])])
        elif action < 0.55:
            await author.write("edits", [Update("post", rng.choice(posts), {"message": f"edit {step}"})])
        elif action < 0.6:
            await author.write("edits", [Delete("post", rng.choice(posts))])
        elif action < 0.75:
            await author.write("edits", [Add("post.reactions", rng.choice(posts), f"u{rng.randrange(3)}:smile")])
        elif action < 0.85:
            pid = rng.choice(posts)
            element = f"u{rng.randrange(3)}:smile"
            tags = await author.fetchall("SELECT tag FROM set_tags WHERE kind = 'post.reactions' AND owner = ? "
                                         "AND element = ?", (pid, element))
            if tags:
                await author.write("edits", [Remove("post.reactions", pid, element,
                                                    tuple(Stamp.unpack(t[0]) for t in tags))])
        else:
            await author.write("edits", [Increment("post.replies", rng.choice(posts), rng.randrange(-2, 5))])


@pytest.mark.parametrize("seed", range(5))
async def test_a_random_history_cut_anywhere_equals_a_store_that_never_held_the_ops_cut(
    open_store: Callable[..., Store], seed: int,
) -> None:
    rng = random.Random(seed)
    names = ["a", "b", "c"][:rng.choice([2, 3])]
    authors = [_open(open_store, name) for name in names]
    for author in authors:
        await author.open()
    try:
        await _random_history(rng, authors)
        async with _open(open_store, "victim") as victim, _open(open_store, "fresh") as fresh:
            for author in authors:
                await _pull(victim, author)
            heads = await victim.heads()
            feed = rng.choice(sorted((f for f in heads if f.author != authors[0].node_id or f.scope != "directory"),
                                     key=lambda f: (f.author, f.scope)))
            cut = rng.randrange(heads[feed].seq)
            kept = {f: await victim.segment(f, 0, 100_000) for f in heads}
            kept[feed] = kept[feed][:cut]
            for f in sorted(kept, key=lambda f: (f.scope, f.author), reverse=True):  # another order than the log's
                await fresh.apply(kept[f])

            result = await victim.retract({feed: cut})

            assert result.removed == {feed: heads[feed].seq - cut}
            assert await _state(victim) == await _state(fresh)
            assert await victim.heads() == await fresh.heads()
            waiting = "SELECT f.author, f.scope, o.seq FROM ops o JOIN feeds f ON f.id = o.feed WHERE o.state = 1 ORDER BY 1, 2, 3"
            assert await victim.fetchall(waiting) == await fresh.fetchall(waiting)
    finally:
        for author in authors:
            await author.close()
