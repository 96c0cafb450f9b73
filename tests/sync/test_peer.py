"""A sync session brings two stores to the same ops: exactly the missing segments, verified, acked after commit.

Two real stores talk over the in-memory link pair; a few tests play the peer by hand (`Scripted`) to
show how a session answers gaps, forgeries and protocol violations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey
from support.builders import CHANNEL, post, team_and_channel
from support.scripted_peer import Scripted

from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import DecodeError, FeedId, SignedOp, Signer, decode_segment, encode_segment
from sync.framing import LinkClosedError, MemoryLink, memory_link_pair
from sync.peer import (
    PEER_PROTOCOL,
    Ack,
    BlobAck,
    BlobChunk,
    BlobHave,
    BlobMissing,
    BlobWant,
    CaughtUp,
    Goodbye,
    Handshake,
    IncompatiblePeerError,
    PeerMessage,
    PeerProtocolError,
    PeerSession,
    Ping,
    Reconcile,
    Reject,
    Segment,
    SelfConnectionError,
    SessionConfig,
    SessionStats,
    decode_peer_message,
    encode_peer_message,
    mesh_tag,
)
from sync.peer_messages import MAX_BLOB_SIZE, MAX_BLOB_WANT

MESH = mesh_tag("test-mesh")
CHANNEL_SCOPE = f"channel:{CHANNEL}"
ONE_SHOT = SessionConfig(live=False)
TIMEOUT = 30


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Callable[[str], Store]]:
    """stores("a") opens (once) the store of node "a"; all are closed at the end."""
    opened: dict[str, Store] = {}

    async def _close() -> None:
        for s in opened.values():
            await s.close()

    def get(name: str) -> Store:
        return opened[name]

    async def open_all(*names: str) -> None:
        for name in names:
            store = Store(tmp_path / f"{name}.db", SCHEMA, Signer.generate())
            await store.open()
            opened[name] = store

    get.open = open_all  # type: ignore[attr-defined]
    yield get
    await _close()


async def posts(store: Store, n: int, start: int = 0) -> list[SignedOp]:
    """Make sure the team and channel exist on `store`, then author `n` posts in the channel."""
    if not await store.fetchone("SELECT 1 FROM channels WHERE id = ?", (CHANNEL,)):
        await store.write("directory", team_and_channel())
    return await store.write(CHANNEL_SCOPE, [post(f"{store.node_id.hex()[:10]}{i:016d}", f"message {i}")
                                             for i in range(start, start + n)])


def session(store: Store, link: MemoryLink, initiator: bool, config: SessionConfig = ONE_SHOT, **kw: Any) -> PeerSession:
    return PeerSession(store, link, node=kw.pop("node", store.node_id), mesh=kw.pop("mesh", MESH),
                       initiator=initiator, config=config, **kw)


async def sync_pair(a: Store, b: Store, links: tuple[MemoryLink, MemoryLink] | None = None,
                    config: SessionConfig = ONE_SHOT) -> tuple[SessionStats, SessionStats]:
    la, lb = links or memory_link_pair()
    left, right = await asyncio.wait_for(asyncio.gather(session(a, la, True, config).run(),
                                                        session(b, lb, False, config).run()), TIMEOUT)
    return left, right


async def missing(src: Store, dst: Store) -> int:
    """Ops `src` holds that `dst` does not."""
    theirs = await dst.heads()
    return sum(h.seq - (theirs[f].seq if f in theirs else 0) for f, h in (await src.heads()).items())


async def until(condition: Callable[[], Any], timeout: float = 10) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


# -- catch-up -----------------------------------------------------------------------------------


async def test_a_one_shot_session_sends_exactly_the_missing_ops_both_ways_and_converges(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 300)
    await posts(b, 40)
    a_lacks, b_lacks = await missing(b, a), await missing(a, b)
    left, right = await sync_pair(a, b)
    assert (left.ops_sent, right.ops_received) == (b_lacks, b_lacks) == (302, 302)
    assert (right.ops_sent, left.ops_received) == (a_lacks, a_lacks) == (42, 42)
    assert left.duplicates == right.duplicates == 0
    assert await a.heads() == await b.heads()
    assert await a.digest() == await b.digest()
    assert left.last_sync is not None and right.last_sync is not None



async def test_a_one_shot_session_with_a_peer_that_keeps_writing_ends_with_what_was_planned(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(b, 50)
    writing = asyncio.Event()

    async def keep_writing() -> None:  # a busy peer: a commit after every other, for the whole session
        for i in range(100_000):
            await b.write(CHANNEL_SCOPE, [post(f"{'w' * 10}{i:016d}", f"busy {i}")])
            writing.set()

    writer = asyncio.create_task(keep_writing())
    try:
        await writing.wait()
        planned = await missing(b, a)
        left, _ = await asyncio.wait_for(sync_pair(a, b), 10)
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert left.last_sync is not None and left.ops_received >= planned

async def test_peers_already_in_sync_take_one_round_trip_and_send_no_segment(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 20)
    await sync_pair(a, b)
    left, right = await sync_pair(a, b)
    assert (left.round_trips, left.segments_sent, right.segments_sent) == (1, 0, 0)


async def test_segments_stay_within_the_window_and_the_byte_budget(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 1000)
    la, lb = memory_link_pair()
    in_flight, most = 0, 0

    def count(frame: bytes, delta: int, kind: type) -> bytes:
        nonlocal in_flight, most
        if isinstance(decode_peer_message(frame), kind):
            in_flight += delta
            most = max(most, in_flight)
        return frame

    la.on_send = lambda f: count(f, +1, Segment)
    lb.on_send = lambda f: count(f, -1, Ack)
    config = SessionConfig(live=False, window=3, segment_ops=1000, segment_bytes=8 * 1024)
    left, _ = await asyncio.wait_for(asyncio.gather(session(a, la, True, config).run(),
                                                    session(b, lb, False, config).run()), TIMEOUT)
    assert most == 3 and left.segments_sent > 1000 * 100 // (8 * 1024)
    assert await a.digest() == await b.digest()


async def test_a_dropped_link_resumes_without_resending_what_was_committed(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 3000)
    config = SessionConfig(live=False, window=2, segment_ops=250)
    la, lb = memory_link_pair()
    acks = 0

    def pull_the_cable_after_the_third_ack(frame: bytes) -> bytes:
        nonlocal acks
        if isinstance(decode_peer_message(frame), Ack):
            acks += 1
            if acks == 3:
                lb.sever()
        return frame

    lb.on_send = pull_the_cable_after_the_third_ack
    first = await asyncio.gather(session(a, la, True, config).run(), session(b, lb, False, config).run(),
                                 return_exceptions=True)
    assert all(isinstance(outcome, LinkClosedError) for outcome in first)
    committed = (await b.heads())[FeedId(a.node_id, CHANNEL_SCOPE)].seq
    assert 0 < committed < 3000
    left_over = await missing(a, b)

    left, right = await sync_pair(a, b, config=config)
    assert left.ops_sent == right.ops_received == left_over == 3002 - committed - 2
    assert right.duplicates == 0
    assert await a.digest() == await b.digest()


async def test_a_tampered_segment_is_rejected_with_its_reason_logged_and_nothing_of_it_applied(
        stores: Any, caplog: pytest.LogCaptureFixture) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 10)
    la, lb = memory_link_pair()

    def alter_a_post(frame: bytes) -> bytes:
        message = decode_peer_message(frame)
        if isinstance(message, Segment):
            ops = decode_segment(message.data)
            if ops[0].feed.scope == CHANNEL_SCOPE:
                op = ops[4]
                ops[4] = SignedOp(op.feed, op.seq, op.prev, op.stamp, op.body.replace(b"message 4", b"message X"),
                                  op.signature)
                return encode_peer_message(Segment(message.n, message.pending, encode_segment(ops)))
        return frame

    la.on_send = alter_a_post
    with caplog.at_level(logging.WARNING, logger="sync.peer"):
        left, right = await asyncio.wait_for(asyncio.gather(session(a, la, True).run(), session(b, lb, False).run()),
                                             TIMEOUT)
    assert (right.rejected, left.refused) == (1, 1)
    assert FeedId(a.node_id, CHANNEL_SCOPE) not in await b.heads()
    assert await b.fetchall("SELECT id FROM posts") == []
    assert (await b.heads())[FeedId(a.node_id, "directory")].seq == 2  # the untouched feed still arrived
    rejected = [r.getMessage() for r in caplog.records if "rejected segment" in r.getMessage()]
    assert len(rejected) == 1 and "nothing of it was applied" in rejected[0]
    assert "BrokenLinkError" in rejected[0] or "BadSignatureError" in rejected[0]


# -- live mode ------------------------------------------------------------------------------------


async def test_live_sessions_push_each_new_local_op_to_the_peer(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 5)
    la, lb = memory_link_pair()
    left, right = session(a, la, True, SessionConfig()), session(b, lb, False, SessionConfig())
    tasks = [asyncio.create_task(left.run()), asyncio.create_task(right.run())]
    try:
        await until(lambda: _true(left.caught_up and right.caught_up))
        assert right.stats.ops_received == 7
        for i in range(3):
            await posts(a, 1, start=100 + i)
            await until(lambda: _digests_equal(a, b))
        await posts(b, 1, start=200)  # and the other way
        await until(lambda: _digests_equal(a, b))
        assert (right.stats.ops_received, left.stats.ops_received) == (10, 1)
        assert right.stats.duplicates == left.stats.duplicates == 0
        assert left.to_send() == right.to_send() == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_node_between_two_others_relays_live_ops_and_duplicates_are_harmless(stores: Any) -> None:
    await stores.open("a", "b", "c")
    a, b, c = stores("a"), stores("b"), stores("c")
    await posts(a, 3)
    pairs = [(a, b), (b, c), (a, c)]
    links = [memory_link_pair() for _ in pairs]
    tasks = [asyncio.create_task(session(x, lx, init, SessionConfig()).run())
             for (left, right), (l1, l2) in zip(pairs, links) for x, lx, init in ((left, l1, True), (right, l2, False))]
    try:
        await until(lambda: _digests_equal(a, b, c))
        links[2][0].sever()  # a and c lose their direct link: b relays
        await posts(a, 2, start=50)
        await until(lambda: _digests_equal(a, b, c))
        await posts(c, 1, start=60)
        await until(lambda: _digests_equal(a, b, c))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value


async def _digests_equal(*stores: Store) -> bool:
    return len({await s.digest() for s in stores}) == 1


# -- refusals ------------------------------------------------------------------------------------


async def test_a_link_back_to_this_node_is_refused(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    la, lb = memory_link_pair()
    outcomes = await asyncio.gather(session(a, la, True).run(), session(b, lb, False, node=a.node_id).run(),
                                    return_exceptions=True)
    assert any(isinstance(o, SelfConnectionError) for o in outcomes)


async def test_peers_of_different_meshes_refuse_each_other_and_exchange_nothing(stores: Any) -> None:
    await stores.open("a", "b")
    a, b = stores("a"), stores("b")
    await posts(a, 3)
    la, lb = memory_link_pair()
    outcomes = await asyncio.gather(session(a, la, True).run(), session(b, lb, False, mesh=mesh_tag("other")).run(),
                                    return_exceptions=True)
    assert all(isinstance(o, IncompatiblePeerError) for o in outcomes), outcomes
    assert await b.heads() == {}


# -- the receiving side, against a peer played by hand ---------------------------------------------


@pytest.fixture
async def responder(stores: Any) -> AsyncIterator[tuple[Store, Scripted, asyncio.Task[SessionStats]]]:
    await stores.open("b")
    la, lb = memory_link_pair()
    task = asyncio.create_task(session(stores("b"), lb, False, SessionConfig()).run())
    peer = Scripted(la, MESH)
    await peer.start(Signer.generate().public_key)
    yield stores("b"), peer, task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_segment_after_a_gap_is_answered_with_the_real_head_so_the_sender_resends(
        responder: tuple[Store, Scripted, asyncio.Task[SessionStats]], signer: Signer, make_feed: Any) -> None:
    b, peer, _ = responder
    ops = make_feed(signer, 20)
    await peer.send(Segment(1, 0, encode_segment(ops[10:])))
    assert await peer.recv() == Ack(1, 0)
    await peer.send(Segment(2, 0, encode_segment(ops[:15])))
    assert await peer.recv() == Ack(2, 15)
    await peer.send(Segment(3, 0, encode_segment(ops[5:])))  # overlapping: duplicates are skipped
    assert await peer.recv() == Ack(3, 20)
    assert (await b.heads())[ops[0].feed].seq == 20


async def test_a_forged_segment_is_answered_with_reject_and_the_session_goes_on(
        responder: tuple[Store, Scripted, asyncio.Task[SessionStats]], signer: Signer,
        other_signing_key: SigningKey, make_feed: Any) -> None:
    b, peer, task = responder
    ops = make_feed(signer, 3)
    last = ops[-1]  # signed by someone else: the segment's one signature check fails
    forged = [*ops[:-1], SignedOp(last.feed, last.seq, last.prev, last.stamp, last.body,
                                  other_signing_key.sign(last.content_hash()).signature)]
    await peer.send(Segment(1, 0, encode_segment(forged)))
    reply = await peer.recv()
    assert isinstance(reply, Reject) and reply.n == 1 and "BadSignatureError" in reply.reason
    await peer.send(Segment(2, 0, b"\x93not a segment"))
    reply = await peer.recv()
    assert isinstance(reply, Reject) and reply.n == 2 and "DecodeError" in reply.reason
    await peer.send(Segment(3, 0, encode_segment(ops)))
    assert await peer.recv() == Ack(3, 3)
    assert not task.done() and (await b.heads())[ops[0].feed].seq == 3


async def test_a_peer_that_overruns_the_window_is_told_why_and_dropped(
        responder: tuple[Store, Scripted, asyncio.Task[SessionStats]], signer: Signer, make_feed: Any) -> None:
    _, peer, task = responder
    ops = make_feed(signer, 200)
    peer.link.on_send = None
    for n in range(1, 40):  # the responder applies as they arrive; flood faster than it can
        peer.link._other._deliver(encode_peer_message(Segment(n, 0, encode_segment(ops[n - 1:n]))))  # type: ignore[union-attr]
    with pytest.raises(PeerProtocolError, match="more segments than our window"):
        await asyncio.wait_for(task, 10)


async def test_a_peer_speaking_a_newer_protocol_is_told_to_upgrade(stores: Any) -> None:
    await stores.open("b")
    la, lb = memory_link_pair()
    task = asyncio.create_task(session(stores("b"), lb, False).run())
    from sync import encoding
    newer = PEER_PROTOCOL + 1
    await la.send(encoding.pack([newer, 0, bytes(32), MESH, True, 4]))
    assert isinstance(decode_peer_message(await la.recv()), Handshake)
    goodbye = decode_peer_message(await la.recv())
    assert isinstance(goodbye, Goodbye) and f"speaks sync protocol v{newer}" in goodbye.reason
    with pytest.raises(IncompatiblePeerError):
        await task


# -- the wire --------------------------------------------------------------------------------------

HASHES = st.binary(min_size=32, max_size=32)
MESSAGES = st.one_of(
    st.builds(Handshake, st.binary(min_size=32, max_size=32), st.binary(max_size=32), st.booleans(), st.integers(1, 256)),
    st.builds(Reconcile, st.binary(max_size=64)),
    st.builds(Segment, st.integers(1, 2**40), st.integers(0, 2**40), st.binary(max_size=64)),
    st.builds(Ack, st.integers(1, 2**40), st.integers(0, 2**40)),
    st.builds(Reject, st.integers(1, 2**40), st.text(max_size=50)),
    st.just(CaughtUp()), st.just(Ping()), st.builds(Goodbye, st.text(max_size=50)),
    st.builds(BlobWant, st.lists(HASHES, min_size=1, max_size=MAX_BLOB_WANT).map(tuple)),
    st.builds(lambda h, data, before, after: BlobChunk(h, before, before + len(data) + after, data),
              HASHES, st.binary(min_size=1, max_size=64), st.integers(0, 2**31), st.integers(0, 2**30)),
    st.builds(BlobChunk, HASHES, st.just(0), st.just(0), st.just(b"")),
    st.builds(BlobAck, HASHES, st.integers(0, MAX_BLOB_SIZE)),
    st.builds(BlobMissing, HASHES),
    st.builds(BlobHave, st.lists(HASHES, min_size=1, max_size=MAX_BLOB_WANT).map(tuple)),
)


@settings(max_examples=200, deadline=None)
@given(MESSAGES)
def test_every_peer_message_round_trips(message: PeerMessage) -> None:
    assert decode_peer_message(encode_peer_message(message)) == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_decode_to_a_message_or_a_typed_error(data: bytes) -> None:
    try:
        decode_peer_message(data)
    except DecodeError:
        pass


def test_the_mesh_tag_is_eight_bytes_and_differs_between_meshes() -> None:
    assert len(mesh_tag("a")) == 8 and mesh_tag("a") != mesh_tag("b") and mesh_tag("a") == mesh_tag("a")
