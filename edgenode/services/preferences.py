"""User preferences, including saved ("flagged") posts.

Saved posts are the replicated add-wins OR-set "user.flagged", written to the user's own feed
scope (user_scope), so they follow the user to every node that serves them and to no other
need. Mattermost exposes them as preferences of category "flagged_post" named by the post id.
Every other category is node-local (the `preferences` table of local_schema.py).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from crdt import Add, Op
from edgenode.ids import is_valid_id

from .context import Context, user_scope
from .errors import BadRequest, Forbidden, NotFound
from .events import Broadcast, Event
from .membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships
from .posts import PostService
from .users import Session

__all__ = ["FLAGGED_POST", "Preference", "PreferenceService"]

FLAGGED_POST = "flagged_post"
MAX_CATEGORY = 32
MAX_NAME = 32
MAX_VALUE = 20_000


@dataclass(frozen=True, slots=True)
class Preference:
    user_id: str
    category: str
    name: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"user_id": self.user_id, "category": self.category, "name": self.name, "value": self.value}


def _invalid_body() -> BadRequest:
    return BadRequest("Invalid or missing preferences in request body.", "api.context.invalid_body_param.app_error")


def parse_preferences(items: list[Any], user_id: str, *, deleting: bool = False) -> list[Preference]:
    """Mattermost's Preference.IsValid for each item, and every item must be the URL's user's."""
    if not items:
        raise _invalid_body()
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise _invalid_body()
        fields = {k: item.get(k, "") for k in ("user_id", "category", "name", "value")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise _invalid_body()
        pref = Preference(**fields)
        if pref.user_id != user_id:
            what = "delete_preferences.delete" if deleting else "update_preferences.set"
            raise Forbidden("You can only change your own preferences.", f"api.preference.{what}.app_error")
        if not is_valid_id(pref.user_id):
            raise BadRequest("Invalid user id.", "model.preference.is_valid.id.app_error")
        if not 1 <= len(pref.category) <= MAX_CATEGORY:
            raise BadRequest(f"Invalid category: 1 to {MAX_CATEGORY} characters.", "model.preference.is_valid.category.app_error")
        if len(pref.name) > MAX_NAME:
            raise BadRequest(f"Invalid name: at most {MAX_NAME} characters.", "model.preference.is_valid.name.app_error")
        if len(pref.value) > MAX_VALUE:
            raise BadRequest(f"Invalid value: at most {MAX_VALUE} characters.", "model.preference.is_valid.value.app_error")
        if pref.category == "theme" and not deleting and not _is_json_object(pref.value):
            raise BadRequest("Invalid theme: it must be a JSON object.", "model.preference.is_valid.theme.app_error")
        if pref.category == FLAGGED_POST and not is_valid_id(pref.name):
            raise BadRequest("Invalid or missing preference.name in request body.", "api.context.invalid_body_param.app_error")
        out.append(pref)
    return out


def _is_json_object(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


class PreferenceService:
    def __init__(self, ctx: Context, posts: PostService, members: Memberships):
        self._ctx = ctx
        self._posts = posts
        self._members = members

    async def check_user(self, user_id: str, actor: Session) -> None:
        """A user's preferences are theirs; a system admin may manage anyone's."""
        if user_id != actor.user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        if user_id != actor.user_id and await self._ctx.store.fetchone(
                "SELECT 1 FROM users WHERE id = ? AND _deleted = 0", (user_id,)) is None:
            raise NotFound("Unable to find the user.", "app.user.missing_account.const")

    async def _flagged(self, user_id: str) -> set[str]:
        rows = await self._ctx.store.fetchall("SELECT post_id FROM flagged_posts WHERE user_id = ?", (user_id,))
        return {r["post_id"] for r in rows}

    async def update(self, user_id: str, items: list[Any], actor: Session) -> None:
        """PUT /users/{uid}/preferences: saving a post needs a post the caller may read."""
        await self.check_user(user_id, actor)
        prefs = parse_preferences(items, user_id)
        flagged = await self._flagged(user_id)
        ops: list[Op] = []
        for pref in prefs:
            if pref.category == FLAGGED_POST:
                try:
                    await self._posts.readable(pref.name, actor)
                except NotFound:
                    raise BadRequest("Invalid or missing preference.name in request body.",
                                     "api.context.invalid_body_param.app_error") from None
                if pref.name not in flagged:
                    flagged.add(pref.name)
                    ops.append(Add("user.flagged", user_id, pref.name))
        local = [(p.user_id, p.category, p.name, p.value) for p in prefs if p.category != FLAGGED_POST]
        # Everything is checked above; the replicated set and the local table are then written in turn.
        if ops:
            await self._ctx.store.write(user_scope(user_id), ops)
        if local:
            await self._ctx.store.write_local(lambda conn: conn.executemany(
                "INSERT INTO preferences (user_id, category, name, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, category, name) DO UPDATE SET value = excluded.value", local))
        saved = [Preference(p.user_id, p.category, p.name, "true" if p.category == FLAGGED_POST else p.value) for p in prefs]
        self._ctx.events.publish(Event("preferences_changed", {"preferences": json.dumps([p.to_json() for p in saved])},
                                       Broadcast(user_id=user_id)))

    async def delete(self, user_id: str, items: list[Any], actor: Session) -> None:
        """POST /users/{uid}/preferences/delete: deleting what is not there changes nothing."""
        await self.check_user(user_id, actor)
        prefs = parse_preferences(items, user_id, deleting=True)
        ops: list[Op] = []
        for post_id in dict.fromkeys(p.name for p in prefs if p.category == FLAGGED_POST):
            remove = await self._members.remove("user.flagged", user_id, post_id)
            if remove is not None:
                ops.append(remove)
        local = [(p.user_id, p.category, p.name) for p in prefs if p.category != FLAGGED_POST]
        if ops:
            await self._ctx.store.write(user_scope(user_id), ops)
        if local:
            await self._ctx.store.write_local(lambda conn: conn.executemany(
                "DELETE FROM preferences WHERE user_id = ? AND category = ? AND name = ?", local))
        self._ctx.events.publish(Event("preferences_deleted", {"preferences": json.dumps([p.to_json() for p in prefs])},
                                       Broadcast(user_id=user_id)))

    async def for_user(self, user_id: str, actor: Session, category: str | None = None) -> list[dict[str, str]]:
        """GET /users/{uid}/preferences[/{category}]: saved posts first, then the rest by category and name."""
        await self.check_user(user_id, actor)
        out: list[dict[str, str]] = []
        if category in (None, FLAGGED_POST):
            out += [Preference(user_id, FLAGGED_POST, post_id, "true").to_json() for post_id in sorted(await self._flagged(user_id))]
        if category != FLAGGED_POST:
            sql = "SELECT * FROM preferences WHERE user_id = ?"
            params: tuple[str, ...] = (user_id,)
            if category is not None:
                sql, params = sql + " AND category = ?", (user_id, category)
            rows = await self._ctx.store.fetchall(sql + " ORDER BY category, name", params)
            out += [_row_preference(r).to_json() for r in rows]
        return out

    async def get(self, user_id: str, category: str, name: str, actor: Session) -> dict[str, str]:
        """GET /users/{uid}/preferences/{category}/name/{name}."""
        for pref in await self.for_user(user_id, actor, category):
            if pref["name"] == name:
                return pref
        raise NotFound("Unable to find the preference.", "app.preference.get.app_error")

    async def flagged_posts(self, user_id: str, actor: Session, *, team_id: str = "", channel_id: str = "",
                            page: int = 0, per_page: int = 60) -> dict[str, Any]:
        """GET /users/{uid}/posts/flagged: saved posts the user may still read, newest first."""
        await self.check_user(user_id, actor)
        sql = (
            "SELECT p.rowid AS _rowid, p.* FROM flagged_posts f "
            "JOIN posts p ON p.id = f.post_id AND p._deleted = 0 "
            "JOIN channels c ON c.id = p.channel_id AND c._deleted = 0 "
            "WHERE f.user_id = :user AND ("
            f"  EXISTS (SELECT 1 FROM {EFFECTIVE_CHANNEL_MEMBERS} m WHERE m.channel_id = c.id AND m.user_id = :user)"
            "  OR (c.type = 'O' AND EXISTS (SELECT 1 FROM team_members t WHERE t.team_id = c.team_id AND t.user_id = :user)))"
        )
        params: dict[str, Any] = {"user": user_id, "limit": per_page, "offset": page * per_page}
        if team_id:
            # direct and group messages belong to no team and are saved on every team's list, as in Mattermost
            sql += " AND (c.team_id = :team OR coalesce(c.team_id, '') = '')"
            params["team"] = team_id
        if channel_id:
            sql += " AND p.channel_id = :channel"
            params["channel"] = channel_id
        rows = await self._ctx.store.fetchall(
            sql + " ORDER BY p.create_at DESC, p.id DESC LIMIT :limit OFFSET :offset", params)  # type: ignore[arg-type]
        return await self._posts.post_list(rows)


def _row_preference(row: sqlite3.Row) -> Preference:
    return Preference(row["user_id"], row["category"], row["name"], row["value"])
