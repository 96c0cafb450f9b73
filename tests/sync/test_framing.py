"""Links carry whole frames in order, refuse oversized ones before reading them, and fail with typed errors.

The same specification runs against every Link adapter: the in-memory pair and a real TCP connection.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sync.framing import (
    HEADER_SIZE, FrameTooLargeError, Link, LinkClosedError, LinkError, StreamLink, memory_link_pair, read_frame,
)

PairFactory = Callable[[int], Any]


@asynccontextmanager
async def memory_pair(max_frame: int) -> AsyncIterator[tuple[Link, Link]]:
    a, b = memory_link_pair(max_frame)
    try:
        yield a, b
    finally:
        await a.close()


@asynccontextmanager
async def tcp_pair(max_frame: int) -> AsyncIterator[tuple[Link, Link]]:
    accepted: asyncio.Queue[StreamLink] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(StreamLink(reader, writer, max_frame))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    a = StreamLink(reader, writer, max_frame)
    b = await accepted.get()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        server.close()
        await server.wait_closed()


ADAPTERS = {"memory": memory_pair, "tcp": tcp_pair}


@pytest.fixture(params=sorted(ADAPTERS))
def pair(request: pytest.FixtureRequest) -> PairFactory:
    return ADAPTERS[request.param]  # type: ignore[no-any-return]


async def test_frames_arrive_whole_and_in_order_both_ways(pair: PairFactory) -> None:
    frames = [b"", b"x", os.urandom(70_000), b"last"]
    async with pair(1 << 20) as (a, b):
        for frame in frames:
            await a.send(frame)
            await b.send(frame[::-1])
        assert [await b.recv() for _ in frames] == frames
        assert [await a.recv() for _ in frames] == [f[::-1] for f in frames]
        assert a.bytes_sent == b.bytes_received == sum(HEADER_SIZE + len(f) for f in frames)


async def test_a_frame_over_the_receivers_limit_is_refused_before_it_is_read(pair: PairFactory) -> None:
    async with pair(1000) as (a, b):
        with pytest.raises(FrameTooLargeError, match="limit is 1000"):
            await a.send(bytes(1001))  # the sender refuses too
        a._max_frame = 10_000  # type: ignore[attr-defined]  # a peer with a bigger limit (or a hostile one)
        await a.send(bytes(1001))
        with pytest.raises(FrameTooLargeError, match="1001-byte frame; the limit is 1000"):
            await b.recv()


async def test_closing_one_end_ends_the_other_after_the_frames_already_sent(pair: PairFactory) -> None:
    async with pair(1000) as (a, b):
        await a.send(b"one")
        await a.close()
        assert await b.recv() == b"one"
        with pytest.raises(LinkClosedError):
            await b.recv()
        with pytest.raises(LinkClosedError):
            await a.send(b"two")


async def test_a_severed_memory_link_fails_both_ends_and_loses_frames_in_flight() -> None:
    a, b = memory_link_pair()
    await a.send(b"in flight")
    a.sever()
    with pytest.raises(LinkClosedError):
        await b.recv()
    with pytest.raises(LinkClosedError):
        await b.send(b"x")


async def test_a_memory_link_hook_can_alter_or_drop_frames() -> None:
    a, b = memory_link_pair()
    a.on_send = lambda frame: None if frame == b"drop" else frame.upper()
    for frame in (b"drop", b"keep"):
        await a.send(frame)
    assert await b.recv() == b"KEEP"


@pytest.mark.parametrize(("cut", "reason"), [(2, "inside a frame header"), (HEADER_SIZE + 3, "after 3 of a frame's 10 bytes")])
async def test_a_stream_cut_inside_a_frame_is_a_closed_link_not_a_short_frame(cut: int, reason: str) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(((10).to_bytes(HEADER_SIZE, "big") + b"0123456789")[:cut])
    reader.feed_eof()
    with pytest.raises(LinkClosedError, match=reason):
        await read_frame(reader)


async def test_random_bytes_on_a_stream_give_frames_or_typed_errors_only() -> None:
    for seed in range(200):
        reader = asyncio.StreamReader()
        reader.feed_data(os.urandom(seed % 40))
        reader.feed_eof()
        try:
            while True:
                await read_frame(reader, max_frame=64)
        except LinkError:
            pass
