"""The cards routes of the plugin (POST/GET /boards/{id}/cards, GET/PATCH /cards/{id}) over the block service."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from crdt import Op, Update

from .boards_access import BoardAccess, Role
from .boards_blocks import BlockService
from .boards_insert import build_inserts
from .boards_json import check_ref, check_title
from .boards_model import CARD_KIND, board_scope
from .boards_queries import BoardReader
from .context import Context
from .errors import BadRequest
from .users import Session

__all__ = ["CardService"]

MAX_PER_PAGE = 1000


class CardService:
    def __init__(self, ctx: Context, access: BoardAccess, blocks: BlockService, rng: random.Random | None = None):
        self._ctx = ctx
        self._access = access
        self._blocks = blocks
        self._reader = BoardReader(ctx.store)
        self._rng = rng or random.Random()

    async def create(self, board_id: str, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        board = await self._access.require(board_id, session, Role.EDITOR, "create card")
        now = self._ctx.now_ms()
        block = {"id": "card", "type": "card", "boardId": board_id, "parentId": board_id, "createAt": now,
                 "updateAt": now, "title": body.get("title"),
                 "fields": {"icon": body.get("icon"), "properties": body.get("properties") or {},
                            "isTemplate": bool(body.get("isTemplate", False)),
                            "contentOrder": body.get("contentOrder") or []}}
        inserted = build_inserts(await self._blocks.state(board), [block], session.user_id, now, self._rng)
        await self._ctx.store.write(board_scope(board_id), inserted.ops)
        card = await self.get_row(inserted.new_ids[0])
        out = await self._reader.card(card)
        await self._blocks.events.blocks_changed(board, await self._reader.blocks(board_id, block_id=card["id"]))
        return out

    async def list_cards(self, board_id: str, session: Session, page: int, per_page: int) -> list[dict[str, Any]]:
        await self._access.require(board_id, session, Role.VIEWER, "fetch cards")
        if page < 0 or not 0 < per_page <= MAX_PER_PAGE:
            raise BadRequest("invalid page or per_page")
        cards = await self._reader.cards(board_id)
        return cards[page * per_page:(page + 1) * per_page]

    async def get_row(self, card_id: str) -> Any:
        row = await self._reader.card_row(check_ref(card_id, "card id"))
        if row is None or int(row["delete_at"] or 0):
            raise BadRequest(f"could not fetch card {card_id}")
        return row

    async def get(self, card_id: str, session: Session) -> dict[str, Any]:
        row = await self.get_row(card_id)
        # the plugin asks for the card-editing permission here, not just viewing
        await self._access.require(row["board_id"], session, Role.EDITOR, "fetch card")
        return await self._reader.card(row)

    async def patch(self, card_id: str, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        """CardPatch: title, icon, contentOrder, and updatedProperties merged into the card's values."""
        row = await self.get_row(card_id)
        board = await self._access.require(row["board_id"], session, Role.EDITOR, "patch card")
        fields: dict[str, Any] = {}
        if body.get("title") is not None:
            fields["title"] = check_title(body["title"])
        if body.get("icon") is not None:
            if not isinstance(body["icon"], str) or len(body["icon"]) > 256:
                raise BadRequest("Icon can have only one grapheme")
            fields["icon"] = body["icon"]
        updated = body.get("updatedProperties") or {}
        if not isinstance(updated, dict):
            raise BadRequest("updatedProperties must be an object")
        ops: list[Op] = await self._blocks.value_ops(board, card_id, updated, replace=False)
        if body.get("contentOrder") is not None:
            ops += await self._blocks.content_moves(board["id"], card_id, body["contentOrder"])
        fields = {k: v for k, v in fields.items() if v != (row[k] or "")}
        if fields or ops:
            now = self._ctx.now_ms()
            ops.insert(0, Update(CARD_KIND, card_id, {**fields, "modified_by": session.user_id, "update_at": now}))
            await self._ctx.store.write(board_scope(board["id"]), ops)
            await self._blocks.events.blocks_changed(board, await self._reader.blocks(board["id"], block_id=card_id))
        return await self._reader.card(await self.get_row(card_id))
