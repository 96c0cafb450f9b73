"""Membership sets (team and channel members) as OR-set ops, and questions about them."""

from __future__ import annotations

from crdt import Add, Remove, Stamp

from .context import Context

__all__ = ["Memberships"]


class Memberships:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    def add(self, kind: str, owner: str, user_id: str) -> Add:
        return Add(kind, owner, user_id)

    async def remove(self, kind: str, owner: str, element: str) -> Remove | None:
        """A remove of every add of `element` this node has seen, or None if it is not present."""
        rows = await self._ctx.store.fetchall(
            "SELECT tag FROM set_tags WHERE kind = ? AND owner = ? AND element = ?", (kind, owner, element))
        if not rows:
            return None
        return Remove(kind, owner, element, tuple(Stamp.unpack(r[0]) for r in rows))

    async def is_team_member(self, team_id: str, user_id: str) -> bool:
        return await self._ctx.store.fetchone(
            "SELECT 1 FROM team_members WHERE team_id = ? AND user_id = ?", (team_id, user_id)) is not None

    async def is_channel_member(self, channel_id: str, user_id: str) -> bool:
        return await self._ctx.store.fetchone(
            "SELECT 1 FROM channel_members WHERE channel_id = ? AND user_id = ?", (channel_id, user_id)) is not None

    async def team_roles(self, team_id: str, user_id: str) -> str | None:
        """The member's team roles, or None when not a member."""
        row = await self._ctx.store.fetchone(
            "SELECT a.roles FROM team_members m LEFT JOIN team_member_attrs a ON a.id = m.team_id || ':' || m.user_id "
            "WHERE m.team_id = ? AND m.user_id = ?", (team_id, user_id))
        return None if row is None else (row[0] or "team_user")

    async def channel_roles(self, channel_id: str, user_id: str) -> str | None:
        row = await self._ctx.store.fetchone(
            "SELECT a.roles FROM channel_members m LEFT JOIN channel_member_attrs a ON a.id = m.channel_id || ':' || m.user_id "
            "WHERE m.channel_id = ? AND m.user_id = ?", (channel_id, user_id))
        return None if row is None else (row[0] or "channel_user")


def member_id(owner: str, user_id: str) -> str:
    """The id of a member-attributes entity: one per (team or channel, user), the same on every node."""
    return f"{owner}:{user_id}"
