"""Websocket events for board changes, as the Focalboard plugin sends them (server/ws/plugin_adapter.go).

The plugin publishes every board message as its UPDATE_BOARD event, which Mattermost names
`custom_focalboard_UPDATE_BOARD`; the payload's `action` says what changed (UPDATE_BLOCK,
UPDATE_BOARD, UPDATE_MEMBER, DELETE_MEMBER). Each goes to the board's members one by one (explicit
members and, for a board linked to a channel, the channel's members), never to a whole team, so a
private board's changes reach nobody outside it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .boards_json import board_json
from .context import Context
from .events import Broadcast, Event
from .membership import EFFECTIVE_CHANNEL_MEMBERS

__all__ = ["BoardEvents", "PLUGIN_EVENT"]

PLUGIN_EVENT = "custom_focalboard_UPDATE_BOARD"


class BoardEvents:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    async def recipients(self, board: sqlite3.Row | Mapping[str, Any]) -> list[str]:
        store = self._ctx.store
        users = {r[0] for r in await store.fetchall("SELECT user_id FROM board_members WHERE board_id = ?",
                                                    (board["id"],))}
        if board["channel_id"]:
            users |= {r[0] for r in await store.fetchall(
                f"SELECT user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} WHERE channel_id = ?", (board["channel_id"],))}
        return sorted(users)

    async def publish(self, board: sqlite3.Row | Mapping[str, Any], payloads: Sequence[dict[str, Any]], *,
                      from_peer: bool = False, also: Iterable[str] = ()) -> None:
        users = sorted(set(await self.recipients(board)) | set(also))
        for payload in payloads:
            data = {**payload, "teamId": board["team_id"]}
            for user in users:
                self._ctx.events.publish(Event(PLUGIN_EVENT, data, Broadcast(user_id=user), from_peer))

    async def blocks_changed(self, board: sqlite3.Row | Mapping[str, Any], blocks: Sequence[dict[str, Any]],
                             *, from_peer: bool = False) -> None:
        await self.publish(board, [{"action": "UPDATE_BLOCK", "block": block} for block in blocks], from_peer=from_peer)

    async def block_deleted(self, board: sqlite3.Row, block_id: str, kind: str, deleted: bool) -> None:
        if deleted:
            now = self._ctx.now_ms()
            block = {"id": block_id, "boardId": board["id"], "updateAt": now, "deleteAt": now}
            await self.publish(board, [{"action": "UPDATE_BLOCK", "block": block}])

    async def board_changed(self, board: sqlite3.Row, *, from_peer: bool = False, also: Iterable[str] = ()) -> None:
        await self.publish(board, [{"action": "UPDATE_BOARD", "board": board_json(board)}], from_peer=from_peer,
                           also=also)

    async def member_changed(self, board: sqlite3.Row, member: dict[str, Any], *, deleted: bool = False) -> None:
        action = "DELETE_MEMBER" if deleted else "UPDATE_MEMBER"
        await self.publish(board, [{"action": action, "member": member}], also=[member["userId"]])
