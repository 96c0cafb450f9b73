"""Teams and team membership."""

from __future__ import annotations

import builtins  # TeamService.list shadows the type in annotations after it
import sqlite3
from typing import Any

from crdt import Create, Op, Update
from edgenode.ids import new_id, new_token

from .audit import AuditLog
from .context import DIRECTORY_SCOPE, Context, channel_scope, user_scope
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .events import Broadcast, Event
from .membership import Memberships, member_id
from .models import team_json, team_member_json
from .name_rules import check_display_name, check_team_name, check_text
from .names import TEAM, Names, taken
from .users import Session

__all__ = ["TeamService", "DEFAULT_CHANNELS", "leave_team_events"]

DEFAULT_CHANNELS = (("town-square", "Town Square"), ("off-topic", "Off-Topic"))


def leave_team_events(team_id: str, user_id: str, *, from_peer: bool = False) -> builtins.list[Event]:
    """Mattermost's leave_team: one for the team's remaining members, one for the user who left."""
    data = {"team_id": team_id, "user_id": user_id}
    return [Event("leave_team", data, Broadcast(team_id=team_id), from_peer),
            Event("leave_team", data, Broadcast(user_id=user_id), from_peer)]


class TeamService:
    def __init__(self, ctx: Context, members: Memberships, audit: AuditLog):
        self._ctx = ctx
        self._members = members
        self._audit = audit
        self._names = Names.of(ctx)
        self.on_member_added: list[Any] = []  # callbacks(team_id, user_id, actor): the channel service joins defaults

    async def row(self, team_id: str) -> Any:
        row = await self._ctx.store.fetchone("SELECT * FROM teams WHERE id = ? AND _deleted = 0", (team_id,))
        if row is None:
            raise NotFound("Unable to find the team.", "app.team.get.find.app_error")
        return row

    async def get(self, team_id: str, actor: Session) -> dict[str, Any]:
        row = await self.row(team_id)
        await self._check_visible(row, actor)
        return await self._shown(row, actor)

    async def get_by_name(self, name: str, actor: Session) -> dict[str, Any]:
        team_id = await self._names.resolve(TEAM, name)
        row = None if team_id is None else await self._ctx.store.fetchone(
            "SELECT * FROM teams WHERE id = ? AND _deleted = 0", (team_id,))
        if row is None:
            raise NotFound("Unable to find the team.", "app.team.get_by_name.missing.app_error")
        await self._check_visible(row, actor)
        return await self._shown(row, actor)

    async def _shown(self, row: Any, actor: Session) -> dict[str, Any]:
        """A team's JSON as `actor` may see it: Mattermost's Team.Sanitize blanks the invite id (which
        lets anyone holding it join) and the contact email for those who cannot manage the team."""
        team = await self._names.show_team(team_json(row))
        if not await self._may_manage(row["id"], actor):
            team["email"], team["invite_id"] = "", ""
        return team

    async def _may_manage(self, team_id: str, actor: Session) -> bool:
        """Mattermost's manage_team: team admins and system admins."""
        if actor.is_system_admin:
            return True
        roles = await self._members.team_roles(team_id, actor.user_id)
        return bool(roles and "team_admin" in roles.split())

    async def _check_visible(self, row: Any, actor: Session) -> None:
        """Mattermost's getTeam: a team open to all (type O, open invite) is visible to everyone, any other
        only with view_team (its members, and system admins)."""
        open_to_all = row["type"] == "O" and bool(row["allow_open_invite"])
        if not open_to_all and not actor.is_system_admin and not await self._members.is_team_member(row["id"], actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")

    async def check_view(self, team_id: str, actor: Session) -> None:
        """Mattermost's view_team: a team's members (and who they are) are for its members and system
        admins, whether the team is open or invite-only."""
        await self.row(team_id)
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.", "api.context.permissions.app_error")

    async def for_user(self, user_id: str, actor: Session) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            "SELECT t.* FROM teams t JOIN team_members m ON m.team_id = t.id WHERE m.user_id = ? AND t._deleted = 0 "
            "ORDER BY t.display_name", (user_id,))
        return [await self._shown(r, actor) for r in rows]

    async def list(self, page: int, per_page: int, actor: Session) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM teams WHERE _deleted = 0 AND ((type = 'O' AND allow_open_invite) OR ?) "
            "ORDER BY display_name LIMIT ? OFFSET ?",
            (int(actor.is_system_admin), per_page, page * per_page))
        return [await self._shown(r, actor) for r in rows]

    async def create(self, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        # Checked in Mattermost's order (Team.IsValid): the display name first, then the name.
        display_name = check_display_name(body.get("display_name"), 64, "model.team.is_valid.name.app_error")
        name = check_team_name(body.get("name"))
        description = check_text(body.get("description", ""), 255, "model.team.is_valid.description.app_error")
        team_type = body.get("type", "O")
        if team_type not in ("O", "I"):
            raise BadRequest("Invalid type.", "model.team.is_valid.type.app_error")
        if await self._names.resolve(TEAM, name) is not None:
            raise _team_taken()
        now = self._ctx.now_ms()
        team_id = new_id()
        fields = {
            "name": name, "display_name": display_name, "type": team_type,
            "description": description,
            "email": check_text(body.get("email", ""), 128, "model.team.is_valid.email.app_error"),
            "invite_id": new_token(), "allow_open_invite": bool(body.get("allow_open_invite", team_type == "O")),
            "creator_id": actor.user_id, "create_at": now, "update_at": now, "delete_at": 0,
        }
        ops: list[Op] = [Create("team", team_id, fields), *self._member_ops(team_id, actor.user_id, "team_user team_admin")]
        await self._ctx.store.write(DIRECTORY_SCOPE, ops, check=lambda conn: _check_team_name_free(conn, name))
        await self._joined(team_id, actor.user_id, actor)
        return await self._shown(await self.row(team_id), actor)

    def _member_ops(self, team_id: str, user_id: str, roles: str) -> builtins.list[Op]:
        return [
            self._members.add("team.members", team_id, user_id),
            Create("team_member", member_id(team_id, user_id), {"team_id": team_id, "user_id": user_id, "roles": roles},
                   deps=[("team", team_id)]),
        ]

    async def _joined(self, team_id: str, user_id: str, actor: Session) -> None:
        for callback in self.on_member_added:
            await callback(team_id, user_id, actor)

    async def add_member(self, team_id: str, user_id: str, actor: Session) -> dict[str, Any]:
        team = await self.row(team_id)
        target = await self._ctx.store.fetchone("SELECT 1 FROM users WHERE id = ? AND _deleted = 0", (user_id,))
        if target is None:
            raise NotFound("Unable to find the user.", "app.user.missing_account.const")
        roles = await self._members.team_roles(team_id, actor.user_id)
        is_admin = actor.is_system_admin or (roles is not None and "team_admin" in roles.split())
        self_join_open = user_id == actor.user_id and team["type"] == "O" and bool(team["allow_open_invite"])
        if not (is_admin or self_join_open or roles is not None):
            raise Forbidden("You do not have the appropriate permissions.")
        if not await self._members.is_team_member(team_id, user_id):
            await self._ctx.store.write(DIRECTORY_SCOPE, self._member_ops(team_id, user_id, "team_user"))
            await self._audit.record("addTeamMember", user_id=actor.user_id, extra=f"team={team_id} user={user_id}")
            await self._joined(team_id, user_id, actor)
        return await self.member(team_id, user_id)

    async def remove_member(self, team_id: str, user_id: str, actor: Session) -> None:
        await self.row(team_id)
        roles = await self._members.team_roles(team_id, actor.user_id)
        if user_id != actor.user_id and not actor.is_system_admin and not (roles and "team_admin" in roles.split()):
            raise Forbidden("You do not have the appropriate permissions.")
        remove = await self._members.remove("team.members", team_id, user_id)
        if remove is None:
            raise NotFound("Unable to find the team member.", "app.team.get_member.missing.app_error")
        # Leaving a team leaves its channels, as in Mattermost, in the same transaction. Each channel
        # removal also travels in the user's own scope: the user's nodes may be entitled to a private
        # channel only through this user, and must still learn that they left it.
        channel_removes = await self._members.team_channel_removes(team_id, user_id)
        writes: builtins.list[tuple[str, builtins.list[Op]]] = [(DIRECTORY_SCOPE, [remove])]
        writes += [(channel_scope(channel_id), [op]) for channel_id, op in channel_removes]
        if channel_removes:
            writes.append((user_scope(user_id), [op for _, op in channel_removes]))
        await self._ctx.store.write_scopes(writes)
        await self._audit.record("removeTeamMember", user_id=actor.user_id, extra=f"team={team_id} user={user_id}")
        from .channels import user_removed_events  # channels imports this module (DEFAULT_CHANNELS)
        for channel_id, _ in channel_removes:
            for event in user_removed_events(channel_id, user_id, actor.user_id):
                self._ctx.events.publish(event)
        for event in leave_team_events(team_id, user_id):
            self._ctx.events.publish(event)

    async def member(self, team_id: str, user_id: str) -> dict[str, Any]:
        roles = await self._members.team_roles(team_id, user_id)
        if roles is None:
            raise NotFound("Unable to find the team member.", "app.team.get_member.missing.app_error")
        return team_member_json(team_id, user_id, roles)

    async def members(self, team_id: str, page: int, per_page: int) -> builtins.list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            "SELECT m.user_id, a.roles FROM team_members m LEFT JOIN team_member_attrs a ON a.id = m.team_id || ':' || m.user_id "
            "WHERE m.team_id = ? ORDER BY m.user_id LIMIT ? OFFSET ?", (team_id, per_page, page * per_page))
        return [team_member_json(team_id, r["user_id"], r["roles"]) for r in rows]

    async def members_for_user(self, user_id: str) -> builtins.list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            "SELECT m.team_id, a.roles FROM team_members m LEFT JOIN team_member_attrs a ON a.id = m.team_id || ':' || m.user_id "
            "WHERE m.user_id = ?", (user_id,))
        return [team_member_json(r["team_id"], user_id, r["roles"]) for r in rows]

    async def patch(self, team_id: str, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        await self.row(team_id)
        if not await self._may_manage(team_id, actor):
            raise Forbidden("You do not have the appropriate permissions.")
        fields: dict[str, Any] = {}
        if "display_name" in body:
            fields["display_name"] = check_display_name(body["display_name"], 64, "model.team.is_valid.name.app_error")
        for name, limit in (("description", 255), ("email", 128), ("allowed_domains", 1000)):
            if name in body:
                fields[name] = check_text(body[name], limit, f"model.team.is_valid.{name}.app_error")
        if "allow_open_invite" in body:
            fields["allow_open_invite"] = bool(body["allow_open_invite"])
        fields["update_at"] = self._ctx.now_ms()
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("team", team_id, fields)])
        return await self._shown(await self.row(team_id), actor)


def _team_taken() -> Conflict:
    return Conflict("A team with that name already exists.", "app.team.save.existing.app_error")


def _check_team_name_free(conn: sqlite3.Connection, name: str) -> None:
    """The precondition of a team's creation, run in the writer's transaction."""
    if taken(TEAM, conn, name):
        raise _team_taken()
