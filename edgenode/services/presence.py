"""Who is online: a user with at least one open WebSocket on this node."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["OFFLINE", "ONLINE", "Presence"]

ONLINE = "online"
OFFLINE = "offline"


class Presence:
    """Counts live connections per user; node-local and never replicated, like Mattermost's status cache."""

    def __init__(self) -> None:
        self._connections: Counter[str] = Counter()

    @contextmanager
    def connected(self, user_id: str) -> Iterator[None]:
        """Marks `user_id` online while the block runs (one user may hold several connections)."""
        self._connections[user_id] += 1
        try:
            yield
        finally:
            self._connections[user_id] -= 1
            if self._connections[user_id] <= 0:
                del self._connections[user_id]

    def status(self, user_id: str) -> str:
        return ONLINE if self._connections[user_id] > 0 else OFFLINE

    def statuses(self, user_ids: Iterable[str] | None = None) -> dict[str, str]:
        """The status of each of `user_ids`, or of every online user when None."""
        if user_ids is None:
            return {user_id: ONLINE for user_id in sorted(self._connections)}
        return {user_id: self.status(user_id) for user_id in user_ids}
