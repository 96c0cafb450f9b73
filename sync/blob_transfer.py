"""Blobs inside a peer session: ask the peer for the blobs we lack, and serve those it asks for.

Ops name file contents by SHA-256; the bytes travel beside the ops, over the same link, as a
`BlobExchange` per session (both ends run one; `sync.peer.PeerSession` routes the blob messages
to it). Its rules:

- Asking: once reconciliation is over, and again whenever ops were applied (rows naming new
  blobs may have arrived), the exchange asks the port which blobs the node lacks and sends
  `BlobWant` for them, at most `WANT_AT_ONCE` outstanding. A hash the peer answered with
  `BlobMissing` (or sent corrupt) is not asked of it again during this session, unless the peer
  later says `BlobHave`.
- One node, one download: the sessions of one node (sharing a BlobPort) claim what they ask for,
  so a blob is fetched from one peer at a time; when that one lacks it, the node's other sessions
  try theirs. A relay asked for a blob it is still fetching itself answers `BlobMissing`, then
  `BlobHave` once it has installed the blob, so the asker asks again.
- Receiving: chunks of one blob arrive in order into a `BlobWriter` (a temporary file); each is
  acknowledged with `BlobAck` once written. After the last one the writer verifies the SHA-256 and
  only then installs the blob; a mismatch is logged and discarded. A session that ends mid-blob
  discards what it wrote: a blob is in place whole or not at all.
- Serving: a wanted blob is sent only if the port holds it and the peer is entitled to at least
  one row naming it (`allows(scope)`, the session's need-to-know); otherwise `BlobMissing`, which
  does not say which. Chunks are at most `BLOB_CHUNK` bytes, with at most `BLOB_WINDOW` bytes
  unacknowledged, so op segments keep flowing between them and the receiver never queues more.

The peer breaking these rules (a chunk it was not asked for, out of order, beyond the window, an
ack for bytes not sent) ends the session with PeerProtocolError.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .peer_errors import PeerError, PeerProtocolError
from .peer_messages import (
    BLOB_CHUNK, MAX_BLOB_WANT, BlobAck, BlobChunk, BlobHave, BlobMessage, BlobMissing, BlobWant, PeerMessage,
)
from .ports import BlobPort, BlobWriter

__all__ = ["BlobExchange", "BlobStats", "BLOB_WINDOW", "WANT_AT_ONCE", "refuse_all_wants"]

BLOB_WINDOW = 4 * 1024 * 1024
"""Blob bytes a sender keeps unacknowledged, and so the most a receiver ever holds queued."""
WANT_AT_ONCE = 8
"""Blobs a receiver asks one peer for at a time."""

_log = logging.getLogger(__name__)
_SCAN = object()


@dataclass(slots=True)
class BlobStats:
    """What moved: blobs installed and served, and the ones that did not come."""

    received: int = 0
    bytes_received: int = 0
    sent: int = 0
    bytes_sent: int = 0
    missing: int = 0
    """Blobs the peer did not give us (it lacks them, or we are not entitled)."""
    corrupt: int = 0
    """Blobs from the peer whose bytes did not match their hash: discarded."""


@dataclass(slots=True)
class _Incoming:
    total: int
    writer: BlobWriter | None  # None: writing failed locally; the rest is received and dropped
    received: int = 0


@dataclass(slots=True)
class _Outgoing:
    total: int
    sent: int = 0
    acked: int = 0


@dataclass(slots=True)
class _FetchState:
    outstanding: dict[bytes, _Incoming | None] = field(default_factory=dict)  # None: asked, no chunk yet
    concluding: set[bytes] = field(default_factory=set)  # its last chunk or BlobMissing is queued
    refused: set[str] = field(default_factory=set)  # the peer lacks it or sent it corrupt
    queued_bytes: int = 0
    dirty: bool = False
    scan_queued: bool = False
    scanning: bool = False  # waiting for the port's answer: not idle, it may name blobs to ask for
    started: bool = False


class _NodeSessions:
    """What the sessions of one node (one BlobPort) share: which blobs one of them is fetching."""

    def __init__(self) -> None:
        self.claimed: set[bytes] = set()
        self.exchanges: weakref.WeakSet[BlobExchange] = weakref.WeakSet()

    def release(self, digest: bytes, by: BlobExchange, installed: bool) -> None:
        """`by` is done with `digest`: tell the others it is here (for BlobHave), or to try their peers."""
        self.claimed.discard(digest)
        for other in list(self.exchanges):
            if other is not by:
                if installed:
                    other.installed(digest)
                else:
                    other.nudge()


_NODES: weakref.WeakKeyDictionary[BlobPort, _NodeSessions] = weakref.WeakKeyDictionary()
"""The sessions sharing each port, found by the port itself, so callers need not pass a coordinator around."""


def _node_sessions(port: BlobPort) -> _NodeSessions:
    try:
        shared = _NODES.get(port)
        if shared is None:
            shared = _NODES[port] = _NodeSessions()
    except TypeError:  # a port that cannot be weakly referenced: its sessions do not coordinate
        return _NodeSessions()
    return shared


def refuse_all_wants(want: BlobWant) -> list[BlobMissing]:
    """The answer of a session without blob sync: it has none to give."""
    return [BlobMissing(h) for h in want.hashes]


class BlobExchange:
    """One session's blob traffic in both directions (see the module docstring).

    `send` sends a message on the session's link; `refuse` ends the session because of the peer
    (says goodbye, then raises); `allows(scope)` is the peer's need-to-know; `on_idle` is called when
    nothing is outstanding in either direction (the session may be caught up).
    """

    def __init__(self, port: BlobPort, *, peer: str, send: Callable[[PeerMessage], Awaitable[None]],
                 refuse: Callable[[PeerError], Awaitable[None]], allows: Callable[[str], bool],
                 on_idle: Callable[[], Awaitable[None]], stats: BlobStats | None = None):
        self._port = port
        self._peer = peer
        self._send = send
        self._refuse = refuse
        self._allows = allows
        self._on_idle = on_idle
        self.stats = stats if stats is not None else BlobStats()
        self._fetch = _FetchState()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._requests: collections.deque[bytes] = collections.deque()
        self._serving: dict[bytes, _Outgoing] = {}
        self._unacked = 0
        self._serve_wake = asyncio.Event()
        self._owed: set[bytes] = set()  # answered BlobMissing while we were fetching it ourselves
        self._haves: list[bytes] = []  # owed blobs now installed: to announce
        self._node = _node_sessions(port)
        self._node.exchanges.add(self)

    # -- state -------------------------------------------------------------------------------

    @property
    def fetching(self) -> bool:
        """We are asking, or may soon ask, the peer for blobs."""
        f = self._fetch
        return bool(f.dirty or f.scan_queued or f.scanning or f.outstanding)

    @property
    def serving(self) -> bool:
        """The peer asked for blobs we have not finished sending (or that are not yet acknowledged)."""
        return bool(self._requests or self._serving)

    @property
    def idle(self) -> bool:
        return not self.fetching and not self.serving

    def start(self) -> None:
        """Reconciliation is over: look for blobs to ask for now, and whenever `nudge` says so."""
        self._fetch.started = True
        self.nudge()

    def nudge(self) -> None:
        """Rows naming blobs we lack may have arrived: ask the port again (once, however often nudged)."""
        f = self._fetch
        f.dirty = True
        if f.started and not f.scan_queued:
            f.scan_queued = True
            self._inbox.put_nowait(_SCAN)

    def installed(self, digest: bytes) -> None:
        """Another session of this node installed `digest`: if our peer heard we lacked it, say we have it."""
        if digest in self._owed:
            self._owed.discard(digest)
            self._haves.append(digest)
            self._serve_wake.set()

    async def run(self) -> None:
        """Fetch and serve until cancelled (the session's lifetime)."""
        await asyncio.gather(self._fetch_loop(), self._serve_loop())

    async def close(self) -> None:
        """The session is over: discard every blob still being received, and let other sessions fetch them."""
        self._node.exchanges.discard(self)
        incoming = [i for i in self._fetch.outstanding.values() if i is not None and i.writer is not None]
        abandoned, self._fetch.outstanding = list(self._fetch.outstanding), {}
        for digest in abandoned:
            self._node.release(digest, self, installed=False)
        for item in incoming:
            assert item.writer is not None
            try:
                await item.writer.discard()
            except OSError as exc:
                _log.warning("could not discard a partly received blob: %s", exc)

    # -- messages from the peer (called by the session's read loop, in order) ----------------

    async def receive(self, message: BlobMessage) -> None:
        if isinstance(message, BlobWant):
            await self._on_want(message)
        elif isinstance(message, BlobHave):
            self._on_have(message)
        elif isinstance(message, BlobAck):
            await self._on_ack(message)
        else:
            await self._queue_answer(message)

    async def _queue_answer(self, message: BlobChunk | BlobMissing) -> None:
        """Check at once what needs no I/O (a flood is refused before it is queued); write in order later."""
        f = self._fetch
        if message.hash not in f.outstanding or message.hash in f.concluding:
            await self._refuse(PeerProtocolError(
                f"{self._peer} sent blob {message.hash.hex()[:16]}, which we are not waiting for"))
            return
        if isinstance(message, BlobChunk):
            if f.queued_bytes + len(message.data) > BLOB_WINDOW:
                await self._refuse(PeerProtocolError(f"{self._peer} sent more blob bytes than the window"))
                return
            f.queued_bytes += len(message.data)
            if message.offset + len(message.data) < message.total:
                self._inbox.put_nowait(message)
                return
        f.concluding.add(message.hash)
        self._inbox.put_nowait(message)

    # -- asking and receiving ------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        while True:
            item = await self._inbox.get()
            if item is _SCAN:
                self._fetch.scan_queued = False
                await self._ask()
            elif isinstance(item, BlobChunk):
                await self._take_chunk(item)
            elif isinstance(item, BlobMissing):
                await self._take_missing(item)
            if self.idle:
                await self._on_idle()

    async def _ask(self) -> None:
        f = self._fetch
        room = WANT_AT_ONCE - len(f.outstanding)
        if not f.dirty or room <= 0:
            return  # still dirty when full: the next blob to conclude asks again
        f.dirty = False
        skip = f.refused | {h.hex() for h in f.outstanding} | {h.hex() for h in self._node.claimed}
        f.scanning = True
        try:
            hashes = [bytes.fromhex(h) for h in await self._port.wanted(min(room, MAX_BLOB_WANT), skip)]
        finally:
            f.scanning = False
        claimed = self._node.claimed
        hashes = [h for h in dict.fromkeys(hashes) if h not in f.outstanding and h not in claimed][:room]
        if hashes:
            for digest in hashes:
                f.outstanding[digest] = None
            self._node.claimed.update(hashes)
            await self._send(BlobWant(tuple(hashes)))

    async def _take_chunk(self, chunk: BlobChunk) -> None:
        f = self._fetch
        f.queued_bytes -= len(chunk.data)
        incoming = f.outstanding[chunk.hash]
        if incoming is None:
            if chunk.offset != 0:
                await self._refuse(PeerProtocolError(f"{self._peer} started blob {chunk.hash.hex()[:16]} "
                                                     f"at byte {chunk.offset}"))
                return
            incoming = _Incoming(chunk.total, await self._open_writer(chunk.hash))
            f.outstanding[chunk.hash] = incoming
        elif chunk.offset != incoming.received or chunk.total != incoming.total:
            await self._refuse(PeerProtocolError(
                f"{self._peer} sent blob {chunk.hash.hex()[:16]} out of order"))
            return
        await self._write(chunk.hash, incoming, chunk.data)
        incoming.received += len(chunk.data)
        self.stats.bytes_received += len(chunk.data)
        if incoming.received == incoming.total:
            del f.outstanding[chunk.hash]
            f.concluding.discard(chunk.hash)
            self._node.release(chunk.hash, self, await self._install(chunk.hash, incoming))
            self.nudge()  # a slot is free: ask for more before the sender hears we are done
        await self._send(BlobAck(chunk.hash, incoming.received))

    async def _open_writer(self, digest: bytes) -> BlobWriter | None:
        try:
            return await self._port.writer(digest.hex())
        except OSError as exc:
            _log.warning("cannot receive blob %s from %s: %s", digest.hex()[:16], self._peer, exc)
            self._fetch.refused.add(digest.hex())
            return None

    async def _write(self, digest: bytes, incoming: _Incoming, data: bytes) -> None:
        if incoming.writer is None:
            return
        try:
            await incoming.writer.write(data)
        except OSError as exc:  # e.g. a full disk: drop the rest of this blob, keep the session
            _log.warning("could not write blob %s from %s: %s; dropping it",
                         digest.hex()[:16], self._peer, exc)
            await self._discard(incoming)
            self._fetch.refused.add(digest.hex())

    async def _install(self, digest: bytes, incoming: _Incoming) -> bool:
        if incoming.writer is None:
            return False
        try:
            installed = await incoming.writer.install()
        except OSError as exc:
            _log.warning("could not install blob %s from %s: %s", digest.hex()[:16], self._peer, exc)
            await self._discard(incoming)
            self._fetch.refused.add(digest.hex())
            return False
        if installed:
            self.stats.received += 1
        else:
            _log.warning("blob %s from peer %s does not match its hash; discarded, not asking that peer "
                         "again this session", digest.hex()[:16], self._peer)
            self.stats.corrupt += 1
            self._fetch.refused.add(digest.hex())
        return installed

    async def _discard(self, incoming: _Incoming) -> None:
        writer, incoming.writer = incoming.writer, None
        if writer is not None:
            try:
                await writer.discard()
            except OSError as exc:
                _log.warning("could not discard a partly received blob: %s", exc)

    async def _take_missing(self, missing: BlobMissing) -> None:
        f = self._fetch
        f.concluding.discard(missing.hash)
        incoming = f.outstanding.pop(missing.hash, None)
        self._node.release(missing.hash, self, installed=False)
        if incoming is not None:
            await self._discard(incoming)
            await self._refuse(PeerProtocolError(
                f"{self._peer} said it lacks blob {missing.hash.hex()[:16]} after sending part of it"))
            return
        f.refused.add(missing.hash.hex())
        self.stats.missing += 1
        self.nudge()

    def _on_have(self, have: BlobHave) -> None:
        """The peer now holds blobs it said it lacked: they may be asked of it again."""
        refused = self._fetch.refused
        again = [h.hex() for h in have.hashes if h.hex() in refused]
        if again:
            refused.difference_update(again)
            self.nudge()

    # -- serving -------------------------------------------------------------------------------

    async def _on_want(self, want: BlobWant) -> None:
        asked = set(want.hashes)
        if (len(asked) != len(want.hashes) or asked & set(self._requests) or asked & self._serving.keys()
                or len(self._requests) + len(self._serving) + len(asked) > MAX_BLOB_WANT):
            await self._refuse(PeerProtocolError(
                f"{self._peer} asked for more than {MAX_BLOB_WANT} blobs at once, or for one twice"))
            return
        self._requests.extend(want.hashes)
        self._serve_wake.set()

    async def _on_ack(self, ack: BlobAck) -> None:
        out = self._serving.get(ack.hash)
        if out is None or not out.acked <= ack.received <= out.sent:
            await self._refuse(PeerProtocolError(
                f"{self._peer} acknowledged bytes of blob {ack.hash.hex()[:16]} that were not sent"))
            return
        self._unacked -= ack.received - out.acked
        out.acked = ack.received
        self._serve_wake.set()
        if out.acked == out.total:
            del self._serving[ack.hash]
            self.stats.sent += 1
            if self.idle:
                await self._on_idle()

    async def _serve_loop(self) -> None:
        while True:
            while not self._requests and not self._haves:
                await self._sleep()
            if self._haves:
                haves, self._haves = self._haves[:MAX_BLOB_WANT], self._haves[MAX_BLOB_WANT:]
                await self._send(BlobHave(tuple(haves)))
                continue
            digest = self._requests[0]
            total = await self._available(digest)
            self._requests.popleft()
            if total is None:
                await self._send(BlobMissing(digest))
                if self.idle:
                    await self._on_idle()
                continue
            out = _Outgoing(total)
            self._serving[digest] = out
            await self._stream(digest, out)

    async def _available(self, digest: bytes) -> int | None:
        """The blob's size if we hold it and the peer may have it; None answers BlobMissing.

        A blob the peer may have but we lack is owed: if this node installs it later, the peer hears BlobHave.
        """
        scopes = await self._port.scopes_of(digest.hex())
        if not any(self._allows(scope) for scope in scopes):
            return None
        size = await self._port.size(digest.hex())
        if size is None:
            self._owed.add(digest)
            if len(self._owed) > 4 * MAX_BLOB_WANT:  # bounded: an old debt is forgotten, not kept forever
                self._owed.pop()
        return size

    async def _stream(self, digest: bytes, out: _Outgoing) -> None:
        while True:
            length = min(BLOB_CHUNK, out.total - out.sent)
            while self._unacked and self._unacked + length > BLOB_WINDOW:
                await self._sleep()
            data = await self._port.read(digest.hex(), out.sent, length)
            if len(data) != length:
                raise OSError(f"blob {digest.hex()[:16]} is shorter than its size on this node")
            offset = out.sent
            out.sent += length
            self._unacked += length
            self.stats.bytes_sent += length
            await self._send(BlobChunk(digest, offset, out.total, data))
            if out.sent >= out.total:
                return

    async def _sleep(self) -> None:
        self._serve_wake.clear()
        await self._serve_wake.wait()
