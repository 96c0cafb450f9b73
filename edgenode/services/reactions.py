"""Emoji reactions: the add-wins OR-set "post.reactions", one element "user_id:emoji_name" each.

Adding a reaction that is present writes nothing; removing one cancels every add of it this
node has seen (a concurrent add elsewhere survives, by the OR-set's rule). Both also bump the
post's update_at, as Mattermost does, so clients that poll for changed posts see them.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from crdt import Add, Op, Update
from edgenode.ids import is_valid_id

from .channels import ChannelService
from .context import Context, channel_scope
from .errors import BadRequest, Forbidden, NotFound
from .events import Broadcast, Event
from .membership import Memberships
from .models import Record
from .users import Session

if TYPE_CHECKING:  # posts.py builds post metadata with reaction_json, so it imports this module
    from .posts import PostService

__all__ = [
    "MAX_EMOJI_NAME", "MAX_UNIQUE_EMOJI_PER_POST", "ReactionService", "check_emoji_name", "reaction_event", "reaction_json",
]

MAX_EMOJI_NAME = 64
MAX_UNIQUE_EMOJI_PER_POST = 50
"""Mattermost's default ServiceSettings.UniqueEmojiReactionLimitPerPost."""
MAX_BULK_POSTS = 200
_EMOJI_RE = re.compile(r"^[a-zA-Z0-9\-+_]+$")


def check_emoji_name(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_EMOJI_NAME or not _EMOJI_RE.match(value):
        raise BadRequest("Invalid emoji name: 1 to 64 letters, digits, '-', '+' or '_'.",
                         "api.reaction.save_reaction.invalid.app_error")
    return value


def reaction_json(row: Record, channel_id: str) -> dict[str, Any]:
    """A Reaction from a row of the reactions table; create_at is the wall time of the add."""
    return {
        "user_id": row["user_id"], "post_id": row["post_id"], "emoji_name": row["emoji_name"],
        "create_at": int(row["create_at"]), "update_at": int(row["create_at"]), "delete_at": 0,
        "remote_id": "", "channel_id": channel_id,
    }


def reaction_event(name: str, reaction: dict[str, Any], *, from_peer: bool = False) -> Event:
    """A `reaction_added` or `reaction_removed` event for the reaction as `reaction_json` gives it."""
    return Event(name, {"reaction": json.dumps(reaction)}, Broadcast(channel_id=reaction["channel_id"]), from_peer)


class ReactionService:
    def __init__(self, ctx: Context, posts: PostService, channels: ChannelService, members: Memberships):
        self._ctx = ctx
        self._posts = posts
        self._channels = channels
        self._members = members

    async def _check_can_react(self, post: sqlite3.Row, actor: Session, archived_error: str) -> None:
        channel = await self._channels.row(post["channel_id"])
        if not actor.is_system_admin and not await self._members.is_channel_member(channel["id"], actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        if int(channel["delete_at"] or 0):
            raise Forbidden("Reactions cannot change in an archived channel.", archived_error)

    async def _row(self, post_id: str, user_id: str, emoji_name: str) -> sqlite3.Row | None:
        return await self._ctx.store.fetchone(
            "SELECT * FROM reactions WHERE post_id = ? AND user_id = ? AND emoji_name = ?", (post_id, user_id, emoji_name))

    async def add(self, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        """POST /reactions: idempotent; the reaction as stored."""
        user_id, post_id = body.get("user_id"), body.get("post_id")
        if not is_valid_id(user_id) or not is_valid_id(post_id):
            raise BadRequest("Invalid user_id or post_id.", "api.reaction.save_reaction.invalid.app_error")
        assert isinstance(user_id, str) and isinstance(post_id, str)
        emoji_name = check_emoji_name(body.get("emoji_name"))
        if user_id != actor.user_id:
            raise Forbidden("You can only react as yourself.", "api.reaction.save_reaction.user_id.app_error")
        post = await self._posts.row(post_id)
        await self._check_can_react(post, actor, "api.reaction.save.archived_channel.app_error")
        existing = await self._row(post_id, user_id, emoji_name)
        if existing is not None:
            return reaction_json(existing, post["channel_id"])
        emojis = await self._ctx.store.fetchone(
            "SELECT count(DISTINCT emoji_name) AS n, max(emoji_name = ?) AS present FROM reactions WHERE post_id = ?",
            (emoji_name, post_id))
        if emojis is not None and not emojis["present"] and emojis["n"] >= MAX_UNIQUE_EMOJI_PER_POST:
            raise BadRequest(f"A post can have at most {MAX_UNIQUE_EMOJI_PER_POST} different reactions.",
                             "app.reaction.save.save.too_many_reactions")
        ops: list[Op] = [Add("post.reactions", post_id, f"{user_id}:{emoji_name}"),
                         Update("post", post_id, {"update_at": self._ctx.now_ms()})]
        await self._ctx.store.write(channel_scope(post["channel_id"]), ops)
        row = await self._row(post_id, user_id, emoji_name)
        assert row is not None
        reaction = reaction_json(row, post["channel_id"])
        self._ctx.events.publish(reaction_event("reaction_added", reaction))
        return reaction

    async def remove(self, user_id: str, post_id: str, emoji_name: str, actor: Session) -> None:
        """DELETE /users/{uid}/posts/{pid}/reactions/{emoji}: removing an absent reaction changes nothing."""
        check_emoji_name(emoji_name)
        post = await self._posts.row(post_id)
        await self._check_can_react(post, actor, "api.reaction.delete.archived_channel.app_error")
        if user_id != actor.user_id and not actor.is_system_admin:
            raise Forbidden("You can only remove your own reactions.")
        existing = await self._row(post_id, user_id, emoji_name)
        remove = await self._members.remove("post.reactions", post_id, f"{user_id}:{emoji_name}")
        if existing is None or remove is None:
            return
        ops: list[Op] = [remove, Update("post", post_id, {"update_at": self._ctx.now_ms()})]
        await self._ctx.store.write(channel_scope(post["channel_id"]), ops)
        reaction = reaction_json(existing, post["channel_id"])
        self._ctx.events.publish(reaction_event("reaction_removed", reaction))

    async def for_post(self, post_id: str, actor: Session) -> list[dict[str, Any]]:
        post = await self._posts.readable(post_id, actor)
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM reactions WHERE post_id = ? ORDER BY create_at, user_id, emoji_name", (post_id,))
        return [reaction_json(r, post["channel_id"]) for r in rows]

    async def for_posts(self, post_ids: Sequence[object], actor: Session) -> dict[str, list[dict[str, Any]]]:
        """POST /posts/ids/reactions: every post must be readable; each id maps to a list, maybe empty."""
        if len(post_ids) > MAX_BULK_POSTS or not all(is_valid_id(p) for p in post_ids):
            raise BadRequest(f"Expected a list of at most {MAX_BULK_POSTS} post ids.", "api.context.invalid_body_param.app_error")
        ids = list(dict.fromkeys(str(p) for p in post_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        store = self._ctx.store
        channels = {r["id"]: r["channel_id"] for r in await store.fetchall(
            f"SELECT id, channel_id FROM posts WHERE id IN ({marks}) AND _deleted = 0", ids)}
        if len(channels) != len(ids):
            raise NotFound("Unable to find the post.", "app.post.get.app_error")
        for channel_id in set(channels.values()):
            await self._channels.readable(channel_id, actor)
        out: dict[str, list[dict[str, Any]]] = {post_id: [] for post_id in ids}
        for row in await store.fetchall(
                f"SELECT * FROM reactions WHERE post_id IN ({marks}) ORDER BY create_at, user_id, emoji_name", ids):
            out[row["post_id"]].append(reaction_json(row, channels[row["post_id"]]))
        return out
