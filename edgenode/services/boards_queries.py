"""Reads of board data shared by the board services, the convergence tests and the benchmark."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from .boards_json import card_block_json, card_json, content_block_json, loads, view_block_json
from .boards_model import Placed, card_order, position_range

__all__ = ["LIVE_CARDS", "view_card_order", "view_positions", "BoardReader"]

LIVE_CARDS = "SELECT id, position FROM cards WHERE board_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0"


async def view_positions(store: Any, view_id: str) -> dict[str, str]:
    """card id -> key, for the cards moved in the view (a range of position ids, see boards_model)."""
    low, high = position_range(view_id)
    return {row[0]: row[1] for row in await store.fetchall(
        "SELECT substr(id, ?), position FROM card_positions WHERE id >= ? AND id < ? AND _deleted = 0",
        (len(low) + 1, low, high))}


async def view_card_order(store: Any, board_id: str, view_id: str) -> list[tuple[str, str]]:
    """(card id, key) of every live card of the board, in the order of the view."""
    cards = [Placed(row[0], row[1] or "") for row in await store.fetchall(LIVE_CARDS, (board_id,))]
    return card_order(cards, await view_positions(store, view_id))


_CARD_ROWS = """
WITH vals AS (
  SELECT card_id, json_group_object(property_id, json(value)) AS props FROM (
    SELECT v.card_id, v.property_id, v.value FROM card_values v
    JOIN cards c ON c.id = v.card_id WHERE c.board_id = :board AND v.value IS NOT NULL AND v.value != 'null' {values}
    ORDER BY v.card_id, v.property_id)
  GROUP BY card_id),
content AS (
  SELECT parent_id, json_group_array(id) AS ids FROM (
    SELECT parent_id, id FROM blocks WHERE board_id = :board AND _deleted = 0 AND coalesce(delete_at, 0) = 0
    AND type != 'comment' {content} ORDER BY parent_id, position, id)
  GROUP BY parent_id)
SELECT c.id, c.position, json_object(
    'id', c.id, 'parentId', c.board_id, 'boardId', c.board_id, 'createdBy', coalesce(c.created_by, ''),
    'modifiedBy', coalesce(c.modified_by, ''), 'schema', 1, 'type', 'card', 'title', coalesce(c.title, ''),
    'fields', json_object(
      'contentOrder', json(coalesce(content.ids, '[]')),
      'icon', coalesce(c.icon, ''),
      'isTemplate', json(CASE WHEN c.is_template THEN 'true' ELSE 'false' END),
      'properties', json(coalesce(vals.props, '{{}}'))),
    'createAt', coalesce(c.create_at, 0), 'updateAt', coalesce(c.update_at, 0),
    'deleteAt', coalesce(c.delete_at, 0)) AS card
  FROM cards c LEFT JOIN vals ON vals.card_id = c.id LEFT JOIN content ON content.parent_id = c.id
  WHERE c.board_id = :board AND c._deleted = 0 AND coalesce(c.delete_at, 0) = 0 {cards} ORDER BY c.position, c.id
"""
"""Live cards as (id, position, `card` block JSON), built by SQLite's JSON functions: for a board of
thousands of cards several times faster than building and serialising the same objects in Python.
Property values are grouped in (card, property) order, so a card's JSON text is the same whether it is
built alone or with the whole board (the kept fragments of boards_loaded rely on that)."""

_SOME = "IN (SELECT value FROM json_each(:ids))"
_CARDS_JSON = ("SELECT '[' || coalesce(group_concat(card, ','), '') || ']' FROM ("
               + _CARD_ROWS.format(values="", content="", cards="") + ")")
"""Every live card as a `card` block, joined as text in order (so the cards are not parsed again)."""
_SOME_CARD_ROWS = _CARD_ROWS.format(values=f"AND v.card_id {_SOME}", content=f"AND parent_id {_SOME}",
                                    cards=f"AND c.id {_SOME}")
_ALL_CARD_ROWS = _CARD_ROWS.format(values="", content="", cards="")

_VIEW_ORDER_JSON = """
SELECT '[' || coalesce(group_concat(json_quote(id), ','), '') || ']' FROM (
  SELECT c.id FROM cards c LEFT JOIN card_positions p ON p.id = :view || ':' || c.id AND p._deleted = 0
  WHERE c.board_id = :board AND c._deleted = 0 AND coalesce(c.delete_at, 0) = 0
  ORDER BY coalesce(p.position, c.position, ''), c.id)
"""
"""A view's card order as JSON text, the order `card_order` defines (ASCII keys and ids sort the same
in SQLite's BINARY collation as in Python)."""


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

    @staticmethod
    def _content_order(rows: list[sqlite3.Row]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in rows:
            if row["type"] != "comment":
                out.setdefault(row["parent_id"], []).append(row["id"])
        return out

    async def content_order(self, board_id: str, card_id: str | None = None) -> dict[str, list[str]]:
        return self._content_order(await self.content_rows(board_id, card_id))

    async def cards(self, board_id: str, rows: list[sqlite3.Row] | None = None,
                    content: list[sqlite3.Row] | None = None) -> list[dict[str, Any]]:
        rows = await self.card_rows(board_id) if rows is None else rows
        values = await self.values(board_id)
        order = self._content_order(await self.content_rows(board_id) if content is None else content)
        return [card_json(row, values.get(row["id"], {}), order.get(row["id"], [])) for row in rows]

    async def card(self, row: sqlite3.Row) -> dict[str, Any]:
        values = await self.values(row["board_id"], row["id"])
        order = await self.content_order(row["board_id"], row["id"])
        return card_json(row, values.get(row["id"], {}), order.get(row["id"], []))

    async def view_rows(self, board_id: str) -> list[sqlite3.Row]:
        return await self._store.fetchall(  # type: ignore[no-any-return]
            "SELECT * FROM board_views WHERE board_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "ORDER BY position, create_at, id", (board_id,))

    async def views(self, board_id: str, cards: list[Placed] | None = None) -> list[dict[str, Any]]:
        rows = await self.view_rows(board_id)
        if not rows:
            return []
        if cards is None:
            cards = [Placed(row[0], row[1] or "") for row in await self._store.fetchall(LIVE_CARDS, (board_id,))]
        return [view_block_json(row, [c for c, _ in card_order(cards, await view_positions(self._store, row["id"]))])
                for row in rows]

    async def blocks(self, board_id: str, *, parent_id: str | None = None, type_: str | None = None,
                     block_id: str | None = None) -> list[dict[str, Any]]:
        """GET /boards/{id}/blocks: cards, views and content, filtered as the plugin filters them."""
        if block_id is not None:
            return [b for b in await self.some_blocks(board_id, [block_id])
                    if type_ in (None, b["type"]) and parent_id in (None, b["parentId"])]
        out: list[dict[str, Any]] = []
        wants_cards = type_ in (None, "card") and parent_id in (None, board_id)
        wants_views = type_ in (None, "view") and parent_id in (None, board_id)
        wants_content = type_ not in ("card", "view")
        rows = await self.card_rows(board_id) if wants_cards else []
        content = await self.content_rows(board_id) if wants_cards or wants_content else []
        if wants_cards:
            by_id = {row["id"]: row for row in rows}
            out += [card_block_json(card, by_id[card["id"]]) for card in await self.cards(board_id, rows, content)]
        if wants_views:
            out += await self.views(board_id, [Placed(row["id"], row["position"] or "") for row in rows]
                                    if wants_cards else None)
        if wants_content:
            out += [content_block_json(row) for row in content
                    if (parent_id is None or row["parent_id"] == parent_id) and (type_ is None or row["type"] == type_)]
        if block_id is not None:
            out = [block for block in out if block["id"] == block_id]
        return out

    async def some_blocks(self, board_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The live blocks of the board among `ids` (cards, views, content), without reading the others."""
        kinds = await self.kinds(board_id, ids)
        wanted = set(ids)
        out: list[dict[str, Any]] = []
        for card_id in [i for i in ids if kinds.get(i) == "card"]:
            row = await self.card_row(card_id)
            if row is not None and not int(row["delete_at"] or 0):
                out.append(card_block_json(await self.card(row), row))
        if any(kind == "view" for kind in kinds.values()):
            out += [view for view in await self.views(board_id) if view["id"] in wanted]
        blocks = [i for i in ids if kinds.get(i) == "block"]
        if blocks:
            marks = ",".join("?" * len(blocks))
            rows = await self._store.fetchall(
                f"SELECT * FROM blocks WHERE id IN ({marks}) AND _deleted = 0 AND coalesce(delete_at, 0) = 0", blocks)
            out += [content_block_json(row) for row in rows]
        return out

    async def card_fragments(self, board_id: str, ids: Sequence[str] | None = None,
                             ) -> list[tuple[str, str | None, str]]:
        """(card id, position, `card` block JSON) of the board's live cards (among `ids` if given)."""
        if ids is None:
            rows = await self._store.fetchall(_ALL_CARD_ROWS, {"board": board_id})
        else:
            rows = await self._store.fetchall(_SOME_CARD_ROWS, {"board": board_id, "ids": json.dumps(list(ids))})
        return [(row[0], row[1], row[2]) for row in rows]

    async def view_order_json(self, board_id: str, view_id: str) -> str:
        row = await self._store.fetchone(_VIEW_ORDER_JSON, {"board": board_id, "view": view_id})
        return row[0] if row is not None and row[0] else "[]"

    @staticmethod
    def view_json(view: sqlite3.Row, order_json: str) -> str:
        """A view block as JSON text, its cardOrder given as JSON text (see view_order_json)."""
        marker = "\u0000order\u0000"
        text = json.dumps(view_block_json(view, [marker]), ensure_ascii=False, separators=(",", ":"))
        return text.replace(json.dumps([marker]), order_json, 1)

    async def content_json(self, board_id: str) -> str:
        """The live content blocks, as the inside of a JSON list (no brackets)."""
        content = [content_block_json(r) for r in await self.content_rows(board_id)]
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"))[1:-1]

    async def blocks_json(self, board_id: str) -> bytes:
        """The unfiltered `blocks` as JSON text: the same blocks, in the same order."""
        row = await self._store.fetchone(_CARDS_JSON, {"board": board_id})
        parts = [(row[0] if row is not None and row[0] else "[]")[1:-1]]
        for view in await self.view_rows(board_id):
            parts.append(self.view_json(view, await self.view_order_json(board_id, view["id"])))
        parts.append(await self.content_json(board_id))
        return ("[" + ",".join(p for p in parts if p) + "]").encode()

    async def kinds(self, board_id: str, ids: Sequence[str]) -> dict[str, str]:
        """block id -> "card" | "view" | "block" for those of `ids` that belong to the board."""
        out: dict[str, str] = {}
        marks = ",".join("?" * len(ids))
        for kind, table in (("card", "cards"), ("view", "board_views"), ("block", "blocks")):
            for row in await self._store.fetchall(
                    f"SELECT id FROM {table} WHERE board_id = ? AND _deleted = 0 AND id IN ({marks})", (board_id, *ids)):
                out[row[0]] = kind
        return out
