"""Links between peers: length-prefixed frames over a byte stream, and an in-memory pair for tests.

A frame is a 4-byte big-endian length followed by that many bytes. The length is checked against
the receiver's limit before a single byte of the frame is read, so a hostile peer cannot make us
buffer more than one frame of at most `max_frame` bytes.

`Link` is the port the peer protocol talks to; `StreamLink` adapts asyncio streams (plain TCP or
TLS), `MemoryLink` is a deterministic in-process pair that can also be severed or made to alter
frames in flight, for tests of dropped links and tampering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from .codec import MAX_SEGMENT_BYTES
from .errors import SyncError

__all__ = [
    "Link", "StreamLink", "MemoryLink", "memory_link_pair", "read_frame", "write_frame",
    "LinkError", "LinkClosedError", "FrameTooLargeError", "MAX_FRAME", "HEADER_SIZE",
]

HEADER_SIZE = 4
MAX_FRAME = MAX_SEGMENT_BYTES + 64 * 1024
"""The largest frame a peer may send: one maximal segment plus its envelope."""


class LinkError(SyncError):
    """The link to a peer failed, or the peer broke the framing rules."""


class LinkClosedError(LinkError):
    """The link is closed: the peer hung up (possibly in the middle of a frame) or we closed it."""


class FrameTooLargeError(LinkError):
    """The peer announced a frame larger than our limit; the link cannot continue."""


class Link(Protocol):
    """A reliable, ordered, message-oriented connection to one peer."""

    @property
    def peer(self) -> str:
        """Where the peer is, for logs and status (e.g. "10.0.0.2:8066")."""
        ...

    @property
    def bytes_sent(self) -> int: ...

    @property
    def bytes_received(self) -> int: ...

    async def send(self, frame: bytes) -> None:
        """Send one frame; waits while the peer is not reading (backpressure)."""
        ...

    async def recv(self) -> bytes:
        """The next frame; raises LinkClosedError when the link is closed."""
        ...

    async def close(self) -> None:
        """Close the link; pending and later recv() calls raise LinkClosedError."""
        ...


async def read_frame(reader: asyncio.StreamReader, max_frame: int = MAX_FRAME) -> bytes:
    """Read one frame, checking its announced length against `max_frame` before reading it."""
    try:
        header = await reader.readexactly(HEADER_SIZE)
    except asyncio.IncompleteReadError as exc:
        raise LinkClosedError("the peer closed the link" if not exc.partial else "the link closed inside a frame header") from None
    except (ConnectionError, OSError) as exc:
        raise LinkClosedError(f"the link failed: {exc}") from None
    size = int.from_bytes(header, "big")
    if size > max_frame:
        raise FrameTooLargeError(f"the peer announced a {size}-byte frame; the limit is {max_frame}")
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise LinkClosedError(f"the link closed after {len(exc.partial)} of a frame's {size} bytes") from None
    except (ConnectionError, OSError) as exc:
        raise LinkClosedError(f"the link failed: {exc}") from None


async def write_frame(writer: asyncio.StreamWriter, frame: bytes) -> None:
    """Write one frame (header and body in one write, so concurrent senders never interleave)."""
    writer.write(len(frame).to_bytes(HEADER_SIZE, "big") + frame)
    try:
        await writer.drain()
    except (ConnectionError, OSError) as exc:
        raise LinkClosedError(f"the link failed: {exc}") from None


def _check_size(frame: bytes, max_frame: int) -> None:
    if len(frame) > max_frame:
        raise FrameTooLargeError(f"refusing to send a {len(frame)}-byte frame; the limit is {max_frame}")
    if len(frame) >= 1 << (8 * HEADER_SIZE):
        raise FrameTooLargeError("a frame must be shorter than 4 GiB")


class StreamLink:
    """A Link over an asyncio stream pair (a TCP or TLS connection)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame: int = MAX_FRAME):
        self._reader = reader
        self._writer = writer
        self._max_frame = max_frame
        self._closed = False
        self.bytes_sent = 0
        self.bytes_received = 0
        address = writer.get_extra_info("peername")
        if isinstance(address, tuple) and len(address) >= 2:
            host = str(address[0])
            self.peer = f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
        else:
            self.peer = str(address)

    @property
    def writer(self) -> asyncio.StreamWriter:
        """The underlying writer, e.g. to read the peer's TLS certificate."""
        return self._writer

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise LinkClosedError("the link is closed")
        _check_size(frame, self._max_frame)
        await write_frame(self._writer, frame)
        self.bytes_sent += HEADER_SIZE + len(frame)

    async def recv(self) -> bytes:
        if self._closed:
            raise LinkClosedError("the link is closed")
        frame = await read_frame(self._reader, self._max_frame)
        self.bytes_received += HEADER_SIZE + len(frame)
        return frame

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), 5)
        except (TimeoutError, ConnectionError, OSError):
            pass  # the peer may already be gone: closing is all we wanted


_CLOSED = object()


class MemoryLink:
    """One end of an in-memory link; build a connected pair with `memory_link_pair()`.

    `on_send`, when set, sees each frame this end sends and returns the frame to deliver (possibly
    altered) or None to drop it; `sever()` breaks the link at both ends at once, like a pulled cable.
    """

    def __init__(self, name: str, max_frame: int = MAX_FRAME):
        self.peer = name
        self.bytes_sent = 0
        self.bytes_received = 0
        self.frames_sent = 0
        self.on_send: Callable[[bytes], bytes | None] | None = None
        self._max_frame = max_frame
        self._inbox: asyncio.Queue[bytes | object] = asyncio.Queue()
        self._other: MemoryLink | None = None
        self._closed = False

    async def send(self, frame: bytes) -> None:
        if self._closed or self._other is None:
            raise LinkClosedError("the link is closed")
        _check_size(frame, self._max_frame)
        self.frames_sent += 1
        self.bytes_sent += HEADER_SIZE + len(frame)
        delivered = self.on_send(frame) if self.on_send is not None else frame
        if self._closed:  # the hook may have severed the link
            raise LinkClosedError("the link is closed")
        if delivered is not None:
            self._other._deliver(delivered)
        await asyncio.sleep(0)  # let the receiver run, as a real socket would

    def _deliver(self, frame: bytes) -> None:
        if self._closed:
            return
        if len(frame) > self._max_frame:
            self._inbox.put_nowait(FrameTooLargeError(
                f"the peer announced a {len(frame)}-byte frame; the limit is {self._max_frame}"))
            return
        self._inbox.put_nowait(frame)

    async def recv(self) -> bytes:
        if self._closed and self._inbox.empty():
            raise LinkClosedError("the link is closed")
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)  # every later recv() fails too
            raise LinkClosedError("the peer closed the link")
        if isinstance(item, LinkError):
            raise item
        assert isinstance(item, bytes)
        self.bytes_received += HEADER_SIZE + len(item)
        return item

    async def close(self) -> None:
        self._hang_up()
        if self._other is not None:
            self._other._hang_up()

    def sever(self) -> None:
        """Break the link at both ends now; frames still in flight are lost."""
        for end in (self, self._other):
            if end is not None:
                while not end._inbox.empty():
                    end._inbox.get_nowait()
                end._hang_up()

    def _hang_up(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.put_nowait(_CLOSED)


def memory_link_pair(max_frame: int = MAX_FRAME, names: tuple[str, str] = ("memory:a", "memory:b")) -> tuple[MemoryLink, MemoryLink]:
    """Two connected in-memory link ends; `names` are what each end reports as its peer."""
    a, b = MemoryLink(names[1], max_frame), MemoryLink(names[0], max_frame)
    a._other, b._other = b, a
    return a, b
