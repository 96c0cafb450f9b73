"""Local writes: stamped, signed, appended and materialized in one durable transaction."""

from __future__ import annotations

import asyncio
import json

import pytest

from crdt import Add, Create, Delete, Increment, Remove, Update
from edgenode.store import MissingDependencyError, SchemaViolation, Store
from support.builders import CHANNEL, post, team_and_channel
from sync import FeedHead, GENESIS, verify_op, verify_segment


async def test_a_post_is_materialized_and_its_op_is_signed_and_linked(store: Store) -> None:
    await store.write("directory", team_and_channel())
    sealed = await store.write(f"channel:{CHANNEL}", [post("p" * 26, "hello")])

    row = await store.fetchone("SELECT channel_id, message, _deleted FROM posts WHERE id = ?", ("p" * 26,))
    assert tuple(row) == (CHANNEL, "hello", 0)
    assert sealed[0].seq == 1 and sealed[0].prev == GENESIS
    verify_op(sealed[0])
    held = await store.segment(sealed[0].feed)
    assert held == sealed


async def test_successive_writes_extend_one_hash_linked_feed_per_scope(store: Store) -> None:
    await store.write("directory", team_and_channel())
    for i in range(5):
        await store.write(f"channel:{CHANNEL}", [post(f"{i:026d}", f"message {i}")])
    (feed,) = [f for f in await store.heads() if f.scope == f"channel:{CHANNEL}"]
    ops = await store.segment(feed)
    assert [op.seq for op in ops] == [1, 2, 3, 4, 5]
    assert verify_segment(FeedHead(0, GENESIS), ops) == (await store.heads())[feed]


async def test_updates_are_last_writer_wins_per_field(store: Store) -> None:
    await store.write("directory", team_and_channel())
    pid = "p" * 26
    await store.write("c", [post(pid, "first")])
    await store.write("c", [Update("post", pid, {"message": "second", "is_pinned": True})])
    await store.write("c", [Update("post", pid, {"props": {"b": 1, "a": [1, 2]}})])
    row = await store.fetchone("SELECT message, is_pinned, props FROM posts WHERE id = ?", (pid,))
    assert (row["message"], row["is_pinned"], json.loads(row["props"])) == ("second", 1, {"a": [1, 2], "b": 1})


async def test_sets_and_counters_materialize_as_rows(store: Store) -> None:
    await store.write("directory", team_and_channel())
    pid = "p" * 26
    await store.write("c", [post(pid, "hi"), Add("post.reactions", pid, "u1:smile"), Add("post.reactions", pid, "u2:+1")])
    tag = (await store.write("c", [Add("post.reactions", pid, "u3:tada")]))[0].stamp
    await store.write("c", [Remove("post.reactions", pid, "u3:tada", (tag,))])
    await store.write("c", [Increment("channel.posts", CHANNEL, 1), Increment("channel.posts", CHANNEL, 2)])
    reactions = await store.fetchall("SELECT user_id, emoji_name FROM reactions WHERE post_id = ? ORDER BY 1", (pid,))
    assert [tuple(r) for r in reactions] == [("u1", "smile"), ("u2", "+1")]
    total = await store.fetchone("SELECT value FROM counter_totals WHERE kind = 'channel.posts' AND owner = ?", (CHANNEL,))
    assert total[0] == 3


async def test_a_write_with_one_bad_op_applies_none_of_its_ops(store: Store) -> None:
    await store.write("directory", team_and_channel())
    before = await store.digest()
    with pytest.raises(SchemaViolation, match="post has no field 'colour'"):
        await store.write("c", [post("a" * 26, "fine"), Update("post", "a" * 26, {"colour": "red"})])
    assert await store.digest() == before
    assert (await store.fetchone("SELECT count(*) FROM ops"))[0] == 2


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (Create("spaceship", "x", {}), "unknown entity kind 'spaceship'"),
        (Update("post", "p", {"channel_id": "other"}), "post.channel_id is set at creation and cannot be changed"),
        (Create("post", "p", {"message": 42}), "post.message must be text, got int"),
        (Add("post.votes", "p", "u"), "unknown set kind 'post.votes'"),
        (Add("post.reactions", "p", "no-emoji-part"), "post.reactions elements have 2 parts"),
        (Increment("post.views", "p", 1), "unknown counter kind 'post.views'"),
    ],
)
async def test_ops_that_break_the_schema_are_refused_with_the_reason(store: Store, op: object, message: str) -> None:
    with pytest.raises(SchemaViolation, match=message.replace("+", r"\+")):
        await store.write("c", [op])  # type: ignore[list-item]


async def test_a_write_referring_to_a_missing_entity_is_refused(store: Store) -> None:
    with pytest.raises(MissingDependencyError, match="channel 'cccccccccccccccccccccccccc' does not exist"):
        await store.write("c", [post("p" * 26, "orphan")])
    assert (await store.fetchone("SELECT count(*) FROM ops"))[0] == 0


async def test_deletes_stay_deleted_whatever_comes_later(store: Store) -> None:
    await store.write("directory", team_and_channel())
    pid = "p" * 26
    await store.write("c", [post(pid, "secret")])
    await store.write("c", [Delete("post", pid)])
    await store.write("c", [Update("post", pid, {"message": "back?"}), post(pid, "re-created")])
    row = await store.fetchone("SELECT _deleted FROM posts WHERE id = ?", (pid,))
    assert row[0] == 1


async def test_concurrent_writers_share_commits(store: Store) -> None:
    await store.write("directory", team_and_channel())
    commits_before = store.commits
    await asyncio.gather(*(store.write("c", [post(f"{i:026d}", "x")]) for i in range(200)))
    assert (await store.fetchone("SELECT count(*) FROM posts"))[0] == 200
    assert store.commits - commits_before < 200


async def test_one_failing_request_does_not_fail_the_others_in_its_group(store: Store) -> None:
    await store.write("directory", team_and_channel())
    results = await asyncio.gather(
        store.write("c", [post("a" * 26, "ok")]),
        store.write("c", [Create("post", "b" * 26, {"message": 1})]),
        store.write("c", [post("c" * 26, "ok too")]),
        return_exceptions=True,
    )
    assert isinstance(results[1], SchemaViolation)
    rows = await store.fetchall("SELECT id FROM posts ORDER BY id")
    assert [r[0] for r in rows] == ["a" * 26, "c" * 26]


async def test_a_remove_cancels_its_tags_even_when_it_names_another_element(store: Store) -> None:
    # crdt.ORSet cancels a tag wherever it is; the store must agree or replicas would diverge
    await store.write("directory", team_and_channel())
    pid = "p" * 26
    await store.write("c", [post(pid, "hi")])
    tag = (await store.write("c", [Add("post.reactions", pid, "u1:smile")]))[0].stamp
    await store.write("c", [Remove("post.reactions", pid, "u2:frown", (tag,))])
    assert await store.fetchall("SELECT * FROM reactions") == []


async def test_segments_from_any_point_carry_the_exact_signed_ops_though_the_log_keeps_few_prevs(store: Store) -> None:
    await store.write("directory", team_and_channel())
    written = []
    for i in range(150):  # past two prev checkpoints (seq 65 and 129)
        written += await store.write("c", [post(f"{i:026d}", f"m{i}")])
    feed = written[0].feed
    for after in (0, 1, 63, 64, 65, 100, 128, 129, 149):
        segment = await store.segment(feed, after, 30)
        assert segment == written[after:after + 30]
        for op in segment:
            verify_op(op)
    stored = await store.fetchall("SELECT seq FROM ops WHERE length(prev) > 0 AND feed = "
                                  "(SELECT id FROM feeds WHERE scope = 'c') ORDER BY seq")
    assert [r[0] for r in stored] == [1, 65, 129]
