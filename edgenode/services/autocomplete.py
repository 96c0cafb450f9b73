"""User autocomplete (`@` mentions, member pickers): users matching a prefix, only among those the caller may see.

Mattermost's three cases: in a channel (its members, and the members of its team who are not in
it), in a team (its members), or anywhere. A caller who may not read the channel or view the team
gets a 403 rather than its member list. Without a team or channel, a user sees the users who share
a team or a channel with them (a system admin sees everyone): the directory of a node holds users of
private teams and channels, whose existence is need-to-know.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .channels import ChannelService
from .context import Context
from .errors import Forbidden
from .membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships
from .models import user_json
from .teams import TeamService
from .users import Session

__all__ = ["UserAutocomplete", "AUTOCOMPLETE_LIMIT"]

AUTOCOMPLETE_LIMIT = 100
"""Mattermost's default and maximum number of users per list."""

_MATCH = ("(lower(u.username) LIKE ? ESCAPE '\\' OR lower(u.first_name) LIKE ? ESCAPE '\\' "
          "OR lower(u.last_name) LIKE ? ESCAPE '\\' OR lower(u.nickname) LIKE ? ESCAPE '\\' "
          "OR lower(coalesce(u.first_name, '') || ' ' || coalesce(u.last_name, '')) LIKE ? ESCAPE '\\')")
_ACTIVE = "u._deleted = 0 AND coalesce(u.delete_at, 0) = 0"
_SHARES_A_TEAM_OR_CHANNEL = (
    "(u.id = ? OR u.id IN (SELECT o.user_id FROM team_members o JOIN team_members m ON m.team_id = o.team_id "
    f"WHERE m.user_id = ?) OR u.id IN (SELECT o.user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} o "
    f"JOIN {EFFECTIVE_CHANNEL_MEMBERS} m "
    "ON m.channel_id = o.channel_id WHERE m.user_id = ?))"
)


def _like(name: str) -> str:
    term = name.strip().lower().lstrip("@")
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class UserAutocomplete:
    def __init__(self, ctx: Context, members: Memberships, teams: TeamService, channels: ChannelService):
        self._ctx = ctx
        self._members = members
        self._teams = teams
        self._channels = channels

    async def complete(self, name: str, actor: Session, *, team_id: str = "", channel_id: str = "",
                       limit: int = AUTOCOMPLETE_LIMIT) -> dict[str, Any]:
        """{"users": [...]} and, in a channel, "out_of_channel": the team's members outside it."""
        like = _like(name)
        if channel_id:
            channel = await self._channels.readable(channel_id, actor)
            users = await self._users(like, limit, f"u.id IN (SELECT m.user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m "
                                      "WHERE m.channel_id = ?)", (channel_id,))
            out: list[dict[str, Any]] = []
            team = channel["team_id"] or ""
            if team and (not team_id or team_id == team):  # direct and group messages have no team
                out = await self._users(like, limit, "u.id IN (SELECT user_id FROM team_members WHERE team_id = ?) AND "
                                        f"u.id NOT IN (SELECT m.user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m "
                                        "WHERE m.channel_id = ?)",
                                        (team, channel_id))
            return {"users": users, "out_of_channel": out}
        if team_id:
            await self._check_view_team(team_id, actor)
            return {"users": await self._users(like, limit, "u.id IN (SELECT user_id FROM team_members WHERE team_id = ?)",
                                               (team_id,))}
        if actor.is_system_admin:
            return {"users": await self._users(like, limit, "1", ())}
        me = actor.user_id
        return {"users": await self._users(like, limit, _SHARES_A_TEAM_OR_CHANNEL, (me, me, me))}

    async def _check_view_team(self, team_id: str, actor: Session) -> None:
        """Mattermost's view_team: members of the team, and system admins."""
        await self._teams.row(team_id)
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")

    async def _users(self, like: str, limit: int, where: str, params: tuple[str, ...]) -> list[dict[str, Any]]:
        rows: list[sqlite3.Row] = await self._ctx.store.fetchall(
            f"SELECT u.* FROM users u WHERE {_ACTIVE} AND {_MATCH} AND {where} ORDER BY u.username LIMIT ?",
            (*[like] * 5, *params, limit))
        return [user_json(r) for r in rows]
