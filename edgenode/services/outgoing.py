"""Outgoing webhooks: their management, and the dispatcher that calls them when someone posts.

The dispatcher listens to the event bus for "posted" events, finds the team's hooks whose trigger
matches (Mattermost's handleWebhookEvents: public channels only; a hook bound to a channel without
trigger words fires on every post there; trigger_when 0 is an exact first word, 1 a prefix of it),
POSTs Mattermost's payload to every callback URL, and posts a JSON reply back to the channel as the
hook's creator. Posts made by integrations (from_webhook, from_bot, bots, system messages) never
trigger hooks, so a hook cannot answer itself in a loop. Delivery is best effort: a failing URL is
logged and forgotten, and nothing it does reaches the poster.

Lifetime: `await dispatcher.start()` once the node is up and `await dispatcher.stop()` before it
closes; the composition root owns both calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from crdt import Create, Delete, Op, Update
from edgenode.ids import is_valid_id, new_id, new_token
from edgenode.json_depth import loads as bounded_loads
from edgenode.outbound import MAX_RESPONSE_BYTES, OutboundError

from .audit import AuditLog
from .channels import ChannelService
from .context import DIRECTORY_SCOPE, Context
from .errors import BadRequest, Forbidden, NotFound, ServiceError
from .events import Event
from .models import loads
from .read_cache import ReadCache, shared_cache
from .slack import checked_attachments
from .users import Session
from .webhooks import IntegrationAccess, IntegrationPoster, checked_text

__all__ = [
    "MAX_RESPONSE_BYTES",
    "OutgoingDispatcher",
    "OutgoingHookService",
    "hook_trigger",
    "outgoing_hook_json",
    "valid_http_url",
]

log = logging.getLogger("edgenode.integrations")

TRIGGER_EXACT = 0
TRIGGER_STARTS_WITH = 1
_EDITABLE = ("channel_id", "trigger_words", "trigger_when", "callback_urls", "display_name", "description",
             "content_type", "username", "icon_url")


def outgoing_hook_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "token": row["token"] or "",
        "create_at": int(row["create_at"] or 0),
        "update_at": int(row["update_at"] or 0),
        "delete_at": int(row["delete_at"] or 0),
        "creator_id": row["creator_id"] or "",
        "channel_id": row["channel_id"] or "",
        "team_id": row["team_id"] or "",
        "trigger_words": loads(row["trigger_words"], []),
        "trigger_when": int(row["trigger_when"] or 0),
        "callback_urls": loads(row["callback_urls"], []),
        "display_name": row["display_name"] or "",
        "description": row["description"] or "",
        "content_type": row["content_type"] or "",
        "username": row["username"] or "",
        "icon_url": row["icon_url"] or "",
    }


def valid_http_url(url: object) -> bool:
    """Mattermost's IsValidHTTPURL: an http or https URL with a host."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


def hook_trigger(hook: Mapping[str, Any], channel_id: str, message: str) -> str | None:
    """The trigger word a post fires `hook` with ("" for a channel hook without words), or None."""
    words = message.split()
    first = words[0] if words else ""
    if hook["channel_id"] not in (channel_id, ""):
        return None
    if hook["channel_id"] == channel_id and not hook["trigger_words"]:
        return ""
    if not first:
        return None
    if hook["trigger_when"] == TRIGGER_EXACT:
        return next((w for w in hook["trigger_words"] if w == first), None)
    if hook["trigger_when"] == TRIGGER_STARTS_WITH:
        return next((w for w in hook["trigger_words"] if first.startswith(w)), None)
    return None


def _string_list(body: Mapping[str, Any], name: str, error_id: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"Invalid {name}: it must be a list of strings.", error_id)
    return list(value)


class OutgoingHookService:
    """Outgoing webhooks: create, read, update, regenerate their token, delete."""

    def __init__(self, ctx: Context, access: IntegrationAccess, channels: ChannelService, audit: AuditLog):
        self._ctx = ctx
        self._access = access
        self._channels = channels
        self._audit = audit
        # team id -> rows of its hooks that may fire: asked for every post of a public channel
        self._firing: ReadCache[str, tuple[sqlite3.Row, ...]] = shared_cache(
            ctx.store, "firing_outgoing_hooks", {"outgoing_hook", "user", "team.members"})

    async def row(self, hook_id: str) -> sqlite3.Row:
        return await self._access.live_row("outgoing_hooks", hook_id, NotFound(
            "Unable to find the outgoing webhook.", "app.webhooks.get_outgoing.app_error"))

    async def for_team(self, team_id: str) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM outgoing_hooks WHERE team_id = ? AND _deleted = 0 ORDER BY create_at, id", (team_id,))
        return [outgoing_hook_json(r) for r in rows]

    async def firing_for_team(self, team_id: str) -> list[dict[str, Any]]:
        """The team's hooks that may fire: a hook acts for its creator, so not once the creator is deactivated
        or has left the team (a system admin's hooks excepted): the team's posts stop going out through it."""
        return [outgoing_hook_json(r) for r in await self._firing.get(team_id, lambda: self._read_firing(team_id))]

    async def _read_firing(self, team_id: str) -> tuple[sqlite3.Row, ...]:
        return tuple(await self._ctx.store.fetchall(
            "SELECT h.* FROM outgoing_hooks h JOIN users u ON u.id = h.creator_id AND u._deleted = 0 "
            "AND coalesce(u.delete_at, 0) = 0 WHERE h.team_id = ? AND h._deleted = 0 "
            "AND (instr(' ' || coalesce(u.roles, '') || ' ', ' system_admin ') > 0 OR EXISTS "
            "(SELECT 1 FROM team_members m WHERE m.team_id = h.team_id AND m.user_id = h.creator_id)) "
            "ORDER BY h.create_at, h.id", (team_id,)))

    async def _checked_fields(self, team_id: str, body: Mapping[str, Any], hook_id: str = "") -> dict[str, Any]:
        """Mattermost's OutgoingWebhook.IsValid and CreateOutgoingWebhook rules, all checked before any write."""
        words = _string_list(body, "trigger_words", "model.outgoing_hook.is_valid.trigger_words.app_error")
        if "" in words or len(" ".join(words)) > 1024:
            raise BadRequest("Invalid trigger_words: non-empty, 1024 characters in all.",
                             "model.outgoing_hook.is_valid.trigger_words.app_error")
        urls = _string_list(body, "callback_urls", "model.outgoing_hook.is_valid.callback.app_error")
        if not urls or len(" ".join(urls)) > 1024:
            raise BadRequest("Invalid callback_urls: at least one, 1024 characters in all.",
                             "model.outgoing_hook.is_valid.callback.app_error")
        if not all(valid_http_url(u) for u in urls):
            raise BadRequest("Invalid callback URL: it must be an http or https URL.", "model.outgoing_hook.is_valid.url.app_error")
        when = body.get("trigger_when", TRIGGER_EXACT)
        if when not in (TRIGGER_EXACT, TRIGGER_STARTS_WITH) or isinstance(when, bool):
            raise BadRequest("Invalid trigger_when: 0 (exact first word) or 1 (starts with).",
                             "model.outgoing_hook.is_valid.content_type.app_error")
        channel_id = body.get("channel_id") or ""
        if channel_id:
            if not isinstance(channel_id, str) or not is_valid_id(channel_id):
                raise BadRequest("Invalid channel_id.", "model.outgoing_hook.is_valid.channel_id.app_error")
            channel = await self._channels.row(channel_id)
            if channel["type"] != "O":
                raise Forbidden("Outgoing webhooks listen to public channels only.",
                                "api.webhook.create_outgoing.not_open.app_error")
            if channel["team_id"] != team_id:
                raise Forbidden("The channel is not in the webhook's team.", "api.webhook.create_outgoing.permissions.app_error")
        elif not words:
            raise BadRequest("Either trigger_words or channel_id must be set.", "api.webhook.create_outgoing.triggers.app_error")
        for other in await self.for_team(team_id):
            if other["id"] != hook_id and other["channel_id"] == channel_id and \
                    set(other["callback_urls"]) & set(urls) and set(other["trigger_words"]) & set(words):
                raise BadRequest("Another outgoing webhook of this channel has the same trigger word and callback URL.",
                                 "api.webhook.create_outgoing.intersect.app_error")
        return {
            "channel_id": channel_id, "trigger_words": words, "trigger_when": when, "callback_urls": urls,
            "display_name": checked_text(body, "display_name", 64, "model.outgoing_hook.is_valid.display_name.app_error"),
            "description": checked_text(body, "description", 500, "model.outgoing_hook.is_valid.description.app_error"),
            "content_type": checked_text(body, "content_type", 128, "model.outgoing_hook.is_valid.content_type.app_error"),
            "username": checked_text(body, "username", 64, "model.outgoing_hook.username.app_error"),
            "icon_url": checked_text(body, "icon_url", 1024, "model.outgoing_hook.icon_url.app_error"),
        }

    async def create(self, body: Mapping[str, Any], actor: Session) -> dict[str, Any]:
        team = await self._access.team(body.get("team_id"))
        await self._access.check_admin(team["id"], actor)
        fields = await self._checked_fields(team["id"], body)
        now = self._ctx.now_ms()
        hook_id = new_id()
        fields.update({"creator_id": actor.user_id, "team_id": team["id"], "token": new_token(),
                       "create_at": now, "update_at": now, "delete_at": 0})
        await self._ctx.store.write(DIRECTORY_SCOPE, [Create("outgoing_hook", hook_id, fields, deps=[("team", team["id"])])])
        await self._audit.record("createOutgoingHook", user_id=actor.user_id, extra=f"hook={hook_id} team={team['id']}")
        return outgoing_hook_json(await self.row(hook_id))

    async def _manageable(self, hook_id: str, actor: Session) -> sqlite3.Row:
        row = await self.row(hook_id)
        await self._access.check_owner(row["team_id"], row["creator_id"], actor)
        return row

    async def get(self, hook_id: str, actor: Session) -> dict[str, Any]:
        return outgoing_hook_json(await self._manageable(hook_id, actor))

    async def list_hooks(self, *, team_id: str | None, channel_id: str | None, actor: Session, page: int,
                   per_page: int) -> list[dict[str, Any]]:
        """A channel's or a team's hooks for the team's admins; every hook for system admins."""
        if channel_id:
            channel = await self._channels.readable(channel_id, actor)
            await self._access.check_admin(channel["team_id"] or "", actor)
        rows = await self._access.list_rows("outgoing_hooks", team_id, actor, page, per_page, channel_id=channel_id)
        return [outgoing_hook_json(r) for r in rows]

    async def update(self, hook_id: str, body: Mapping[str, Any], actor: Session) -> dict[str, Any]:
        """PUT semantics as in Mattermost, except that fields left out keep their value."""
        row = await self._manageable(hook_id, actor)
        if (body.get("team_id") or row["team_id"]) != row["team_id"]:
            raise BadRequest("The team of a webhook cannot change.", "api.webhook.team_mismatch.app_error")
        current = outgoing_hook_json(row)
        merged = {k: body[k] if k in body else current[k] for k in _EDITABLE}
        fields = await self._checked_fields(row["team_id"], merged, hook_id)
        fields["update_at"] = self._ctx.now_ms()
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("outgoing_hook", hook_id, fields)])
        await self._audit.record("updateOutgoingHook", user_id=actor.user_id, extra=f"hook={hook_id}")
        return outgoing_hook_json(await self.row(hook_id))

    async def regen_token(self, hook_id: str, actor: Session) -> dict[str, Any]:
        await self._manageable(hook_id, actor)
        update = Update("outgoing_hook", hook_id, {"token": new_token(), "update_at": self._ctx.now_ms()})
        await self._ctx.store.write(DIRECTORY_SCOPE, [update])
        await self._audit.record("regenOutgoingHookToken", user_id=actor.user_id, extra=f"hook={hook_id}")
        return outgoing_hook_json(await self.row(hook_id))

    async def delete(self, hook_id: str, actor: Session) -> None:
        await self._manageable(hook_id, actor)
        now = self._ctx.now_ms()
        ops: list[Op] = [Update("outgoing_hook", hook_id, {"delete_at": now, "update_at": now}),
                         Delete("outgoing_hook", hook_id)]
        await self._ctx.store.write(DIRECTORY_SCOPE, ops)
        await self._audit.record("deleteOutgoingHook", user_id=actor.user_id, extra=f"hook={hook_id}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One call of one hook for one post: where to send what, and how to answer."""

    hook: dict[str, Any]
    url: str
    payload: dict[str, Any]
    post_id: str
    channel_id: str

    def request(self) -> tuple[bytes, str]:
        """The body and content type: JSON if the hook asks for it, else a form with `timestamp` in seconds."""
        if self.hook["content_type"] == "application/json":
            return json.dumps(self.payload, ensure_ascii=False).encode(), "application/json"
        form = {**self.payload, "timestamp": str(self.payload["timestamp"] // 1000)}
        return urlencode(form).encode(), "application/x-www-form-urlencoded"


class OutgoingDispatcher:
    """Calls outgoing webhooks for new posts, in the background, between start() and stop()."""

    def __init__(self, ctx: Context, hooks: OutgoingHookService, access: IntegrationAccess, poster: IntegrationPoster):
        self._ctx = ctx
        self._hooks = hooks
        self._access = access
        self._poster = poster
        self._subscription: contextlib.ExitStack | None = None
        self._queue: asyncio.Queue[Event] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._consumer is not None

    async def start(self) -> None:
        if self._consumer is not None:
            return
        self._subscription = contextlib.ExitStack()
        self._queue = self._subscription.enter_context(self._ctx.events.subscribe())
        self._consumer = asyncio.create_task(self._consume(self._queue), name="outgoing-webhooks")

    async def stop(self) -> None:
        """Stop listening; deliveries still in flight are cancelled (they are best effort)."""
        if self._consumer is None:
            return
        consumer, self._consumer = self._consumer, None
        consumer.cancel()
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(consumer, *self._deliveries, return_exceptions=True)
        if self._subscription is not None:
            self._subscription.close()
        self._subscription = self._queue = None

    async def drain(self) -> None:
        """Wait until every event published so far is handled and its deliveries are done."""
        while self._queue is not None:
            await self._queue.join()
            if not self._deliveries and self._queue.empty():
                return
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    async def _consume(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            try:
                if event.event == "posted":
                    for delivery in await self.deliveries_for(event.data):
                        task = asyncio.create_task(self._deliver(delivery))
                        self._deliveries.add(task)
                        task.add_done_callback(self._deliveries.discard)
            except Exception:
                log.exception("outgoing webhooks: could not handle a posted event")
            finally:
                queue.task_done()

    async def deliveries_for(self, data: Mapping[str, Any]) -> list[Delivery]:
        """What one "posted" event asks of the outgoing webhooks (pure apart from lookups)."""
        if data.get("channel_type") != "O" or not data.get("team_id"):
            return []
        hooks = await self._hooks.firing_for_team(data["team_id"])
        if not hooks:  # most teams have none: then the post need not even be parsed
            return []
        post = json.loads(data["post"])
        props = post.get("props") or {}
        if props.get("from_webhook") == "true" or props.get("from_bot") == "true" or post.get("type", "").startswith("system_"):
            return []
        matched = [(hook, trigger) for hook in hooks
                   if (trigger := hook_trigger(hook, post["channel_id"], post.get("message", ""))) is not None]
        if not matched:
            return []
        user = await self._ctx.store.fetchone("SELECT username, is_bot FROM users WHERE id = ?", (post["user_id"],))
        team = await self._ctx.store.fetchone("SELECT name FROM teams WHERE id = ?", (data["team_id"],))
        if user is None or user["is_bot"]:
            return []
        out = []
        for hook, trigger in matched:
            payload = {
                "token": hook["token"], "team_id": hook["team_id"], "team_domain": team["name"] if team else "",
                "channel_id": post["channel_id"], "channel_name": data.get("channel_name", ""),
                "timestamp": int(post["create_at"]), "user_id": post["user_id"], "user_name": user["username"],
                "post_id": post["id"], "text": post.get("message", ""), "trigger_word": trigger,
                "file_ids": ",".join(post.get("file_ids") or []),
            }
            out += [Delivery(hook, url, payload, post["id"], post["channel_id"]) for url in hook["callback_urls"]]
        return out

    async def _deliver(self, delivery: Delivery) -> None:
        body, content_type = delivery.request()
        hook_id = delivery.hook["id"]
        try:
            reply = await self._ctx.outbound.request("POST", delivery.url, content=body,
                                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        except OutboundError as exc:
            log.warning("outgoing webhook %s: POST %s failed: %s", hook_id, delivery.url, exc)
            return
        raw = reply.body
        if not raw.strip():
            return
        try:
            reply = bounded_loads(raw)
            if not isinstance(reply, dict):
                raise TypeError("the reply is not a JSON object")
            await self._post_reply(delivery, reply)
        except (ValueError, TypeError, ServiceError) as exc:
            log.warning("outgoing webhook %s: unusable reply from %s: %s", hook_id, delivery.url, exc)
        except Exception:
            log.exception("outgoing webhook %s: could not post the reply from %s", hook_id, delivery.url)

    async def _post_reply(self, delivery: Delivery, reply: Mapping[str, Any]) -> None:
        """Post a callback's reply ({text, username, icon_url, props, attachments, type, response_type})."""
        text = reply.get("text")
        attachments = checked_attachments(reply.get("attachments"))
        if text is None and not attachments:
            return
        if not isinstance(text, (str, type(None))):
            raise TypeError("text is not a string")
        props = reply.get("props") or {}
        if not isinstance(props, dict):
            raise TypeError("props is not an object")
        hook = delivery.hook
        owner = await self._access.user_session(hook["creator_id"])
        if owner is None:
            log.warning("outgoing webhook %s: its creator no longer exists; reply dropped", hook["id"])
            return
        username, icon_url, post_type = (reply.get(k) or "" for k in ("username", "icon_url", "type"))
        await self._poster.post(
            owner, delivery.channel_id, text or "", username=str(username or hook["username"]),
            icon_url=str(icon_url or hook["icon_url"]), props={**props, "webhook_display_name": hook["display_name"]},
            post_type=str(post_type), attachments=attachments,
            root_id=delivery.post_id if reply.get("response_type") == "comment" else "")
