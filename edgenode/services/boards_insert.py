"""Turning blocks a client sends (POST blocks, cards, boards-and-blocks, duplicate, templates) into ops.

Pure: the caller reads what the board holds into a `BoardState` and writes the ops in one
`Store.write`. As in Focalboard, every block gets a fresh id and references inside the batch
(parentId, contentOrder, cardOrder) follow the new ids. A card or view hangs from the board; content
hangs from a card of the same board, existing or in the batch, so parentId can never form a cycle.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crdt import Create, Op

from .boards_json import (
    BLOCK_TYPES,
    CONTENT_TYPES,
    VIEW_COLUMNS,
    VIEW_TYPES,
    check_fields,
    check_ref,
    check_title,
    check_value,
    new_board_id,
)
from .boards_model import (
    BLOCK_KIND,
    BOARD_KIND,
    CARD_KIND,
    VALUE_KIND,
    VIEW_KIND,
    Placed,
    append_keys,
    card_order,
    move_ops,
    moves,
    value_id,
)
from .errors import BadRequest

__all__ = ["BoardState", "Inserted", "build_inserts", "flat_ids", "view_columns", "MAX_BATCH"]

MAX_BATCH = 1000
_LETTER = {"card": "c", "view": "v"}


@dataclass(slots=True)
class BoardState:
    """What the insert needs to know of a board: its property types and its live cards and cards' content."""

    board_id: str
    property_types: dict[str, str]
    cards: list[Placed] = field(default_factory=list)  # live cards with their default keys
    last_card_key: str | None = None  # of any card ever, so a new card goes after all of them
    content_last: dict[str, str] = field(default_factory=dict)  # card id -> last content key
    live_cards: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Inserted:
    ops: list[Op]
    ids: dict[str, str]  # client id -> new id
    new_ids: list[str]   # in the order given
    has_comments: bool
    has_contents: bool


def view_columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A view's fields as columns; those without a column of their own go to `extra` (an LWW map)."""
    view_type = fields.get("viewType", "board")
    if view_type not in VIEW_TYPES:
        raise BadRequest(f"unknown viewType {view_type!r}")
    columns: dict[str, Any] = {}
    for name, column in VIEW_COLUMNS.items():
        if name in fields:
            columns[column] = fields[name]
    columns["view_type"] = view_type
    columns["extra"] = {k: v for k, v in fields.items() if k not in VIEW_COLUMNS and k != "cardOrder"}
    return columns


def _int(value: object, what: str) -> int:
    if type(value) is not int or value < 1 or value >= 2**53:
        raise BadRequest(f"invalid {what}")
    return value


def build_inserts(state: BoardState, blocks: Sequence[object], user_id: str, now: int, rng: random.Random,
                  *, keep_times: bool = True) -> Inserted:
    if len(blocks) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} blocks at once")
    board = state.board_id
    parsed: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for block in blocks:
        if not isinstance(block, dict):
            raise BadRequest("each block must be an object")
        type_ = block.get("type")
        if not isinstance(type_, str) or not type_:
            raise BadRequest(f"missing type for block id {block.get('id')}")
        if type_ not in BLOCK_TYPES:
            raise BadRequest(f"unknown type {type_!r} for block id {block.get('id')}")
        _int(block.get("createAt"), f"createAt for block id {block.get('id')}")
        _int(block.get("updateAt"), f"UpdateAt for block id {block.get('id')}")
        if block.get("boardId") != board:
            raise BadRequest(f"invalid BoardID for block id {block.get('id')}")
        old = check_ref(block.get("id") or f"new{len(parsed)}", "block id")
        if old in ids:
            raise BadRequest(f"block id {old} is given twice")
        ids[old] = new_board_id(_LETTER.get(type_, "a"))
        parsed.append({**block, "id": old, "title": check_title(block.get("title")),
                       "fields": check_fields(block.get("fields"))})
    new_cards = {ids[b["id"]] for b in parsed if b["type"] == "card"}
    ops: list[Op] = []
    card_keys = append_keys(state.last_card_key, len(new_cards), now, rng)
    placed = list(state.cards)
    content: dict[str, list[tuple[int, str]]] = {}  # card -> (rank, new block id)
    views: list[tuple[str, list[str]]] = []
    card_content_order: dict[str, list[str]] = {}
    times = {"create_at": now, "update_at": now, "delete_at": 0}
    for index, block in enumerate(parsed):
        new = ids[block["id"]]
        type_, fields = block["type"], block["fields"]
        stamp_times = {**times, "create_at": int(block["createAt"]) if keep_times else now}
        who = {"created_by": user_id, "modified_by": user_id}
        parent = ids.get(block.get("parentId") or "", block.get("parentId") or board)
        if type_ in ("card", "view"):
            if parent != board:
                raise BadRequest(f"a {type_} must hang from its board, not {parent}")
            if type_ == "card":
                key = card_keys.pop(0)
                placed.append(Placed(new, key))
                ops.append(Create(CARD_KIND, new, {
                    "board_id": board, "title": block["title"], "icon": _str(fields.get("icon"), "icon"),
                    "is_template": bool(fields.get("isTemplate", False)), "position": key, **who, **stamp_times},
                    deps=[(BOARD_KIND, board)]))
                properties = fields.get("properties") or {}
                if not isinstance(properties, dict):
                    raise BadRequest("card properties must be an object")
                for prop, value in sorted(properties.items()):
                    check_ref(prop, "property id")
                    value = check_value(value, state.property_types.get(prop), prop)
                    if value is not None:
                        ops.append(Create(VALUE_KIND, value_id(new, prop), {
                            "card_id": new, "property_id": prop, "value": value}, deps=[(CARD_KIND, new)]))
                order = fields.get("contentOrder") or []
                card_content_order[new] = [ids.get(i, i) for i in flat_ids(order)]
            else:
                ops.append(Create(VIEW_KIND, new, {
                    "board_id": board, "title": block["title"], "position": f"{index:06d}",
                    **view_columns(fields), **who, **stamp_times}, deps=[(BOARD_KIND, board)]))
                order = fields.get("cardOrder") or []
                views.append((new, [ids.get(i, i) for i in flat_ids(order)]))
            continue
        if parent == new:
            raise BadRequest(f"block {block['id']} cannot be its own parent")
        if parent not in new_cards and parent not in state.live_cards:
            raise BadRequest(f"the parent of block {block['id']} must be a card of this board")
        content.setdefault(parent, []).append((index, new))
        ops.append(Create(BLOCK_KIND, new, {
            "board_id": board, "parent_id": parent, "type": type_, "title": block["title"], "fields": fields,
            "position": "", **who, **stamp_times}, deps=[(BOARD_KIND, board)] + (
                [(CARD_KIND, parent)] if parent in new_cards or parent in state.live_cards else [])))
    positions = _content_positions(state, content, card_content_order, now, rng)
    ops = [_with_position(op, positions) for op in ops]
    current = card_order(placed, {})
    for view, desired in views:
        ops += move_ops(view, moves(current, desired, rng))
    return Inserted(ops, ids, [ids[b["id"]] for b in parsed],
                    has_comments=any(b["type"] == "comment" for b in parsed),
                    has_contents=any(b["type"] != "comment" for b in parsed))


def _str(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 256:
        raise BadRequest(f"invalid {what}")
    return value


def flat_ids(order: object) -> list[str]:
    """contentOrder/cardOrder as ids (Focalboard allows nested lists for side-by-side content)."""
    if not isinstance(order, list):
        raise BadRequest("an order must be a list of ids")
    out: list[str] = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list) and all(isinstance(i, str) for i in item):
            out.extend(item)
        else:
            raise BadRequest("an order must be a list of ids")
    return out


def _content_positions(state: BoardState, content: dict[str, list[tuple[int, str]]],
                       orders: Mapping[str, list[str]], now: int, rng: random.Random) -> dict[str, str]:
    """New content blocks go after the card's existing content, in the card's contentOrder if it names them."""
    out: dict[str, str] = {}
    for card, blocks in content.items():
        rank = {block: i for i, block in enumerate(orders.get(card, []))}
        ordered = sorted(blocks, key=lambda b: (rank.get(b[1], len(rank)), b[0]))
        for (_, block), key in zip(ordered, append_keys(state.content_last.get(card), len(ordered), now, rng)):
            out[block] = key
    return out


def _with_position(op: Op, positions: Mapping[str, str]) -> Op:
    if isinstance(op, Create) and op.kind == BLOCK_KIND:
        fields = dict(op.fields)
        fields["position"] = positions[op.id]
        return Create(op.kind, op.id, fields, op.deps)
    return op
