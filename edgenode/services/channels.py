"""Channels (public, private, direct, group), their members, and read state."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from typing import Any

from crdt import Create, Op, Update
from edgenode.ids import new_id

from .audit import AuditLog
from .context import Context, channel_scope, user_scope
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .events import Broadcast, Event
from .membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships, member_id
from .models import channel_json, channel_member_json
from .name_rules import check_channel_name, check_display_name, check_text
from .names import CHANNEL, Names, taken
from .read_cache import ReadCache, shared_cache
from .teams import DEFAULT_CHANNELS
from .unreads import channel_counts
from .users import Session

__all__ = [
    "ChannelService", "channel_created_event", "channel_deleted_event", "channel_updated_event", "direct_channel_id",
    "user_added_event", "user_removed_events",
]

_MM_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"


def _stable_id(name: str) -> str:
    """An id derived from a name, so two nodes opening the same DM offline create the same channel."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=17).digest(), "big") >> 6  # 130 bits
    return "".join(_MM_ALPHABET[(digest >> (5 * i)) & 31] for i in range(26))


def direct_channel_id(user_a: str, user_b: str) -> tuple[str, str]:
    name = "__".join(sorted((user_a, user_b)))
    return _stable_id(name), name


# -- the events a change of a channel raises (for local writes here, for peers' ops in peer_events.py) --

def channel_created_event(channel_id: str, team_id: str, creator_id: str, *, from_peer: bool = False) -> Event:
    return Event("channel_created", {"channel_id": channel_id, "team_id": team_id}, Broadcast(user_id=creator_id), from_peer)


def channel_updated_event(channel: dict[str, Any], *, from_peer: bool = False) -> Event:
    """`channel` is the channel's JSON as the API returns it."""
    return Event("channel_updated", {"channel": channel}, Broadcast(channel_id=channel["id"]), from_peer)


def channel_deleted_event(channel_id: str, delete_at: int, *, from_peer: bool = False) -> Event:
    return Event("channel_deleted", {"channel_id": channel_id, "delete_at": delete_at}, Broadcast(channel_id=channel_id),
                 from_peer)


def user_added_event(channel_id: str, user_id: str, team_id: str, *, from_peer: bool = False) -> Event:
    return Event("user_added", {"user_id": user_id, "team_id": team_id}, Broadcast(channel_id=channel_id), from_peer)


def user_removed_events(channel_id: str, user_id: str, remover_id: str, *, from_peer: bool = False) -> list[Event]:
    """One event for the channel's remaining members, one for the user who left (no longer a member)."""
    return [
        Event("user_removed", {"channel_id": channel_id, "remover_id": remover_id, "user_id": user_id},
              Broadcast(channel_id=channel_id), from_peer),
        Event("user_removed", {"channel_id": channel_id, "remover_id": remover_id}, Broadcast(user_id=user_id), from_peer),
    ]


class ChannelService:
    def __init__(self, ctx: Context, members: Memberships, audit: AuditLog):
        self._ctx = ctx
        self._members = members
        self._audit = audit
        self._names = Names.of(ctx)
        # channel id -> its live row or None; read by every post and access check
        self._rows: ReadCache[str, sqlite3.Row | None] = shared_cache(ctx.store, "channel_rows", {"channel"})

    # -- reading ---------------------------------------------------------------------------

    async def row(self, channel_id: str) -> sqlite3.Row:
        row = await self._rows.get(channel_id, lambda: self._ctx.store.fetchone(
            "SELECT * FROM channels WHERE id = ? AND _deleted = 0", (channel_id,)))
        if row is None:
            raise NotFound("Unable to find the channel.", "app.channel.get.existing.app_error")
        return row

    async def check_read(self, channel: sqlite3.Row, actor: Session) -> None:
        """Private, direct and group channels are visible to their members only; public ones to the team."""
        if await self._members.is_channel_member(channel["id"], actor.user_id):
            return
        if channel["type"] == "O" and (actor.is_system_admin or await self._members.is_team_member(channel["team_id"], actor.user_id)):
            return
        if channel["type"] == "P" and actor.is_system_admin:
            return
        raise Forbidden("You do not have the appropriate permissions.")

    async def readable(self, channel_id: str, actor: Session) -> sqlite3.Row:
        row = await self.row(channel_id)
        await self.check_read(row, actor)
        return row

    async def stats(self, channel_id: str) -> dict[str, int]:
        row = await self._ctx.store.fetchone(
            "SELECT count(*) AS total, coalesce(max(create_at), 0) AS last, "
            "sum(CASE WHEN coalesce(root_id, '') = '' THEN 1 ELSE 0 END) AS roots, "
            "coalesce(max(CASE WHEN coalesce(root_id, '') = '' THEN create_at END), 0) AS last_root "
            "FROM posts WHERE channel_id = ? AND _deleted = 0", (channel_id,))
        assert row is not None
        return {"total_msg_count": row["total"], "last_post_at": row["last"],
                "total_msg_count_root": row["roots"] or 0, "last_root_post_at": row["last_root"]}

    async def to_json(self, row: sqlite3.Row) -> dict[str, Any]:
        return await self._names.show_channel(channel_json(row, **await self.stats(row["id"])))

    async def by_name(self, team_id: str, name: str) -> sqlite3.Row | None:
        """The live channel `name` stands for in the team, by the name rule (names.py)."""
        channel_id = await self._names.resolve(CHANNEL, name, team_id)
        if channel_id is None:
            return None
        return await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ? AND _deleted = 0", (channel_id,))

    async def get(self, channel_id: str, actor: Session) -> dict[str, Any]:
        return await self.to_json(await self.readable(channel_id, actor))

    async def get_by_name(self, team_id: str, name: str, actor: Session, include_deleted: bool = False) -> dict[str, Any]:
        row = await self.by_name(team_id, name)
        if row is None or (not include_deleted and int(row["delete_at"] or 0)):
            raise NotFound("Unable to find the channel.", "app.channel.get_by_name.missing.app_error")
        await self.check_read(row, actor)
        return await self.to_json(row)

    async def for_user(self, user_id: str, team_id: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            f"SELECT c.* FROM channels c JOIN {EFFECTIVE_CHANNEL_MEMBERS} m ON m.channel_id = c.id "
            "WHERE m.user_id = ? AND (c.team_id = ? OR c.type IN ('D', 'G')) AND c._deleted = 0 "
            "AND (? OR coalesce(c.delete_at, 0) = 0) ORDER BY c.display_name, c.name",
            (user_id, team_id, int(include_deleted)))
        return [await self.to_json(r) for r in rows]

    async def public_for_team(self, team_id: str, page: int, per_page: int) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM channels WHERE team_id = ? AND type = 'O' AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "ORDER BY display_name LIMIT ? OFFSET ?", (team_id, per_page, page * per_page))
        return [await self.to_json(r) for r in rows]

    # -- creating --------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        team_id = body.get("team_id")
        channel_type = body.get("type", "O")
        if channel_type not in ("O", "P"):
            raise BadRequest("Invalid channel type.", "model.channel.is_valid.type.app_error")
        if not isinstance(team_id, str) or await self._ctx.store.fetchone(
                "SELECT 1 FROM teams WHERE id = ? AND _deleted = 0", (team_id,)) is None:
            raise BadRequest("Invalid team_id.", "model.channel.is_valid.team_id.app_error")
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        fields = self._checked_fields(body, creating=True)
        if await self._names.resolve(CHANNEL, fields["name"], team_id) is not None:
            raise _channel_taken()
        channel_id = await self._create(team_id, channel_type, fields, actor.user_id, [actor.user_id],
                                        check=_name_free_check(team_id, fields["name"]))
        await self._audit.record("createChannel", user_id=actor.user_id, extra=f"channel={channel_id} type={channel_type}")
        return await self.to_json(await self.row(channel_id))

    def _checked_fields(self, body: dict[str, Any], creating: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        # Checked in Mattermost's order (Channel.IsValid): display name, name, header, purpose.
        if creating or "display_name" in body:
            fields["display_name"] = check_display_name(body.get("display_name"), 64,
                                                        "model.channel.is_valid.display_name.app_error")
        if creating or "name" in body:
            fields["name"] = check_channel_name(body.get("name"))
        for name, limit in (("header", 1024), ("purpose", 250)):
            if name in body:
                fields[name] = check_text(body[name], limit, f"model.channel.is_valid.{name}.app_error", multiline=True)
        return fields

    async def _create(self, team_id: str, channel_type: str, fields: dict[str, Any], creator: str,
                      members: list[str], channel_id: str | None = None,
                      check: Callable[[sqlite3.Connection], None] | None = None) -> str:
        channel_id = channel_id or new_id()
        now = self._ctx.now_ms()
        fields = {**fields, "team_id": team_id, "type": channel_type, "creator_id": creator,
                  "create_at": now, "update_at": now, "delete_at": 0}
        deps = [("team", team_id)] if team_id else []
        ops: list[Op] = [Create("channel", channel_id, fields, deps=deps)]
        for user_id in members:
            roles = "channel_user channel_admin" if user_id == creator and channel_type in ("O", "P") else "channel_user"
            ops += self._member_ops(channel_id, user_id, roles)
        await self._ctx.store.write(channel_scope(channel_id), ops, check=check)
        self._ctx.events.publish(channel_created_event(channel_id, team_id, creator))
        return channel_id

    def _member_ops(self, channel_id: str, user_id: str, roles: str) -> list[Op]:
        now = self._ctx.now_ms()
        return [
            self._members.add("channel.members", channel_id, user_id),
            Create("channel_member", member_id(channel_id, user_id),
                   {"channel_id": channel_id, "user_id": user_id, "roles": roles, "last_viewed_at": now},
                   deps=[("channel", channel_id)]),
        ]

    async def direct(self, user_ids: list[str], actor: Session) -> dict[str, Any]:
        if len(user_ids) != 2 or not all(isinstance(u, str) for u in user_ids):
            raise BadRequest("A direct channel needs exactly two user ids.", "api.channel.create_direct_channel.invalid_user.app_error")
        if actor.user_id not in user_ids and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        for user_id in set(user_ids):
            if await self._ctx.store.fetchone("SELECT 1 FROM users WHERE id = ? AND _deleted = 0", (user_id,)) is None:
                raise BadRequest("Invalid user id.", "api.channel.create_direct_channel.invalid_user.app_error")
        channel_id, name = direct_channel_id(user_ids[0], user_ids[1])
        existing = await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ?", (channel_id,))
        if existing is None:
            await self._create("", "D", {"name": name, "display_name": ""}, actor.user_id, sorted(set(user_ids)), channel_id)
            existing = await self.row(channel_id)
        return await self.to_json(existing)

    async def group(self, user_ids: list[str], actor: Session) -> dict[str, Any]:
        members = sorted(set(u for u in user_ids if isinstance(u, str)) | {actor.user_id})
        if not 3 <= len(members) <= 8:
            raise BadRequest("A group message channel has 3 to 8 members.", "api.channel.create_group.bad_size.app_error")
        rows = await self._ctx.store.fetchall(f"SELECT id, username FROM users WHERE id IN ({','.join('?' * len(members))}) "
                                              "AND _deleted = 0", members)
        if len(rows) != len(members):
            raise BadRequest("Invalid user id.", "api.channel.create_group.bad_user.app_error")
        name = hashlib.sha1(",".join(members).encode()).hexdigest()
        channel_id = _stable_id(name)
        existing = await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ?", (channel_id,))
        if existing is None:
            display = ", ".join(sorted(r["username"] for r in rows))[:64]
            await self._create("", "G", {"name": name, "display_name": display}, actor.user_id, members, channel_id)
            existing = await self.row(channel_id)
        return await self.to_json(existing)

    async def join_defaults(self, team_id: str, user_id: str, actor: Session) -> None:
        """Called when a user joins a team: join Town Square and Off-Topic, creating them on a new team."""
        for name, display in DEFAULT_CHANNELS:
            row = await self.by_name(team_id, name)
            if row is None:
                await self._create(team_id, "O", {"name": name, "display_name": display}, user_id, [user_id],
                                   check=_name_free_check(team_id, name))
            elif not await self._members.is_channel_member(row["id"], user_id):
                await self._ctx.store.write(channel_scope(row["id"]), self._member_ops(row["id"], user_id, "channel_user"))

    # -- changing ----------------------------------------------------------------------------

    async def _check_manage(self, channel: sqlite3.Row, actor: Session) -> None:
        roles = await self._members.channel_roles(channel["id"], actor.user_id)
        if actor.is_system_admin or (roles is not None and "channel_admin" in roles.split()):
            return
        team_roles = await self._members.team_roles(channel["team_id"], actor.user_id) if channel["team_id"] else None
        if team_roles is not None and "team_admin" in team_roles.split():
            return
        if roles is not None and channel["type"] in ("O", "P", "D", "G"):
            return  # Mattermost's default scheme lets channel members manage channel properties
        raise Forbidden("You do not have the appropriate permissions.")

    async def patch(self, channel_id: str, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        channel = await self.row(channel_id)
        await self._check_manage(channel, actor)
        if int(channel["delete_at"] or 0):
            raise BadRequest("The channel is archived.", "api.channel.update_channel.deleted.app_error")
        if channel["type"] in ("D", "G"):
            body = {k: v for k, v in body.items() if k in ("header", "purpose")}
        fields = self._checked_fields(body, creating=False)
        check = None
        if "name" in fields:
            # Written only when it changes: rewriting it would restamp the claim (see names.py).
            if fields["name"] == await self._names.shown(CHANNEL, channel_id, channel["name"] or ""):
                del fields["name"]
            elif channel["name"] == "town-square":
                # As Mattermost's UpdateChannel: the default channel keeps its name, which team joins
                # look up and which guards it from being archived.
                raise BadRequest("Tried to perform an invalid update of the default channel.",
                                 "api.channel.update_channel.tried.app_error")
            else:
                if await self._names.resolve(CHANNEL, fields["name"], channel["team_id"] or "") is not None:
                    raise _channel_taken()
                check = _name_free_check(channel["team_id"] or "", fields["name"], channel_id)
        fields["update_at"] = self._ctx.now_ms()
        await self._ctx.store.write(channel_scope(channel_id), [Update("channel", channel_id, fields)], check=check)
        updated = await self.to_json(await self.row(channel_id))
        self._ctx.events.publish(channel_updated_event(updated))
        return updated

    async def archive(self, channel_id: str, actor: Session) -> None:
        channel = await self.row(channel_id)
        if channel["type"] in ("D", "G"):
            raise BadRequest("Direct and group channels cannot be archived.", "api.channel.delete_channel.type.invalid")
        await self._check_manage(channel, actor)
        if channel["name"] == "town-square":
            raise BadRequest("Town Square cannot be archived.", "api.channel.delete_channel.cannot.app_error")
        now = self._ctx.now_ms()
        await self._ctx.store.write(channel_scope(channel_id), [Update("channel", channel_id, {"delete_at": now, "update_at": now})])
        await self._audit.record("archiveChannel", user_id=actor.user_id, extra=f"channel={channel_id}")
        self._ctx.events.publish(channel_deleted_event(channel_id, now))

    async def restore(self, channel_id: str, actor: Session) -> dict[str, Any]:
        channel = await self.row(channel_id)
        if channel["type"] in ("D", "G"):
            raise BadRequest("Direct and group channels cannot be restored.", "api.channel.restore_channel.unarchived")
        # Mattermost's restoreChannel asks for manage_team on the channel's team: team and system admins,
        # not the channel's members (who may archive it).
        team_roles = await self._members.team_roles(channel["team_id"], actor.user_id)
        if not actor.is_system_admin and not (team_roles is not None and "team_admin" in team_roles.split()):
            raise Forbidden("You do not have the appropriate permissions.", "api.context.permissions.app_error")
        await self._ctx.store.write(channel_scope(channel_id), [Update("channel", channel_id, {"delete_at": 0,
                                                                                             "update_at": self._ctx.now_ms()})])
        return await self.to_json(await self.row(channel_id))

    # -- members ---------------------------------------------------------------------------

    async def add_member(self, channel_id: str, user_id: str, actor: Session) -> dict[str, Any]:
        channel = await self.row(channel_id)
        if channel["type"] in ("D", "G"):
            raise BadRequest("Members cannot be added to direct or group channels.", "api.channel.add_user.to.channel.failed.app_error")
        if int(channel["delete_at"] or 0):
            raise BadRequest("The channel is archived.", "api.channel.add_user.to.channel.failed.deleted.app_error")
        if await self._ctx.store.fetchone("SELECT 1 FROM users WHERE id = ? AND _deleted = 0", (user_id,)) is None:
            raise NotFound("Unable to find the user.", "app.user.missing_account.const")
        if not await self._members.is_team_member(channel["team_id"], user_id):
            raise BadRequest("The user is not a member of the channel's team.", "api.channel.add_user.to.channel.failed.app_error")
        actor_is_member = await self._members.is_channel_member(channel_id, actor.user_id)
        if channel["type"] == "P" and not (actor_is_member or actor.is_system_admin):
            raise Forbidden("You do not have the appropriate permissions.")
        if channel["type"] == "O" and user_id != actor.user_id and not (actor_is_member or actor.is_system_admin):
            raise Forbidden("You do not have the appropriate permissions.")
        if channel["type"] == "O" and user_id == actor.user_id and not (
                actor.is_system_admin or await self._members.is_team_member(channel["team_id"], actor.user_id)):
            raise Forbidden("You do not have the appropriate permissions.")
        if not await self._members.is_channel_member(channel_id, user_id):
            await self._ctx.store.write(channel_scope(channel_id), self._member_ops(channel_id, user_id, "channel_user"))
            if not await self._members.is_channel_member(channel_id, user_id):
                # the user left the team between the check above and the write: the add is inert for
                # good (see services/membership.py), and the caller hears why, as if it had come later
                raise BadRequest("The user is not a member of the channel's team.",
                                 "api.channel.add_user.to.channel.failed.app_error")
            await self._audit.record("addChannelMember", user_id=actor.user_id, extra=f"channel={channel_id} user={user_id}")
            self._ctx.events.publish(user_added_event(channel_id, user_id, channel["team_id"]))
        # the add was effective when checked; a removal racing in since is the next change, not this answer's
        return await self.member(channel_id, user_id, must_be_member=False)

    async def remove_member(self, channel_id: str, user_id: str, actor: Session) -> None:
        channel = await self.row(channel_id)
        if channel["type"] in ("D", "G"):
            raise BadRequest("Members cannot be removed from direct or group channels.", "api.channel.remove_user.direct.app_error")
        if user_id != actor.user_id:
            await self._check_manage(channel, actor)
        if channel["name"] == "town-square" and user_id == actor.user_id:
            raise BadRequest("You cannot leave Town Square.", "api.channel.leave.default.app_error")
        if channel["name"] == "town-square":
            # As Mattermost's RemoveUserFromChannel: nobody is removed from the default channel; leaving
            # the team is what takes a user out of it.
            raise BadRequest("Users cannot be removed from Town Square.", "api.channel.remove.default.app_error")
        remove = await self._members.remove("channel.members", channel_id, user_id)
        if remove is None:
            raise NotFound("The user is not a member of the channel.", "app.channel.get_member.missing.app_error")
        # The removed user's nodes may be entitled to the channel only through this user: they stop
        # receiving the channel's feeds at this op, so the removal also travels in the user's own scope.
        await self._ctx.store.write_scopes([(channel_scope(channel_id), [remove]), (user_scope(user_id), [remove])])
        await self._audit.record("removeChannelMember", user_id=actor.user_id, extra=f"channel={channel_id} user={user_id}")
        for event in user_removed_events(channel_id, user_id, actor.user_id):
            self._ctx.events.publish(event)

    async def member(self, channel_id: str, user_id: str, *, must_be_member: bool = True) -> dict[str, Any]:
        if must_be_member and not await self._members.is_channel_member(channel_id, user_id):
            raise NotFound("The user is not a member of the channel.", "app.channel.get_member.missing.app_error")
        attrs = await self._ctx.store.fetchone("SELECT * FROM channel_member_attrs WHERE id = ?", (member_id(channel_id, user_id),))
        counts = await self.unread_counts(channel_id, user_id, attrs)
        return channel_member_json(channel_id, user_id, attrs, **counts)

    async def unread_counts(self, channel_id: str, user_id: str, attrs: sqlite3.Row | None = None) -> dict[str, int]:
        """msg_count is what the member has seen (posts up to last_viewed_at); mentions are those since."""
        counts = (await channel_counts(self._ctx.store, user_id, channel_ids=[channel_id])).get(channel_id)
        return counts.member_fields() if counts is not None else {}

    async def member_count(self, channel_id: str) -> int:
        row = await self._ctx.store.fetchone(f"SELECT count(*) FROM {EFFECTIVE_CHANNEL_MEMBERS} m WHERE m.channel_id = ?",
                                             (channel_id,))
        return int(row[0]) if row else 0

    async def members(self, channel_id: str, page: int, per_page: int) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            f"SELECT m.user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m WHERE m.channel_id = ? ORDER BY m.user_id LIMIT ? OFFSET ?",
            (channel_id, per_page, page * per_page))
        return [await self.member(channel_id, r["user_id"]) for r in rows]

    async def members_for_user(self, user_id: str, team_id: str) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            f"SELECT m.channel_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m JOIN channels c ON c.id = m.channel_id "
            "WHERE m.user_id = ? AND (c.team_id = ? OR c.type IN ('D', 'G'))", (user_id, team_id))
        return [await self.member(r["channel_id"], user_id) for r in rows]

    async def update_member_roles(self, channel_id: str, user_id: str, roles: str, actor: Session) -> None:
        channel = await self.row(channel_id)
        # manage_channel_roles: channel admins, and team and system admins (Mattermost's default scheme)
        member_roles = await self._members.channel_roles(channel_id, actor.user_id)
        team_roles = await self._members.team_roles(channel["team_id"], actor.user_id) if channel["team_id"] else None
        if not actor.is_system_admin and not (member_roles and "channel_admin" in member_roles.split()) and not (
                team_roles and "team_admin" in team_roles.split()):
            raise Forbidden("You do not have the appropriate permissions.")
        wanted = roles.split()
        if not wanted or not set(wanted) <= {"channel_user", "channel_admin", "channel_guest"}:
            raise BadRequest("Invalid roles.", "api.channel.update_channel_member_roles.scheme_role.app_error")
        if not await self._members.is_channel_member(channel_id, user_id):
            raise NotFound("The user is not a member of the channel.", "app.channel.get_member.missing.app_error")
        await self._ctx.store.write(channel_scope(channel["id"]), [Update("channel_member", member_id(channel_id, user_id),
                                                                         {"roles": " ".join(wanted)})])
        await self._audit.record("updateChannelMemberRoles", user_id=actor.user_id,
                                 extra=f"channel={channel_id} user={user_id} roles={roles}")

    async def view(self, user_id: str, channel_id: str, actor: Session) -> dict[str, Any]:
        """Mark a channel read: the member's last_viewed_at becomes now."""
        if user_id != actor.user_id:
            raise Forbidden("You do not have the appropriate permissions.")
        times: dict[str, int] = {}
        if channel_id:
            if not await self._members.is_channel_member(channel_id, user_id):
                raise Forbidden("You do not have the appropriate permissions.")
            now = self._ctx.now_ms()
            await self._ctx.store.write(channel_scope(channel_id), [Update("channel_member", member_id(channel_id, user_id),
                                                                           {"last_viewed_at": now})])
            times[channel_id] = now
            self._ctx.events.publish(Event("channel_viewed", {"channel_id": channel_id}, Broadcast(user_id=user_id)))
        return {"status": "OK", "last_viewed_at_times": times}


def _channel_taken() -> Conflict:
    return Conflict("A channel with that name already exists on the same team.",
                    "store.sql_channel.save_channel.exists.app_error")


def _name_free_check(team_id: str, name: str, owner_id: str = "") -> Callable[[sqlite3.Connection], None]:
    """The precondition of a channel's creation or rename, run in the writer's transaction."""
    def check(conn: sqlite3.Connection) -> None:
        if taken(CHANNEL, conn, name, team_id, owner_id):
            raise _channel_taken()
    return check
