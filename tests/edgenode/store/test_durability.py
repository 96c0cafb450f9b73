"""Kill -9: every write the store acknowledged survives a crash, and the file stays whole and consistent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support.builders import CHANNEL, post
from support.killing import Ack, write_until_killed

from crdt import Create
from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import GENESIS, FeedHead, FeedId, Signer, decode_op, verify_segment

pytestmark = pytest.mark.slow

_ALL = 1_000_000  # a segment limit above anything these tests write


@pytest.mark.parametrize("kill_after", [1, 300, 2500], ids=lambda n: f"after-{n}-acks")
async def test_acknowledged_writes_survive_sigkill_and_the_store_stays_consistent(
    tmp_path: Path, kill_after: int
) -> None:
    data_dir = tmp_path / "node"
    acks = write_until_killed(data_dir, kill_after)
    assert len(acks) >= kill_after
    assert len({a.post_id for a in acks}) == len(acks)

    signer = load_or_create_identity(data_dir)
    async with Store(data_dir / STORE_FILE, SCHEMA, signer) as store:
        assert await store.integrity_check() == "ok"

        # every acknowledged post is materialized, and its op is in the log where the writer was told
        posts = {r[0] for r in await store.fetchall("SELECT id FROM posts WHERE _deleted = 0")}
        assert [a.post_id for a in acks if a.post_id not in posts] == []
        for ack in acks:
            await _assert_op_is_logged(store, signer, ack)

        # each feed verifies from genesis (links, stamps, signature) up to the head the store records
        heads = await store.heads()
        assert {f.scope for f in heads} == {"directory", f"channel:{CHANNEL}", f"channel:{'d' * 26}"}
        for feed, head in heads.items():
            ops = await store.segment(feed, 0, _ALL)
            assert [op.seq for op in ops] == list(range(1, head.seq + 1))
            assert verify_segment(FeedHead(0, GENESIS), ops) == head

        # the materialized tables agree with the log: one op per post (plus team and two channels),
        # nothing waiting or rejected, and a two-post write is never half there
        n_ops = (await store.fetchone("SELECT count(*) FROM ops"))[0]
        assert n_ops == 3 + len(posts) == sum(h.seq for h in heads.values())
        assert (await store.fetchone("SELECT count(*) FROM ops WHERE state != 0"))[0] == 0
        pairs = Counter(pid[:10] for pid in posts if pid.startswith("m"))
        assert {prefix: n for prefix, n in pairs.items() if n != 2} == {}
        await _assert_a_replay_of_the_log_reaches_the_same_digest(store, heads, tmp_path / "replay.db")

        # and it takes new writes, continuing our feeds where they stopped
        scope = f"channel:{CHANNEL}"
        feed = FeedId(signer.public_key, scope)
        before = heads[feed]
        (sealed,) = await store.write(scope, [post("z" * 26, "after the crash")])
        assert (sealed.seq, sealed.prev) == (before.seq + 1, before.link)
        assert verify_segment(FeedHead(0, GENESIS), await store.segment(feed, 0, _ALL)) == (await store.heads())[feed]
        row = await store.fetchone("SELECT message FROM posts WHERE id = ?", ("z" * 26,))
        assert row[0] == "after the crash"


async def _assert_op_is_logged(store: Store, signer: Signer, ack: Ack) -> None:
    row = await store.fetchone(
        "SELECT o.body, o.sig FROM ops o JOIN feeds f ON f.id = o.feed "
        "WHERE f.author = ? AND f.scope = ? AND o.seq = ?",
        (signer.public_key, ack.scope, ack.seq),
    )
    assert row is not None, f"op {ack.seq} of {ack.scope} (post {ack.post_id}) is missing"
    assert row["sig"] == ack.signature
    op = decode_op(row["body"])
    assert isinstance(op, Create) and (op.kind, op.id) == ("post", ack.post_id)


async def _assert_a_replay_of_the_log_reaches_the_same_digest(
    store: Store, heads: dict[FeedId, FeedHead], replay_path: Path
) -> None:
    async with Store(replay_path, SCHEMA, Signer.generate()) as replica:
        for feed in heads:
            await replica.apply(await store.segment(feed, 0, _ALL))
        assert await replica.heads() == heads
        assert await replica.digest() == await store.digest()
