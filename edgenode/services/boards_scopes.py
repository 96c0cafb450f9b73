"""Need-to-know for board feeds ("board:<id>"): which peer node may receive which board.

An open board goes to every node. A private board goes only to nodes that host one of its members:
an explicit member (the "board.members" set), or, when the board is linked to a channel, an
effective member of that channel (its synthetic editors). A board this node knows nothing of yet is
private. Unlike a channel, a board can change type and channel link, so every board commit may change
what a peer receives, and so may commits to the directory (who a node hosts, team memberships) and
to a linked channel (its members). Hubs receive everything (decided by peering/need_to_know.py).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sync.ports import ScopeChange

from .context import DIRECTORY_SCOPE, USER_NODES_TABLE
from .membership import EFFECTIVE_CHANNEL_MEMBERS

__all__ = ["BoardNeedToKnow", "BOARD_SCOPE_KIND"]

BOARD_SCOPE_KIND = "board"

_PUBLIC = "SELECT id FROM boards WHERE type = 'O'"
_ENTITLED = (
    f"SELECT m.board_id FROM board_members m JOIN {USER_NODES_TABLE} n ON n.user_id = m.user_id AND n.node = ? "
    f"UNION SELECT b.id FROM boards b JOIN {EFFECTIVE_CHANNEL_MEMBERS} c ON c.channel_id = b.channel_id "
    f"JOIN {USER_NODES_TABLE} n ON n.user_id = c.user_id AND n.node = ? WHERE coalesce(b.channel_id, '') != ''")
_LINKED = "SELECT DISTINCT channel_id FROM boards WHERE coalesce(channel_id, '') != ''"
_ALL = "SELECT id FROM boards"


class BoardNeedToKnow:
    """The boards one peer may receive, as of the last load."""

    def __init__(self, node: str):
        self.node = node
        self.public: set[str] = set()
        self.entitled: set[str] = set()
        self.linked_channels: set[str] = set()

    async def load(self, store: Any) -> None:
        self.public = {r[0] for r in await store.fetchall(_PUBLIC)}
        self.entitled = {r[0] for r in await store.fetchall(_ENTITLED, (self.node, self.node))}
        self.linked_channels = {r[0] for r in await store.fetchall(_LINKED)}

    def allows(self, board_id: str) -> bool:
        return board_id in self.public or board_id in self.entitled

    def scopes(self) -> set[str]:
        return {f"{BOARD_SCOPE_KIND}:{b}" for b in self.public | self.entitled}

    def concerns(self, scopes: Collection[str]) -> bool:
        """Whether a commit to these scopes may change which boards the peer receives."""
        return any(s == DIRECTORY_SCOPE or s.startswith(BOARD_SCOPE_KIND + ":")
                   or (s.startswith("channel:") and s.partition(":")[2] in self.linked_channels) for s in scopes)

    async def refresh(self, store: Any, scopes: Collection[str]) -> ScopeChange:
        if not self.concerns(scopes):
            return ScopeChange()
        before = self.scopes()
        await self.load(store)
        after = self.scopes()
        return ScopeChange(frozenset(after - before), frozenset(before - after))

    @staticmethod
    async def every_board(store: Any) -> set[str]:
        return {f"{BOARD_SCOPE_KIND}:{r[0]}" for r in await store.fetchall(_ALL)}
