"""Membership sets (team and channel members) as OR-set ops, and questions about them.

Who is a member of a channel *for access* is not simply "in the channel's member set": the sets are
add-wins, so a channel add made offline while the user was being removed from the channel's team
elsewhere survives the merge. Mattermost removes a user from every channel of a team they leave,
and re-joining the team does not give those channels back. The effective rule, the same on every
node because it reads only the merged OR-set tags (the add ops' stamps):

    a user is an effective member of a team channel when they are in its member set through an
    add stamped after the earliest add that makes them a member of the team now;
    of a direct or group channel, when they are in its member set.

So a user who is not a team member now reaches none of its channels; an add concurrent with a team
removal dies with the removal (the user has no team tag left, and a later re-join is stamped after
it); a re-join does not revive channel adds made before it. `effective_channel_member` is the rule
as a pure function; `EFFECTIVE_CHANNEL_MEMBERS` and the queries below are the same rule in SQL, and
every access decision (reads, posts, search, websocket delivery, unreads, member lists, which nodes
receive a private channel) goes through them.
"""

from __future__ import annotations

from collections.abc import Collection

from crdt import Add, Remove, Stamp

from .context import Context
from .read_cache import ReadCache, shared_cache

__all__ = [
    "Memberships", "member_id", "effective_channel_member", "EFFECTIVE_CHANNEL_MEMBERS", "MEMBERSHIP_KINDS",
    "TEAM_CHANNEL_MEMBER_CLAUSE",
]


def effective_channel_member(channel_tags: Collection[bytes], team_tags: Collection[bytes] | None) -> bool:
    """The effective-membership rule over live OR-set tags (packed stamps, whose byte order is their order).

    `channel_tags`: the user's live tags in the channel's member set; `team_tags`: their live tags in the
    team's member set, or None for a channel outside any team (direct and group messages).
    """
    if not channel_tags:
        return False
    if team_tags is None:
        return True
    return bool(team_tags) and max(channel_tags) > min(team_tags)


# For a row `m` of channel_members and the channel row `c`: the rule above in SQL (a NULL min, no team
# tag left, compares as not-true).
TEAM_CHANNEL_MEMBER_CLAUSE = (
    "(coalesce(c.team_id, '') = '' OR EXISTS (SELECT 1 FROM set_tags ct WHERE ct.kind = 'channel.members' "
    "AND ct.owner = m.channel_id AND ct.element = m.user_id AND ct.tag > (SELECT min(tt.tag) FROM set_tags tt "
    "WHERE tt.kind = 'team.members' AND tt.owner = c.team_id AND tt.element = m.user_id)))"
)

EFFECTIVE_CHANNEL_MEMBERS = (
    "(SELECT m.channel_id AS channel_id, m.user_id AS user_id, m.create_at AS create_at FROM channel_members m "
    f"JOIN channels c ON c.id = m.channel_id WHERE {TEAM_CHANNEL_MEMBER_CLAUSE})"
)
"""A table expression with channel_members' columns holding only effective members: use it in FROM
wherever channel_members would answer an access question."""

_IS_CHANNEL_MEMBER = (
    f"SELECT 1 FROM channel_members m JOIN channels c ON c.id = m.channel_id "
    f"WHERE m.channel_id = ? AND m.user_id = ? AND {TEAM_CHANNEL_MEMBER_CLAUSE}"
)


MEMBERSHIP_KINDS = frozenset({"channel.members", "team.members", "channel"})
"""What the effective-membership rule reads: both member sets and the channel's team."""


class Memberships:
    def __init__(self, ctx: Context):
        self._ctx = ctx
        # (channel id, user id) -> effective member: asked by every post, read and event delivery
        self._channel_member: ReadCache[tuple[str, str], bool] = shared_cache(
            ctx.store, "is_channel_member", MEMBERSHIP_KINDS)
        self._team_member: ReadCache[tuple[str, str], bool] = shared_cache(
            ctx.store, "is_team_member", {"team.members"})

    def add(self, kind: str, owner: str, user_id: str) -> Add:
        return Add(kind, owner, user_id)

    async def remove(self, kind: str, owner: str, element: str) -> Remove | None:
        """A remove of every add of `element` this node has seen, or None if it is not present."""
        rows = await self._ctx.store.fetchall(
            "SELECT tag FROM set_tags WHERE kind = ? AND owner = ? AND element = ?", (kind, owner, element))
        if not rows:
            return None
        return Remove(kind, owner, element, tuple(Stamp.unpack(r[0]) for r in rows))

    async def team_channel_removes(self, team_id: str, user_id: str) -> list[tuple[str, Remove]]:
        """(channel id, remove) for every channel of the team the user is in the member set of, effective
        or not: leaving a team leaves its channels, as in Mattermost."""
        rows = await self._ctx.store.fetchall(
            "SELECT t.owner, t.tag FROM set_tags t JOIN channels c ON c.id = t.owner "
            "WHERE t.kind = 'channel.members' AND t.element = ? AND c.team_id = ? ORDER BY t.owner, t.tag",
            (user_id, team_id))
        tags: dict[str, list[Stamp]] = {}
        for row in rows:
            tags.setdefault(row[0], []).append(Stamp.unpack(row[1]))
        return [(channel_id, Remove("channel.members", channel_id, user_id, tuple(stamps)))
                for channel_id, stamps in tags.items()]

    async def is_team_member(self, team_id: str, user_id: str) -> bool:
        async def read() -> bool:
            return await self._ctx.store.fetchone(
                "SELECT 1 FROM team_members WHERE team_id = ? AND user_id = ?", (team_id, user_id)) is not None
        return await self._team_member.get((team_id, user_id), read)

    async def is_channel_member(self, channel_id: str, user_id: str) -> bool:
        """Whether the user is an effective member of the channel (see the module's docstring)."""
        async def read() -> bool:
            return await self._ctx.store.fetchone(_IS_CHANNEL_MEMBER, (channel_id, user_id)) is not None
        return await self._channel_member.get((channel_id, user_id), read)

    async def team_roles(self, team_id: str, user_id: str) -> str | None:
        """The member's team roles, or None when not a member."""
        row = await self._ctx.store.fetchone(
            "SELECT a.roles FROM team_members m LEFT JOIN team_member_attrs a ON a.id = m.team_id || ':' || m.user_id "
            "WHERE m.team_id = ? AND m.user_id = ?", (team_id, user_id))
        return None if row is None else (row[0] or "team_user")

    async def channel_roles(self, channel_id: str, user_id: str) -> str | None:
        """The member's channel roles, or None when not an effective member: a channel admin removed from
        the channel's team keeps no right in the channel."""
        row = await self._ctx.store.fetchone(
            f"SELECT a.roles FROM {EFFECTIVE_CHANNEL_MEMBERS} m LEFT JOIN channel_member_attrs a "
            "ON a.id = m.channel_id || ':' || m.user_id WHERE m.channel_id = ? AND m.user_id = ?", (channel_id, user_id))
        return None if row is None else (row[0] or "channel_user")


def member_id(owner: str, user_id: str) -> str:
    """The id of a member-attributes entity: one per (team or channel, user), the same on every node."""
    return f"{owner}:{user_id}"
