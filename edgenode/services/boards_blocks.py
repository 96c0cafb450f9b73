"""Blocks and cards of a board: insert, patch, delete and undelete, in Focalboard's shapes.

A patch writes only what differs from what this node holds: a client sends a card's whole property
map or a view's whole card order, and writing it back unchanged would overwrite, with a newer stamp,
what a peer changed concurrently. So two people editing different properties of one card, or
moving different cards, both keep their change.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from crdt import Create, Op, Update

from .boards_access import BoardAccess, Role
from .boards_events import BoardEvents
from .boards_insert import BoardState, build_inserts, flat_ids, view_columns
from .boards_json import (
    VIEW_COLUMNS,
    content_block_json,
    check_fields,
    check_ref,
    check_title,
    check_value,
    loads,
)
from .boards_loaded import LoadedBoards
from .boards_model import (
    BLOCK_KIND,
    BOARD_KIND,
    CARD_KIND,
    POSITION_KIND,
    VALUE_KIND,
    VIEW_KIND,
    Placed,
    board_scope,
    move_ops,
    moves,
    value_id,
)
from .boards_queries import BoardReader, view_card_order
from .boards_served import ServedOrders
from .context import Context
from .errors import BadRequest, Forbidden, NotFound
from .users import Session

__all__ = ["BlockService", "CONTENT_KINDS"]

CONTENT_KINDS = frozenset({BOARD_KIND, CARD_KIND, VALUE_KIND, VIEW_KIND, POSITION_KIND, BLOCK_KIND})
MAX_LOADED_BOARDS = 8

_TABLES = {"card": "cards", "view": "board_views", "block": "blocks"}
_KINDS = {"card": CARD_KIND, "view": VIEW_KIND, "block": BLOCK_KIND}


class BlockService:
    def __init__(self, ctx: Context, access: BoardAccess, events: BoardEvents, rng: random.Random | None = None):
        self._ctx = ctx
        self._access = access
        self.events = events
        self.reader = BoardReader(ctx.store)
        self._rng = rng or random.Random()
        # whole boards as sent, refreshed per block a commit touched (see boards_loaded)
        self._loaded = LoadedBoards(ctx.store, self.reader, max_boards=MAX_LOADED_BOARDS)
        # the card orders clients were given, to read their cardOrder patches as moves (see boards_served)
        self.served = ServedOrders()

    # -- reads --------------------------------------------------------------------------------

    async def get_blocks(self, board_id: str, session: Session, *, parent_id: str | None = None,
                   type_: str | None = None, block_id: str | None = None) -> list[dict[str, Any]]:
        await self._access.require(board_id, session, Role.VIEWER, "board")
        out = await self.reader.blocks(board_id, parent_id=parent_id or None, type_=type_ or None,
                                       block_id=block_id or None)
        self._remember_orders(out)
        return out

    def _remember_orders(self, blocks: Sequence[Mapping[str, Any]]) -> None:
        for block in blocks:
            if block["type"] == "view":
                self.served.remember(block["id"], block["fields"]["cardOrder"])

    async def all_blocks_json(self, board_id: str, session: Session) -> bytes:
        """GET /boards/{id}/blocks without filters, as JSON bytes (kept until the board changes)."""
        await self._access.require(board_id, session, Role.VIEWER, "board")

        answer = await self._loaded.blocks_json(board_id)
        for view_id, order in self._loaded.orders(board_id).items():
            self.served.remember(view_id, order)
        return answer

    async def state(self, board: sqlite3.Row | Mapping[str, Any]) -> BoardState:
        board_id = board["id"]
        types = {p["id"]: p.get("type", "") for p in loads(board["card_properties"], []) if isinstance(p, dict)}
        store = self._ctx.store
        rows = await store.fetchall("SELECT id, position, coalesce(delete_at, 0) FROM cards WHERE board_id = ? "
                                    "AND _deleted = 0", (board_id,))
        live = [Placed(r[0], r[1] or "") for r in rows if not r[2]]
        last = max((r[1] for r in rows if r[1]), default=None)
        content = {r[0]: r[1] for r in await store.fetchall(
            "SELECT parent_id, max(position) FROM blocks WHERE board_id = ? GROUP BY parent_id", (board_id,))}
        return BoardState(board_id, types, live, last, content, {c.id for c in live})

    # -- insert -------------------------------------------------------------------------------

    async def insert(self, board_id: str, blocks: Sequence[object], session: Session) -> list[dict[str, Any]]:
        """POST /boards/{id}/blocks: every block new (fresh ids); editors add content, commenters comments."""
        board = await self._access.require(board_id, session, Role.VIEWER, "board")
        inserted = build_inserts(await self.state(board), blocks, session.user_id, self._ctx.now_ms(), self._rng)
        role = await self._access.role(board, session)
        if inserted.has_contents and role < Role.EDITOR:
            raise _forbidden("access denied to make board changes")
        if inserted.has_comments and role < Role.COMMENTER:
            raise _forbidden("access denied to post card comments")
        if inserted.ops:
            await self._ctx.store.write(board_scope(board_id), inserted.ops)
        out = await self.reader.some_blocks(board_id, inserted.new_ids)
        rank = {block_id: i for i, block_id in enumerate(inserted.new_ids)}
        out.sort(key=lambda b: rank[b["id"]])
        await self.events.blocks_changed(board, out)
        return out

    async def duplicate(self, board_id: str, block_id: str, session: Session, *, as_template: bool,
                        ) -> list[dict[str, Any]]:
        """POST .../blocks/{id}/duplicate: a copy of a card (with its content) or of one block, fresh ids."""
        board = await self._access.require(board_id, session, Role.VIEWER, "board")
        found = await self.reader.some_blocks(board_id, [check_ref(block_id, "block id")])
        if not found:
            raise NotFound(f"block ID={block_id} on BoardID={board_id}")
        source = found[0]
        role = await self._access.role(board, session)
        if role < (Role.COMMENTER if source["type"] == "comment" else Role.EDITOR):
            raise Forbidden("access denied to modify board cards")
        blocks = [source]
        if source["type"] == "card":
            source = {**source, "fields": {**source["fields"], "isTemplate": as_template}}
            blocks = [source] + [content_block_json(r) for r in await self.reader.content_rows(board_id, block_id)]
        now = self._ctx.now_ms()
        copies = [{**b, "createAt": now, "updateAt": now} for b in blocks]
        inserted = build_inserts(await self.state(board), copies, session.user_id, now, self._rng, keep_times=False)
        await self._ctx.store.write(board_scope(board_id), inserted.ops)
        out = await self.reader.some_blocks(board_id, inserted.new_ids)
        await self.events.blocks_changed(board, out)
        return out

    # -- patch --------------------------------------------------------------------------------

    async def patch(self, board_id: str, block_id: str, patch: Mapping[str, Any], session: Session) -> None:
        await self.patch_many(board_id, [block_id], [patch], session)

    async def patch_many(self, board_id: str, block_ids: Sequence[object], patches: Sequence[object],
                         session: Session) -> None:
        """PATCH blocks: all patches are checked before anything is written, then written at once."""
        ops = await self.patch_ops(board_id, block_ids, patches, session)
        if ops:
            board = await self._access.board(board_id)
            await self._ctx.store.write(board_scope(board_id), ops)
            changed = await self.reader.some_blocks(board_id, [str(b) for b in block_ids])
            self._remember_orders(changed)  # what the websocket event tells every client
            await self.events.blocks_changed(board, changed)

    async def patch_ops(self, board_id: str, block_ids: Sequence[object], patches: Sequence[object],
                        session: Session) -> list[Op]:
        """The ops of block patches, every one checked (and nothing written)."""
        if len(block_ids) != len(patches):
            raise BadRequest("block_ids and block_patches must have the same length")
        board = await self._access.require(board_id, session, Role.EDITOR, "make board changes")
        ids = [check_ref(b, "block id") for b in block_ids]
        kinds = await self.reader.kinds(board_id, ids)
        ops: list[Op] = []
        now = self._ctx.now_ms()
        for block_id, patch in zip(ids, patches):
            if block_id not in kinds:
                raise NotFound(f"block BlockID={block_id}")
            if not isinstance(patch, dict):
                raise BadRequest("each block patch must be an object")
            ops += await self._patch_ops(board, kinds[block_id], block_id, patch, session.user_id, now)
        return ops

    async def _patch_ops(self, board: sqlite3.Row, kind: str, block_id: str, patch: Mapping[str, Any],
                         user_id: str, now: int) -> list[Op]:
        row = await self._ctx.store.fetchone(f"SELECT * FROM {_TABLES[kind]} WHERE id = ?", (block_id,))
        assert row is not None
        updated = check_fields(patch.get("updatedFields"), "updatedFields")
        deleted = patch.get("deletedFields") or []
        if not isinstance(deleted, list) or not all(isinstance(d, str) for d in deleted):
            raise BadRequest("deletedFields must be a list of names")
        if patch.get("type") not in (None, row["type"] if kind == "block" else kind):
            raise BadRequest("a block's type cannot change")
        parent = row["parent_id"] if kind == "block" else row["board_id"]
        if patch.get("parentId") not in (None, parent):
            raise BadRequest("a block cannot move to another parent")
        types = self._ctx.store.schema.entities[_KINDS[kind]].column_types
        fields: dict[str, Any] = {}
        if "title" in patch:
            title = check_title(patch["title"])
            if title != (row["title"] or ""):
                fields["title"] = title
        extra: list[Op] = []
        if kind == "card":
            fields.update(_changed(row, {"icon": updated.get("icon", row["icon"]),
                                         "is_template": bool(updated.get("isTemplate", row["is_template"]))}, types))
            if "properties" in updated:
                if not isinstance(updated["properties"], dict):
                    raise BadRequest("card properties must be an object")
                extra += await self.value_ops(board, block_id, updated["properties"], replace=True)
            if "contentOrder" in updated:
                extra += await self.content_moves(board["id"], block_id, updated["contentOrder"])
        elif kind == "view":
            columns = {VIEW_COLUMNS[k]: v for k, v in updated.items() if k in VIEW_COLUMNS}
            if "viewType" in updated:
                view_columns({"viewType": updated["viewType"]})
            current_extra = loads(row["extra"], {})
            new_extra = {**current_extra, **{k: v for k, v in updated.items()
                                             if k not in VIEW_COLUMNS and k != "cardOrder"}}
            for name in deleted:
                new_extra.pop(name, None)
                if name in VIEW_COLUMNS:
                    columns[VIEW_COLUMNS[name]] = None
            columns["extra"] = new_extra
            fields.update(_changed(row, columns, types))
            if "cardOrder" in updated:
                current = await view_card_order(self._ctx.store, board["id"], block_id)
                wanted = flat_ids(updated["cardOrder"])
                ids = [card for card, _ in current]
                desired = self.served.desired(block_id, wanted, ids)
                live = set(ids)  # the client's order from now on (its next move or its undo starts there)
                self.served.remember(block_id, [c for c in dict.fromkeys(wanted) if c in live])
                extra += move_ops(block_id, moves(current, desired, self._rng))
        else:
            merged = {**loads(row["fields"], {}), **updated}
            for name in deleted:
                merged.pop(name, None)
            fields.update(_changed(row, {"fields": check_fields(merged)}, types))
        if not fields and (not extra or kind == "view"):
            # a move alone writes only positions: the view itself did not change, and a move stays small
            return extra
        return [Update(_KINDS[kind], block_id, {**fields, "modified_by": user_id, "update_at": now}), *extra]

    async def value_ops(self, board: sqlite3.Row, card_id: str, properties: Mapping[str, Any], *,
                         replace: bool) -> list[Op]:
        """Registers for the property values that differ; with `replace`, values missing are cleared."""
        types = {p["id"]: p.get("type", "") for p in loads(board["card_properties"], []) if isinstance(p, dict)}
        current = (await self.reader.values(board["id"], card_id)).get(card_id, {})
        wanted = dict(properties)
        if replace:
            wanted = {**{k: None for k in current}, **wanted}
        ops: list[Op] = []
        for prop, value in sorted(wanted.items()):
            check_ref(prop, "property id")
            value = check_value(value, types.get(prop), prop)
            if current.get(prop) != value:
                ops.append(Create(VALUE_KIND, value_id(card_id, prop), {
                    "card_id": card_id, "property_id": prop, "value": value}, deps=[(CARD_KIND, card_id)]))
        return ops

    async def content_moves(self, board_id: str, card_id: str, order: object) -> list[Op]:
        rows = await self.reader.content_rows(board_id, card_id)
        current = [(r["id"], r["position"] or "") for r in rows if r["type"] != "comment"]
        assigned = moves(current, flat_ids(order), self._rng)
        return [Update(BLOCK_KIND, block, {"position": key}) for block, key in sorted(assigned.items())]

    # -- delete and undelete ------------------------------------------------------------------

    async def set_deleted(self, board_id: str, block_id: str, session: Session, deleted: bool) -> dict[str, Any] | None:
        """DELETE a block (a tombstone register; an edit never clears it), or undelete it."""
        board = await self._access.require(board_id, session, Role.VIEWER, "board")
        check_ref(block_id, "block id")
        kinds = await self.reader.kinds(board_id, [block_id])
        if block_id not in kinds:
            raise NotFound(f"block BlockID={block_id}")
        kind = kinds[block_id]
        row = await self._ctx.store.fetchone(f"SELECT * FROM {_TABLES[kind]} WHERE id = ?", (block_id,))
        assert row is not None
        role = await self._access.role(board, session)
        own_comment = kind == "block" and row["type"] == "comment" and row["created_by"] == session.user_id
        if role < Role.EDITOR and not (own_comment and role >= Role.COMMENTER):
            raise _forbidden("access denied to make board changes")
        if bool(int(row["delete_at"] or 0)) != deleted:
            now = self._ctx.now_ms()
            await self._ctx.store.write(board_scope(board_id), [Update(_KINDS[kind], block_id, {
                "delete_at": now if deleted else 0, "update_at": now, "modified_by": session.user_id})])
        await self.events.block_deleted(board, block_id, kind, deleted)
        if deleted:
            return None
        found = await self.reader.blocks(board_id, block_id=block_id)
        return found[0] if found else None


def _changed(row: sqlite3.Row, columns: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """The columns whose value differs from the row's (JSON columns compared decoded)."""
    out: dict[str, Any] = {}
    for name, value in columns.items():
        held = row[name]
        if types[name] == "JSON":
            held = loads(held, None)
        elif types[name] == "BOOL":
            held = None if held is None else bool(held)
        if held != value and not (held is None and value in ("", None, False)):
            out[name] = value
    return out


def _forbidden(message: str) -> Exception:
    return Forbidden(message)
