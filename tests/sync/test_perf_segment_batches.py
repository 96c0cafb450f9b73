"""Segments that queue up while the store is busy are applied as one: same answers, same state, fewer commits.

The receiving session decodes each segment as it arrives and applies what queued meanwhile as a
batch: consecutive segments of one feed become one store apply (one verification, one commit), each
still acknowledged, with the head after that commit. If the merged apply fails, the segments are applied one
by one, so every segment gets the answer it would have got alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from support.scripted_peer import Scripted

from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import SignedOp, Signer, encode_segment
from sync.framing import MemoryLink, memory_link_pair
from sync.peer import Ack, PeerMessage, PeerSession, Reject, Segment, SessionConfig, SessionStats, mesh_tag
from sync.peer import _runs  # the batching rule itself, pure

MESH = mesh_tag("perf-batches")


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[tuple[Store, Scripted, asyncio.Task[SessionStats]]]:
    store = Store(tmp_path / "b.db", SCHEMA, Signer.generate())
    await store.open()
    near, far = memory_link_pair()
    task = asyncio.create_task(PeerSession(store, far, node=store.node_id, mesh=MESH, initiator=False,
                                           config=SessionConfig()).run())
    peer = Scripted(near, MESH)
    await peer.start(Signer.generate().public_key)
    yield store, peer, task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store.close()


def segments(ops: list[SignedOp], size: int, first_n: int = 1) -> list[PeerMessage]:
    return [Segment(first_n + i, 0, encode_segment(ops[start:start + size]))
            for i, start in enumerate(range(0, len(ops), size))]


async def test_segments_arriving_together_are_each_acked_with_the_committed_head_in_fewer_commits(
        receiver: tuple[Store, Scripted, asyncio.Task[SessionStats]], signer: Signer, make_feed: object) -> None:
    store, peer, _ = receiver
    ops = make_feed(signer, 40)  # type: ignore[operator]
    before = store.commits
    peer.send_at_once(list(segments(ops, 10)))
    acks = [await peer.recv() for _ in range(4)]
    # as ever, an ack names the head after the commit that took the segment: segments merged into one
    # commit are acked with the head after all of them
    assert [ack.n for ack in acks] == [1, 2, 3, 4] and acks[-1] == Ack(4, 40)
    assert all(isinstance(ack, Ack) and ack.seq >= 10 * ack.n for ack in acks)
    assert store.commits - before < 4
    assert (await store.heads())[ops[0].feed].seq == 40


async def test_a_forged_segment_in_a_batch_is_rejected_alone_and_the_rest_answered_as_if_sent_one_by_one(
        receiver: tuple[Store, Scripted, asyncio.Task[SessionStats]], signer: Signer, other_signing_key: SigningKey,
        make_feed: object) -> None:
    store, peer, task = receiver
    ops = make_feed(signer, 40)  # type: ignore[operator]
    last = ops[19]
    forged = [*ops[10:19], SignedOp(last.feed, last.seq, last.prev, last.stamp, last.body,
                                    other_signing_key.sign(last.content_hash()).signature)]
    peer.send_at_once([Segment(1, 0, encode_segment(ops[:10])), Segment(2, 0, encode_segment(forged)),
                       Segment(3, 0, encode_segment(ops[20:30])), Segment(4, 0, encode_segment(ops[30:]))])
    replies = [await peer.recv() for _ in range(4)]
    assert replies[0] == Ack(1, 10)
    assert isinstance(replies[1], Reject) and replies[1].n == 2 and "BadSignatureError" in replies[1].reason
    assert replies[2:] == [Ack(3, 10), Ack(4, 10)]  # they start after a gap: "resend from 10"
    assert (await store.heads())[ops[0].feed].seq == 10 and not task.done()


async def test_a_node_fed_in_batches_has_the_digest_of_one_fed_op_by_op(
        tmp_path: Path, receiver: tuple[Store, Scripted, asyncio.Task[SessionStats]], signer: Signer,
        other_signer: Signer, make_feed: object) -> None:
    store, peer, _ = receiver
    mine, theirs = make_feed(signer, 30), make_feed(other_signer, 30)  # type: ignore[operator]
    # two feeds interleaved: a batch holds runs of both, and a duplicate overlaps what is held
    batch = [Segment(1, 0, encode_segment(mine[:10])), Segment(2, 0, encode_segment(theirs[:15])),
             Segment(3, 0, encode_segment(theirs[15:])), Segment(4, 0, encode_segment(mine[5:30]))]
    peer.send_at_once(batch)
    acks = [await peer.recv() for _ in range(4)]
    assert [ack.n for ack in acks] == [1, 2, 3, 4] and acks[0] == Ack(1, 10) and acks[2:] == [Ack(3, 30), Ack(4, 30)]
    async with Store(tmp_path / "op-by-op.db", SCHEMA, Signer.generate()) as one_by_one:
        for op in [*mine, *theirs]:
            await one_by_one.apply([op])
        assert await one_by_one.digest() == await store.digest()


def test_runs_join_consecutive_segments_of_one_feed_and_nothing_else(signer: Signer, other_signer: Signer,
                                                                   make_feed: object) -> None:
    mine, theirs = make_feed(signer, 30), make_feed(other_signer, 10)  # type: ignore[operator]
    undecodable = ValueError("stands for a SyncError")
    items = [(Segment(1, 0, b""), mine[:10]), (Segment(2, 0, b""), mine[10:20]),  # joined
             (Segment(3, 0, b""), theirs),                                        # another feed
             (Segment(4, 0, b""), mine[20:25]), (Segment(5, 0, b""), mine[26:]),  # a hole between them
             (Segment(6, 0, b""), undecodable)]                                   # alone
    runs = _runs(items)  # type: ignore[arg-type]
    assert [[segment.n for segment, _ in run] for run in runs] == [[1, 2], [3], [4], [5], [6]]
