"""The small interfaces sync/ needs from a node: its store, and its need-to-know policy."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .feed import FeedHead, FeedId, SignedOp

__all__ = ["FeedStore", "LiveFeedStore", "Entitlements", "PeerEntitlement", "ScopeChange", "NO_CHANGE"]


class FeedStore(Protocol):
    """What reconciliation reads and writes: frontiers, feed segments, and verified apply."""

    async def heads(self) -> dict[FeedId, FeedHead]: ...

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]: ...

    async def apply(self, ops: Sequence[SignedOp]) -> Any: ...


class LiveFeedStore(FeedStore, Protocol):
    """A FeedStore that also reports, after each commit, the feeds whose heads advanced (for live sync)."""

    def subscribe(self, listener: Callable[[dict[FeedId, FeedHead]], None]) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class ScopeChange:
    """Scopes a peer became entitled to, and scopes it no longer is, after a refresh."""

    gained: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()


NO_CHANGE = ScopeChange()


class PeerEntitlement(Protocol):
    """Which feed scopes one peer may receive (need-to-know), as of the last refresh.

    The policy lives in the node (it reads channels and memberships); sync/ only asks it.
    """

    def allows(self, scope: str) -> bool: ...

    def may_change(self, scope: str) -> bool:
        """Whether a commit to a feed of `scope` can change what `allows` answers."""
        ...

    async def refresh(self, scopes: Collection[str]) -> ScopeChange:
        """Re-read what commits to `scopes` may have changed; say what was gained and lost."""
        ...


class Entitlements(Protocol):
    """The need-to-know policy: one PeerEntitlement per connected peer (by node key)."""

    async def for_peer(self, peer: bytes) -> PeerEntitlement: ...
