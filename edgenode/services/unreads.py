"""Read state: what a member has seen of a channel, and what mentions them since (per channel and per team).

A member has seen the posts created up to their `last_viewed_at`; the rest are unread. Mentions
come from the node-local `post_mentions` index (local_schema.py), filled from each post's
immutable `mentions` field: the member's own rows, plus "@channel" rows unless they ignore
channel-wide mentions. Everything is computed in one query per request, however many channels.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crdt import Update
from edgenode.ids import is_valid_id
from edgenode.store import Store

from .context import Context, channel_scope
from .errors import Forbidden, NotFound
from .events import Broadcast, Event
from .membership import TEAM_CHANNEL_MEMBER_CLAUSE, Memberships, member_id
from .mentions import CHANNEL_WIDE
from .users import Session

__all__ = ["ChannelCounts", "UnreadService", "channel_counts"]


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    channel_id: str
    team_id: str
    muted: bool
    msg_count: int
    """Posts the member has seen (Mattermost's ChannelMember.msg_count)."""
    msg_count_root: int
    unread: int
    unread_root: int
    mention_count: int
    mention_count_root: int

    def member_fields(self) -> dict[str, int]:
        """The counts a ChannelMember carries."""
        return {"msg_count": self.msg_count, "msg_count_root": self.msg_count_root,
                "mention_count": self.mention_count, "mention_count_root": self.mention_count_root}


# `wide`: does this member count channel-wide mentions? The member's ignore_channel_mentions
# decides when set; "default" defers to the user's own "channel" notify prop (passed in).
_COUNTS_SQL = """
WITH mine AS (
    SELECT m.channel_id, coalesce(c.team_id, '') AS team_id, coalesce(a.last_viewed_at, 0) AS viewed,
           CASE coalesce(json_extract(a.notify_props, '$.ignore_channel_mentions'), 'default')
                WHEN 'on' THEN 0 WHEN 'off' THEN 1 ELSE :wide END AS wide,
           coalesce(json_extract(a.notify_props, '$.mark_unread'), 'all') = 'mention' AS muted
    FROM channel_members m
    JOIN channels c ON c.id = m.channel_id AND c._deleted = 0 AND """ + TEAM_CHANNEL_MEMBER_CLAUSE + """
    LEFT JOIN channel_member_attrs a ON a.id = m.channel_id || ':' || m.user_id
    WHERE m.user_id = :user AND {where}
)
SELECT channel_id, team_id, muted,
    (SELECT count(*) FROM posts p WHERE p.channel_id = mine.channel_id AND p._deleted = 0
        AND p.create_at <= mine.viewed) AS seen,
    (SELECT count(*) FROM posts p WHERE p.channel_id = mine.channel_id AND p._deleted = 0
        AND p.create_at <= mine.viewed AND coalesce(p.root_id, '') = '') AS seen_root,
    (SELECT count(*) FROM posts p WHERE p.channel_id = mine.channel_id AND p._deleted = 0
        AND p.create_at > mine.viewed) AS unread,
    (SELECT count(*) FROM posts p WHERE p.channel_id = mine.channel_id AND p._deleted = 0
        AND p.create_at > mine.viewed AND coalesce(p.root_id, '') = '') AS unread_root,
    (SELECT count(DISTINCT pm.post_id) FROM post_mentions pm
        WHERE pm.user_id IN (:user, CASE WHEN mine.wide THEN :everyone ELSE :user END)
        AND pm.channel_id = mine.channel_id AND pm.create_at > mine.viewed AND pm.author_id != :user) AS mentions,
    (SELECT count(DISTINCT pm.post_id) FROM post_mentions pm
        WHERE pm.user_id IN (:user, CASE WHEN mine.wide THEN :everyone ELSE :user END)
        AND pm.channel_id = mine.channel_id AND pm.create_at > mine.viewed AND pm.author_id != :user
        AND pm.is_root) AS mentions_root
FROM mine
"""


async def _user_counts_channel_mentions(store: Store, user_id: str) -> bool:
    row = await store.fetchone("SELECT notify_props FROM users WHERE id = ?", (user_id,))
    try:
        props = json.loads(row["notify_props"]) if row is not None and row["notify_props"] else {}
    except ValueError:
        props = {}
    return not (isinstance(props, dict) and props.get("channel") == "false")


async def channel_counts(store: Store, user_id: str, *, channel_ids: Sequence[str] | None = None,
                         team_ids: Sequence[str] | None = None) -> dict[str, ChannelCounts]:
    """Counts for the user's channels: the given ones, or those of the given teams."""
    named: dict[str, Any] = {"user": user_id, "everyone": CHANNEL_WIDE,
                             "wide": int(await _user_counts_channel_mentions(store, user_id))}
    if channel_ids is not None:
        where = f"m.channel_id IN ({_in_list(channel_ids, named)})"
    elif team_ids is not None:
        where = f"c.team_id IN ({_in_list(team_ids, named)})"
    else:
        where = "1"
    rows = await store.fetchall(_COUNTS_SQL.format(where=where), named)  # type: ignore[arg-type]
    return {r["channel_id"]: _counts(r) for r in rows}


def _in_list(values: Sequence[str], named: dict[str, Any]) -> str:
    """Named placeholders for an IN list (the statement's other parameters are named too)."""
    start = len(named)
    names = [f"v{start + i}" for i in range(len(values))]
    named.update(zip(names, values))
    return ", ".join(f":{n}" for n in names) or "NULL"


def _counts(row: sqlite3.Row) -> ChannelCounts:
    return ChannelCounts(
        channel_id=row["channel_id"], team_id=row["team_id"], muted=bool(row["muted"]),
        msg_count=int(row["seen"]), msg_count_root=int(row["seen_root"]),
        unread=int(row["unread"]), unread_root=int(row["unread_root"]),
        mention_count=int(row["mentions"]), mention_count_root=int(row["mentions_root"]),
    )


class UnreadService:
    """Unread counts of a channel and of teams, and marking a channel unread from a post on."""

    def __init__(self, ctx: Context, members: Memberships):
        self._ctx = ctx
        self._members = members

    @staticmethod
    def _check_self(user_id: str, actor: Session) -> None:
        if user_id != actor.user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")

    async def channel(self, user_id: str, channel_id: str, actor: Session) -> dict[str, Any]:
        self._check_self(user_id, actor)
        counts = (await channel_counts(self._ctx.store, user_id, channel_ids=[channel_id])).get(channel_id)
        if counts is None:
            raise NotFound("The user is not a member of the channel.", "app.channel.get_member.missing.app_error")
        return {
            "team_id": counts.team_id, "channel_id": channel_id,
            "msg_count": counts.unread, "msg_count_root": counts.unread_root,
            "mention_count": counts.mention_count, "mention_count_root": counts.mention_count_root,
            "urgent_mention_count": 0,
            "notify_props": await self._member_notify_props(channel_id, user_id),
        }

    async def _member_notify_props(self, channel_id: str, user_id: str) -> dict[str, Any]:
        row = await self._ctx.store.fetchone("SELECT notify_props FROM channel_member_attrs WHERE id = ?",
                                             (f"{channel_id}:{user_id}",))
        try:
            props = json.loads(row["notify_props"]) if row is not None and row["notify_props"] else None
        except ValueError:
            props = None
        return props if isinstance(props, dict) else {"desktop": "default", "email": "default",
                                                       "ignore_channel_mentions": "default", "mark_unread": "all",
                                                       "push": "default"}

    async def mark_unread_from(self, user_id: str, post_id: str, actor: Session) -> dict[str, Any]:
        """POST /users/{uid}/posts/{pid}/set_unread: the member has seen only what came before the post."""
        self._check_self(user_id, actor)
        store = self._ctx.store
        post = await store.fetchone("SELECT channel_id, create_at FROM posts WHERE id = ? AND _deleted = 0", (post_id,))
        if post is None:
            raise NotFound("Unable to find the post.", "app.post.get.app_error")
        channel_id = post["channel_id"]
        if not await self._members.is_channel_member(channel_id, user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        viewed = max(int(post["create_at"] or 0) - 1, 0)
        await store.write(channel_scope(channel_id),
                          [Update("channel_member", member_id(channel_id, user_id), {"last_viewed_at": viewed})])
        counts = (await channel_counts(store, user_id, channel_ids=[channel_id]))[channel_id]
        data = {
            "team_id": counts.team_id, "user_id": user_id, "channel_id": channel_id,
            "msg_count": counts.msg_count, "msg_count_root": counts.msg_count_root,
            "mention_count": counts.mention_count, "mention_count_root": counts.mention_count_root,
            "urgent_mention_count": 0, "last_viewed_at": viewed,
        }
        self._ctx.events.publish(Event("post_unread", {**data, "post_id": post_id}, Broadcast(user_id=user_id)))
        return {**data, "notify_props": await self._member_notify_props(channel_id, user_id)}

    async def teams(self, user_id: str, actor: Session, *, exclude_team: str = "") -> list[dict[str, Any]]:
        """One TeamUnread per team of the user; muted channels add mentions but not unread messages."""
        self._check_self(user_id, actor)
        rows = await self._ctx.store.fetchall(
            "SELECT m.team_id FROM team_members m JOIN teams t ON t.id = m.team_id AND t._deleted = 0 "
            "WHERE m.user_id = ? ORDER BY m.team_id", (user_id,))
        team_ids = [r["team_id"] for r in rows if r["team_id"] != exclude_team]
        return await self._team_unreads(user_id, team_ids)

    async def team(self, user_id: str, team_id: str, actor: Session) -> dict[str, Any]:
        self._check_self(user_id, actor)
        if not is_valid_id(team_id) or not await self._members.is_team_member(team_id, user_id):
            raise NotFound("The user is not a member of the team.", "app.team.get_member.missing.app_error")
        return (await self._team_unreads(user_id, [team_id]))[0]

    async def _team_unreads(self, user_id: str, team_ids: list[str]) -> list[dict[str, Any]]:
        fields = ("msg_count", "mention_count", "msg_count_root", "mention_count_root", "thread_count",
                  "thread_mention_count", "thread_urgent_mention_count")
        totals: dict[str, dict[str, int]] = {t: dict.fromkeys(fields, 0) for t in team_ids}
        for counts in (await channel_counts(self._ctx.store, user_id, team_ids=team_ids)).values():
            total = totals[counts.team_id]
            if not counts.muted:
                total["msg_count"] += counts.unread
                total["msg_count_root"] += counts.unread_root
            total["mention_count"] += counts.mention_count
            total["mention_count_root"] += counts.mention_count_root
        return [{"team_id": team_id, **total} for team_id, total in totals.items()]
