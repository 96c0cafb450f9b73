"""Board members: list, add, update roles, remove, join and leave (Focalboard's members.go).

Membership is the add-wins OR-set "board.members"; roles are LWW registers on a board_member row
(id "board:user"), so a member added offline on one side and given a role on the other ends with
both. A board keeps at least one admin as seen by the node that removes one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from crdt import Create, Op

from .boards_access import ROLE_NAMES, BoardAccess, Role, is_guest
from .boards_events import BoardEvents
from .boards_json import check_ref, member_json
from .boards_model import BOARD_KIND, MEMBER_KIND, board_scope, member_id
from .context import Context
from .errors import BadRequest, Forbidden, NotFound
from .membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships
from .users import Session

__all__ = ["BoardMemberService"]

_FLAGS = ("scheme_admin", "scheme_editor", "scheme_commenter", "scheme_viewer")


def _scheme(body: Mapping[str, Any]) -> dict[str, bool]:
    """The one role a member body asks for (the highest flag set; viewer when none)."""
    flags = {"scheme_admin": "schemeAdmin", "scheme_editor": "schemeEditor",
             "scheme_commenter": "schemeCommenter", "scheme_viewer": "schemeViewer"}
    for column, name in flags.items():
        if not isinstance(body.get(name, False), bool):
            raise BadRequest(f"{name} must be true or false")
    chosen = next((c for c, n in flags.items() if body.get(n)), "scheme_viewer")
    return {column: column == chosen for column in _FLAGS}


class BoardMemberService:
    def __init__(self, ctx: Context, members: Memberships, access: BoardAccess, events: BoardEvents):
        self._ctx = ctx
        self._members = members
        self._access = access
        self._events = events

    async def _attrs(self, board_id: str, user_id: str) -> sqlite3.Row | None:
        return await self._ctx.store.fetchone(
            "SELECT * FROM board_member_attrs WHERE id = ? AND _deleted = 0", (member_id(board_id, user_id),))

    async def member(self, board: sqlite3.Row, user_id: str) -> dict[str, Any]:
        return member_json(board, user_id, await self._attrs(board["id"], user_id))

    async def list_members(self, board_id: str, session: Session) -> list[dict[str, Any]]:
        board = await self._access.require(board_id, session, Role.VIEWER, "board members")
        store = self._ctx.store
        explicit = [r[0] for r in await store.fetchall(
            "SELECT user_id FROM board_members WHERE board_id = ? ORDER BY user_id", (board_id,))]
        out = [await self.member(board, user) for user in explicit]
        if board["channel_id"]:
            for row in await store.fetchall(
                    f"SELECT m.user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m JOIN users u ON u.id = m.user_id "
                    "WHERE m.channel_id = ? AND coalesce(u.is_bot, 0) = 0 AND instr(u.roles, 'system_guest') = 0 "
                    "ORDER BY m.user_id", (board["channel_id"],)):
                if row[0] not in explicit:
                    out.append(member_json(board, row[0], None, synthetic=True))
        return out

    async def _write_member(self, board: sqlite3.Row, user_id: str, scheme: Mapping[str, bool], add: bool) -> None:
        ops: list[Op] = []
        if add:
            ops.append(self._members.add("board.members", board["id"], user_id))
        ops.append(Create(MEMBER_KIND, member_id(board["id"], user_id), {"board_id": board["id"], "user_id": user_id,
                                                                         **scheme}, deps=[(BOARD_KIND, board["id"])]))
        await self._ctx.store.write(board_scope(board["id"]), ops)

    async def add(self, board_id: str, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        board = await self._access.require(board_id, session, Role.VIEWER, "board")
        role = await self._access.role(board, session)
        if role < Role.ADMIN and not (board["type"] == "O" and role >= Role.EDITOR):
            raise Forbidden("access denied to modify board members")
        user_id = body.get("userId")
        if not user_id:
            raise BadRequest("empty userID")
        user_id = check_ref(user_id, "userId")
        if not await self._members.is_team_member(board["team_id"], user_id):
            raise Forbidden("access denied to team")
        if await self._access.is_explicit_member(board_id, user_id):
            return await self.member(board, user_id)
        scheme = _scheme(body)
        if scheme["scheme_admin"] and role < Role.ADMIN:
            raise Forbidden("access denied to modify board members")
        await self._write_member(board, user_id, scheme, add=True)
        out = await self.member(board, user_id)
        await self._events.member_changed(board, out)
        return out

    async def update(self, board_id: str, user_id: str, body: Mapping[str, Any], session: Session) -> dict[str, Any]:
        board = await self._access.require(board_id, session, Role.ADMIN, "modify board members")
        if not await self._access.is_explicit_member(board_id, user_id):
            raise NotFound(f"member BoardID={board_id} UserID={user_id}")
        scheme = _scheme(body)
        if not scheme["scheme_admin"]:
            await self._keep_an_admin(board_id, user_id)
        await self._write_member(board, user_id, scheme, add=False)
        out = await self.member(board, user_id)
        await self._events.member_changed(board, out)
        return out

    async def _keep_an_admin(self, board_id: str, leaving: str) -> None:
        admins = await self._ctx.store.fetchall(
            "SELECT m.user_id FROM board_members m JOIN board_member_attrs a ON a.id = m.board_id || ':' || m.user_id "
            "WHERE m.board_id = ? AND a.scheme_admin = 1", (board_id,))
        if [r[0] for r in admins] == [leaving]:
            raise BadRequest("a board must keep at least one admin")

    async def remove(self, board_id: str, user_id: str, session: Session) -> None:
        if user_id == session.user_id:
            return await self.leave(board_id, session)
        board = await self._access.require(board_id, session, Role.ADMIN, "modify board members")
        await self._remove(board, user_id)

    async def _remove(self, board: sqlite3.Row, user_id: str) -> None:
        await self._keep_an_admin(board["id"], user_id)
        remove = await self._members.remove("board.members", board["id"], user_id)
        if remove is None:
            return
        await self._ctx.store.write(board_scope(board["id"]), [remove])
        await self._events.member_changed(board, member_json(board, user_id, None), deleted=True)

    async def join(self, board_id: str, session: Session) -> dict[str, Any]:
        board = await self._access.board(board_id)
        if board["type"] != "O":
            raise Forbidden("cannot join a non Open board")
        await self._access.require_team(board["team_id"], session)
        if is_guest(session):
            raise Forbidden("guests not allowed to join boards")
        if not await self._access.is_explicit_member(board_id, session.user_id):
            role = ROLE_NAMES.get(board["minimum_role"] or "", Role.EDITOR)
            scheme = {column: column == f"scheme_{role.name.lower()}" for column in _FLAGS}
            await self._write_member(board, session.user_id, scheme, add=True)
        out = await self.member(board, session.user_id)
        await self._events.member_changed(board, out)
        return out

    async def leave(self, board_id: str, session: Session) -> None:
        board = await self._access.require(board_id, session, Role.VIEWER, "board")
        if not await self._access.is_explicit_member(board_id, session.user_id):
            raise NotFound(f"member BoardID={board_id} UserID={session.user_id}")
        await self._remove(board, session.user_id)
