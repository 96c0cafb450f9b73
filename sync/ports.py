"""The small interface sync/ needs from a node's store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .feed import FeedHead, FeedId, SignedOp

__all__ = ["FeedStore"]


class FeedStore(Protocol):
    """What reconciliation reads and writes: frontiers, feed segments, and verified apply."""

    async def heads(self) -> dict[FeedId, FeedHead]: ...

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]: ...

    async def apply(self, ops: Sequence[SignedOp]) -> Any: ...
