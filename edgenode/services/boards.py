"""Boards: list, create, get, patch, delete, undelete, duplicate, search, templates, boards-and-blocks.

A board, its members and everything in it are written in the board's own feed scope
("board:<id>"), so need-to-know can send a private board only to nodes that host its members.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from crdt import Add, Create, Op, Update

from .boards_access import ROLE_NAMES, BoardAccess, Role, is_guest
from .boards_blocks import BlockService
from .boards_events import BoardEvents
from .boards_insert import BoardState, build_inserts
from .boards_json import (
    board_json,
    check_card_properties,
    check_fields,
    check_ref,
    check_title,
    loads,
    new_board_id,
)
from .boards_model import BOARD_KIND, MEMBER_KIND, board_scope, member_id
from .boards_templates import GLOBAL_TEAM, TEMPLATES, template_blocks, template_board
from .context import Context
from .errors import BadRequest, Forbidden, NotFound
from .membership import Memberships
from .users import Session

__all__ = ["BoardService"]

MAX_SEARCH = 64


def _choice(value: object, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise BadRequest(f"invalid {what}")
    assert isinstance(value, str)
    return value


class BoardService:
    def __init__(self, ctx: Context, members: Memberships, access: BoardAccess, blocks: BlockService,
                 events: BoardEvents, rng: random.Random | None = None):
        self._ctx = ctx
        self._members = members
        self._access = access
        self._blocks = blocks
        self._events = events
        self._rng = rng or random.Random()

    # -- reads --------------------------------------------------------------------------------

    async def list_for_team(self, team_id: str, session: Session) -> list[dict[str, Any]]:
        await self._access.require_team(team_id, session)
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM boards WHERE team_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "AND coalesce(is_template, 0) = 0 ORDER BY create_at, id", (team_id,))
        return [board_json(row) for row in rows if await self._access.may_see_listing(row, session)]

    async def search(self, team_id: str | None, query: str, session: Session) -> list[dict[str, Any]]:
        if len(query) > MAX_SEARCH:
            raise BadRequest(f"the search term is longer than {MAX_SEARCH} characters")
        if team_id is not None:
            await self._access.require_team(team_id, session)
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM boards WHERE (? IS NULL OR team_id = ?) AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "AND coalesce(is_template, 0) = 0 AND instr(lower(title), lower(?)) > 0 ORDER BY title, id",
            (team_id, team_id, query))
        return [board_json(row) for row in rows if await self._access.may_see_listing(row, session)]

    async def templates(self, team_id: str, session: Session) -> list[dict[str, Any]]:
        if team_id != GLOBAL_TEAM:
            await self._access.require_team(team_id, session)
        return [template_board(tid) for tid in TEMPLATES]

    async def get(self, board_id: str, session: Session) -> dict[str, Any]:
        if board_id in TEMPLATES:
            return template_board(board_id)
        board = await self._access.board(board_id)
        if not await self._access.may_see_listing(board, session):
            raise Forbidden("access denied to board")
        return board_json(board)

    # -- create -------------------------------------------------------------------------------

    async def _board_ops(self, body: Mapping[str, Any], session: Session, team_id: str) -> tuple[BoardState, list[Op]]:
        """A new board (fresh id) as an empty `BoardState` and its ops: the board and its creator as admin."""
        board_type = _choice(body.get("type", "O") or "O", ("O", "P"), "board type")
        if is_guest(session):
            raise Forbidden("access denied to create board")
        channel_id = body.get("channelId") or ""
        if channel_id:
            await self._check_channel(channel_id, team_id, session)
        minimum = _choice(body.get("minimumRole") or "", ["", *ROLE_NAMES], "minimumRole")
        properties = check_fields(body.get("properties"), "properties")
        card_properties = check_card_properties(body.get("cardProperties") or [])
        board_id, now, user = new_board_id("b"), self._ctx.now_ms(), session.user_id
        fields = {"team_id": team_id, "channel_id": channel_id, "created_by": user, "modified_by": user,
                  "type": board_type, "minimum_role": minimum, "title": check_title(body.get("title")),
                  "description": check_title(body.get("description"), "description"),
                  "icon": check_title(body.get("icon"), "icon")[:256],
                  "show_description": bool(body.get("showDescription", False)),
                  "is_template": bool(body.get("isTemplate", False)),
                  "template_version": int(body.get("templateVersion") or 0) if isinstance(
                      body.get("templateVersion", 0), int) else 0,
                  "properties": properties, "card_properties": card_properties,
                  "create_at": now, "update_at": now, "delete_at": 0}
        ops: list[Op] = [
            Create(BOARD_KIND, board_id, fields),
            Add("board.members", board_id, user),
            Create(MEMBER_KIND, member_id(board_id, user), {"board_id": board_id, "user_id": user,
                                                            "scheme_admin": True}, deps=[(BOARD_KIND, board_id)]),
        ]
        return BoardState(board_id, {p["id"]: p["type"] for p in card_properties}), ops

    async def _check_channel(self, channel_id: str, team_id: str, session: Session) -> None:
        row = await self._ctx.store.fetchone("SELECT team_id FROM channels WHERE id = ? AND _deleted = 0",
                                             (check_ref(channel_id, "channelId"),))
        if row is None or row[0] != team_id:
            raise BadRequest("the channel must be a channel of the board's team")
        if not session.is_system_admin and not await self._members.is_channel_member(channel_id, session.user_id):
            raise Forbidden("access denied to channel")

    async def create(self, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        if body.get("id"):
            raise BadRequest("a new board must not have an id")
        team_id = check_ref(body.get("teamId"), "teamId")
        await self._access.require_team(team_id, session)
        state, ops = await self._board_ops(body, session, team_id)
        await self._ctx.store.write(board_scope(state.board_id), ops)
        board = await self._access.board(state.board_id)
        await self._events.board_changed(board)
        return board_json(board)

    async def create_with_blocks(self, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        """POST /boards-and-blocks: boards (with placeholder ids) and blocks naming them, all at once."""
        boards, blocks = body.get("boards"), body.get("blocks") or []
        if not isinstance(boards, list) or not boards:
            raise BadRequest("at least one board is required")
        if not isinstance(blocks, list):
            raise BadRequest("blocks must be a list")
        teams = {b.get("teamId") if isinstance(b, dict) else None for b in boards}
        if len(teams) != 1:
            raise BadRequest("cannot create boards for multiple teams")
        team_id = check_ref(teams.pop(), "teamId")
        await self._access.require_team(team_id, session)
        written: list[tuple[str, list[Op]]] = []
        new_boards: list[str] = []
        new_blocks: list[str] = []
        refs: dict[str, str] = {}
        for board in boards:
            ref = check_ref(board.get("id"), "board id (boards need an ID to be referenced from the blocks)")
            state, ops = await self._board_ops(board, session, team_id)
            board_id = state.board_id
            refs[ref] = board_id
            mine = [b for b in blocks if isinstance(b, dict) and b.get("boardId") == ref]
            mine = [{**b, "boardId": board_id, "parentId": board_id if b.get("parentId") == ref else b.get("parentId")}
                    for b in mine]
            inserted = build_inserts(state, mine, session.user_id,
                                     self._ctx.now_ms(), self._rng)
            written.append((board_id, ops + inserted.ops))
            new_boards.append(board_id)
            new_blocks += inserted.new_ids
        if any(not isinstance(b, dict) or b.get("boardId") not in refs for b in blocks):
            raise BadRequest("every block must name one of the new boards")
        for board_id, ops in written:  # one write per board: each board is its own feed scope
            await self._ctx.store.write(board_scope(board_id), ops)
        out_boards = [board_json(await self._access.board(b)) for b in new_boards]
        out_blocks = [blk for b in new_boards for blk in await self._blocks.reader.blocks(b) if blk["id"] in new_blocks]
        return {"boards": out_boards, "blocks": out_blocks}

    async def duplicate(self, board_id: str, session: Session, *, as_template: bool, to_team: str | None,
                        ) -> dict[str, Any]:
        """A copy of a board (or a built-in template) with fresh ids, the caller its admin."""
        if board_id in TEMPLATES:
            source, blocks = template_board(board_id), template_blocks(board_id)
        else:
            row = await self._access.require(board_id, session, Role.VIEWER, "board")
            source, blocks = board_json(row), await self._blocks.reader.blocks(board_id)
        team_id = check_ref(to_team or source["teamId"], "toTeam")
        if team_id == GLOBAL_TEAM:
            raise BadRequest("choose a team for the new board (toTeam)")
        body = {**source, "id": "source", "teamId": team_id, "isTemplate": as_template, "channelId": ""}
        if source["isTemplate"] and not as_template:
            body["title"] = source["title"]
        comments = [b for b in blocks if b["type"] == "comment"]
        result = await self.create_with_blocks(
            {"boards": [body], "blocks": [{**b, "boardId": "source", "parentId": "" if b["type"] in ("card", "view")
                                           else b["parentId"]} for b in blocks if b not in comments]}, session)
        return result

    # -- patch, delete ------------------------------------------------------------------------

    async def patch(self, board_id: str, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        board = await self._access.require(board_id, session, Role.EDITOR, "modifying board properties")
        ops = await self._patch_ops(board, body, session)
        if ops:
            await self._ctx.store.write(board_scope(board_id), ops)
        board = await self._access.board(board_id)
        await self._events.board_changed(board)
        return board_json(board)

    async def patch_with_blocks(self, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        """PATCH /boards-and-blocks: {boardIDs, boardPatches, blockIDs, blockPatches}; every patch is
        checked before anything is written, then each board's ops are written at once."""
        board_ids, board_patches = body.get("boardIDs") or [], body.get("boardPatches") or []
        block_ids, block_patches = body.get("blockIDs") or [], body.get("blockPatches") or []
        if not all(isinstance(x, list) for x in (board_ids, board_patches, block_ids, block_patches)) \
                or len(board_ids) != len(board_patches) or len(block_ids) != len(block_patches):
            raise BadRequest("boardIDs/boardPatches and blockIDs/blockPatches must be lists of equal length")
        if len(set(map(str, board_ids))) != len(board_ids):
            raise BadRequest("a board is patched twice")
        boards = [await self._access.require(check_ref(b, "board id"), session, Role.EDITOR,
                                             "modifying board properties") for b in board_ids]
        if len({b["team_id"] for b in boards}) > 1:
            raise BadRequest("all boards should belong to the same team")
        writes: dict[str, list[Op]] = {b["id"]: [] for b in boards}
        for board, patch in zip(boards, board_patches):
            if not isinstance(patch, dict):
                raise BadRequest("each board patch must be an object")
            writes[board["id"]] += await self._patch_ops(board, patch, session)
        owners = {block: board_id for board_id in writes
                  for block in await self._blocks.reader.kinds(board_id, [check_ref(b, "block id") for b in block_ids])}
        for block_id, patch in zip(block_ids, block_patches):
            if block_id not in owners:
                raise BadRequest(f"block {block_id} is not in one of the patched boards")
        for board in boards:
            mine = [(i, p) for i, p in zip(block_ids, block_patches) if owners[i] == board["id"]]
            if mine:
                writes[board["id"]] += await self._blocks.patch_ops(board["id"], [i for i, _ in mine],
                                                                    [p for _, p in mine], session)
        for board_id, ops in writes.items():
            if ops:
                await self._ctx.store.write(board_scope(board_id), ops)
        out_boards = [board_json(await self._access.board(b["id"])) for b in boards]
        out_blocks = [blk for b in boards for blk in await self._blocks.reader.some_blocks(
            b["id"], [i for i in block_ids if owners[i] == b["id"]])]
        for board in boards:
            await self._events.board_changed(await self._access.board(board["id"]))
        return {"boards": out_boards, "blocks": out_blocks}

    async def delete_with_blocks(self, body: Mapping[str, Any], session: Session) -> None:
        """DELETE /boards-and-blocks: {boards, blocks}: boards need admin, blocks of them editor."""
        board_ids, block_ids = body.get("boards") or [], body.get("blocks") or []
        if not isinstance(board_ids, list) or not isinstance(block_ids, list) or not board_ids:
            raise BadRequest("boards must be a non-empty list of ids (and blocks a list)")
        boards = [await self._access.require(check_ref(b, "board id"), session, Role.ADMIN, "delete board")
                  for b in dict.fromkeys(board_ids)]
        if len({b["team_id"] for b in boards}) > 1:
            raise BadRequest("all boards should belong to the same team")
        owners = {block: (board["id"], kind) for board in boards
                  for block, kind in (await self._blocks.reader.kinds(
                      board["id"], [check_ref(b, "block id") for b in block_ids])).items()}
        missing = [b for b in block_ids if b not in owners]
        if missing:
            raise BadRequest(f"missing BoardID for block {missing[0]}")
        now = self._ctx.now_ms()
        for board in boards:
            ops: list[Op] = [Update(kind, block, {"delete_at": now, "update_at": now, "modified_by": session.user_id})
                             for block, (owner, kind) in owners.items() if owner == board["id"]]
            ops.append(Update(BOARD_KIND, board["id"], {"delete_at": now, "update_at": now,
                                                        "modified_by": session.user_id}))
            await self._ctx.store.write(board_scope(board["id"]), ops)
            await self._events.board_changed(await self._access.any_board(board["id"]))

    async def _patch_ops(self, board: sqlite3.Row, body: Mapping[str, Any], session: Session) -> list[Op]:
        board_id = board["id"]
        role = await self._access.role(board, session)
        if body.get("type") is not None and role < Role.ADMIN:
            raise Forbidden("access denied to modifying board type")
        if (body.get("minimumRole") is not None or body.get("channelId") is not None) and role < Role.ADMIN:
            raise Forbidden("access denied to modifying board access")
        fields: dict[str, Any] = {}
        if body.get("type") is not None:
            fields["type"] = _choice(body["type"], ("O", "P"), "board type")
        if body.get("minimumRole") is not None:
            fields["minimum_role"] = _choice(body["minimumRole"], ["", *ROLE_NAMES], "minimumRole")
        if body.get("channelId") is not None:
            if body["channelId"]:
                await self._check_channel(body["channelId"], board["team_id"], session)
            fields["channel_id"] = body["channelId"]
        for name, column in (("title", "title"), ("description", "description"), ("icon", "icon")):
            if body.get(name) is not None:
                fields[column] = check_title(body[name], name)
        if body.get("showDescription") is not None:
            fields["show_description"] = bool(body["showDescription"])
        properties = dict(loads(board["properties"], {}))
        updated = check_fields(body.get("updatedProperties"), "updatedProperties")
        deleted = body.get("deletedProperties") or []
        if updated or deleted:
            if not isinstance(deleted, list):
                raise BadRequest("deletedProperties must be a list")
            properties.update(updated)
            for name in deleted:
                properties.pop(name, None)
            fields["properties"] = check_fields(properties, "properties")
        if body.get("updatedCardProperties") or body.get("deletedCardProperties"):
            fields["card_properties"] = self._card_properties(board, body)
        if not fields:
            return []
        fields.update({"modified_by": session.user_id, "update_at": self._ctx.now_ms()})
        return [Update(BOARD_KIND, board_id, fields)]

    @staticmethod
    def _card_properties(board: sqlite3.Row, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        current = list(loads(board["card_properties"], []))
        updated = check_card_properties(body.get("updatedCardProperties") or [])
        deleted = body.get("deletedCardProperties") or []
        if not isinstance(deleted, list) or not all(isinstance(d, str) for d in deleted):
            raise BadRequest("deletedCardProperties must be a list of ids")
        by_id = {p["id"]: p for p in updated}
        merged = [by_id.pop(p["id"], p) for p in current if p["id"] not in deleted]
        merged += [p for p in updated if p["id"] in by_id]
        return check_card_properties(merged)

    async def set_deleted(self, board_id: str, session: Session, deleted: bool) -> None:
        what = "delete board" if deleted else "undelete board"
        board = await self._access.require(board_id, session, Role.ADMIN, what, deleted=not deleted)
        if not deleted and not int(board["delete_at"] or 0):
            return
        now = self._ctx.now_ms()
        await self._ctx.store.write(board_scope(board_id), [Update(BOARD_KIND, board_id, {
            "delete_at": now if deleted else 0, "update_at": now, "modified_by": session.user_id})])
        board = await self._access.any_board(board_id)
        await self._events.board_changed(board)

    async def require_template_or_board(self, board_id: str, session: Session) -> list[dict[str, Any]]:
        """GET blocks of a built-in template (any team member may read them)."""
        if board_id not in TEMPLATES:
            raise NotFound(f"board BoardID={board_id}")
        if is_guest(session):
            raise Forbidden("guest are not allowed to get board templates")
        return template_blocks(board_id)
