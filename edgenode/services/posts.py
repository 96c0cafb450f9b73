"""Posts: create, read (Mattermost's PostList shape), threads, edits, deletes and pins.

A post's JSON carries what Mattermost derives from other tables: its thread's reply count, its
reactions and its attached files (metadata). A page of posts loads these with one query each,
however many posts it holds.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from crdt import Create, Delete, Op, Update
from edgenode.ids import is_valid_id, new_id

from .boards_links import with_card_link
from .channels import ChannelService
from .context import Context, channel_scope
from .errors import BadRequest, Forbidden, NotFound
from .events import Broadcast, Event
from .files import FileService
from .membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships, member_id
from .mentions import MentionFinder
from .models import Record, loads
from .read_cache import ReadCache, shared_cache
from .reactions import reaction_json
from .users import Session

__all__ = [
    "MAX_FILES_PER_POST", "MAX_MESSAGE_RUNES", "PostService", "parse_hashtags", "post_deleted_event", "post_edited_event",
    "post_json", "stored_mentions",
]

MAX_MESSAGE_RUNES = 16_383
MAX_FILES_PER_POST = 10
_HASHTAG_RE = re.compile(r"(?<![\w#])#([A-Za-z][\w.-]{1,}[\w])")  # 3+ characters, as Mattermost
_POST_COLUMNS = "rowid AS _rowid, *"
_IN_CHUNK = 500  # well under SQLite's limit on bound parameters


def parse_hashtags(message: str) -> str:
    """Space-separated #tags of at least 3 characters, as Mattermost stores them."""
    seen: list[str] = []
    for tag in _HASHTAG_RE.findall(message):
        tag = "#" + tag
        if tag not in seen:
            seen.append(tag)
    return " ".join(seen)[:1000]


def _file_ids(row: Record) -> list[str]:
    # a peer's op may hold any JSON here; only a list of strings means anything
    value = loads(row["file_ids"], [])
    return [f for f in value if isinstance(f, str)] if isinstance(value, list) else []


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]


def post_json(row: Record, *, reply_count: int = 0, last_reply_at: int = 0,
              metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    deleted = bool(row["_deleted"]) or int(row["delete_at"] or 0) > 0
    metadata = metadata if metadata is not None else {}
    return {
        "id": row["id"],
        "create_at": int(row["create_at"] or 0),
        "update_at": int(row["update_at"] or row["create_at"] or 0),  # a post never updated omits it
        "edit_at": int(row["edit_at"] or 0),
        "delete_at": int(row["delete_at"] or 0),
        "is_pinned": bool(row["is_pinned"]),
        "user_id": row["user_id"] or "",
        "channel_id": row["channel_id"] or "",
        "root_id": row["root_id"] or "",
        "original_id": "",
        "message": "" if deleted else row["message"] or "",
        "type": row["type"] or "",
        "props": loads(row["props"], {}),
        "hashtags": row["hashtags"] or "",
        "file_ids": _file_ids(row),
        "pending_post_id": row["pending_post_id"] or "",
        "has_reactions": bool(metadata.get("reactions")),
        "reply_count": reply_count,
        "last_reply_at": last_reply_at,
        "participants": None,
        "metadata": metadata,
    }


def stored_mentions(row: Record) -> list[str]:
    """The `mentions` field the author's node stored on a post (see mentions.py); [] if it holds anything else."""
    value = loads(row["mentions"], [])
    return [m for m in value if isinstance(m, str)] if isinstance(value, list) else []


def post_edited_event(post: dict[str, Any], *, from_peer: bool = False) -> Event:
    """The `post_edited` event: the post's JSON as it now is."""
    return Event("post_edited", {"post": json.dumps(post)}, Broadcast(channel_id=post["channel_id"]), from_peer)


def post_deleted_event(post: dict[str, Any], delete_by: str | None, *, from_peer: bool = False) -> Event:
    """The `post_deleted` event; `delete_by` is omitted when unknown (a peer's op names its node, not its user)."""
    data: dict[str, Any] = {"post": json.dumps(post)}
    if delete_by is not None:
        data["delete_by"] = delete_by
    return Event("post_deleted", data, Broadcast(channel_id=post["channel_id"]), from_peer)


_NEW_POST_DEFAULTS: dict[str, Any] = {
    "_deleted": 0, "update_at": None, "edit_at": 0, "delete_at": 0, "is_pinned": 0, "root_id": "", "type": "", "props": None,
    "hashtags": "", "file_ids": None, "pending_post_id": "",
}


class PostService:
    def __init__(self, ctx: Context, channels: ChannelService, files: FileService):
        self._ctx = ctx
        self._channels = channels
        self._files = files
        self._memberships = Memberships(ctx)
        self._mentions = MentionFinder(ctx)
        self._last_create_at = 0
        # user id -> username, for the sender_name of every `posted` event
        self._usernames: ReadCache[str, str] = shared_cache(ctx.store, "usernames", {"user"})

    async def row(self, post_id: str) -> sqlite3.Row:
        if not is_valid_id(post_id):
            raise NotFound("Unable to find the post.", "app.post.get.app_error")
        row = await self._ctx.store.fetchone(f"SELECT {_POST_COLUMNS} FROM posts WHERE id = ? AND _deleted = 0", (post_id,))
        if row is None:
            raise NotFound("Unable to find the post.", "app.post.get.app_error")
        return row

    async def to_json(self, row: sqlite3.Row) -> dict[str, Any]:
        return (await self.to_json_many([row]))[0]

    async def to_json_many(self, rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
        """Posts with reply counts, reactions and files, loaded for the whole batch at once."""
        if not rows:
            return []
        store = self._ctx.store
        roots = list(dict.fromkeys(r["root_id"] or r["id"] for r in rows))
        threads: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(roots):
            for r in await store.fetchall(
                    f"SELECT root_id, count(*) AS n, max(create_at) AS last FROM posts "
                    f"WHERE root_id IN ({','.join('?' * len(chunk))}) AND _deleted = 0 GROUP BY root_id", chunk):
                threads[r["root_id"]] = (int(r["n"]), int(r["last"] or 0))
        ids = list(dict.fromkeys(r["id"] for r in rows))
        reactions: dict[str, list[sqlite3.Row]] = {}
        for chunk in _chunks(ids):
            for r in await store.fetchall(
                    f"SELECT * FROM reactions WHERE post_id IN ({','.join('?' * len(chunk))}) "
                    "ORDER BY create_at, user_id, emoji_name", chunk):
                reactions.setdefault(r["post_id"], []).append(r)
        infos = await self._files.infos_for([f for r in rows for f in _file_ids(r)])
        out = []
        for row in rows:
            metadata: dict[str, Any] = {}
            if row["id"] in reactions:
                metadata["reactions"] = [reaction_json(r, row["channel_id"]) for r in reactions[row["id"]]]
            files = [infos[f] for f in _file_ids(row) if f in infos and not infos[f]["delete_at"]]
            if files:
                metadata["files"] = files
            count, last = threads.get(row["root_id"] or row["id"], (0, 0))
            out.append(post_json(row, reply_count=count, last_reply_at=0 if row["root_id"] else last,
                                 metadata=metadata))
        return out

    async def readable(self, post_id: str, actor: Session) -> sqlite3.Row:
        row = await self.row(post_id)
        await self._channels.readable(row["channel_id"], actor)
        return row

    async def get(self, post_id: str, actor: Session) -> dict[str, Any]:
        return await self.to_json(await self.readable(post_id, actor))

    async def file_infos(self, post_id: str, actor: Session) -> list[dict[str, Any]]:
        """GET /posts/{id}/files/info."""
        return list((await self.get(post_id, actor))["metadata"].get("files", []))

    # -- writing ---------------------------------------------------------------------------

    def check_message(self, message: object) -> str:
        if not isinstance(message, str):
            raise BadRequest("Invalid message: it must be a string.", "model.post.is_valid.msg.app_error")
        if len(message) > MAX_MESSAGE_RUNES:
            raise BadRequest(f"Invalid message: longer than {MAX_MESSAGE_RUNES} characters.", "model.post.is_valid.msg.app_error")
        return message

    @staticmethod
    def _check_file_ids(value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(f, str) and is_valid_id(f) for f in value) \
                or len(value) > MAX_FILES_PER_POST:
            raise BadRequest(f"Invalid file_ids: at most {MAX_FILES_PER_POST} file ids.",
                             "model.post.is_valid.file_ids.app_error")
        return list(dict.fromkeys(value))

    async def create(self, body: dict[str, Any], actor: Session, *, as_user: str | None = None,
                     check_membership: bool = True) -> dict[str, Any]:
        """Create a post as the session's user (or `as_user`, for integrations that were already authorized)."""
        channel_id = body.get("channel_id")
        if not isinstance(channel_id, str) or not is_valid_id(channel_id):
            raise BadRequest("Invalid channel_id.", "model.post.is_valid.channel_id.app_error")
        message = self.check_message(body.get("message", ""))
        file_ids = self._check_file_ids(body.get("file_ids") or [])
        props = body.get("props") or {}
        if not isinstance(props, dict):
            raise BadRequest("Invalid props: it must be an object.", "model.post.is_valid.props.app_error")
        if not message.strip() and not file_ids and not props.get("attachments"):
            raise BadRequest("A post needs a message or a file.", "api.post.create_post.message_empty.app_error")
        props = with_card_link(message, props)  # the Boards plugin's card preview data (services/boards_links.py)
        post_type = body.get("type", "")
        if not isinstance(post_type, str) or (post_type and not post_type.startswith(("system_", "custom_", "slack_attachment", "me"))):
            raise BadRequest("Invalid post type.", "model.post.is_valid.type.app_error")
        if post_type.startswith("system_"):
            # System messages (joins, leaves, header changes) are the server's to write, never a client's:
            # Mattermost's CreatePostAsUser refuses them with this error whoever asks.
            raise BadRequest("Invalid or missing post.type in request body.", "api.context.invalid_param.app_error")
        channel = await self._channels.row(channel_id)
        if check_membership and not await self._can_post(channel, actor):
            raise Forbidden("You do not have the appropriate permissions.")
        if int(channel["delete_at"] or 0):
            raise Forbidden("The channel is archived.", "api.post.create_post.can_not_post_to_deleted.error")
        root_id = body.get("root_id") or ""
        deps = [("channel", channel_id)]
        if root_id:
            if not isinstance(root_id, str):
                raise BadRequest("Invalid root_id.", "model.post.is_valid.root_id.app_error")
            root = await self._ctx.store.fetchone("SELECT channel_id, root_id FROM posts WHERE id = ? AND _deleted = 0", (root_id,))
            if root is None or root["channel_id"] != channel_id:
                raise BadRequest("Invalid root_id.", "api.post.create_post.root_id.app_error")
            if root["root_id"]:
                root_id = root["root_id"]  # replying to a reply answers its thread
            deps.append(("post", root_id))
        poster = as_user or actor.user_id
        await self._files.attachable(file_ids, poster, channel_id)
        pending = body.get("pending_post_id", "")
        mentions = await self._mentions.mentions(message, channel_id, channel["type"], poster)
        # Lists and pages order by create_at: two posts of one burst must not share a millisecond,
        # or they would be ordered by their random ids. A clock set back further (by more than a
        # second) is followed, as Mattermost does.
        now = self._ctx.now_ms()
        if 0 <= self._last_create_at - now < 1000:
            now = self._last_create_at + 1
        self._last_create_at = now
        post_id = new_id()
        fields: dict[str, Any] = {
            # no update_at: until an update it equals create_at, and omitting it saves ~20 bytes per post
            "channel_id": channel_id, "user_id": poster, "message": message, "create_at": now,
        }
        # Only non-default fields travel: an omitted field is NULL, read back as its default.
        optional = {"root_id": root_id, "type": post_type, "props": props, "file_ids": file_ids,
                    "hashtags": parse_hashtags(message), "pending_post_id": pending if isinstance(pending, str) else "",
                    "mentions": mentions}
        fields.update({k: v for k, v in optional.items() if v})
        ops: list[Op] = [Create("post", post_id, fields, deps=deps)]
        ops += [Update("file", file_id, {"post_id": post_id, "update_at": now}) for file_id in file_ids]
        if as_user is None and (check_membership or await self._is_member(channel_id, poster)):
            # Posting marks the channel read for the poster, as in Mattermost, so their own post is not unread.
            ops.append(Update("channel_member", member_id(channel_id, poster), {"last_viewed_at": now}))
        await self._ctx.store.write(channel_scope(channel_id), ops)
        if root_id or file_ids:
            post = await self.to_json(await self.row(post_id))  # thread counts and file metadata need the store
        else:
            # a new root post without files: its JSON follows from what was just written
            post = post_json({**_NEW_POST_DEFAULTS, **fields, "id": post_id, "props": json.dumps(props) if props else None})
        for event in await self.posted_events(channel, [(post, mentions)]):
            self._ctx.events.publish(event)
        return post

    async def posted_events(self, channel: Record, posts: Sequence[tuple[dict[str, Any], Sequence[str]]], *,
                            from_peer: bool = False) -> list[Event]:
        """The `posted` events of new posts in `channel`, given each post's JSON and its stored mentions.

        A post from a peer does not set its author online here: they are connected elsewhere.
        """
        names = {author: await self._usernames.get(author, lambda: self._username(author))
                 for author in sorted({post["user_id"] for post, _ in posts})}
        events = []
        for post, mentions in posts:
            data: dict[str, Any] = {
                "post": json.dumps(post), "channel_type": channel["type"],
                "channel_display_name": channel["display_name"] or "", "channel_name": channel["name"],
                "sender_name": "@" + names.get(post["user_id"], ""), "team_id": channel["team_id"] or "",
                "set_online": not from_peer,
            }
            recipients = await self._mentions.recipients(list(mentions), channel["id"], post["user_id"])
            if recipients:
                data["mentions"] = json.dumps(recipients)
            events.append(Event("posted", data, Broadcast(channel_id=channel["id"]), from_peer))
        return events

    async def _username(self, user_id: str) -> str:
        row = await self._ctx.store.fetchone("SELECT username FROM users WHERE id = ?", (user_id,))
        return row["username"] or "" if row is not None else ""

    async def _is_member(self, channel_id: str, user_id: str) -> bool:
        return await self._memberships.is_channel_member(channel_id, user_id)

    async def _can_post(self, channel: sqlite3.Row, actor: Session) -> bool:
        return await self._is_member(channel["id"], actor.user_id)

    async def _check_own_or_admin(self, row: sqlite3.Row, actor: Session, what: str) -> None:
        if row["user_id"] == actor.user_id or actor.is_system_admin:
            return
        # edit_others_posts and delete_others_posts belong to team admins in Mattermost's default roles,
        # not to channel admins; and only to a current member of the channel's team
        channel = await self._channels.row(row["channel_id"])
        roles = await self._memberships.team_roles(channel["team_id"], actor.user_id) if channel["team_id"] else None
        if roles is not None and "team_admin" in roles.split():
            return
        raise Forbidden(f"You do not have the appropriate permissions to {what} this post.")

    async def _check_not_archived(self, channel_id: str) -> None:
        channel = await self._channels.row(channel_id)
        if int(channel["delete_at"] or 0):
            raise Forbidden("The channel is archived.", "api.post.update_post.can_not_update_post_in_deleted.error")

    async def patch(self, post_id: str, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        row = await self.readable(post_id, actor)
        await self._check_own_or_admin(row, actor, "edit")
        await self._check_not_archived(row["channel_id"])
        now = self._ctx.now_ms()
        fields: dict[str, Any] = {"update_at": now}
        if "message" in body:
            fields["message"] = self.check_message(body["message"])
            fields["hashtags"] = parse_hashtags(fields["message"])
            fields["edit_at"] = now
        if "is_pinned" in body:
            if not isinstance(body["is_pinned"], bool):
                raise BadRequest("Invalid is_pinned.", "model.post.is_valid.is_pinned.app_error")
            fields["is_pinned"] = body["is_pinned"]
        if "props" in body:
            if not isinstance(body["props"], dict):
                raise BadRequest("Invalid props: it must be an object.", "model.post.is_valid.props.app_error")
            fields["props"] = body["props"]
        if "file_ids" in body:
            # An edit may drop attachments but not add any: files are attached when the post is created.
            file_ids = self._check_file_ids(body["file_ids"])
            if not set(file_ids) <= set(_file_ids(row)):
                raise BadRequest("An edit cannot attach new files.", "api.post.patch_post.file_ids.app_error")
            fields["file_ids"] = file_ids
        await self._ctx.store.write(channel_scope(row["channel_id"]), [Update("post", post_id, fields)])
        return await self._publish_edited(post_id)

    async def _publish_edited(self, post_id: str) -> dict[str, Any]:
        post = await self.to_json(await self.row(post_id))
        self._ctx.events.publish(post_edited_event(post))
        return post

    async def delete(self, post_id: str, actor: Session) -> None:
        row = await self.readable(post_id, actor)
        await self._check_own_or_admin(row, actor, "delete")
        now = self._ctx.now_ms()
        post = await self.to_json(row)
        replies = await self._ctx.store.fetchall(f"SELECT {_POST_COLUMNS} FROM posts WHERE root_id = ? AND _deleted = 0",
                                                 (post_id,))
        doomed = [row["id"], *(r["id"] for r in replies)]
        ops: list[Op] = []
        for doomed_id in doomed:
            # delete_at for API readers, and a tombstone so no replica ever shows it again
            ops += [Update("post", doomed_id, {"delete_at": now, "update_at": now}), Delete("post", doomed_id)]
        for chunk in _chunks(doomed):
            files = await self._ctx.store.fetchall(
                f"SELECT id FROM files WHERE post_id IN ({','.join('?' * len(chunk))}) AND _deleted = 0", chunk)
            ops += [Update("file", f["id"], {"delete_at": now, "update_at": now}) for f in files]
        await self._ctx.store.write(channel_scope(row["channel_id"]), ops)
        post["delete_at"] = now
        post["message"] = ""
        self._ctx.events.publish(post_deleted_event(post, actor.user_id))

    # -- pins --------------------------------------------------------------------------------

    async def set_pinned(self, post_id: str, pinned: bool, actor: Session) -> None:
        """POST /posts/{id}/pin and /unpin: anyone who may read the channel, as in Mattermost."""
        row = await self.readable(post_id, actor)
        await self._check_not_archived(row["channel_id"])
        if bool(row["is_pinned"]) == pinned:
            return
        await self._ctx.store.write(channel_scope(row["channel_id"]), [
            Update("post", post_id, {"is_pinned": pinned, "update_at": self._ctx.now_ms()})])
        await self._publish_edited(post_id)

    async def pinned(self, channel_id: str, actor: Session) -> dict[str, Any]:
        """GET /channels/{id}/pinned: the pinned posts, newest first."""
        await self._channels.readable(channel_id, actor)
        rows = await self._ctx.store.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE channel_id = ? AND is_pinned = 1 AND _deleted = 0 "
            "ORDER BY create_at DESC, id DESC", (channel_id,))
        return await self.post_list(rows)

    # -- reading lists ---------------------------------------------------------------------

    async def post_list(self, rows: Sequence[sqlite3.Row], *, next_post_id: str = "", prev_post_id: str = "",
                        has_next: bool = False) -> dict[str, Any]:
        posts = await self.to_json_many(rows)
        return {"order": [p["id"] for p in posts], "posts": {p["id"]: p for p in posts},
                "next_post_id": next_post_id, "prev_post_id": prev_post_id,
                "has_next": has_next, "first_inaccessible_post_time": 0}

    async def for_channel(self, channel_id: str, actor: Session, *, page: int = 0, per_page: int = 60, since: int = 0,
                          before: str = "", after: str = "") -> dict[str, Any]:
        """Mattermost's GET /channels/{id}/posts: `since` wins, else before/after a post id, else newest first."""
        await self._channels.readable(channel_id, actor)
        store = self._ctx.store
        cols = _POST_COLUMNS
        if since:
            rows = await store.fetchall(
                f"SELECT {cols} FROM posts WHERE channel_id = ? AND _deleted = 0 AND (update_at >= ? OR create_at >= ?) "
                "ORDER BY create_at DESC, id DESC", (channel_id, since, since))
            return await self.post_list(rows)
        if before or after:
            anchor = await store.fetchone("SELECT create_at FROM posts WHERE id = ? AND channel_id = ?", (before or after, channel_id))
            if anchor is None:
                return await self.post_list([])
            if before:
                rows = await store.fetchall(
                    f"SELECT {cols} FROM posts WHERE channel_id = ? AND _deleted = 0 AND create_at < ? "
                    "ORDER BY create_at DESC, id DESC LIMIT ? OFFSET ?", (channel_id, anchor[0], per_page, page * per_page))
                newer = await store.fetchone("SELECT id FROM posts WHERE channel_id = ? AND _deleted = 0 AND create_at >= ? "
                                             "ORDER BY create_at ASC LIMIT 1", (channel_id, anchor[0]))
                older = await store.fetchone("SELECT id FROM posts WHERE channel_id = ? AND _deleted = 0 AND create_at < ? "
                                             "ORDER BY create_at DESC LIMIT 1 OFFSET ?", (channel_id, anchor[0], (page + 1) * per_page))
                return await self.post_list(rows, next_post_id=newer[0] if newer else "", prev_post_id=older[0] if older else "")
            rows = await store.fetchall(
                f"SELECT {cols} FROM posts WHERE channel_id = ? AND _deleted = 0 AND create_at > ? "
                "ORDER BY create_at ASC, id ASC LIMIT ? OFFSET ?", (channel_id, anchor[0], per_page + 1, page * per_page))
            has_next = len(rows) > per_page
            rows = list(reversed(rows[:per_page]))
            return await self.post_list(rows, next_post_id=rows[0]["id"] if has_next and rows else "",
                                        prev_post_id=after, has_next=has_next)
        rows = await store.fetchall(
            f"SELECT {cols} FROM posts WHERE channel_id = ? AND _deleted = 0 ORDER BY create_at DESC, id DESC LIMIT ? OFFSET ?",
            (channel_id, per_page + 1, page * per_page))
        more = len(rows) > per_page
        rows = rows[:per_page]
        return await self.post_list(rows, prev_post_id=rows[-1]["id"] if more and rows else "")

    async def around_last_unread(self, user_id: str, channel_id: str, actor: Session, *, limit_before: int = 60,
                                 limit_after: int = 60) -> dict[str, Any]:
        """GET /users/{uid}/channels/{cid}/posts/unread: the last posts the member saw and the first unread ones."""
        if user_id != actor.user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        await self._channels.readable(channel_id, actor)
        member = await self._ctx.store.fetchone(
            f"SELECT a.last_viewed_at FROM {EFFECTIVE_CHANNEL_MEMBERS} m LEFT JOIN channel_member_attrs a ON a.id = ? "
            "WHERE m.channel_id = ? AND m.user_id = ?", (member_id(channel_id, user_id), channel_id, user_id))
        if member is None:
            raise NotFound("The user is not a member of the channel.", "app.channel.get_member.missing.app_error")
        viewed = int(member[0] or 0)
        store = self._ctx.store
        seen = await store.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE channel_id = ? AND _deleted = 0 AND create_at <= ? "
            "ORDER BY create_at DESC, id DESC LIMIT ?", (channel_id, viewed, limit_before + 1))
        unread = await store.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE channel_id = ? AND _deleted = 0 AND create_at > ? "
            "ORDER BY create_at ASC, id ASC LIMIT ?", (channel_id, viewed, limit_after + 1))
        older = seen[limit_before]["id"] if len(seen) > limit_before else ""
        newer = unread[limit_after]["id"] if len(unread) > limit_after else ""
        rows = [*reversed(unread[:limit_after]), *seen[:limit_before]]
        return await self.post_list(rows, next_post_id=newer, prev_post_id=older, has_next=bool(newer))

    async def thread(self, post_id: str, actor: Session) -> dict[str, Any]:
        row = await self.readable(post_id, actor)
        root = row["root_id"] or row["id"]
        rows = await self._ctx.store.fetchall(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE (id = ? OR root_id = ?) AND _deleted = 0 ORDER BY create_at DESC, id DESC",
            (root, root))
        return await self.post_list(rows)
