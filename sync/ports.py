"""The small interface sync/ needs from a node's store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .feed import FeedHead, FeedId, SignedOp

__all__ = ["FeedStore", "LiveFeedStore"]


class FeedStore(Protocol):
    """What reconciliation reads and writes: frontiers, feed segments, and verified apply."""

    async def heads(self) -> dict[FeedId, FeedHead]: ...

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]: ...

    async def apply(self, ops: Sequence[SignedOp]) -> Any: ...


class LiveFeedStore(FeedStore, Protocol):
    """A FeedStore that also reports, after each commit, the feeds whose heads advanced (for live sync)."""

    def subscribe(self, listener: Callable[[dict[FeedId, FeedHead]], None]) -> Callable[[], None]: ...
