"""Incoming webhooks: their management, their execution at /hooks/{id}, and integration posts.

An incoming hook is a team-level integration replicated in the directory feed; its id is the secret
part of its URL. Executing it posts to its channel (or, unless it is locked, to another channel of
its team, or a DM with its creator) as its creator, marked `from_webhook`, with Mattermost's
Slack-compatible rewriting of text and attachments. Who may manage integrations: system admins,
team admins, and the creator of the hook (`IntegrationAccess`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crdt import Create, Delete, Op, Update
from edgenode.ids import is_valid_id, new_id
from edgenode.json_depth import loads as bounded_loads

from .audit import AuditLog
from .channels import ChannelService
from .context import DIRECTORY_SCOPE, Context
from .errors import BadRequest, Forbidden, NotFound
from .membership import Memberships
from .names import CHANNEL, USERNAME, Names
from .posts import MAX_MESSAGE_RUNES, PostService
from .slack import (
    attachments_processed,
    checked_attachments,
    links_to_markdown,
    slack_text,
    split_message,
    user_ids_mentioned,
)
from .users import Session

__all__ = [
    "DEFAULT_WEBHOOK_USERNAME",
    "MAX_PROPS_RUNES",
    "IncomingHookRequest",
    "IntegrationAccess",
    "IntegrationPoster",
    "WebhookService",
    "incoming_hook_json",
]

DEFAULT_WEBHOOK_USERNAME = "webhook"
MAX_PROPS_RUNES = 800_000  # Mattermost's PostPropsMaxUserRunes
_PARSE_ERROR = "model.incoming_hook.parse_data.app_error"
_RESERVED_PROPS = ("from_webhook", "override_username", "override_icon_url", "attachments")
_HOOK_USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_")


def incoming_hook_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "create_at": int(row["create_at"] or 0),
        "update_at": int(row["update_at"] or 0),
        "delete_at": int(row["delete_at"] or 0),
        "user_id": row["user_id"] or "",
        "channel_id": row["channel_id"] or "",
        "team_id": row["team_id"] or "",
        "display_name": row["display_name"] or "",
        "description": row["description"] or "",
        "username": row["username"] or "",
        "icon_url": row["icon_url"] or "",
        "channel_locked": bool(row["channel_locked"]),
    }


def checked_text(body: Mapping[str, Any], name: str, limit: int, error_id: str, default: str = "") -> str:
    """An optional string field of a request body, at most `limit` characters."""
    value = body.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"Invalid {name}: a string of at most {limit} characters.", error_id)
    return value


def valid_hook_username(username: str) -> bool:
    """Mattermost's IsValidUsername: 1-64 lowercase letters, digits, '.', '-' or '_', starting with a letter."""
    return 0 < len(username) <= 64 and username[0].isalpha() and set(username) <= _HOOK_USERNAME_CHARS


@dataclass(frozen=True, slots=True)
class IncomingHookRequest:
    """What an integration sends to /hooks/{id} (Mattermost's IncomingWebhookRequest)."""

    text: str = ""
    username: str = ""
    icon_url: str = ""
    channel: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    type: str = ""
    icon_emoji: str = ""

    @classmethod
    def from_json(cls, body: bytes | str) -> IncomingHookRequest:
        """Decode a JSON payload; raw newlines and tabs inside strings are tolerated, as Mattermost does."""
        try:
            data = bounded_loads(body, strict=False)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("Unable to parse the incoming data: it must be JSON.", _PARSE_ERROR) from None
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise BadRequest("Unable to parse the incoming data: it must be a JSON object.", _PARSE_ERROR)
        return cls.from_mapping(data)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> IncomingHookRequest:
        """A form post: the JSON in its `payload` field (Slack's way), else the fields themselves."""
        if "payload" in form:
            return cls.from_json(form["payload"])
        return cls.from_mapping({k: form[k] for k in ("text", "username", "icon_url", "channel", "type", "icon_emoji")
                                 if k in form})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> IncomingHookRequest:
        strings = {}
        for name in ("text", "username", "icon_url", "channel", "type", "icon_emoji"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"Unable to parse the incoming data: {name} must be a string.", _PARSE_ERROR)
            strings[name] = value or ""
        props = data.get("props")
        if props is not None and not isinstance(props, dict):
            raise BadRequest("Unable to parse the incoming data: props must be an object.", _PARSE_ERROR)
        return cls(**strings, props=dict(props or {}), attachments=checked_attachments(data.get("attachments")))


class IntegrationAccess:
    """Who may manage a team's integrations: system admins and team admins; a creator, their own."""

    def __init__(self, ctx: Context, members: Memberships):
        self._ctx = ctx
        self._members = members

    async def live_row(self, table: str, row_id: str, missing: NotFound) -> sqlite3.Row:
        """The undeleted integration row with this id (a hook or a command), or `missing` raised."""
        row = None
        if is_valid_id(row_id):
            row = await self._ctx.store.fetchone(f"SELECT * FROM {table} WHERE id = ? AND _deleted = 0", (row_id,))
        if row is None:
            raise missing
        return row

    async def is_admin(self, team_id: str, actor: Session) -> bool:
        if actor.is_system_admin:
            return True
        roles = await self._members.team_roles(team_id, actor.user_id)
        return roles is not None and "team_admin" in roles.split()

    async def check_admin(self, team_id: str, actor: Session) -> None:
        if not await self.is_admin(team_id, actor):
            raise Forbidden("You do not have the appropriate permissions.")

    async def list_rows(self, table: str, team_id: str | None, actor: Session, page: int, per_page: int,
                        channel_id: str | None = None) -> list[sqlite3.Row]:
        """A page of live integration rows: of one channel (the caller checked it may read it) or team,
        for that team's admins; of every team, for system admins only."""
        if channel_id:
            where, params = "channel_id = ?", [channel_id]
        elif team_id:
            await self.team(team_id)
            await self.check_admin(team_id, actor)
            where, params = "team_id = ?", [team_id]
        elif actor.is_system_admin:
            where, params = "1", []
        else:
            raise Forbidden("You do not have the appropriate permissions.")
        return await self._ctx.store.fetchall(
            f"SELECT * FROM {table} WHERE {where} AND _deleted = 0 ORDER BY create_at, id LIMIT ? OFFSET ?",
            (*params, per_page, page * per_page))

    async def check_owner(self, team_id: str, creator_id: str, actor: Session) -> None:
        if creator_id != actor.user_id and not await self.is_admin(team_id, actor):
            raise Forbidden("You do not have the appropriate permissions.")

    async def team(self, team_id: object) -> sqlite3.Row:
        row = None
        if isinstance(team_id, str) and is_valid_id(team_id):
            row = await self._ctx.store.fetchone("SELECT * FROM teams WHERE id = ? AND _deleted = 0", (team_id,))
        if row is None:
            raise NotFound("Unable to find the team.", "app.team.get.find.app_error")
        return row

    async def user_session(self, user_id: str) -> Session | None:
        """A stand-in session for an integration's owner, used only to attribute what it posts."""
        row = await self._ctx.store.fetchone("SELECT roles FROM users WHERE id = ? AND _deleted = 0 "
                                             "AND coalesce(delete_at, 0) = 0", (user_id,))
        return None if row is None else Session(id="", token="", user_id=user_id, roles=row["roles"] or "system_user")


class IntegrationPoster:
    """Posts made by integrations, with Mattermost's Slack rewriting (CreateWebhookPost)."""

    def __init__(self, ctx: Context, posts: PostService):
        self._ctx = ctx
        self._posts = posts

    async def usernames(self, texts: list[str]) -> dict[str, str]:
        ids = sorted({user_id for text in texts for user_id in user_ids_mentioned(text)})
        if not ids:
            return {}
        rows = await self._ctx.store.fetchall(
            f"SELECT id, username FROM users WHERE id IN ({','.join('?' * len(ids))}) AND _deleted = 0", ids)
        return {r["id"]: r["username"] for r in rows}

    async def rewritten(self, text: str, attachments: list[dict[str, Any]], *,
                        parse_links: bool = True) -> tuple[str, list[dict[str, Any]]]:
        """Text and attachments after ProcessSlackText/ProcessMessageAttachments and link parsing."""
        texts = [text] + [str(a.get(k, "")) for a in attachments for k in ("pretext", "text", "title")]
        texts += [f["value"] for a in attachments for f in a.get("fields", []) if isinstance(f.get("value"), str)]
        names = await self.usernames(texts)
        text = slack_text(text, names)
        return (links_to_markdown(text) if parse_links else text), attachments_processed(attachments, names,
                                                                                      parse_links=parse_links)

    async def post(self, owner: Session, channel_id: str, text: str, *, username: str = "", icon_url: str = "",
                   icon_emoji: str = "", props: Mapping[str, Any] | None = None, post_type: str = "",
                   root_id: str = "", attachments: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Post as `owner`, marked from_webhook; a text longer than a post is split into several posts.

        Every part is validated the same way before the first is written, so a refusal writes nothing;
        the parts are separate writes (posts are one op each), the last one carrying the attachments.
        """
        if post_type.startswith("system_"):
            raise BadRequest("Invalid post type: integrations cannot make system messages.",
                             "api.context.invalid_param.app_error")
        text, processed = await self.rewritten(text, attachments or [])
        base: dict[str, Any] = {k: v for k, v in (props or {}).items() if k not in _RESERVED_PROPS}
        base["from_webhook"] = "true"
        base["override_username"] = username or DEFAULT_WEBHOOK_USERNAME
        if icon_url:
            base["override_icon_url"] = icon_url
        if icon_emoji:
            base["override_icon_emoji"] = icon_emoji
        if processed:
            post_type = post_type or "slack_attachment"
        if len(json.dumps({**base, "attachments": processed}, ensure_ascii=False)) > MAX_PROPS_RUNES:
            raise BadRequest(f"The props are longer than {MAX_PROPS_RUNES} characters.",
                             "web.incoming_webhook.split_props_length.app_error")
        parts = split_message(text, MAX_MESSAGE_RUNES)
        created = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            body = {"channel_id": channel_id, "message": part, "type": post_type, "root_id": root_id,
                    "props": {**base, "attachments": processed} if last and processed else dict(base)}
            created.append(await self._posts.create(body, owner, as_user=owner.user_id, check_membership=False))
        return created


class WebhookService:
    """Incoming webhooks: create, read, update, delete, and execute."""

    def __init__(self, ctx: Context, access: IntegrationAccess, channels: ChannelService, members: Memberships,
                 poster: IntegrationPoster, audit: AuditLog):
        self._ctx = ctx
        self._access = access
        self._channels = channels
        self._members = members
        self._poster = poster
        self._audit = audit

    async def row(self, hook_id: str) -> sqlite3.Row:
        return await self._access.live_row("incoming_hooks", hook_id, NotFound(
            "Unable to find the incoming webhook.", "app.webhooks.get_incoming.app_error"))

    async def _checked_fields(self, body: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "display_name": checked_text(body, "display_name", 64, "model.incoming_hook.display_name.app_error"),
            "description": checked_text(body, "description", 500, "model.incoming_hook.description.app_error"),
            "username": checked_text(body, "username", 64, "model.incoming_hook.username.app_error"),
            "icon_url": checked_text(body, "icon_url", 1024, "model.incoming_hook.icon_url.app_error"),
        }
        if fields["username"] and not valid_hook_username(fields["username"]):
            raise BadRequest("Invalid username.", "api.incoming_webhook.invalid_username.app_error")
        locked = body.get("channel_locked", False)
        if not isinstance(locked, bool):
            raise BadRequest("Invalid channel_locked: it must be a boolean.", "api.context.invalid_body_param.app_error")
        fields["channel_locked"] = locked
        return fields

    async def _channel_for_hook(self, channel_id: object, actor: Session) -> sqlite3.Row:
        """A team channel the actor can read (a hook needs the access its creator has)."""
        if not isinstance(channel_id, str) or not is_valid_id(channel_id):
            raise BadRequest("Invalid channel_id.", "model.incoming_hook.channel_id.app_error")
        channel = await self._channels.row(channel_id)
        if not channel["team_id"]:
            raise BadRequest("Incoming webhooks post to team channels only.", "model.incoming_hook.team_id.app_error")
        await self._channels.check_read(channel, actor)
        return channel

    async def create(self, body: Mapping[str, Any], actor: Session) -> dict[str, Any]:
        channel_id = body.get("channel_id")
        if not isinstance(channel_id, str) or not is_valid_id(channel_id):
            raise BadRequest("Invalid channel_id.", "model.incoming_hook.channel_id.app_error")
        await self._access.check_admin((await self._channels.row(channel_id))["team_id"] or "", actor)
        channel = await self._channel_for_hook(channel_id, actor)
        fields = await self._checked_fields(body)
        now = self._ctx.now_ms()
        hook_id = new_id()
        fields.update({"user_id": actor.user_id, "channel_id": channel["id"], "team_id": channel["team_id"],
                       "create_at": now, "update_at": now, "delete_at": 0})
        await self._ctx.store.write(DIRECTORY_SCOPE, [Create("incoming_hook", hook_id, fields,
                                                             deps=[("team", channel["team_id"])])])
        await self._audit.record("createIncomingHook", user_id=actor.user_id,
                                 extra=f"hook={hook_id} channel={channel['id']}")
        return incoming_hook_json(await self.row(hook_id))

    async def get(self, hook_id: str, actor: Session) -> dict[str, Any]:
        row = await self._manageable(hook_id, actor)
        return incoming_hook_json(row)

    async def _manageable(self, hook_id: str, actor: Session) -> sqlite3.Row:
        row = await self.row(hook_id)
        await self._access.check_owner(row["team_id"], row["user_id"], actor)
        channel = await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ? AND _deleted = 0", (row["channel_id"],))
        if channel is not None and channel["type"] != "O":
            await self._channels.check_read(channel, actor)
        return row

    async def list_hooks(self, team_id: str | None, actor: Session, page: int, per_page: int) -> list[dict[str, Any]]:
        """A team's hooks for its admins; without a team, every hook for system admins only."""
        rows = await self._access.list_rows("incoming_hooks", team_id, actor, page, per_page)
        return [incoming_hook_json(r) for r in rows]

    async def count(self, team_id: str | None) -> int:
        where, params = ("team_id = ?", [team_id]) if team_id else ("1", [])
        row = await self._ctx.store.fetchone(f"SELECT count(*) FROM incoming_hooks WHERE {where} AND _deleted = 0", params)
        return int(row[0]) if row else 0

    async def update(self, hook_id: str, body: Mapping[str, Any], actor: Session) -> dict[str, Any]:
        """PUT semantics as in Mattermost, except that fields left out keep their value."""
        row = await self._manageable(hook_id, actor)
        if (body.get("team_id") or row["team_id"]) != row["team_id"]:
            raise BadRequest("The team of a webhook cannot change.", "api.webhook.team_mismatch.app_error")
        channel = await self._channel_for_hook(body.get("channel_id") or row["channel_id"], actor)
        if channel["team_id"] != row["team_id"]:
            raise BadRequest("Invalid channel_id: it must be in the webhook's team.", "api.context.invalid_param.app_error")
        fields = await self._checked_fields({**incoming_hook_json(row), **body})
        fields.update({"channel_id": channel["id"], "update_at": self._ctx.now_ms()})
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("incoming_hook", hook_id, fields)])
        await self._audit.record("updateIncomingHook", user_id=actor.user_id, extra=f"hook={hook_id}")
        return incoming_hook_json(await self.row(hook_id))

    async def delete(self, hook_id: str, actor: Session) -> None:
        await self._manageable(hook_id, actor)
        now = self._ctx.now_ms()
        ops: list[Op] = [Update("incoming_hook", hook_id, {"delete_at": now, "update_at": now}),
                         Delete("incoming_hook", hook_id)]
        await self._ctx.store.write(DIRECTORY_SCOPE, ops)
        await self._audit.record("deleteIncomingHook", user_id=actor.user_id, extra=f"hook={hook_id}")

    # -- execution -------------------------------------------------------------------------

    async def execute(self, hook_id: str, request: IncomingHookRequest) -> list[dict[str, Any]]:
        """Post what an integration sent (Mattermost's HandleIncomingWebhook); returns the posts made."""
        if not request.text and not request.attachments:
            raise BadRequest("Unable to parse the incoming data: text or attachments are required.",
                             "web.incoming_webhook.text.app_error")
        hook = None
        if is_valid_id(hook_id):
            hook = await self._ctx.store.fetchone("SELECT * FROM incoming_hooks WHERE id = ? AND _deleted = 0", (hook_id,))
        if hook is None:
            raise BadRequest("Invalid webhook.", "web.incoming_webhook.invalid.app_error")
        owner = await self._access.user_session(hook["user_id"])
        channel = await self._target_channel(hook, request.channel, owner)
        if owner is None:
            raise Forbidden("The webhook's creator no longer exists.", "web.incoming_webhook.user.app_error")
        if channel["team_id"] and not owner.is_system_admin and \
                not await self._members.is_team_member(channel["team_id"], owner.user_id):
            # a hook acts for its creator: it loses the team's channels, public ones too, when they leave the team
            raise Forbidden("The webhook's creator cannot post to this channel.",
                            "web.incoming_webhook.permissions.app_error")
        if channel["type"] != "O" and not (owner.is_system_admin and channel["type"] == "P") and \
                not await self._members.is_channel_member(channel["id"], owner.user_id):
            raise Forbidden("The webhook's creator cannot post to this channel.",
                            "web.incoming_webhook.permissions.app_error")
        props = dict(request.props)
        props["webhook_display_name"] = hook["display_name"] or ""
        return await self._poster.post(
            owner, channel["id"], request.text, username=request.username or hook["username"] or "",
            icon_url=request.icon_url or hook["icon_url"] or "", icon_emoji=request.icon_emoji, props=props,
            post_type="slack_attachment" if request.attachments else request.type, attachments=request.attachments)

    async def _target_channel(self, hook: sqlite3.Row, name: str, owner: Session | None) -> sqlite3.Row:
        """The hook's channel, or the one named: "town-square", "#town-square", or "@bob" (a DM with the creator).

        Checked in Mattermost's order; a locked hook is refused before a DM would be opened for it.
        """
        if not name:
            row = await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ? AND _deleted = 0", (hook["channel_id"],))
            if row is None:
                raise NotFound("Unable to find the webhook's channel.", "app.channel.get.existing.app_error")
        elif name.startswith("@"):
            user_id = await Names.of(self._ctx).resolve(USERNAME, name[1:])
            user = None if user_id is None else await self._ctx.store.fetchone(
                "SELECT id FROM users WHERE id = ? AND _deleted = 0", (user_id,))
            if user is None:
                raise BadRequest("Unable to find the user.", "web.incoming_webhook.user.app_error")
            self._check_unlocked(hook, "")
            if owner is None:
                raise Forbidden("The webhook's creator no longer exists.", "web.incoming_webhook.user.app_error")
            direct = await self._channels.direct([owner.user_id, user["id"]], owner)
            row = await self._channels.row(direct["id"])
        else:
            channel_id = await Names.of(self._ctx).resolve(CHANNEL, name.removeprefix("#"), hook["team_id"] or "")
            row = None if channel_id is None else await self._ctx.store.fetchone(
                "SELECT * FROM channels WHERE id = ? AND _deleted = 0", (channel_id,))
            if row is None:
                raise NotFound("Unable to find the channel.", "web.incoming_webhook.channel.app_error")
        self._check_unlocked(hook, row["id"])
        return row

    @staticmethod
    def _check_unlocked(hook: sqlite3.Row, channel_id: str) -> None:
        if hook["channel_locked"] and channel_id != hook["channel_id"]:
            raise Forbidden("This webhook may only post to its own channel.", "web.incoming_webhook.channel_locked.app_error")
