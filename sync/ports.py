"""The small interfaces sync/ needs from a node: its store, its need-to-know policy, and its blobs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .feed import FeedHead, FeedId, SignedOp

__all__ = [
    "FeedStore", "LiveFeedStore", "Entitlements", "PeerEntitlement", "ScopeChange", "NO_CHANGE", "BlobPort", "BlobWriter",
]


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

    async def load(self) -> None:
        """Read the entitlement as it is now (the view calls this once, after subscribing)."""
        ...

    def allows(self, scope: str) -> bool: ...

    def may_change(self, scope: str) -> bool:
        """Whether a commit to a feed of `scope` can change what `allows` answers."""
        ...

    async def refresh(self, scopes: Collection[str]) -> ScopeChange:
        """Re-read what commits to `scopes` may have changed; say what was gained and lost."""
        ...


class Entitlements(Protocol):
    """The need-to-know policy: one PeerEntitlement per connected peer (by node key)."""

    async def for_peer(self, peer: bytes) -> PeerEntitlement:
        """A new entitlement for `peer`, not loaded yet (its PeerView loads it)."""
        ...


class BlobWriter(Protocol):
    """One incoming blob being written aside (a temporary file); nothing is visible until `install`."""

    async def write(self, data: bytes) -> None:
        """Append the next bytes."""
        ...

    async def install(self) -> bool:
        """Verify the SHA-256 of everything written; if it is the expected one, put the blob in place
        (durably, atomically) and return True; otherwise discard it and return False."""
        ...

    async def discard(self) -> None:
        """Throw away what was written (the transfer failed); safe to call more than once."""
        ...


class BlobPort(Protocol):
    """A node's content-addressed blobs (named by lowercase SHA-256 hex), as peer sync moves them.

    Which blobs exist and which the node wants come from its own rows (file attachments); sync/
    only asks, and decides per peer with `scopes_of` and the session's need-to-know.
    """

    async def wanted(self, limit: int, skip: Collection[str] = ()) -> list[str]:
        """Up to `limit` hashes that rows this node holds name but whose bytes it lacks, none in `skip`."""
        ...

    async def scopes_of(self, content_hash: str) -> set[str]:
        """The feed scopes of the rows naming `content_hash` (a peer must be entitled to one to get it)."""
        ...

    async def size(self, content_hash: str) -> int | None:
        """The blob's length in bytes, or None if this node does not hold it."""
        ...

    async def read(self, content_hash: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes of the blob from `offset` (fewer only at its end)."""
        ...

    async def writer(self, content_hash: str) -> BlobWriter:
        """Start receiving the blob `content_hash`."""
        ...
