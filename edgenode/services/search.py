"""Post search: Mattermost's search syntax over the node-local FTS5 indexes, limited to what the searcher may read.

The message index (post_search) and the hashtag index (post_hashtags) are kept by triggers on
posts, so edits, deletes and posts received from peers are searchable in the transaction that
wrote them. Results are posts in channels the searcher is a member of (in one team plus their
direct and group messages, or in all their teams), newest first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from .channels import direct_channel_id
from .context import Context
from .errors import BadRequest, Forbidden
from .membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships
from .names import CHANNEL, USERNAME, Names
from .posts import PostService
from .search_syntax import (
    ChannelRef,
    SearchQuery,
    day_window,
    hashtag_expression,
    matched_terms,
    message_expression,
    parse_search,
)
from .users import Session

__all__ = ["MAX_PER_PAGE", "MAX_TIME_ZONE_OFFSET", "SearchService"]

MAX_PER_PAGE = 200
MAX_TIME_ZONE_OFFSET = 86_400
"""Seconds east of UTC; real zones stay within ±14 hours, anything beyond a day is a mistake."""


class _Where:
    """SQL conditions joined by AND, with their parameters in order."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []
        self.covered = True  # every clause reads only what posts_channel_id_create_at holds (channel, time, rowid)

    def add(self, clause: str, *params: Any, covered: bool = True) -> None:
        self.clauses.append(clause)
        self.params.extend(params)
        self.covered = self.covered and covered

    def sql(self) -> str:
        return " AND ".join(self.clauses)


_MAX_OFFSET = 2**62
"""Pages beyond this are empty (and SQLite's 64-bit OFFSET could not express them)."""

_LIVE_POST = ("p._deleted = 0 AND coalesce(p.delete_at, 0) = 0 "
              "AND coalesce(p.type, '') NOT LIKE 'system!_%' ESCAPE '!'")  # as Mattermost: no system messages
"""Posts a search may return: not deleted, not system messages."""

_JSON_LIST = "(SELECT value FROM json_each(?))"
"""A list parameter passed as one JSON array, so no query grows a placeholder per value."""


class SearchService:
    def __init__(self, ctx: Context, members: Memberships, posts: PostService):
        self._ctx = ctx
        self._members = members
        self._posts = posts

    async def search(self, team_id: str, terms: str, actor: Session, is_or_search: bool = False, page: int = 0,
                     per_page: int = 60, *, time_zone_offset: int = 0,
                     include_deleted_channels: bool = False) -> dict[str, Any]:
        """Posts matching Mattermost search text `terms`, as a PostList plus "matches" (post id -> terms to highlight).

        `team_id` "" searches every team of the searcher. Raises BadRequest for text it cannot
        parse or out-of-range arguments, Forbidden when the searcher is not on the team.
        """
        if not isinstance(terms, str):
            raise BadRequest("Invalid or missing terms in request body.", "api.context.invalid_body_param.app_error")
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise BadRequest("Invalid page: a whole number, at least 0.", "api.context.invalid_body_param.app_error")
        if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < 1:
            raise BadRequest("Invalid per_page: a whole number, at least 1.", "api.context.invalid_body_param.app_error")
        if isinstance(time_zone_offset, bool) or not isinstance(time_zone_offset, int) \
                or abs(time_zone_offset) > MAX_TIME_ZONE_OFFSET:
            raise BadRequest(f"Invalid time_zone_offset: seconds east of UTC, at most {MAX_TIME_ZONE_OFFSET} either way.",
                             "api.context.invalid_body_param.app_error")
        per_page = min(per_page, MAX_PER_PAGE)
        query = parse_search(terms)
        if team_id and not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        where = None
        if not query.is_empty and page * per_page <= _MAX_OFFSET:
            where = await self._where(query, team_id, actor, is_or_search, time_zone_offset, include_deleted_channels)
        if where is None:
            return await self._result([], query, has_next=False, found_by_index=True)
        if where.covered and (query.terms or query.hashtags):
            rows = await self._newest_through_index(where, page, per_page)
        else:
            rows = await self._ctx.store.fetchall(
                f"SELECT p.rowid AS _rowid, p.* FROM posts p WHERE {where.sql()} AND {_LIVE_POST} "
                "ORDER BY p.create_at DESC, p.rowid DESC LIMIT ? OFFSET ?", (*where.params, per_page + 1, page * per_page))
        return await self._result(rows[:per_page], query, has_next=len(rows) > per_page,
                                  found_by_index=not is_or_search)

    async def _newest_through_index(self, where: _Where, page: int, per_page: int) -> list[sqlite3.Row]:
        """The page's rows (plus one, to tell if more follow), found in two steps.

        A common word matches a large share of all posts; reading every matching row to sort them
        by time made such searches slow. The (channel_id, create_at) index holds everything the
        conditions need, so the newest candidates come from it alone, and only those rows are read
        (dropping deleted and system posts, and asking for more candidates if too many dropped).
        """
        wanted = (page + 1) * per_page + 1
        limit = wanted + 16
        while True:
            candidates = await self._ctx.store.fetchall(
                f"SELECT p.rowid FROM posts p INDEXED BY posts_channel_id_create_at WHERE {where.sql()} "
                "ORDER BY p.create_at DESC, p.rowid DESC LIMIT ?", (*where.params, limit))
            rows = await self._ctx.store.fetchall(
                f"SELECT p.rowid AS _rowid, p.* FROM posts p WHERE p.rowid IN {_JSON_LIST} AND {_LIVE_POST} "
                "ORDER BY p.create_at DESC, p.rowid DESC", (json.dumps([c[0] for c in candidates]),))
            if len(rows) >= wanted or len(candidates) < limit:
                return rows[page * per_page: wanted]
            limit *= 4

    async def _result(self, rows: list[sqlite3.Row], query: SearchQuery, *, has_next: bool,
                      found_by_index: bool) -> dict[str, Any]:
        result = await self._posts.post_list(rows, has_next=has_next)
        result["matches"] = {
            row["id"]: matched_terms(query, row["message"] or "", row["hashtags"] or "", found_by_index=found_by_index)
            for row in rows
        }
        return result

    async def _where(self, query: SearchQuery, team_id: str, actor: Session, any_of: bool, offset: int,
                     include_deleted_channels: bool) -> _Where | None:
        """The conditions on posts p, or None when the query can match nothing (an unknown from: user, say)."""
        where = _Where()
        scope = "(c.team_id = ? OR c.type IN ('D', 'G'))" if team_id else \
            "(c.type IN ('D', 'G') OR c.team_id IN (SELECT team_id FROM team_members WHERE user_id = ?))"
        where.add(f"p.channel_id IN (SELECT m.channel_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m JOIN channels c ON c.id = m.channel_id "
                  f"WHERE m.user_id = ? AND c._deleted = 0 AND {scope}"
                  + ("" if include_deleted_channels else " AND coalesce(c.delete_at, 0) = 0") + ")",
                  actor.user_id, team_id or actor.user_id)
        wanted = []
        if query.terms:
            wanted.append(("p.rowid IN (SELECT rowid FROM post_search WHERE post_search MATCH ?)",
                           message_expression(query.terms, any_of=any_of)))
        if query.hashtags:
            wanted.append(("p.rowid IN (SELECT rowid FROM post_hashtags WHERE post_hashtags MATCH ?)",
                           hashtag_expression(query.hashtags, any_of=any_of)))
        if any_of and len(wanted) > 1:
            where.add("(" + " OR ".join(clause for clause, _ in wanted) + ")", *(param for _, param in wanted))
        else:
            for clause, param in wanted:
                where.add(clause, param)
        # a post is left out if it has any excluded term
        if query.excluded_terms:
            where.add("p.rowid NOT IN (SELECT rowid FROM post_search WHERE post_search MATCH ?)",
                      message_expression(query.excluded_terms, any_of=True))
        if query.excluded_hashtags:
            where.add("p.rowid NOT IN (SELECT rowid FROM post_hashtags WHERE post_hashtags MATCH ?)",
                      hashtag_expression(query.excluded_hashtags, any_of=True))
        if query.from_users:
            ids = await self._user_ids(query.from_users)
            if not ids:
                return None
            where.add(f"p.user_id IN {_JSON_LIST}", json.dumps(ids), covered=False)
        if query.excluded_users:
            ids = await self._user_ids(query.excluded_users)
            if ids:
                where.add(f"p.user_id NOT IN {_JSON_LIST}", json.dumps(ids), covered=False)
        if query.in_channels:
            ids = await self._channel_ids(query.in_channels, team_id, actor)
            if not ids:
                return None
            where.add(f"p.channel_id IN {_JSON_LIST}", json.dumps(ids))
        if query.excluded_channels:
            ids = await self._channel_ids(query.excluded_channels, team_id, actor)
            if ids:
                where.add(f"p.channel_id NOT IN {_JSON_LIST}", json.dumps(ids))
        window = day_window(query, offset)
        if window.start is not None:
            where.add("p.create_at >= ?", window.start)
        if window.end is not None:
            where.add("p.create_at <= ?", window.end)
        for gap_start, gap_end in window.gaps:
            where.add("(p.create_at < ? OR p.create_at > ?)", gap_start, gap_end)
        return where

    async def _user_ids(self, usernames: Sequence[str]) -> list[str]:
        return sorted(set((await Names.of(self._ctx).resolve_many(USERNAME, usernames)).values()))

    async def _channel_ids(self, refs: Sequence[ChannelRef], team_id: str, actor: Session) -> list[str]:
        """The channels `in:` values name: by name in the team (any team if none), or a DM/GM by usernames."""
        ids: list[str] = []
        for ref in refs:
            if ref.name:
                if team_id:
                    channel_id = await Names.of(self._ctx).resolve(CHANNEL, ref.name, team_id)
                    ids.extend([channel_id] if channel_id else [])
                else:  # no team given: the channel of that name in every team
                    rows = await self._ctx.store.fetchall("SELECT DISTINCT team_id FROM channels WHERE _deleted = 0 "
                                                          "AND type IN ('O', 'P')")
                    for row in rows:
                        channel_id = await Names.of(self._ctx).resolve(CHANNEL, ref.name, row["team_id"] or "")
                        ids.extend([channel_id] if channel_id else [])
            else:
                ids.extend(await self._conversation_ids(ref.usernames, actor))
        return ids

    async def _conversation_ids(self, usernames: Sequence[str], actor: Session) -> list[str]:
        """`in:@bob` is the searcher's DM with bob; `in:@bob,carol` their group message with bob and carol."""
        others = await self._user_ids(usernames)
        if len(others) != len(set(usernames)):
            return []
        members = sorted(set(others) | {actor.user_id})
        if len(members) <= 2:
            return [direct_channel_id(members[0], members[-1])[0]]
        rows = await self._ctx.store.fetchall(
            "SELECT c.id FROM channels c WHERE c.type = 'G' AND c._deleted = 0 "
            f"AND c.id IN (SELECT channel_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m WHERE m.user_id = ?) "
            "AND (SELECT count(*) FROM channel_members m WHERE m.channel_id = c.id) = ? "
            "AND (SELECT count(*) FROM channel_members m WHERE m.channel_id = c.id "
            "     AND m.user_id IN (SELECT value FROM json_each(?))) = ?",
            (actor.user_id, len(members), json.dumps(members), len(members)))
        return [r["id"] for r in rows]
