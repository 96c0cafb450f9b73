"""Playbooks in chat: the `/playbook` slash command, keyword suggestions, and runs started by alerts.

`/playbook run <playbook title> [run name]` starts a run directly from the text (the plugin opens a
browser dialog; a node without one starts it from what was typed). In a run's channel `/playbook
check <checklist> <item>` (0-based, as the plugin's autocomplete), `update <message>`, `finish` and
`owner [@user]` act on that run; `/playbook list` lists the caller's runs in progress.

`KeywordWatcher` reads the node's own posts (never a peer's: side effects happen once, on the node
where the post was made): a person's post containing a playbook's keyword gets an ephemeral
suggestion to run it; a post made by an incoming webhook (an alert from monitoring) starts the run,
owned by the playbook's default owner or else the webhook's owner.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from contextlib import ExitStack
from typing import Any

from edgenode.ids import new_id

from .command_builtins import BuiltinCommand
from .command_response import EPHEMERAL, CommandCall, CommandResponse
from .context import Context
from .errors import ServiceError
from .events import Broadcast, Event, Subscription
from .playbook_checklists import ChecklistService
from .playbook_runs import RunService
from .playbooks import PlaybookService
from .playbooks_model import IN_PROGRESS, value
from .users import Session

__all__ = ["KeywordWatcher", "PLAYBOOK_COMMAND", "PlaybookCommand", "PLAYBOOK_TRIGGER"]

log = logging.getLogger("edgenode.playbooks")

PLAYBOOK_TRIGGER = "playbook"
_HELP = ("Available commands: `/playbook run <playbook> [run name]`, `/playbook check <checklist> <item>`, "
         "`/playbook update <message>`, `/playbook finish`, `/playbook owner [@user]`, `/playbook list`.")


PLAYBOOK_COMMAND = {
    **BuiltinCommand(PLAYBOOK_TRIGGER, "Playbooks", "Playbooks: run, check, update, finish, owner, list",
                     "[run|check|update|finish|owner|list]").to_json(),
    "plugin_id": "playbooks",
}
"""/playbook as the commands list and autocomplete show it."""


def _reply(text: str) -> CommandResponse:
    return CommandResponse(response_type=EPHEMERAL, text=text)


class PlaybookCommand:
    def __init__(self, ctx: Context, playbooks: PlaybookService, runs: RunService, checklists: ChecklistService):
        self._ctx = ctx
        self._playbooks = playbooks
        self._runs = runs
        self._checklists = checklists

    async def run(self, call: CommandCall) -> CommandResponse:
        verb, _, rest = call.message.strip().partition(" ")
        handler = {"run": self._start, "check": self._check, "update": self._update, "finish": self._finish,
                   "owner": self._owner, "list": self._list}.get(verb.lower())
        if handler is None:
            return _reply(_HELP)
        try:
            return await handler(call, rest.strip())
        except ServiceError as exc:
            return _reply(f"Could not {verb}: {exc.message}")

    async def _start(self, call: CommandCall, rest: str) -> CommandResponse:
        rows = (await self._playbooks.listing(call.actor, team_id=call.team_id))["items"]
        lowered = rest.lower()
        matches = [p for p in rows if lowered == p["title"].lower() or lowered.startswith(p["title"].lower() + " ")]
        if not rest or not matches:
            titles = ", ".join(f"`{p['title']}`" for p in rows) or "none"
            return _reply(f"Name a playbook to run: `/playbook run <playbook> [run name]`. Playbooks: {titles}.")
        playbook = max(matches, key=lambda p: len(p["title"]))
        name = rest[len(playbook["title"]):].strip() or f"{playbook['title']} run"
        run = await self._runs.create({"name": name, "team_id": call.team_id, "playbook_id": playbook["id"]},
                                      call.actor)
        channel = await self._ctx.store.fetchone("SELECT name FROM channels WHERE id = ?", (run["channel_id"],))
        return _reply(f"Playbook run {run['name']} started in ~{channel['name'] if channel else run['channel_id']}")

    async def _channel_run(self, call: CommandCall) -> dict[str, Any]:
        return await self._runs.by_channel(call.channel_id, call.actor)

    async def _check(self, call: CommandCall, rest: str) -> CommandResponse:
        run = await self._channel_run(call)
        parts = rest.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return _reply("Usage: `/playbook check <checklist number> <item number>` (counting from 0).")
        i, j = int(parts[0]), int(parts[1])
        checklists = run["checklists"]
        if not (i < len(checklists) and j < len(checklists[i]["items"])):
            return _reply("There is no such checklist item in this run.")
        item = checklists[i]["items"][j]
        state = "" if item["state"] == "closed" else "closed"
        await self._checklists.set_state(run["id"], i, j, state, call.actor)
        return _reply(f"{'Checked' if state else 'Unchecked'} \"{item['title']}\".")

    async def _update(self, call: CommandCall, rest: str) -> CommandResponse:
        run = await self._channel_run(call)
        if not rest:
            return _reply("Usage: `/playbook update <message>`.")
        reminder = run["reminder_timer_default_seconds"] or 3600
        await self._runs.status_update(run["id"], {"message": rest, "reminder": reminder}, call.actor)
        return _reply("Status update posted.")

    async def _finish(self, call: CommandCall, rest: str) -> CommandResponse:
        run = await self._channel_run(call)
        await self._runs.finish(run["id"], call.actor)
        return _reply(f"Run {run['name']} finished.")

    async def _owner(self, call: CommandCall, rest: str) -> CommandResponse:
        run = await self._channel_run(call)
        if not rest:
            row = await self._ctx.store.fetchone("SELECT username FROM users WHERE id = ?", (run["owner_user_id"],))
            return _reply(f"The owner of this run is @{row['username'] if row else run['owner_user_id']}.")
        user = await self._ctx.store.fetchone("SELECT id FROM users WHERE username = ? AND _deleted = 0",
                                              (rest.removeprefix("@").lower(),))
        if user is None:
            return _reply(f"Unable to find user {rest}.")
        await self._runs.change_owner(run["id"], user["id"], call.actor)
        return _reply(f"The owner is now {rest}.")

    async def _list(self, call: CommandCall, rest: str) -> CommandResponse:
        page = await self._runs.listing(call.actor, {"team_id": call.team_id, "statuses": [IN_PROGRESS],
                                                     "participant_or_follower_id": call.actor.user_id}, 0, 100)
        if not page["items"]:
            return _reply("You have no runs in progress.")
        return _reply("Your runs in progress:\n" + "\n".join(f"- {r['name']}" for r in page["items"]))


class KeywordWatcher:
    """Suggests or starts playbooks from this node's own posts (see the module's docstring)."""

    def __init__(self, ctx: Context, playbooks: PlaybookService, runs: RunService):
        self._ctx = ctx
        self._playbooks = playbooks
        self._runs = runs
        self._stack = ExitStack()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        queue = self._stack.enter_context(self._ctx.events.subscribe())  # local writes only
        self._task = asyncio.create_task(self._loop(queue))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._stack.close()

    async def _loop(self, queue: Subscription) -> None:
        while True:
            event = await queue.get()
            if event.event != "posted":
                continue
            try:
                await self.handle(json.loads(event.data["post"]), str(event.data.get("team_id") or ""))
            except ServiceError as exc:
                log.info("playbook keywords: %s", exc.message)
            except Exception:  # a bad post must not stop the watcher
                log.exception("playbook keywords failed")

    async def handle(self, post: dict[str, Any], team_id: str) -> None:
        if not team_id or post.get("type") or not post.get("message"):
            return  # system and run posts (type set) never trigger
        author = await self._session(post["user_id"])
        if author is None:
            return
        found = await self._playbooks.suggestions(team_id, post["message"], author)
        if not found:
            return
        if (post.get("props") or {}).get("from_webhook") == "true":
            for playbook in found:
                await self._start_from_alert(playbook, post, author)
            return
        titles = ", ".join(f"**{p['title']}**" for p in found)
        self._ephemeral(post, f"This looks like something a playbook handles: {titles}. "
                              f"Start it with `/playbook run {found[0]['title']}`.")

    async def _start_from_alert(self, playbook: sqlite3.Row, post: dict[str, Any], author: Session) -> None:
        settings = value(playbook, "settings", {})
        owner = playbook["default_owner_id"] if settings.get("default_owner_enabled") and playbook["default_owner_id"] \
            else author.user_id
        name = post["message"].splitlines()[0][:200].strip() or playbook["title"]
        await self._runs.create({"name": name, "team_id": playbook["team_id"], "playbook_id": playbook["id"],
                                 "owner_user_id": owner, "post_id": post["id"],
                                 "summary": post["message"][:4000]}, author)

    async def _session(self, user_id: str) -> Session | None:
        row = await self._ctx.store.fetchone("SELECT roles FROM users WHERE id = ? AND _deleted = 0 "
                                             "AND coalesce(delete_at, 0) = 0", (user_id,))
        return Session("", "", user_id, row["roles"] or "") if row is not None else None

    def _ephemeral(self, post: dict[str, Any], text: str) -> None:
        now = self._ctx.now_ms()
        reply = {"id": new_id(), "create_at": now, "update_at": now, "edit_at": 0, "delete_at": 0, "is_pinned": False,
                 "user_id": post["user_id"], "channel_id": post["channel_id"], "root_id": post.get("root_id", ""),
                 "original_id": "", "message": text, "type": "system_ephemeral", "props": {}, "hashtags": "",
                 "file_ids": [], "pending_post_id": "", "reply_count": 0, "last_reply_at": 0, "participants": None,
                 "metadata": {}}
        self._ctx.events.publish(Event("ephemeral_message", {"post": json.dumps(reply)},
                                       Broadcast(user_id=post["user_id"], channel_id=post["channel_id"])))
