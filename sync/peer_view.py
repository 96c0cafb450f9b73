"""The part of a store one peer may receive (need-to-know), as a LiveFeedStore for its session.

A peer session reads frontiers, segments and commit notifications through a `PeerView`, so it
never learns of, offers or pushes a feed whose scope the peer is not entitled to. Entitlement is
tied to positions in the commit stream:

- The view subscribes to the store before it reads the heads and loads the entitlement, so no
  commit falls between the two unjudged.
- Every commit is judged in order: a commit to a scope whose entitlement it may change (the
  policy's `may_change`: a private channel, the directory) is held, with every later commit, until
  the policy has refreshed; then its feeds are announced if the peer may receive them. The view
  keeps, per feed, the head up to which commits have been judged; for scopes that may change, it
  never announces beyond that head (not in `heads()` either, which a session also reads mid-way).
- Only what was announced is served: `segment` never returns an op beyond the head announced for
  that feed, so an op committed after the peer lost its entitlement cannot slip out in a segment
  planned while it was still entitled.
- Gains bring history: when a peer becomes entitled to scopes (a member it hosts joined a private
  channel), the view announces those scopes' feeds up to their judged heads, so the session sends
  them from the start (ops the peer already holds are skipped by its store and cost one ack).
- A loss ends the feeds there: nothing written after it is announced. (The removal itself reaches
  the removed member's nodes through the member's own scope: see edgenode/services/channels.py.)

Feeds the peer wrote itself are always visible: it holds them, and hiding them would only make
it resend them to us.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .feed import FeedHead, FeedId, SignedOp
from .ports import NO_CHANGE, LiveFeedStore, PeerEntitlement

__all__ = ["PeerView"]

_log = logging.getLogger(__name__)

Listener = Callable[[dict[FeedId, FeedHead]], None]


class PeerView:
    """`store` as seen by the peer `peer`, filtered by its `entitlement` (see the module docstring).

    The entitlement is loaded by the first `heads()`, after `subscribe()`: a session subscribes,
    then reads the frontier it reconciles.
    """

    def __init__(self, store: LiveFeedStore, entitlement: PeerEntitlement, peer: bytes):
        self._store = store
        self._entitlement = entitlement
        self._peer = peer
        self._loaded = False
        self._judged: dict[FeedId, FeedHead] = {}
        """Per feed, the head up to which commits have been judged."""
        self._announced: dict[FeedId, int] = {}
        self._held: collections.deque[dict[FeedId, FeedHead]] = collections.deque()
        self._listener: Listener | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._judging: asyncio.Task[None] | None = None

    def allows(self, feed: FeedId) -> bool:
        return feed.author == self._peer or self._entitlement.allows(feed.scope)

    # -- FeedStore ---------------------------------------------------------------------------

    async def heads(self) -> dict[FeedId, FeedHead]:
        current = await self._store.heads()
        if not self._loaded:
            await self._load(current)
        visible = {}
        for feed, head in current.items():
            if not self.allows(feed):
                continue
            if self._entitlement.may_change(feed.scope):  # only as far as commits were judged
                judged = self._judged.get(feed)
                if judged is None:
                    continue
                head = judged
            visible[feed] = head
        self._announce(visible)
        return visible

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]:
        upto = self._announced.get(feed, 0)
        if upto <= after_seq:
            return []
        ops = await self._store.segment(feed, after_seq, min(limit, upto - after_seq))
        return [op for op in ops if op.seq <= upto]

    async def apply(self, ops: Sequence[SignedOp]) -> Any:
        return await self._store.apply(ops)

    # -- notifications -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        if self._listener is not None:
            raise RuntimeError("a PeerView serves one session: subscribe once")
        self._listener = listener
        self._unsubscribe = self._store.subscribe(self._on_commit)

        def stop() -> None:
            if self._unsubscribe is not None:
                self._unsubscribe()
            if self._judging is not None:
                self._judging.cancel()
            self._listener = None

        return stop

    async def _load(self, base: dict[FeedId, FeedHead]) -> None:
        """Judge everything up to `base` (read after subscribing) with the entitlement as loaded now;
        commits notified since are held and judged in order."""
        await self._entitlement.load()
        for feed, head in base.items():
            judged = self._judged.get(feed)
            if judged is None or head.seq > judged.seq:
                self._judged[feed] = head
        self._loaded = True
        self._start_judging()

    def _on_commit(self, heads: dict[FeedId, FeedHead]) -> None:
        if self._loaded and not self._held and not any(self._entitlement.may_change(f.scope) for f in heads):
            self._judged.update(heads)
            self._forward(heads)
            return
        self._held.append(heads)
        self._start_judging()

    def _start_judging(self) -> None:
        if self._loaded and self._held and (self._judging is None or self._judging.done()):
            self._judging = asyncio.get_running_loop().create_task(self._judge_held(), name="sync-peer-view")

    async def _judge_held(self) -> None:
        while self._held:
            heads = self._held[0]
            scopes = {feed.scope for feed in heads if self._entitlement.may_change(feed.scope)}
            try:
                change = await self._entitlement.refresh(scopes) if scopes else NO_CHANGE
            except Exception:  # keep serving on the last known entitlement rather than stall the session
                _log.exception("could not refresh the need-to-know of peer %s", self._peer.hex()[:16])
                change = NO_CHANGE
            self._held.popleft()
            self._judged.update(heads)
            self._forward(heads)
            if change.gained:
                self._forward({feed: head for feed, head in self._judged.items() if feed.scope in change.gained})

    def _forward(self, heads: dict[FeedId, FeedHead]) -> None:
        visible = {feed: head for feed, head in heads.items() if self.allows(feed)}
        if visible:
            self._announce(visible)
            if self._listener is not None:
                self._listener(visible)

    def _announce(self, heads: dict[FeedId, FeedHead]) -> None:
        for feed, head in heads.items():
            if head.seq > self._announced.get(feed, 0):
                self._announced[feed] = head.seq
