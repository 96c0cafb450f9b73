"""Blobs move inside a sync session: asked for by hash, sent in chunks within a window, installed only whole and verified.

Two real stores talk over the in-memory link pair; each session has an in-memory BlobPort
(tests/support/memory_blobs.py), whose "rows" say which hashes a node knows of and in which scope.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import pytest
from support.builders import CHANNEL, post, team_and_channel
from support.memory_blobs import MemoryBlobs, sha256

from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import DecodeError, Signer, encoding
from sync.blob_transfer import BLOB_WINDOW
from sync.framing import MemoryLink, memory_link_pair
from sync.peer import (
    BlobAck, BlobChunk, BlobMissing, BlobWant, Goodbye, Handshake, PeerProtocolError, PeerSession, Reconcile,
    Segment, SessionConfig, SessionStats, decode_peer_message, encode_peer_message, mesh_tag,
)
from sync.peer_messages import BLOB_CHUNK
from sync.ports import NO_CHANGE, ScopeChange
from sync.reconcile import Reconciler, decode_message, encode_message

MESH = mesh_tag("test-mesh")
ONE_SHOT = SessionConfig(live=False)
TIMEOUT = 30


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    a = Store(tmp_path / "a.db", SCHEMA, Signer.generate())
    b = Store(tmp_path / "b.db", SCHEMA, Signer.generate())
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


class OnlyScopes:
    """A need-to-know policy that allows exactly `allowed`."""

    def __init__(self, allowed: set[str]):
        self.allowed = allowed

    async def load(self) -> None:
        pass

    def allows(self, scope: str) -> bool:
        return scope in self.allowed

    def may_change(self, scope: str) -> bool:
        return False

    async def refresh(self, scopes: Collection[str]) -> ScopeChange:
        return NO_CHANGE

    async def for_peer(self, peer: bytes) -> OnlyScopes:
        return self


def session(store: Store, link: MemoryLink, initiator: bool, blobs: MemoryBlobs | None,
            config: SessionConfig = ONE_SHOT, **kw: Any) -> PeerSession:
    return PeerSession(store, link, node=store.node_id, mesh=MESH, initiator=initiator, config=config,
                       blobs=blobs, **kw)


async def run_pair(a: Store, b: Store, blobs_a: MemoryBlobs | None, blobs_b: MemoryBlobs | None, *,
                   links: tuple[MemoryLink, MemoryLink] | None = None, config: SessionConfig = ONE_SHOT,
                   a_kw: dict[str, Any] | None = None) -> tuple[SessionStats, SessionStats]:
    la, lb = links or memory_link_pair()
    left, right = await asyncio.wait_for(asyncio.gather(
        session(a, la, True, blobs_a, config, **(a_kw or {})).run(), session(b, lb, False, blobs_b, config).run()),
        TIMEOUT)
    return left, right


async def posts(store: Store, n: int) -> None:
    await store.write("directory", team_and_channel())
    await store.write(f"channel:{CHANNEL}", [post(f"{store.node_id.hex()[:10]}{i:016d}", f"message {i}")
                                             for i in range(n)])


def frames(link: MemoryLink) -> list[Any]:
    """Every message `link` sends, decoded, in order (the frames still go through unchanged)."""
    seen: list[Any] = []

    def record(frame: bytes) -> bytes:
        seen.append(decode_peer_message(frame))
        return frame

    link.on_send = record
    return seen


# -- moving blobs ---------------------------------------------------------------------------------


async def test_each_end_gets_the_blobs_it_lacks_from_the_other_in_one_one_shot_session(pair: Any) -> None:
    a, b = pair
    blobs_a, blobs_b = MemoryBlobs(), MemoryBlobs()
    photo, empty = blobs_a.hold(b"\x89PNG" + bytes(range(256)) * 100), blobs_a.hold(b"")
    report = blobs_b.hold(b"quarterly numbers")
    for content_hash in (photo, empty):
        blobs_b.name(content_hash)
    blobs_a.name(report)
    left, right = await run_pair(a, b, blobs_a, blobs_b)
    assert blobs_b.blobs[photo] == blobs_a.blobs[photo] and blobs_b.blobs[empty] == b""
    assert blobs_a.blobs[report] == b"quarterly numbers"
    assert (right.blobs.received, left.blobs.sent) == (2, 2)
    assert (left.blobs.received, right.blobs.sent) == (1, 1)
    assert right.blobs.bytes_received == len(blobs_a.blobs[photo])
    assert blobs_a.open_writers == blobs_b.open_writers == 0


@pytest.mark.parametrize("ops", [1, 500])
@pytest.mark.parametrize("fetcher", ["initiator", "responder"])
async def test_a_one_shot_session_ends_only_once_the_blobs_its_ops_name_have_moved(
        pair: Any, fetcher: str, ops: int) -> None:
    a, b = pair
    holder, asker = (b, a) if fetcher == "initiator" else (a, b)
    blobs = {holder: MemoryBlobs(), asker: MemoryBlobs(scan_delay=0.02)}  # a session is not idle while it scans
    await posts(holder, ops)
    content_hash = blobs[holder].hold(b"attached to the last post" * 1000)
    blobs[asker].name_on_arrival(asker, content_hash)
    await run_pair(a, b, blobs[a], blobs[b], config=SessionConfig(live=False, segment_ops=50))
    assert blobs[asker].blobs[content_hash] == blobs[holder].blobs[content_hash]


async def test_a_blob_no_peer_holds_is_asked_for_once_and_the_session_still_ends(pair: Any) -> None:
    a, b = pair
    blobs_a, blobs_b = MemoryBlobs(), MemoryBlobs()
    nowhere = sha256(b"lost")
    blobs_b.name(nowhere)
    left, right = await run_pair(a, b, blobs_a, blobs_b)
    assert (right.blobs.missing, right.blobs.received, left.blobs.sent) == (1, 0, 0)
    assert nowhere not in blobs_b.blobs


async def test_blobs_named_by_ops_arriving_in_a_live_session_are_fetched_at_once(pair: Any) -> None:
    a, b = pair
    blobs_a, blobs_b = MemoryBlobs(), MemoryBlobs()
    la, lb = memory_link_pair()
    left = session(a, la, True, blobs_a, SessionConfig())
    right = session(b, lb, False, blobs_b, SessionConfig())
    tasks = [asyncio.create_task(s.run()) for s in (left, right)]
    try:
        async def caught_up() -> None:
            while not (left.caught_up and right.caught_up):
                await asyncio.sleep(0.005)
        await asyncio.wait_for(caught_up(), TIMEOUT)
        content_hash = blobs_a.hold(b"a picture, uploaded later")
        blobs_b.name(content_hash)  # the row naming it arrives with the next ops
        await posts(a, 3)

        async def fetched() -> None:
            while content_hash not in blobs_b.blobs:
                await asyncio.sleep(0.005)
        await asyncio.wait_for(fetched(), TIMEOUT)
        assert right.stats.blobs.received == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_large_blob_travels_in_chunks_within_the_window_and_segments_flow_between_them(pair: Any) -> None:
    a, b = pair
    await posts(a, 3000)
    blobs_a, blobs_b = MemoryBlobs(read_delay=0.002), MemoryBlobs()
    big = bytes(range(256)) * (12 * 4096 + 7)  # a little over 12 MiB
    content_hash = blobs_a.hold(big)
    blobs_b.name(content_hash)
    la, lb = memory_link_pair()
    sent, acked, most = 0, 0, 0
    order: list[type] = []

    def on_a_send(frame: bytes) -> bytes:
        nonlocal sent, most
        message = decode_peer_message(frame)
        order.append(type(message))
        if isinstance(message, BlobChunk):
            assert len(message.data) <= BLOB_CHUNK
            sent += len(message.data)
            most = max(most, sent - acked)
        return frame

    def on_b_send(frame: bytes) -> bytes:
        nonlocal acked
        message = decode_peer_message(frame)
        if isinstance(message, BlobAck):
            acked = message.received
        return frame

    la.on_send, lb.on_send = on_a_send, on_b_send
    config = SessionConfig(live=False, segment_bytes=8 * 1024)
    await run_pair(a, b, blobs_a, blobs_b, links=(la, lb), config=config)
    assert blobs_b.blobs[content_hash] == big
    assert order.count(BlobChunk) == math.ceil(len(big) / BLOB_CHUNK)
    assert 0 < most <= BLOB_WINDOW
    first, last = order.index(BlobChunk), len(order) - 1 - order[::-1].index(BlobChunk)
    assert Segment in order[first:last]
    assert await a.heads() == await b.heads()


# -- one node, several peers --------------------------------------------------------------------------


class Live:
    """Live sessions between named stores, each node with its own MemoryBlobs; all cancelled at the end."""

    def __init__(self, stores: dict[str, Store]):
        self.stores = stores
        self.blobs = {name: MemoryBlobs() for name in stores}
        self.sessions: dict[tuple[str, str], PeerSession] = {}
        self.tasks: list[asyncio.Task[SessionStats]] = []

    def connect(self, dialer: str, listener: str) -> None:
        la, lb = memory_link_pair()
        for (me, other), link, initiator in (((dialer, listener), la, True), ((listener, dialer), lb, False)):
            made = session(self.stores[me], link, initiator, self.blobs[me], SessionConfig())
            self.sessions[me, other] = made
            self.tasks.append(asyncio.create_task(made.run()))

    async def until(self, condition: Any, timeout: float = 5) -> None:
        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0.005)
        await asyncio.wait_for(poll(), timeout)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def three(tmp_path: Path) -> AsyncIterator[Live]:
    stores = {name: Store(tmp_path / f"{name}.db", SCHEMA, Signer.generate()) for name in "abc"}
    for store in stores.values():
        await store.open()
    live = Live(stores)
    yield live
    await live.close()
    for store in stores.values():
        await store.close()


async def test_a_node_with_two_peers_holding_a_blob_downloads_it_once(three: Live) -> None:
    content_hash = three.blobs["a"].hold(b"the same bytes on two peers" * 10_000)
    three.blobs["c"].hold(b"the same bytes on two peers" * 10_000)
    three.blobs["b"].name(content_hash)
    three.blobs["a"].read_delay = three.blobs["c"].read_delay = 0.05  # both sessions start before it arrives
    three.connect("b", "a")
    three.connect("b", "c")
    await three.until(lambda: content_hash in three.blobs["b"].blobs)
    await three.until(lambda: three.sessions["b", "a"].caught_up and three.sessions["b", "c"].caught_up)
    assert three.blobs["b"].writers_opened == 1
    assert three.blobs["a"].reads + three.blobs["c"].reads == math.ceil(270_000 / BLOB_CHUNK)


async def test_when_one_peer_lacks_a_blob_the_nodes_session_with_another_peer_asks_for_it(three: Live) -> None:
    content_hash = three.blobs["c"].hold(b"only c has it")
    three.blobs["a"].name(content_hash)  # a knows of it, but lacks it too
    three.blobs["a"].answer_delay = 0.2
    three.blobs["b"].name(content_hash)
    three.connect("b", "a")
    await three.until(lambda: three.blobs["a"].asked)  # b's session with a has claimed it
    three.connect("b", "c")  # so this one does not ask c: a single download at a time
    await three.until(lambda: content_hash in three.blobs["b"].blobs)
    assert three.sessions["b", "a"].stats.blobs.missing == 1
    assert three.sessions["b", "c"].stats.blobs.received == 1
    assert three.blobs["c"].asked == [content_hash]


async def test_a_relay_that_lacked_a_blob_when_asked_offers_it_once_it_has_it(three: Live) -> None:
    content_hash = three.blobs["a"].hold(b"travels a -> b -> c")
    three.blobs["b"].name(content_hash)
    three.blobs["c"].name(content_hash)
    three.connect("c", "b")
    await three.until(lambda: three.sessions["c", "b"].stats.blobs.missing == 1)  # b does not have it yet
    three.connect("b", "a")
    await three.until(lambda: content_hash in three.blobs["c"].blobs)
    assert three.blobs["c"].blobs[content_hash] == b"travels a -> b -> c"
    assert three.sessions["c", "b"].stats.blobs.received == 1


# -- refusing -----------------------------------------------------------------------------------


async def test_a_blob_corrupted_in_flight_is_discarded_not_installed_and_not_asked_for_again(
        pair: Any, caplog: pytest.LogCaptureFixture) -> None:
    a, b = pair
    blobs_a, blobs_b = MemoryBlobs(), MemoryBlobs()
    content_hash = blobs_a.hold(b"the real contract " * 50_000)
    blobs_b.name(content_hash)
    la, lb = memory_link_pair()

    def corrupt_first_chunk(frame: bytes) -> bytes:
        message = decode_peer_message(frame)
        if isinstance(message, BlobChunk) and message.offset == 0:
            data = bytes([message.data[0] ^ 1]) + message.data[1:]
            return encode_peer_message(BlobChunk(message.hash, message.offset, message.total, data))
        return frame

    la.on_send = corrupt_first_chunk
    left, right = await run_pair(a, b, blobs_a, blobs_b, links=(la, lb))
    assert content_hash not in blobs_b.blobs
    assert (right.blobs.corrupt, right.blobs.received, blobs_b.discarded, blobs_b.open_writers) == (1, 0, 1, 0)
    assert left.blobs.sent == 1  # asked once: the corrupt copy is not asked for again this session
    assert "does not match its hash" in caplog.text


async def test_a_peer_gets_blob_missing_for_a_blob_it_is_not_entitled_to_just_as_for_one_nobody_holds(pair: Any) -> None:
    a, b = pair
    blobs_a, blobs_b = MemoryBlobs(), MemoryBlobs()
    public = blobs_a.hold(b"menu of the canteen", "channel:public")
    secret = blobs_a.hold(b"salaries", "channel:private")
    nowhere = sha256(b"never uploaded")
    for content_hash in (public, secret, nowhere):
        blobs_b.name(content_hash, "channel:public")
    la, lb = memory_link_pair()
    said = frames(la)
    _, right = await run_pair(a, b, blobs_a, blobs_b, links=(la, lb),
                              a_kw={"entitlements": OnlyScopes({"channel:public"})})
    assert blobs_b.blobs.get(public) == b"menu of the canteen"
    assert secret not in blobs_b.blobs and nowhere not in blobs_b.blobs
    assert {m.hash.hex() for m in said if isinstance(m, BlobMissing)} == {secret, nowhere}
    assert not any(isinstance(m, BlobChunk) and m.hash.hex() == secret for m in said)
    assert (right.blobs.received, right.blobs.missing) == (1, 2)


async def test_a_link_dropped_mid_blob_leaves_no_partial_blob_and_the_next_session_sends_it_whole(pair: Any) -> None:
    a, b = pair
    blobs_a, blobs_b = MemoryBlobs(), MemoryBlobs()
    big = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)
    content_hash = blobs_a.hold(big)
    blobs_b.name(content_hash)
    la, lb = memory_link_pair()
    chunks = 0

    def cut_after_five_chunks(frame: bytes) -> bytes | None:
        nonlocal chunks
        if isinstance(decode_peer_message(frame), BlobChunk):
            chunks += 1
            if chunks == 5:
                la.sever()
                return None
        return frame

    la.on_send = cut_after_five_chunks
    outcomes = await asyncio.wait_for(asyncio.gather(
        session(a, la, True, blobs_a).run(), session(b, lb, False, blobs_b).run(), return_exceptions=True), TIMEOUT)
    assert all(isinstance(o, Exception) for o in outcomes), outcomes
    assert content_hash not in blobs_b.blobs
    assert (blobs_b.open_writers, blobs_b.discarded) == (0, 1)
    _, right = await run_pair(a, b, blobs_a, blobs_b)
    assert blobs_b.blobs[content_hash] == big and right.blobs.received == 1


async def test_a_peer_without_blob_sync_answers_every_want_with_blob_missing(pair: Any) -> None:
    a, b = pair
    blobs_b = MemoryBlobs()
    blobs_b.name(sha256(b"anything"))
    _, right = await run_pair(a, b, None, blobs_b)
    assert (right.blobs.missing, right.blobs.received) == (1, 0)


# -- against a peer played by hand ------------------------------------------------------------------


async def start_scripted(link: MemoryLink) -> None:
    """Handshake and reconcile holding nothing, as the initiator; the session's replies are read and dropped."""
    await link.send(encode_peer_message(Handshake(Signer.generate().public_key, MESH, True, 4)))
    assert isinstance(decode_peer_message(await link.recv()), Handshake)
    reconciler = Reconciler({}, initiator=True)
    turn = reconciler.start()
    while turn:
        await link.send(encode_peer_message(Reconcile(encode_message(turn))))
        reply = decode_peer_message(await link.recv())
        assert isinstance(reply, Reconcile)
        if not decode_message(reply.payload):
            return
        turn = reconciler.receive(decode_message(reply.payload))
    await link.send(encode_peer_message(Reconcile(encode_message([]))))


async def test_a_peer_sending_a_blob_nobody_asked_for_is_told_why_and_dropped(pair: Any) -> None:
    _, b = pair
    la, lb = memory_link_pair()
    task = asyncio.create_task(session(b, lb, False, MemoryBlobs(), SessionConfig()).run())
    await start_scripted(la)
    await la.send(encode_peer_message(BlobChunk(hashlib.sha256(b"x").digest(), 0, 1, b"x")))
    with pytest.raises(PeerProtocolError, match="not waiting for"):
        await asyncio.wait_for(task, 5)
    said = []
    while True:
        said.append(decode_peer_message(await la.recv()))
        if isinstance(said[-1], Goodbye):
            break
    assert "not waiting for" in said[-1].reason


async def test_a_peer_asking_for_one_blob_twice_at_once_is_dropped(pair: Any) -> None:
    _, b = pair
    la, lb = memory_link_pair()
    blobs = MemoryBlobs()
    content_hash = bytes.fromhex(blobs.hold(b"y" * (BLOB_WINDOW * 2)))
    task = asyncio.create_task(session(b, lb, False, blobs, SessionConfig()).run())
    await start_scripted(la)
    await la.send(encode_peer_message(BlobWant((content_hash, content_hash))))
    with pytest.raises(PeerProtocolError, match="twice"):
        await asyncio.wait_for(task, 5)


# -- the wire ------------------------------------------------------------------------------------


@pytest.mark.parametrize("wire", [
    [1, 8, []],                                          # a want naming nothing
    [1, 8, [b"short"]],                                  # not a SHA-256 digest
    [1, 8, [bytes(32)] * 65],                            # more than MAX_BLOB_WANT
    [1, 9, bytes(32), 10, 12, b"abc"],                   # bytes beyond the blob's length
    [1, 9, bytes(32), 0, 5, b""],                        # an empty chunk of a non-empty blob
    [1, 9, bytes(32), 0, BLOB_CHUNK + 1, bytes(BLOB_CHUNK + 1)],  # a chunk over 256 KiB
    [1, 9, bytes(32), -1, 5, b"a"],                      # a negative offset
    [1, 10, bytes(32), True],                            # a bool is not a byte count
    [1, 11, bytes(31)],
])
def test_malformed_blob_messages_are_typed_decode_errors(wire: list[Any]) -> None:
    with pytest.raises(DecodeError):
        decode_peer_message(encoding.pack(wire))
