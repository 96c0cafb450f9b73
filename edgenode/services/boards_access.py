"""Who may do what on a board, as Focalboard's permission service decides it (mmpermissions.go).

A user's role on a board is the highest of: their explicit member roles (the "board.members" OR-set
plus the board_member attributes), the board's minimum role (it lifts every member), and, when the
board is linked to a channel, editor for every non-guest effective member of that channel (a
"synthetic" member). A system or team admin who is a member gets admin. Nobody who is not a member
of the board's team has any role. Open boards are also readable as boards (GET) by team members,
who must join to read their content.
"""

from __future__ import annotations

import sqlite3
from enum import IntEnum

from .boards_model import member_id
from .context import Context
from .errors import Forbidden, NotFound
from .membership import Memberships
from .users import Session

__all__ = ["Role", "ROLE_NAMES", "BoardAccess", "role_of", "is_guest"]


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    COMMENTER = 2
    EDITOR = 3
    ADMIN = 4


ROLE_NAMES = {"viewer": Role.VIEWER, "commenter": Role.COMMENTER, "editor": Role.EDITOR, "admin": Role.ADMIN}


def role_of(attrs: sqlite3.Row | None) -> Role:
    """The highest role the scheme flags of a board_member row grant (viewer when none is set)."""
    if attrs is None:
        return Role.VIEWER
    for flag, role in (("scheme_admin", Role.ADMIN), ("scheme_editor", Role.EDITOR),
                       ("scheme_commenter", Role.COMMENTER), ("scheme_viewer", Role.VIEWER)):
        if attrs[flag]:
            return role
    return Role.VIEWER


def is_guest(session: Session) -> bool:
    return "system_guest" in session.roles.split()


class BoardAccess:
    def __init__(self, ctx: Context, members: Memberships):
        self._ctx = ctx
        self._members = members

    async def board(self, board_id: str) -> sqlite3.Row:
        """A live board, or NotFound (deleted boards too: only undelete reaches those, via `any_board`)."""
        row = await self.any_board(board_id)
        if int(row["delete_at"] or 0):
            raise NotFound(f"board BoardID={board_id}")
        return row

    async def any_board(self, board_id: str) -> sqlite3.Row:
        row = await self._ctx.store.fetchone("SELECT * FROM boards WHERE id = ? AND _deleted = 0", (board_id,))
        if row is None:
            raise NotFound(f"board BoardID={board_id}")
        return row

    async def is_explicit_member(self, board_id: str, user_id: str) -> bool:
        return await self._ctx.store.fetchone(
            "SELECT 1 FROM board_members WHERE board_id = ? AND user_id = ?", (board_id, user_id)) is not None

    async def synthetic(self, board: sqlite3.Row, user_id: str, guest: bool) -> bool:
        """Whether the user is an implicit editor through the board's channel."""
        channel = board["channel_id"] or ""
        return bool(channel) and not guest and await self._members.is_channel_member(channel, user_id)

    async def role(self, board: sqlite3.Row, session: Session) -> Role:
        user_id = session.user_id
        team_roles = await self._members.team_roles(board["team_id"], user_id)
        if team_roles is None and not session.is_system_admin:
            return Role.NONE
        guest = is_guest(session)
        if await self.is_explicit_member(board["id"], user_id):
            attrs = await self._ctx.store.fetchone(
                "SELECT * FROM board_member_attrs WHERE id = ? AND _deleted = 0", (member_id(board["id"], user_id),))
            role = role_of(attrs)
        elif await self.synthetic(board, user_id, guest):
            role = Role.EDITOR
        else:
            return Role.NONE
        role = max(role, ROLE_NAMES.get(board["minimum_role"] or "", Role.NONE))
        if session.is_system_admin or "team_admin" in (team_roles or "").split():
            role = Role.ADMIN
        return role

    async def may_see_listing(self, board: sqlite3.Row, session: Session) -> bool:
        """Whether the board (not its content) may be shown: any role, or an open board of one's team."""
        if await self.role(board, session) > Role.NONE:
            return True
        if board["type"] != "O" or is_guest(session):
            return False
        return session.is_system_admin or await self._members.is_team_member(board["team_id"], session.user_id)

    async def require(self, board_id: str, session: Session, need: Role, what: str,
                      *, deleted: bool = False) -> sqlite3.Row:
        board = await (self.any_board(board_id) if deleted else self.board(board_id))
        if await self.role(board, session) < need:
            raise Forbidden(f"access denied to {what}")
        return board

    async def require_team(self, team_id: str, session: Session) -> None:
        if not session.is_system_admin and not await self._members.is_team_member(team_id, session.user_id):
            raise Forbidden("access denied to team")
