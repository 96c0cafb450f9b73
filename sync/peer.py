"""One sync connection: handshake, reconciliation, segment streaming with flow control, live push.

A `PeerSession` drives one `Link` against one store; it never opens a socket, so tests run it over
an in-memory link pair. Both ends run the same code; the dialer is the reconciliation initiator.

1. Handshake: each end sends `Handshake` (protocol version, node key, mesh tag, live or one-shot,
   receive window) at once, then reads the peer's. A different version or mesh, a connection to
   ourselves, or a node key that contradicts the TLS certificate ends the session with `Goodbye`.
2. Reconciliation: `Reconcile` frames carry the sans-I/O `Reconciler`'s turns; an empty turn ends
   it. Each end then knows which of its feeds the peer lacks, and from which sequence number.
3. Streaming: each end sends its missing segments as `Segment(n, pending, bytes)`, at most
   `window` unacknowledged at a time (the smaller of both ends' windows). The receiver verifies and
   applies a segment, then answers `Ack(n, seq)` with its head of that feed *after the commit*; a
   segment that fails verification is answered `Reject(n, reason)`, logged, and nothing of it is
   applied. A receiver that finds a gap (it holds less than the sender thought) acks its real head,
   and the sender resends from there. So a dropped link loses only unacknowledged work, and the
   next session's reconciliation starts from what was committed.
4. `CaughtUp`: sent once everything planned has been acknowledged. A one-shot session ends when
   both ends have sent it (the initiator says `Goodbye("done")`, the responder answers it); a live
   session goes on: every commit that advances a feed (a local write, or ops applied from any
   peer) is pushed to the peer at once. Duplicates are harmless: the store skips ops it holds.
5. Blobs (with a `BlobPort`): after reconciliation, and whenever applied ops may name new ones,
   each end asks the other for the blobs it lacks; chunks travel between segments with their own
   flow control (`sync/blob_transfer.py`). Then `CaughtUp` also means "nothing is being fetched or
   served", and the responder sends it only after the initiator's (which follows every segment the
   initiator sends), so a one-shot session ends only once the blobs its ops name have moved.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crdt import CrdtError

from .blob_transfer import BlobExchange, BlobStats, refuse_all_wants
from .codec import decode_segment, encode_segment
from .errors import DecodeError, GapError, SyncError, UnsupportedVersionError
from .enrolment import NODE_SCOPE
from .feed import FeedHead, FeedId, SignedOp
from .framing import Link, LinkError
from .peer_errors import (
    DuplicateConnectionError, IncompatiblePeerError, PeerError, PeerProtocolError, PeerRefusedError,
    PeerTimeoutError, SelfConnectionError,
)
from .peer_messages import (
    PEER_PROTOCOL, Ack, BlobAck, BlobChunk, BlobHave, BlobMessage, BlobMissing, BlobWant, CaughtUp, Goodbye,
    Handshake, PeerMessage, Ping, Reconcile, Reject, Segment, decode_peer_message, encode_peer_message, mesh_tag,
)
from .peer_view import PeerView
from .ports import BlobPort, Entitlements, LiveFeedStore, PeerEntitlement
from .reconcile import Reconciler, decode_message, encode_message
from .revocation import MESH_SCOPE

__all__ = [
    "PEER_PROTOCOL", "Handshake", "Reconcile", "Segment", "Ack", "Reject", "CaughtUp", "Ping", "Goodbye",
    "BlobWant", "BlobChunk", "BlobAck", "BlobMissing", "BlobHave", "PeerMessage", "encode_peer_message",
    "decode_peer_message", "mesh_tag", "SessionConfig", "SessionStats",
    "PeerSession", "PeerError", "PeerProtocolError", "IncompatiblePeerError", "PeerRefusedError",
    "SelfConnectionError", "DuplicateConnectionError", "PeerTimeoutError",
]

_DONE = "done"
_log = logging.getLogger(__name__)


# -- the session -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionConfig:
    live: bool = True
    """Stay connected and push new ops; False ends the session once both ends are caught up."""
    window: int = 4
    """Segments we accept (and send) unacknowledged."""
    segment_ops: int = 1000
    segment_bytes: int = 1 << 20
    """A segment holds at most this many bytes of op bodies (at least one op)."""
    keepalive: float = 15.0
    """Send a Ping after this many seconds without sending anything."""
    idle_timeout: float = 45.0
    """Give up on a link that has been silent this long."""
    handshake_timeout: float = 10.0


@dataclass(slots=True)
class SessionStats:
    """What a session did, readable while it runs (status) and after it ends (one-shot report)."""

    peer_node: bytes | None = None
    last_contact: float | None = None
    last_sync: float | None = None
    round_trips: int = 0
    ops_sent: int = 0
    ops_received: int = 0
    duplicates: int = 0
    segments_sent: int = 0
    segments_received: int = 0
    rejected: int = 0
    """Segments from the peer that failed verification."""
    refused: int = 0
    """Our segments the peer rejected."""
    feeds_sent: set[FeedId] = field(default_factory=set)
    feeds_received: set[FeedId] = field(default_factory=set)
    to_send: int = 0
    to_receive: int = 0
    blobs: BlobStats = field(default_factory=BlobStats)


class PeerSession:
    """Run one sync session over `link`; `await session.run()` returns its stats or raises a SyncError.

    `verified_node` is the peer's node key as its TLS certificate proves it (None on plain links);
    `admit` is called once the peer's handshake is accepted, and may raise (e.g. DuplicateConnectionError)
    to refuse the session. With `entitlements` (need-to-know), the peer sees the store through a
    `PeerView`: only the feeds it is entitled to. With `blobs`, the session also moves the blobs ops name
    (only those the peer is entitled to). `clock` is a wall clock in seconds, used for status only.
    """

    def __init__(self, store: LiveFeedStore, link: Link, *, node: bytes, mesh: bytes, initiator: bool,
                 config: SessionConfig = SessionConfig(), clock: Callable[[], float] = time.time,
                 verified_node: bytes | None = None, admit: Callable[[PeerSession], None] | None = None,
                 entitlements: Entitlements | None = None, blobs: BlobPort | None = None):
        self.store = store
        self.view: PeerView | None = None
        """What the peer may receive, once the handshake says who it is (None: everything)."""
        self._entitlements = entitlements
        self._entitlement: PeerEntitlement | None = None
        self.link = link
        self.node = node
        self.mesh = mesh
        self.initiator = initiator
        self.config = config
        self.stats = SessionStats()
        self.live = config.live
        self._clock = clock
        self._verified_node = verified_node
        self._admit = admit
        self._send_window = config.window
        self._ours: dict[FeedId, int] = {}
        self._known: dict[FeedId, int] = {}      # how far the peer holds each feed, as far as we know
        self._sent_upto: dict[FeedId, int] = {}  # highest seq we sent (acked or in flight)
        self._blocked: set[FeedId] = set()       # feeds the peer refused this session
        self._in_flight: dict[int, tuple[FeedId, int, int]] = {}  # n -> (feed, last seq, op count)
        self._ready: collections.deque[FeedId] = collections.deque()
        self._queued: set[FeedId] = set()
        self._unsent = 0
        self._next_n = 1
        self._reconciler: Reconciler | None = None
        self.diverged: frozenset[FeedId] = frozenset()
        """Feeds of which the peer holds another history than ours (the same author signed both):
        never sent either way. In a node's "node" feed it means two machines hold one node identity."""
        self._turns = 0
        self._reconciled = asyncio.Event()
        self._wake = asyncio.Event()
        self._finished = asyncio.Event()
        self._caught_up_sent = False
        self._peer_caught_up = False
        self._closing = False
        self._pushing = False  # the pusher holds a feed between taking it and putting its segment in flight
        self._stop_reason: str | None = None
        self._inbox: asyncio.Queue[_Inbound] = asyncio.Queue()
        self._last_send = 0.0
        self._blobs = None if blobs is None else BlobExchange(
            blobs, peer=link.peer, send=self._send, refuse=self._refuse, allows=self._may_receive,
            on_idle=self._check_caught_up, stats=self.stats.blobs)

    @property
    def peer_node(self) -> bytes | None:
        return self.stats.peer_node

    @property
    def caught_up(self) -> bool:
        """Both ends have sent everything they held when the session started."""
        return self._caught_up_sent and self._peer_caught_up

    @property
    def reconciled(self) -> bool:
        """Reconciliation is over: `to_send()` and `peer_frontier()` are meaningful."""
        return self._reconciled.is_set()

    def peer_frontier(self) -> dict[FeedId, int]:
        """How far the peer holds each of our feeds, as far as this session learned."""
        return dict(self._known)

    def stop(self, reason: str) -> None:
        """End the session from outside: run() says goodbye with `reason` and returns."""
        self._stop_reason = reason
        self._finished.set()

    def to_send(self) -> int:
        """Ops of ours the peer lacks as far as this session knows (not yet acknowledged); never negative.

        Counted from the state, not kept as a running total: a running total drifted when the peer
        got a feed from a third node (counted twice, or below zero), and stayed wrong after
        convergence. Meaningful once reconciled (before that, it is everything we hold)."""
        return sum(max(0, seq - self._known.get(feed, 0)) for feed, seq in self._ours.items()
                   if feed not in self._blocked)

    # -- lifetime --------------------------------------------------------------------------

    async def run(self) -> SessionStats:
        unsubscribe: Callable[[], None] | None = None
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self._handshake()
            if self._stop_reason is not None:
                await self._say_goodbye(self._stop_reason)
                return self.stats
            if self._entitlements is not None:
                assert self.stats.peer_node is not None  # set by the handshake
                peer = self.stats.peer_node
                self._entitlement = await self._entitlements.for_peer(peer)
                self.view = PeerView(self.store, self._entitlement, peer)
                self.store = self.view
            unsubscribe = self.store.subscribe(self._on_heads)
            frontier = await self.store.heads()  # after subscribing: no later commit goes unnoticed
            for feed, head in frontier.items():
                self._ours[feed] = max(self._ours.get(feed, 0), head.seq)
            self._reconciler = Reconciler(frontier, self.initiator)
            tasks = [asyncio.create_task(work(), name=f"sync-{work.__name__}")
                     for work in (self._read_loop, self._apply_loop, self._push_loop, self._keepalive_loop)]
            if self._blobs is not None:
                tasks.append(asyncio.create_task(self._blobs.run(), name="sync-blobs"))
            if self.initiator:
                self._turns += 1  # before sending: the reply may be handled before send() returns
                await self._send(Reconcile(encode_message(self._reconciler.start())))
            finished = asyncio.create_task(self._finished.wait())
            tasks.append(finished)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if self._stop_reason is not None:
                await self._say_goodbye(self._stop_reason)
            elif not self._finished.is_set():
                for task in done:
                    if task is not finished and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            return self.stats
        except asyncio.CancelledError:
            await self._say_goodbye("the node is shutting down")
            raise
        finally:
            if unsubscribe is not None:
                unsubscribe()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._blobs is not None:
                await self._blobs.close()
            self.stats.to_send = self.to_send()
            await self.link.close()

    async def _say_goodbye(self, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            await asyncio.wait_for(self.link.send(encode_peer_message(Goodbye(reason))), 1)
        except (TimeoutError, LinkError):
            pass  # best effort: the link may already be gone

    def _may_receive(self, scope: str) -> bool:
        """Whether the peer may receive data of feed scope `scope` (need-to-know; everything when it is off)."""
        return self._entitlement is None or self._entitlement.allows(scope)

    async def _refuse(self, error: PeerError) -> None:
        await self._say_goodbye(str(error))
        raise error

    async def _send(self, message: PeerMessage) -> None:
        await self.link.send(encode_peer_message(message))
        self._last_send = asyncio.get_running_loop().time()

    async def _recv(self, timeout: float) -> PeerMessage:
        try:
            frame = await asyncio.wait_for(self.link.recv(), timeout)
        except TimeoutError:
            raise PeerTimeoutError(f"nothing heard from {self.link.peer} for {timeout:g} s") from None
        self.stats.last_contact = self._clock()
        try:
            return decode_peer_message(frame)
        except UnsupportedVersionError as exc:
            await self._refuse(IncompatiblePeerError(str(exc)))
            raise  # unreachable: _refuse raises
        except DecodeError as exc:
            await self._refuse(PeerProtocolError(f"undecodable message from {self.link.peer}: {exc}"))
            raise

    async def _handshake(self) -> None:
        await self._send(Handshake(self.node, self.mesh, self.config.live, self.config.window))
        message = await self._recv(self.config.handshake_timeout)
        if isinstance(message, Goodbye):
            raise PeerRefusedError(f"{self.link.peer} refused the session: {message.reason}")
        if not isinstance(message, Handshake):
            await self._refuse(PeerProtocolError(f"{self.link.peer} did not start with a handshake"))
            return
        if message.node == self.node:
            await self._refuse(SelfConnectionError(f"{self.link.peer} is this node itself"))
        if self._verified_node is not None and message.node != self._verified_node:
            await self._refuse(PeerProtocolError(
                f"{self.link.peer} claims node {message.node.hex()[:16]} but its certificate is node "
                f"{self._verified_node.hex()[:16]}"))
        if message.mesh != self.mesh:
            await self._refuse(IncompatiblePeerError(f"{self.link.peer} belongs to another mesh"))
        self.stats.peer_node = message.node
        self.live = self.config.live and message.live
        self._send_window = min(self.config.window, message.window)
        if self._admit is not None:
            try:
                self._admit(self)
            except PeerError as exc:
                await self._refuse(exc)

    # -- store notifications ---------------------------------------------------------------

    def _on_heads(self, heads: dict[FeedId, FeedHead]) -> None:
        """Called by the store after each commit that advanced feeds: queue them for the peer."""
        if not self.live:
            # A one-shot session sends what its frontier held when it started and leaves later commits
            # to the next session: against a busy peer (a hub whose other edges keep writing) it would
            # chase them and never end.
            return
        for feed, head in heads.items():
            old = self._ours.get(feed, 0)
            if head.seq <= old:
                continue
            self._ours[feed] = head.seq
            if self._reconciled.is_set() and feed not in self._blocked:
                # the peer may already hold more of this feed (it sent it to us): never count below zero
                self._unsent += max(0, head.seq - max(old, self._sent_upto.get(feed, 0), self._known.get(feed, 0)))
            self._mark(feed)
        if self._blobs is not None:
            self._blobs.nudge()
        self._wake.set()

    def _mark(self, feed: FeedId) -> None:
        if feed not in self._queued:
            self._queued.add(feed)
            self._ready.append(feed)

    # -- receiving -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            message = await self._recv(self.config.idle_timeout)
            if isinstance(message, Reconcile):
                await self._on_reconcile(message)
            elif isinstance(message, Segment):
                if self._inbox.qsize() >= self.config.window:
                    await self._refuse(PeerProtocolError(f"{self.link.peer} sent more segments than our window"))
                # decoded at once, off the loop: while the store applies one batch the next is decoded
                decoded = asyncio.get_running_loop().run_in_executor(None, _decode, message.data)
                self._inbox.put_nowait(_Inbound(message, decoded))
            elif isinstance(message, Ack):
                self._on_ack(message)
            elif isinstance(message, Reject):
                self._on_reject(message)
            elif isinstance(message, CaughtUp):
                self._peer_caught_up = True
                await self._check_caught_up()
            elif isinstance(message, Goodbye):
                if message.reason == _DONE and self.caught_up:
                    if not self.initiator:
                        await self._say_goodbye(_DONE)
                    self._finished.set()
                    return
                raise PeerRefusedError(f"{self.link.peer} ended the session: {message.reason}")
            elif isinstance(message, Handshake):
                await self._refuse(PeerProtocolError(f"{self.link.peer} sent a second handshake"))
            elif isinstance(message, (BlobWant, BlobChunk, BlobAck, BlobMissing, BlobHave)):
                await self._on_blob_message(message)

    async def _on_blob_message(self, message: BlobMessage) -> None:
        if self._blobs is not None:
            await self._blobs.receive(message)
        elif isinstance(message, BlobWant):
            for answer in refuse_all_wants(message):
                await self._send(answer)
        elif not isinstance(message, BlobHave):
            await self._refuse(PeerProtocolError(f"{self.link.peer} sent blob data we did not ask for"))

    async def _on_reconcile(self, message: Reconcile) -> None:
        if self._reconciler is None or self._reconciled.is_set():
            await self._refuse(PeerProtocolError(f"{self.link.peer} reconciled after reconciliation ended"))
            return
        try:
            turn = decode_message(message.payload)
        except DecodeError as exc:
            await self._refuse(PeerProtocolError(f"bad reconciliation message from {self.link.peer}: {exc}"))
            return
        if not turn:
            self._end_reconciliation()
            return
        self._turns += 1
        out = self._reconciler.receive(turn)
        await self._send(Reconcile(encode_message(out)))
        if out:
            self._turns += 1
        else:
            self._end_reconciliation()

    def _end_reconciliation(self) -> None:
        """We know what the peer lacks: plan to send it, and start pushing."""
        assert self._reconciler is not None
        self.stats.round_trips = (self._turns + 1) // 2
        to_send = self._reconciler.to_send
        for feed, head in self._reconciler.frontier.items():
            # not in to_send: the peer holds at least as much (or another history: never send it)
            self._known[feed] = max(self._known.get(feed, 0), to_send.get(feed, head.seq))
        self.diverged = frozenset(self._reconciler.forks)
        for feed in self._reconciler.forks:
            _log.warning("peer %s holds another history of feed %r of author %s: not sending it",
                         self.link.peer, feed.scope, feed.author.hex()[:16])
            self._blocked.add(feed)
        self._unsent = sum(max(0, seq - self._known.get(feed, 0))
                           for feed, seq in self._ours.items() if feed not in self._blocked)
        for feed in sorted(to_send, key=_sending_order):
            self._mark(feed)
        self._reconciled.set()
        if self._blobs is not None:
            self._blobs.start()
        self._wake.set()

    async def _apply_loop(self) -> None:
        """Apply what arrived, in order: the segments queued meanwhile as one batch.

        Consecutive segments of one feed that continue each other are applied as one segment (one
        verification, one transaction, one commit) and each is acknowledged with the head after that
        commit. The store applies a segment all or nothing, so if the merged one fails for any
        reason, its segments are applied again one by one, each answered as it would have been alone.
        """
        while True:
            batch = [await self._inbox.get()]
            while not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            decoded = [(item.segment, await item.decoded) for item in batch]
            for run in _runs(decoded):
                if len(run) == 1 or not await self._apply_merged(run):  # type: ignore[arg-type]
                    for segment, ops in run:
                        await self._apply(segment, ops)

    async def _apply_merged(self, run: list[tuple[Segment, list[SignedOp]]]) -> bool:
        """Apply consecutive segments of one feed as one; False (nothing applied) if it fails."""
        ops = [op for _, segment_ops in run for op in segment_ops]
        feed = ops[0].feed
        known = self._known.get(feed, 0)
        self._known[feed] = max(known, ops[-1].seq)  # as in _apply
        try:
            result = await self.store.apply(ops)
        except (SyncError, CrdtError):
            self._known[feed] = known
            return False
        self.stats.segments_received += len(run)
        self._count(feed, result)
        await self._acknowledge([segment for segment, _ in run], result.head)
        return True

    async def _apply(self, segment: Segment, ops: list[SignedOp] | SyncError) -> None:
        peer = self.link.peer
        if isinstance(ops, SyncError):
            await self._reject(segment, None, ops)
            return
        feed = ops[0].feed
        # the peer holds what it sent us: never push it back (set before applying, because the
        # store announces the new head before apply() returns)
        self._known[feed] = max(self._known.get(feed, 0), ops[-1].seq)
        self.stats.segments_received += 1
        try:
            result = await self.store.apply(ops)
        except GapError:
            held = (await self.store.heads()).get(feed)
            _log.info("segment %d from %s starts after a gap in feed %r; asking for it from %d",
                      segment.n, peer, feed.scope, held.seq if held else 0)
            await self._send(Ack(segment.n, held.seq if held else 0))
            return
        except (SyncError, CrdtError) as exc:  # not authentic, a fork, or stamped too far ahead
            await self._reject(segment, feed, exc)
            return
        self._count(feed, result)
        await self._acknowledge([segment], result.head)

    def _count(self, feed: FeedId, result: Any) -> None:
        """Note what an apply of the store did (a RemoteResult)."""
        applied = result.applied + result.waiting + result.invalid
        self.stats.ops_received += applied
        self.stats.duplicates += result.duplicates
        if applied:
            self.stats.feeds_received.add(feed)
            if self._blobs is not None:
                self._blobs.nudge()  # before the ack: the peer's CaughtUp then finds us already asking

    async def _acknowledge(self, segments: list[Segment], head: FeedHead | None) -> None:
        """Ack `segments`, applied in one commit, with our head of their feed after it."""
        # before the first send: sending yields, and a pusher gone idle meanwhile zeroes the backlog
        # (_check_caught_up) only if it finds the last segment's count already here
        segment = segments[-1]
        self.stats.to_receive = segment.pending
        for acked in segments:
            await self._send(Ack(acked.n, head.seq if head is not None else 0))
        if segment.pending == 0 and self.caught_up:
            self.stats.last_sync = self._clock()

    async def _reject(self, segment: Segment, feed: FeedId | None, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        where = f"feed {feed.scope!r} of author {feed.author.hex()[:16]}" if feed is not None else "an undecodable feed"
        _log.warning("rejected segment %d (%s) from peer %s: %s; nothing of it was applied",
                     segment.n, where, self.link.peer, reason)
        self.stats.rejected += 1
        await self._send(Reject(segment.n, reason))

    # -- sending ---------------------------------------------------------------------------

    def _on_ack(self, ack: Ack) -> None:
        entry = self._in_flight.pop(ack.n, None)
        if entry is None:
            raise PeerProtocolError(f"{self.link.peer} acknowledged segment {ack.n}, which is not in flight")
        feed, last, count = entry
        if ack.seq >= last:
            self._known[feed] = max(self._known.get(feed, 0), ack.seq)
            self.stats.ops_sent += count
            self.stats.feeds_sent.add(feed)
        else:  # the peer holds less than we thought (a gap): resend from its real head
            self._unsent += min(last, self._ours.get(feed, last)) - ack.seq
            self._known[feed] = ack.seq
            self._sent_upto[feed] = ack.seq
            self._mark(feed)
        self._wake.set()

    def _on_reject(self, reject: Reject) -> None:
        entry = self._in_flight.pop(reject.n, None)
        if entry is None:
            raise PeerProtocolError(f"{self.link.peer} rejected segment {reject.n}, which is not in flight")
        feed = entry[0]
        _log.warning("peer %s rejected our segment of feed %r of author %s: %s; not sending that feed again "
                     "this session", self.link.peer, feed.scope, feed.author.hex()[:16], reject.reason)
        self.stats.refused += 1
        if feed not in self._blocked:
            self._blocked.add(feed)
            self._unsent -= max(0, self._ours.get(feed, 0) - self._sent_upto.get(feed, 0))
            self._unsent = max(0, self._unsent)
        self._wake.set()

    def _next_feed(self) -> FeedId | None:
        while self._ready:
            feed = self._ready.popleft()
            self._queued.discard(feed)
            if feed not in self._blocked and self._ours.get(feed, 0) > self._after(feed):
                return feed
        return None

    def _after(self, feed: FeedId) -> int:
        return max(self._sent_upto.get(feed, 0), self._known.get(feed, 0))

    async def _push_loop(self) -> None:
        await self._reconciled.wait()
        while True:
            if len(self._in_flight) >= self._send_window:
                await self._sleep_until_woken()
                continue
            feed = self._next_feed()
            if feed is None:
                if not self._in_flight:
                    await self._check_caught_up()
                await self._sleep_until_woken()
                continue
            self._pushing = True
            try:
                await self._send_segment(feed)
            finally:
                self._pushing = False

    async def _sleep_until_woken(self) -> None:
        self._wake.clear()
        await self._wake.wait()

    async def _send_segment(self, feed: FeedId) -> None:
        after = self._after(feed)
        ops = _within(await self.store.segment(feed, after, self.config.segment_ops), self.config.segment_bytes)
        if not ops:
            return  # nothing beyond `after` after all (the peer caught up from another node meanwhile)
        data = encode_segment(ops) if len(ops) < 64 else await asyncio.to_thread(encode_segment, ops)
        n = self._next_n
        self._next_n += 1
        self._in_flight[n] = (feed, ops[-1].seq, len(ops))
        self._sent_upto[feed] = ops[-1].seq
        self._unsent = max(0, self._unsent - len(ops))
        if self._ours.get(feed, 0) > ops[-1].seq:
            self._mark(feed)
        self.stats.segments_sent += 1
        await self._send(Segment(n, self._unsent, data))

    async def _check_caught_up(self) -> None:
        """Send CaughtUp once our plan is acknowledged; note a completed sync; end a finished one-shot."""
        idle = (self._reconciled.is_set() and not self._pushing and not self._in_flight
                and not self._next_feed_pending())
        if self._blobs is not None:
            idle = idle and self._blobs.idle and (self.initiator or self._peer_caught_up)
        if idle and not self._caught_up_sent:
            self._caught_up_sent = True
            await self._send(CaughtUp())
        if idle and self.caught_up:
            self.stats.last_sync = self._clock()
            self.stats.to_receive = 0
            if not self.live and self.initiator and not self._closing:
                await self._say_goodbye(_DONE)

    def _next_feed_pending(self) -> bool:
        return any(f not in self._blocked and self._ours.get(f, 0) > self._after(f) for f in self._ready)

    async def _keepalive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, self._last_send + self.config.keepalive - loop.time()))
            if not self._closing and loop.time() - self._last_send >= self.config.keepalive:
                await self._send(Ping())


_FIRST_SCOPES = {MESH_SCOPE: 0, NODE_SCOPE: 1, "directory": 2}


def _sending_order(feed: FeedId) -> int:
    """Evidence first: the mesh authority's feed (revocations) and nodes' enrolment certificates
    decide whether the rest is admitted, and the directory (users) is what most ops depend on."""
    return _FIRST_SCOPES.get(feed.scope, len(_FIRST_SCOPES))


@dataclass(frozen=True, slots=True)
class _Inbound:
    """A segment received and its decoding, under way in a worker thread."""

    segment: Segment
    decoded: asyncio.Future[list[SignedOp] | SyncError]


def _decode(data: bytes) -> list[SignedOp] | SyncError:
    # returned, not raised: a decoding nobody awaits (the session ended) must not log as unretrieved
    try:
        return decode_segment(data)
    except SyncError as exc:
        return exc


def _runs(decoded: list[tuple[Segment, list[SignedOp] | SyncError]]
          ) -> list[list[tuple[Segment, list[SignedOp] | SyncError]]]:
    """The batch in order, cut into runs of segments of one feed that each start where the one
    before ends; an undecodable segment is a run of its own."""
    runs: list[list[tuple[Segment, list[SignedOp] | SyncError]]] = []
    for segment, ops in decoded:
        last = runs[-1][-1][1] if runs else None
        if (isinstance(ops, list) and isinstance(last, list) and last[-1].feed == ops[0].feed
                and last[-1].seq + 1 == ops[0].seq):
            runs[-1].append((segment, ops))
        else:
            runs.append([(segment, ops)])
    return runs


def _within(ops: Sequence[SignedOp], budget: int) -> list[SignedOp]:
    """The longest prefix of `ops` whose bodies fit `budget` bytes (always at least one op)."""
    total = 0
    for index, op in enumerate(ops):
        total += len(op.body) + 100
        if total > budget and index > 0:
            return list(ops[:index])
    return list(ops)
