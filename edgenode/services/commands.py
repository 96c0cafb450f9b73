"""Slash commands: custom (team-level HTTP callbacks) and built-in, their management and execution.

Executing `/trigger text` in a channel runs the team's custom command with that trigger (a POST of a
form, or a GET with the same fields in the query, to its URL, with `Authorization: Token <token>`),
else the built-in one, else answers 404 as Mattermost does. The answer's `in_channel` responses are
posted by the user who ran the command (marked from_webhook, with the command's username and icon,
for custom commands, as in Mattermost); ephemeral ones go back in the API response and as an
`ephemeral_message` event to that user only. A custom command may answer later, up to five times in
thirty minutes, by POSTing a CommandResponse to the `response_url` it was given
(/hooks/commands/{id}); those links live in this node's memory only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from crdt import Create, Delete, Op, Update
from edgenode.ids import is_valid_id, new_id, new_token
from edgenode.outbound import DestinationRefused, OutboundError

from .audit import AuditLog
from .channels import ChannelService
from .command_builtins import BUILTIN_COMMANDS, Builtins, SearchPort
from .command_response import EPHEMERAL, IN_CHANNEL, CommandCall, CommandResponse
from .context import DIRECTORY_SCOPE, Context
from .errors import BadRequest, Forbidden, NotFound, ServiceError
from .events import Broadcast, Event
from .membership import Memberships
from .outgoing import valid_http_url
from .posts import PostService
from .users import Session
from .webhooks import IntegrationAccess, IntegrationPoster, checked_text

__all__ = ["RESPONSE_URL_LIFETIME_MS", "RESPONSE_URL_USES", "CommandService", "IntegrationFailed", "command_json"]

log = logging.getLogger("edgenode.integrations")

RESPONSE_URL_LIFETIME_MS = 30 * 60 * 1000
RESPONSE_URL_USES = 5
_MAX_TRIGGER_IN_ERRORS = 512
_NOT_FOUND_ID = "store.sql_command.save.get.app_error"
_EDITABLE = ("trigger", "method", "url", "username", "icon_url", "auto_complete", "auto_complete_desc",
             "auto_complete_hint", "display_name", "description")


class IntegrationFailed(ServiceError):
    """The integration behind a command failed or answered something unusable (Mattermost answers 500)."""

    status = 500
    default_id = "api.command.execute_command.failed.app_error"


def command_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"], "token": row["token"] or "",
        "create_at": int(row["create_at"] or 0), "update_at": int(row["update_at"] or 0),
        "delete_at": int(row["delete_at"] or 0), "creator_id": row["creator_id"] or "", "team_id": row["team_id"] or "",
        "trigger": row["trigger"] or "", "method": row["method"] or "", "username": row["username"] or "",
        "icon_url": row["icon_url"] or "", "auto_complete": bool(row["auto_complete"]),
        "auto_complete_desc": row["auto_complete_desc"] or "", "auto_complete_hint": row["auto_complete_hint"] or "",
        "display_name": row["display_name"] or "", "description": row["description"] or "", "url": row["url"] or "",
        "plugin_id": "",
    }


def _sanitized(command: dict[str, Any]) -> dict[str, Any]:
    """A command as listed to users who may not manage it (Mattermost's Command.Sanitize)."""
    return {**command, "token": "", "creator_id": "", "method": "", "url": "", "username": "", "icon_url": ""}


@dataclass(slots=True)
class _ResponseUrl:
    command_id: str
    user_id: str
    channel_id: str
    team_id: str
    root_id: str
    trigger: str
    expires_at: int
    uses: int = 0


class CommandService:
    """Slash commands: create, list, read, update, regenerate tokens, delete, and execute."""

    def __init__(self, ctx: Context, access: IntegrationAccess, channels: ChannelService, members: Memberships,
                 posts: PostService, poster: IntegrationPoster, audit: AuditLog, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self._ctx = ctx
        self._access = access
        self._channels = channels
        self._members = members
        self._posts = posts
        self._poster = poster
        self._audit = audit
        self.sleep = sleep
        """How delayed work waits (/echo "text" 5); injectable so tests need not wait."""
        self.search: SearchPort | None = None
        """The search service, when the node has one (/search degrades to an ephemeral notice without)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._response_urls: dict[str, _ResponseUrl] = {}
        self.plugins: dict[str, Callable[[CommandCall], Awaitable[CommandResponse]]] = {}
        """Commands of the node's built-in plugins (Playbooks' /playbook), by trigger."""
        self.plugin_listing: list[dict[str, Any]] = []
        """How those commands are listed and autocompleted (a Command with its plugin_id)."""
        self._builtins = Builtins(ctx, channels, members, posts, search=lambda: self.search,
                                  sleep=lambda seconds: self.sleep(seconds), spawn=self._spawn)

    # -- management ------------------------------------------------------------------------

    async def row(self, command_id: str) -> sqlite3.Row:
        return await self._access.live_row("commands", command_id, NotFound("Unable to find the command.", _NOT_FOUND_ID))

    async def _team_commands(self, team_id: str) -> list[sqlite3.Row]:
        return await self._ctx.store.fetchall(
            "SELECT * FROM commands WHERE team_id = ? AND _deleted = 0 ORDER BY trigger, id", (team_id,))

    async def _checked_fields(self, team_id: str, body: Mapping[str, Any], command_id: str = "") -> dict[str, Any]:
        trigger = body.get("trigger")
        if not isinstance(trigger, str) or not 1 <= len(trigger) <= 128 or trigger.startswith("/") or " " in trigger:
            raise BadRequest("Invalid trigger: 1 to 128 characters, no spaces, not starting with '/'.",
                             "model.command.is_valid.trigger.app_error")
        trigger = trigger.lower()
        url = body.get("url")
        if not isinstance(url, str) or not url or len(url) > 1024:
            raise BadRequest("Invalid URL: at most 1024 characters.", "model.command.is_valid.url.app_error")
        if not valid_http_url(url):
            raise BadRequest("Invalid URL: it must be an http or https URL.", "model.command.is_valid.url_http.app_error")
        method = body.get("method")
        if method not in ("P", "G"):
            raise BadRequest('Invalid method: "P" (POST) or "G" (GET).', "model.command.is_valid.method.app_error")
        auto_complete = body.get("auto_complete", False)
        if not isinstance(auto_complete, bool):
            raise BadRequest("Invalid auto_complete: it must be a boolean.", "api.context.invalid_body_param.app_error")
        fields = {
            "trigger": trigger, "url": url, "method": method, "auto_complete": auto_complete,
            "display_name": checked_text(body, "display_name", 64, "model.command.is_valid.display_name.app_error"),
            "description": checked_text(body, "description", 128, "model.command.is_valid.description.app_error"),
            "auto_complete_desc": checked_text(body, "auto_complete_desc", 1024, "model.command.is_valid.autocomplete_data.app_error"),
            "auto_complete_hint": checked_text(body, "auto_complete_hint", 1024, "model.command.is_valid.autocomplete_data.app_error"),
            "username": checked_text(body, "username", 64, "model.command.is_valid.username.app_error"),
            "icon_url": checked_text(body, "icon_url", 1024, "model.command.is_valid.icon_url.app_error"),
        }
        taken = trigger in BUILTIN_COMMANDS or trigger in self.plugins or any(
            r["trigger"] == trigger and r["id"] != command_id for r in await self._team_commands(team_id))
        if taken:
            raise BadRequest("This trigger word is already in use. Please choose another word.",
                             "api.command.duplicate_trigger.app_error")
        return fields

    async def create(self, body: Mapping[str, Any], actor: Session) -> dict[str, Any]:
        team_id = body.get("team_id")
        if not isinstance(team_id, str) or not is_valid_id(team_id):
            raise BadRequest("Invalid team_id.", "model.command.is_valid.team_id.app_error")
        await self._access.check_admin(team_id, actor)
        team = await self._access.team(team_id)
        fields = await self._checked_fields(team["id"], body)
        now = self._ctx.now_ms()
        command_id = new_id()
        fields.update({"creator_id": actor.user_id, "team_id": team["id"], "token": new_token(),
                       "create_at": now, "update_at": now, "delete_at": 0})
        await self._ctx.store.write(DIRECTORY_SCOPE, [Create("command", command_id, fields, deps=[("team", team["id"])])])
        await self._audit.record("createCommand", user_id=actor.user_id, extra=f"command={command_id} trigger={fields['trigger']}")
        return command_json(await self.row(command_id))

    async def _manageable(self, command_id: str, actor: Session) -> sqlite3.Row:
        """The command, if the actor may manage it; otherwise "not found", so that its existence does not leak."""
        row = await self.row(command_id)
        if row["creator_id"] != actor.user_id and not await self._access.is_admin(row["team_id"], actor):
            raise NotFound("Unable to find the command.", _NOT_FOUND_ID)
        return row

    async def get(self, command_id: str, actor: Session) -> dict[str, Any]:
        return command_json(await self._manageable(command_id, actor))

    async def list_commands(self, team_id: str, actor: Session, *, custom_only: bool) -> list[dict[str, Any]]:
        """Mattermost's GET /commands: admins see everything, members the built-ins and auto-complete commands."""
        if not is_valid_id(team_id):
            raise BadRequest("Invalid or missing team_id parameter.", "api.context.invalid_param.app_error")
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        admin = await self._access.is_admin(team_id, actor)
        custom = [command_json(r) for r in await self._team_commands(team_id)]
        if custom_only:
            if not admin:
                raise Forbidden("You do not have the appropriate permissions.")
            return custom
        builtins = [b.to_json() for _, b in sorted(BUILTIN_COMMANDS.items())] + self.plugin_listing
        if admin:
            return builtins + custom
        return [_sanitized(c) for c in custom if c["auto_complete"]] + builtins

    async def autocomplete(self, team_id: str, actor: Session) -> list[dict[str, Any]]:
        """GET /teams/{id}/commands/autocomplete: what a member may type, secrets removed."""
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        custom = [_sanitized(command_json(r)) for r in await self._team_commands(team_id) if r["auto_complete"]]
        return custom + [b.to_json() for _, b in sorted(BUILTIN_COMMANDS.items())] + self.plugin_listing

    async def update(self, command_id: str, body: Mapping[str, Any], actor: Session) -> dict[str, Any]:
        """PUT semantics as in Mattermost, except that fields left out keep their value."""
        row = await self._manageable(command_id, actor)
        if (body.get("team_id") or row["team_id"]) != row["team_id"]:
            raise BadRequest("The team of a command cannot change.", "api.command.team_mismatch.app_error")
        current = command_json(row)
        fields = await self._checked_fields(row["team_id"], {k: body[k] if k in body else current[k] for k in _EDITABLE},
                                            command_id)
        fields["update_at"] = self._ctx.now_ms()
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("command", command_id, fields)])
        await self._audit.record("updateCommand", user_id=actor.user_id, extra=f"command={command_id}")
        return command_json(await self.row(command_id))

    async def regen_token(self, command_id: str, actor: Session) -> str:
        await self._manageable(command_id, actor)
        token = new_token()
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("command", command_id, {"token": token,
                                                                                  "update_at": self._ctx.now_ms()})])
        await self._audit.record("regenCommandToken", user_id=actor.user_id, extra=f"command={command_id}")
        return token

    async def delete(self, command_id: str, actor: Session) -> None:
        await self._manageable(command_id, actor)
        now = self._ctx.now_ms()
        ops: list[Op] = [Update("command", command_id, {"delete_at": now, "update_at": now}), Delete("command", command_id)]
        await self._ctx.store.write(DIRECTORY_SCOPE, ops)
        await self._audit.record("deleteCommand", user_id=actor.user_id, extra=f"command={command_id}")

    # -- execution -------------------------------------------------------------------------

    async def execute(self, body: Mapping[str, Any], actor: Session, site_url: str) -> dict[str, Any]:
        """POST /commands/execute {channel_id, team_id, root_id, command}: the CommandResponse as JSON."""
        command, channel_id = body.get("command"), body.get("channel_id")
        if not isinstance(command, str) or len(command) <= 1 or not command.startswith("/") or not is_valid_id(channel_id):
            raise BadRequest("A command must start with '/' and name a channel.", "api.command.execute_command.start.app_error")
        assert isinstance(channel_id, str)
        call = await self._call(channel_id, body, command, actor, site_url)
        custom = next((r for r in await self._team_commands(call.team_id) if r["trigger"] == call.trigger), None) \
            if call.team_id else None
        if custom is not None:
            response = await self._run_custom(custom, call)
            await self._answer(call, response, custom)
            return response.to_json()
        plugin = self.plugins.get(call.trigger)
        if plugin is not None:
            response = await plugin(call)
            await self._answer(call, response, None)
            return response.to_json()
        if self._builtins.get(call.trigger) is not None:
            response = await self._builtins.run(call)
            await self._answer(call, response, None)
            return response.to_json()
        trigger = call.trigger if len(call.trigger) <= _MAX_TRIGGER_IN_ERRORS else call.trigger[:_MAX_TRIGGER_IN_ERRORS] + "..."
        raise NotFound(f"Command with a trigger of '{trigger}' not found. To send a message beginning with \"/\", "
                       "try adding an empty space at the beginning of the message.",
                       "api.command.execute_command.not_found.app_error")

    async def _call(self, channel_id: str, body: Mapping[str, Any], command: str, actor: Session,
                    site_url: str) -> CommandCall:
        if not await self._members.is_channel_member(channel_id, actor.user_id):
            raise Forbidden("You do not have the appropriate permissions.")
        channel = await self._channels.row(channel_id)
        if int(channel["delete_at"] or 0):
            raise BadRequest("Commands cannot be run in an archived channel.", "api.command.execute_command.deleted.error")
        team_id = channel["team_id"] or ""
        if channel["type"] in ("D", "G"):
            # a DM has no team: the client says which one, and the user must belong to it
            team_id = body.get("team_id") or ""
            if not isinstance(team_id, str) or (team_id and not actor.is_system_admin and
                                                not await self._members.is_team_member(team_id, actor.user_id)):
                raise Forbidden("You do not have the appropriate permissions.")
        root_id = body.get("root_id") or ""
        if not isinstance(root_id, str):
            raise BadRequest("Invalid root_id.", "api.context.invalid_body_param.app_error")
        head, _, message = command.partition(next((c for c in command if c.isspace()), " "))
        return CommandCall(actor, channel, team_id, root_id, head.lower().removeprefix("/"), message, site_url)

    async def _run_custom(self, command: sqlite3.Row, call: CommandCall) -> CommandResponse:
        team = await self._ctx.store.fetchone("SELECT name FROM teams WHERE id = ?", (command["team_id"],))
        user = await self._ctx.store.fetchone("SELECT username FROM users WHERE id = ?", (call.actor.user_id,))
        hook_id = self._open_response_url(command, call)
        fields = {
            "token": command["token"] or "", "team_id": command["team_id"], "team_domain": team["name"] if team else "",
            "channel_id": call.channel_id, "channel_name": call.channel["name"] or "", "user_id": call.actor.user_id,
            "user_name": user["username"] if user else "", "command": "/" + call.trigger, "text": call.message,
            "trigger_id": new_id(), "root_id": call.root_id, "response_url": f"{call.site_url}/hooks/commands/{hook_id}",
        }
        headers = {"Accept": "application/json", "Authorization": f"Token {command['token']}"}
        url = command["url"]
        if command["method"] == "G":
            url, body = url + ("&" if "?" in url else "?") + urlencode(fields), b""
        else:
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        failed = {"message": f"Command with a trigger of '{call.trigger}' failed."}
        try:
            reply = await self._ctx.outbound.request("GET" if command["method"] == "G" else "POST", url,
                                                     content=body, headers=headers)
        except OutboundError as exc:
            log.warning("command /%s: %s %s failed: %s", call.trigger, command["method"], command["url"], exc)
            # A refused destination is decided before connecting, so saying so reveals no port state;
            # every other failure reads the same, whatever happened on the wire.
            detail = str(exc) if isinstance(exc, DestinationRefused) else ""
            raise IntegrationFailed(**failed, detail=detail) from None
        raw = reply.body
        if reply.status != 200:
            raise IntegrationFailed(f"Command with a trigger of '{call.trigger}' returned response {reply.status}.",
                                    "api.command.execute_command.failed_resp.app_error",
                                    detail=raw.decode("utf-8", errors="replace"))
        try:
            return CommandResponse.from_http(reply.content_type, raw)
        except (ValueError, TypeError):
            raise IntegrationFailed(**failed) from None

    async def _answer(self, call: CommandCall, response: CommandResponse, command: sqlite3.Row | None) -> None:
        """Post or send each response (the main one, then extra_responses); any failure is reported after all."""
        failure: ServiceError | None = None
        for item in (response, *(response.extra_responses or ())):
            try:
                await self._answer_one(call, item, command)
            except ServiceError as exc:
                log.info("command /%s: response not posted: %s", call.trigger, exc.message)
                failure = exc
        if failure is not None:
            raise IntegrationFailed(f"Command with a trigger of '{call.trigger}' failed to post its response.",
                                    "api.command.execute_command.create_post_failed.app_error", detail=failure.message)

    async def _answer_one(self, call: CommandCall, response: CommandResponse, command: sqlite3.Row | None) -> None:
        channel_id = call.channel_id
        if response.channel_id and response.channel_id != channel_id:
            if not await self._members.is_channel_member(response.channel_id, call.actor.user_id):
                raise Forbidden("The command may not post to that channel.", "api.command.command_post.forbidden.app_error")
            channel_id = response.channel_id
        props = dict(response.props or {})
        from_integration = command is not None
        for prop, own, answered in (("override_username", command["username"] if command else "", response.username),
                                    ("override_icon_url", command["icon_url"] if command else "", response.icon_url)):
            if own or answered:
                props[prop] = own or answered
                from_integration = True
        if from_integration:
            props["from_webhook"] = "true"
        text, attachments = response.text, response.attachments or []
        if not response.skip_slack_parsing:
            text, attachments = await self._poster.rewritten(text, attachments)
        post_type = response.type
        if post_type.startswith("system_"):
            raise BadRequest("Invalid post type: commands cannot make system messages.", "api.context.invalid_param.app_error")
        if attachments:
            props["attachments"] = attachments
            post_type = post_type or "slack_attachment"
        if response.response_type == IN_CHANNEL:
            if text or attachments:
                await self._posts.create({"channel_id": channel_id, "message": text, "root_id": call.root_id,
                                          "type": post_type, "props": props}, call.actor)
        elif response.response_type in ("", EPHEMERAL) and (text or attachments):
            self._send_ephemeral(call, channel_id, text, props)

    def _send_ephemeral(self, call: CommandCall, channel_id: str, text: str, props: dict[str, Any]) -> None:
        now = self._ctx.now_ms()
        post = {"id": new_id(), "create_at": now, "update_at": now, "edit_at": 0, "delete_at": 0, "is_pinned": False,
                "user_id": call.actor.user_id, "channel_id": channel_id, "root_id": call.root_id, "original_id": "",
                "message": text, "type": "system_ephemeral", "props": props, "hashtags": "", "file_ids": [],
                "pending_post_id": "", "reply_count": 0, "last_reply_at": 0, "participants": None, "metadata": {}}
        self._ctx.events.publish(Event("ephemeral_message", {"post": json.dumps(post)},
                                       Broadcast(user_id=call.actor.user_id, channel_id=channel_id)))

    # -- delayed responses -----------------------------------------------------------------

    def _open_response_url(self, command: sqlite3.Row, call: CommandCall) -> str:
        now = self._ctx.now_ms()
        for hook_id in [h for h, r in self._response_urls.items() if r.expires_at <= now]:
            del self._response_urls[hook_id]
        hook_id = new_id()
        self._response_urls[hook_id] = _ResponseUrl(command["id"], call.actor.user_id, call.channel_id, call.team_id,
                                                    call.root_id, call.trigger, now + RESPONSE_URL_LIFETIME_MS)
        return hook_id

    async def respond_later(self, hook_id: str, content_type: str, body: bytes) -> None:
        """POST /hooks/commands/{id}: a custom command's delayed CommandResponse."""
        try:
            response = CommandResponse.from_http(content_type, body)
        except (ValueError, TypeError):
            raise BadRequest("Unable to parse the command response.", "web.command_webhook.parse.app_error") from None
        hook = self._response_urls.get(hook_id)
        if hook is None:
            raise NotFound("Unable to find the command's response URL.", "app.command_webhook.get.missing")
        if hook.expires_at <= self._ctx.now_ms() or hook.uses >= RESPONSE_URL_USES:
            raise BadRequest("This response URL has expired or was used too often.", "app.command_webhook.try_use.invalid")
        hook.uses += 1
        command = await self._ctx.store.fetchone("SELECT * FROM commands WHERE id = ? AND _deleted = 0", (hook.command_id,))
        actor = await self._access.user_session(hook.user_id)
        channel = await self._ctx.store.fetchone("SELECT * FROM channels WHERE id = ? AND _deleted = 0", (hook.channel_id,))
        if command is None or actor is None or channel is None:
            raise BadRequest("The command behind this response URL is gone.", "web.command_webhook.command.app_error")
        call = CommandCall(actor, channel, hook.team_id, hook.root_id, hook.trigger, "", "")
        await self._answer(call, response, command)

    # -- lifetime --------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except ServiceError as exc:
                log.info("delayed command work failed: %s", exc.message)
            except Exception:
                log.exception("delayed command work failed")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for delayed work (/echo with a delay) started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel delayed work that has not run yet (the node is closing)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
