"""The part of a store one peer may receive (need-to-know), as a LiveFeedStore for its session.

A peer session reads frontiers, segments and commit notifications through a `PeerView`, so it
never learns of, offers or pushes a feed whose scope the peer is not entitled to. The view keeps
three promises:

- Only what was announced is served: `segment` never returns an op beyond the head the view last
  announced for that feed (through `heads()` or a notification). So an op committed after the
  peer lost its entitlement (say, a post after its last member there left the channel) cannot
  slip out in a segment that was planned while it was still entitled.
- Notifications are judged in commit order: a commit that may change entitlement (the policy's
  `may_change`) is held, with every later one, until the policy has refreshed. The commit that
  ends an entitlement is still delivered (the peer learns of the removal itself), nothing after it.
- Gains bring history: when a peer becomes entitled to scopes (a member it hosts joined a private
  channel), the view announces those scopes' whole feeds, so the session sends them from the
  start (ops the peer already holds are skipped by its store and cost one acknowledgement).

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
    """`store` as seen by the peer `peer`, filtered by its `entitlement` (see the module docstring)."""

    def __init__(self, store: LiveFeedStore, entitlement: PeerEntitlement, peer: bytes):
        self._store = store
        self._entitlement = entitlement
        self._peer = peer
        self._announced: dict[FeedId, int] = {}
        self._held: collections.deque[dict[FeedId, FeedHead]] = collections.deque()
        self._listener: Listener | None = None
        self._judging: asyncio.Task[None] | None = None

    def allows(self, feed: FeedId) -> bool:
        return feed.author == self._peer or self._entitlement.allows(feed.scope)

    # -- FeedStore ---------------------------------------------------------------------------

    async def heads(self) -> dict[FeedId, FeedHead]:
        visible = {feed: head for feed, head in (await self._store.heads()).items() if self.allows(feed)}
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
        unsubscribe = self._store.subscribe(self._on_commit)

        def stop() -> None:
            unsubscribe()
            if self._judging is not None:
                self._judging.cancel()
            self._listener = None

        return stop

    def _on_commit(self, heads: dict[FeedId, FeedHead]) -> None:
        if not self._held and not any(self._entitlement.may_change(feed.scope) for feed in heads):
            self._forward(heads)
            return
        self._held.append(heads)
        if self._judging is None or self._judging.done():
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
            self._forward(heads, also=change.lost)
            if change.gained:
                everything = await self._store.heads()
                self._forward({feed: head for feed, head in everything.items() if feed.scope in change.gained})

    def _forward(self, heads: dict[FeedId, FeedHead], also: frozenset[str] = frozenset()) -> None:
        visible = {feed: head for feed, head in heads.items() if feed.scope in also or self.allows(feed)}
        if visible and self._listener is not None:
            self._announce(visible)
            self._listener(visible)

    def _announce(self, heads: dict[FeedId, FeedHead]) -> None:
        for feed, head in heads.items():
            if head.seq > self._announced.get(feed, 0):
                self._announced[feed] = head.seq
