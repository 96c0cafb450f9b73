"""Reads of board data shared by the board services, the convergence tests and the benchmark."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .boards_json import card_block_json, card_json, content_block_json, loads, view_block_json
from .boards_model import Placed, card_order

__all__ = ["LIVE_CARDS", "view_card_order", "view_order_and_placed", "BoardReader"]

LIVE_CARDS = "SELECT id, position FROM cards WHERE board_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0"


async def view_card_order(store: Any, board_id: str, view_id: str) -> list[tuple[str, str]]:
    """(card id, key) of every live card of the board, in the order of the view."""
    return (await view_order_and_placed(store, board_id, view_id))[0]


async def view_order_and_placed(store: Any, board_id: str, view_id: str) -> tuple[list[tuple[str, str]], set[str]]:
    """The view's order, and the cards that have a position row in it (a move of those is an Update)."""
    cards = [Placed(row[0], row[1] or "") for row in await store.fetchall(LIVE_CARDS, (board_id,))]
    overrides = {row[0]: row[1] for row in await store.fetchall(
        "SELECT card_id, position FROM card_positions WHERE view_id = ? AND _deleted = 0", (view_id,))}
    return card_order(cards, overrides), set(overrides)


class BoardReader:
    """A board's content in the plugin's shape, read in a few queries whatever the number of cards."""

    def __init__(self, store: Any):
        self._store = store

    async def card_rows(self, board_id: str) -> list[sqlite3.Row]:
        return await self._store.fetchall(  # type: ignore[no-any-return]
            "SELECT * FROM cards WHERE board_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "ORDER BY position, id", (board_id,))

    async def card_row(self, card_id: str) -> sqlite3.Row | None:
        return await self._store.fetchone(  # type: ignore[no-any-return]
            "SELECT * FROM cards WHERE id = ? AND _deleted = 0", (card_id,))

    async def values(self, board_id: str, card_id: str | None = None) -> dict[str, dict[str, Any]]:
        """card id -> {property id: value}, without cleared values."""
        if card_id is None:
            rows = await self._store.fetchall(
                "SELECT v.card_id, v.property_id, v.value FROM card_values v JOIN cards c ON c.id = v.card_id "
                "WHERE c.board_id = ? AND v.value IS NOT NULL AND v.value != 'null'", (board_id,))
        else:
            rows = await self._store.fetchall(
                "SELECT card_id, property_id, value FROM card_values WHERE card_id = ? AND value IS NOT NULL "
                "AND value != 'null'", (card_id,))
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            out.setdefault(row[0], {})[row[1]] = loads(row[2], None)
        return out

    async def content_rows(self, board_id: str, parent_id: str | None = None) -> list[sqlite3.Row]:
        """Live content blocks (of live cards), each card's in its content order."""
        sql = ("SELECT b.* FROM blocks b JOIN cards c ON c.id = b.parent_id AND coalesce(c.delete_at, 0) = 0 "
               "WHERE b.board_id = ? AND b._deleted = 0 AND coalesce(b.delete_at, 0) = 0")
        params: tuple[str, ...] = (board_id,)
        if parent_id is not None:
            sql += " AND b.parent_id = ?"
            params += (parent_id,)
        return await self._store.fetchall(sql + " ORDER BY b.parent_id, b.position, b.id", params)  # type: ignore[no-any-return]

    async def content_order(self, board_id: str, card_id: str | None = None) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in await self.content_rows(board_id, card_id):
            if row["type"] != "comment":
                out.setdefault(row["parent_id"], []).append(row["id"])
        return out

    async def cards(self, board_id: str) -> list[dict[str, Any]]:
        values = await self.values(board_id)
        order = await self.content_order(board_id)
        return [card_json(row, values.get(row["id"], {}), order.get(row["id"], []))
                for row in await self.card_rows(board_id)]

    async def card(self, row: sqlite3.Row) -> dict[str, Any]:
        values = await self.values(row["board_id"], row["id"])
        order = await self.content_order(row["board_id"], row["id"])
        return card_json(row, values.get(row["id"], {}), order.get(row["id"], []))

    async def view_rows(self, board_id: str) -> list[sqlite3.Row]:
        return await self._store.fetchall(  # type: ignore[no-any-return]
            "SELECT * FROM board_views WHERE board_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "ORDER BY position, create_at, id", (board_id,))

    async def views(self, board_id: str) -> list[dict[str, Any]]:
        rows = await self.view_rows(board_id)
        if not rows:
            return []
        cards = [Placed(row[0], row[1] or "") for row in await self._store.fetchall(LIVE_CARDS, (board_id,))]
        overrides: dict[str, dict[str, str]] = {}
        for row in await self._store.fetchall(
                "SELECT p.view_id, p.card_id, p.position FROM card_positions p JOIN board_views v ON v.id = p.view_id "
                "WHERE v.board_id = ?", (board_id,)):
            overrides.setdefault(row[0], {})[row[1]] = row[2]
        return [view_block_json(row, [c for c, _ in card_order(cards, overrides.get(row["id"], {}))])
                for row in rows]

    async def blocks(self, board_id: str, *, parent_id: str | None = None, type_: str | None = None,
                     block_id: str | None = None) -> list[dict[str, Any]]:
        """GET /boards/{id}/blocks: cards, views and content, filtered as the plugin filters them."""
        out: list[dict[str, Any]] = []
        if type_ in (None, "card") and parent_id in (None, board_id):
            rows = {row["id"]: row for row in await self.card_rows(board_id)}
            out += [card_block_json(card, rows[card["id"]]) for card in await self.cards(board_id)]
        if type_ in (None, "view") and parent_id in (None, board_id):
            out += await self.views(board_id)
        if type_ not in ("card", "view"):
            out += [content_block_json(row) for row in await self.content_rows(board_id, parent_id)
                    if type_ is None or row["type"] == type_]
        if block_id is not None:
            out = [block for block in out if block["id"] == block_id]
        return out

    async def kinds(self, board_id: str, ids: Sequence[str]) -> dict[str, str]:
        """block id -> "card" | "view" | "block" for those of `ids` that belong to the board."""
        out: dict[str, str] = {}
        marks = ",".join("?" * len(ids))
        for kind, table in (("card", "cards"), ("view", "board_views"), ("block", "blocks")):
            for row in await self._store.fetchall(
                    f"SELECT id FROM {table} WHERE board_id = ? AND _deleted = 0 AND id IN ({marks})", (board_id, *ids)):
                out[row[0]] = kind
        return out
