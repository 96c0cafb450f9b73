"""Playbook runs: start, read, list, patch, owner, status updates, finish, restore, retrospective.

Who may see a run (the plugin's RunView): its owner, its participants, anyone who may view its
playbook, and system admins. Who may change it (RunManageProperties): its owner and participants,
and system admins. A run's data live in its own feed scope (`run:<id>`).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from crdt import Create, Op, Update, keys_between
from edgenode.ids import is_valid_id, new_id

from edgenode.schema import SCHEMA

from .channels import ChannelService
from .context import Context
from .errors import BadRequest
from .events import Broadcast, Event
from .membership import Memberships
from .playbooks import MEMBER, PlaybookService, not_authorized, text
from .playbooks_model import (
    FINISHED, IN_PROGRESS, MAX_TEXT, MAX_TITLE, RUN_SETTINGS, checklist_view, run_json, run_scope, status_update_json, value,
)
from .playbooks_ops import (
    finish_ops, new_run_ops, owner_ops, participant_ops, restore_ops, retrospective_ops, status_update_ops,
)
from .playbook_notify import PlaybookNotifier
from .posts import PostService
from .read_cache import ReadCache, shared_cache
from .users import Session

__all__ = ["RUN_CREATED", "RUN_UPDATED", "RunService", "run_updated_events"]

RUN_UPDATED = "custom_playbooks_playbook_run_updated"
RUN_CREATED = "custom_playbooks_playbook_run_created"

_SLUG = re.compile(r"[^a-z0-9]+")
_SORTS = {"create_at": "create_at", "id": "id", "name": "name", "owner_user_id": "owner_user_id",
          "team_id": "team_id", "end_at": "end_at", "last_status_update_at": "last_status_update_at"}


def run_updated_events(run: dict[str, Any], public: bool, *, from_peer: bool = False) -> list[Event]:
    """The plugin's websocket event for a changed run: to the team when its playbook is public (every
    member may view it), else to its owner and each participant only."""
    data = {"payload": json.dumps(run)}
    if public:
        return [Event(RUN_UPDATED, data, Broadcast(team_id=run["team_id"]), from_peer)]
    users = sorted({run["owner_user_id"], *run["participant_ids"]} - {""})
    return [Event(RUN_UPDATED, data, Broadcast(user_id=u), from_peer) for u in users]


def _rows_as_json(kind: str, where: str) -> str:
    """A subquery giving the live rows of `kind` matching `where` as a JSON array of objects with every
    declared column (JSON columns as their text) and the create's stamp in hex, which orders the timeline."""
    table = SCHEMA.entities[kind]
    pairs = ", ".join(f"'{c.name}', {c.name}" for c in table.columns)
    return (f"(SELECT json_group_array(json_object('id', id, {pairs}, '_stamp', hex(_stamp))) "
            f"FROM {table.table} WHERE {where} AND _deleted = 0)")


_WHOLE_RUN = (
    f"SELECT r.*, {_rows_as_json('checklist', 'run_id = ?')} AS _checklists, "
    f"{_rows_as_json('checklist_item', 'run_id = ?')} AS _items, "
    "(SELECT json_group_array(user_id) FROM run_participants WHERE run_id = ?) AS _participants, "
    f"{_rows_as_json('timeline_event', 'run_id = ?')} AS _timeline, "
    f"{_rows_as_json('status_update', 'run_id = ?')} AS _status_updates, "
    f"{_rows_as_json('run_metric', 'run_id = ?')} AS _metrics, "
    "(SELECT public FROM playbooks WHERE id = r.playbook_id) AS _public "
    "FROM runs r WHERE r.id = ?")
_RUN_KINDS = frozenset({"run", "checklist", "checklist_item", "timeline_event", "status_update", "run_metric",
                        "run.participants", "playbook"})
"""Every kind a run's JSON reads."""

_RUN_ROW = ("SELECT r.*, (SELECT json_group_array(user_id) FROM run_participants WHERE run_id = r.id) AS _participants "
            "FROM runs r WHERE r.id = ? AND r._deleted = 0")
_OUTLINE = (f"SELECT {_rows_as_json('checklist', 'run_id = ?')} AS _checklists, "
            f"{_rows_as_json('checklist_item', 'run_id = ?')} AS _items")


class RunService:
    def __init__(self, ctx: Context, members: Memberships, channels: ChannelService, posts: PostService,
                 playbooks: PlaybookService, notifier: PlaybookNotifier):
        self._ctx = ctx
        self._notifier = notifier
        self._members = members
        self._channels = channels
        self._posts = posts
        self._playbooks = playbooks
        self.rng = random.Random()
        # run id -> its row and participants: read by every route; item edits leave it
        self._rows: ReadCache[str, sqlite3.Row | None] = shared_cache(ctx.store, "run_rows", {"run", "run.participants"})
        # run id -> (its JSON, public playbook): read by every GET and event, dropped by any run commit
        self._runs_json: ReadCache[str, tuple[dict[str, Any], bool]] = shared_cache(ctx.store, "run_json", _RUN_KINDS)

    # -- reading ---------------------------------------------------------------------------

    async def row(self, run_id: str) -> sqlite3.Row:
        """The run's row, with its participants (`_participants`, a JSON array) read in the same query."""
        row = await self._rows.get(run_id, lambda: self._ctx.store.fetchone(_RUN_ROW, (run_id,))) \
            if is_valid_id(run_id) else None
        if row is None:
            raise not_authorized()
        return row

    async def participants(self, run_id: str) -> list[str]:
        return [r[0] for r in await self._ctx.store.fetchall(
            "SELECT user_id FROM run_participants WHERE run_id = ? ORDER BY user_id", (run_id,))]

    async def _participants_of(self, row: sqlite3.Row) -> list[str]:
        if "_participants" in row.keys():
            return sorted(json.loads(row["_participants"]))
        return await self.participants(row["id"])

    async def can_view(self, row: sqlite3.Row, actor: Session) -> bool:
        if actor.is_system_admin or row["owner_user_id"] == actor.user_id:
            return True
        if actor.user_id in await self._participants_of(row):
            return True
        if row["playbook_id"]:
            playbook = await self._ctx.store.fetchone("SELECT * FROM playbooks WHERE id = ?", (row["playbook_id"],))
            return playbook is not None and MEMBER in await self._playbooks.roles(playbook, actor)
        return await self._members.is_channel_member(row["channel_id"], actor.user_id)

    async def viewable(self, run_id: str, actor: Session) -> sqlite3.Row:
        row = await self.row(run_id)
        if not await self.can_view(row, actor):
            raise not_authorized()
        return row

    async def modifiable(self, run_id: str, actor: Session, *, unfinished: bool = False) -> sqlite3.Row:
        row = await self.row(run_id)
        if not (actor.is_system_admin or row["owner_user_id"] == actor.user_id
                or actor.user_id in await self._participants_of(row)):
            raise not_authorized()
        if unfinished and row["current_status"] == FINISHED:
            raise BadRequest("cannot modify a finished run")
        return row

    async def to_json(self, run_id: str) -> dict[str, Any]:
        return (await self._whole(run_id))[0]

    async def _whole(self, run_id: str) -> tuple[dict[str, Any], bool]:
        """The run's JSON (shared: never changed by callers) and whether its playbook is public."""
        return await self._runs_json.get(run_id, lambda: self._read_whole(run_id))

    async def _read_whole(self, run_id: str) -> tuple[dict[str, Any], bool]:
        """In one query: one hop to a reader thread, one snapshot."""
        run = (await self._ctx.store.fetchall(_WHOLE_RUN, (run_id,) * 6 + (run_id,)))[0]
        return run_json(run, json.loads(run["_checklists"]), json.loads(run["_items"]), json.loads(run["_participants"]),
                        json.loads(run["_timeline"]), json.loads(run["_status_updates"]),
                        json.loads(run["_metrics"])), bool(run["_public"])

    async def outline(self, row: sqlite3.Row) -> dict[str, Any]:
        """What an edit of a run's checklists reads: its checklists and items in order, its team,
        channel and participants; without the timeline and status updates a whole run carries."""
        lists = (await self._ctx.store.fetchall(_OUTLINE, (row["id"], row["id"])))[0]
        checklists = checklist_view(json.loads(lists["_checklists"]), json.loads(lists["_items"]))
        return {"id": row["id"], "team_id": row["team_id"], "channel_id": row["channel_id"], "checklists": checklists,
                "items_order": [c["id"] for c in checklists], "participant_ids": await self._participants_of(row)}

    async def get(self, run_id: str, actor: Session) -> dict[str, Any]:
        await self.viewable(run_id, actor)
        return await self.to_json(run_id)

    async def metadata(self, run_id: str, actor: Session) -> dict[str, Any]:
        row = await self.viewable(run_id, actor)
        channel = await self._ctx.store.fetchone("SELECT name, display_name FROM channels WHERE id = ?", (row["channel_id"],))
        team = await self._ctx.store.fetchone("SELECT name FROM teams WHERE id = ?", (row["team_id"],))
        return {"channel_name": channel["name"] if channel else "", "channel_display_name":
                channel["display_name"] if channel else "", "team_name": team["name"] if team else "",
                "num_participants": len(await self.participants(run_id)), "total_posts": 0,
                "followers": [r[0] for r in await self._ctx.store.fetchall(
                    "SELECT user_id FROM run_followers WHERE run_id = ? ORDER BY user_id", (run_id,))]}

    async def by_channel(self, channel_id: str, actor: Session) -> dict[str, Any]:
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM runs WHERE channel_id = ? AND _deleted = 0 ORDER BY create_at DESC, id", (channel_id,))
        for row in rows:
            if await self.can_view(row, actor):
                return await self.to_json(row["id"])
        raise not_authorized()

    async def listing(self, actor: Session, filters: dict[str, Any], page: int, per_page: int) -> dict[str, Any]:
        """GET /runs with the plugin's filters; only runs the caller may see are counted."""
        sort = filters.get("sort") or "create_at"
        direction = (filters.get("direction") or "desc").lower()
        if sort not in _SORTS or direction not in ("asc", "desc"):
            raise BadRequest("bad parameter 'sort' or 'direction'")
        where, params = ["_deleted = 0"], []
        for name in ("team_id", "owner_user_id", "playbook_id", "channel_id"):
            if filters.get(name):
                where.append(f"{name} = ?")
                params.append(filters[name])
        statuses = [s for s in filters.get("statuses") or [] if s]
        if statuses:
            if not all(s in (IN_PROGRESS, FINISHED) for s in statuses):
                raise BadRequest("bad parameter 'statuses'")
            where.append(f"current_status IN ({','.join('?' * len(statuses))})")
            params += statuses
        if filters.get("search_term"):
            where.append("instr(lower(name), lower(?)) > 0")
            params.append(filters["search_term"])
        if filters.get("participant_id"):
            where.append("id IN (SELECT run_id FROM run_participants WHERE user_id = ?)")
            params.append(filters["participant_id"])
        if filters.get("participant_or_follower_id"):
            where.append("id IN (SELECT run_id FROM run_participants WHERE user_id = ? "
                         "UNION SELECT run_id FROM run_followers WHERE user_id = ?)")
            params += [filters["participant_or_follower_id"]] * 2
        rows = await self._ctx.store.fetchall(
            f"SELECT * FROM runs WHERE {' AND '.join(where)} ORDER BY {_SORTS[sort]} {direction}, id", params)
        visible = [r for r in rows if await self.can_view(r, actor)]
        items = [await self.to_json(r["id"]) for r in visible[page * per_page:(page + 1) * per_page]]
        total = len(visible)
        return {"total_count": total, "page_count": -(-total // per_page), "per_page": per_page,
                "has_more": (page + 1) * per_page < total, "items": items}

    async def status_updates(self, run_id: str, actor: Session) -> list[dict[str, Any]]:
        await self.viewable(run_id, actor)
        rows = await self._ctx.store.fetchall(
            "SELECT s.*, u.username FROM run_status_updates s LEFT JOIN users u ON u.id = s.user_id "
            "WHERE s.run_id = ? AND s._deleted = 0 ORDER BY s.create_at DESC, s.post_id DESC", (run_id,))
        return [status_update_json(r, r["username"] or "") for r in rows]

    # -- starting ----------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        name = text(body, "name", MAX_TITLE, required=True).strip()
        summary = text(body, "summary", MAX_TEXT)
        playbook: sqlite3.Row | None = None
        if body.get("playbook_id"):
            playbook = await self._playbooks.viewable(str(body["playbook_id"]), actor)
            if int(playbook["delete_at"] or 0):
                raise BadRequest("playbook is archived, cannot create a new run using an archived playbook")
        channel_id, team_id = body.get("channel_id") or "", body.get("team_id") or ""
        linked = value(playbook, "settings", {}) if playbook is not None else {}
        if not channel_id and linked.get("channel_mode") == "link_existing_channel" and linked.get("channel_id"):
            channel_id = linked["channel_id"]  # the playbook runs in one channel it names
        if channel_id:
            channel = await self._channels.readable(str(channel_id), actor)
            if not await self._members.is_channel_member(channel["id"], actor.user_id):
                raise not_authorized()
            if team_id and team_id != channel["team_id"]:
                raise BadRequest("channel_id belongs to another team")
            team_id = channel["team_id"]
        if not is_valid_id(team_id):
            raise BadRequest("must provide team_id or channel_id to create a playbook run")
        if playbook is not None and playbook["team_id"] != team_id:
            raise BadRequest("the playbook belongs to another team")
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise not_authorized()
        owner = body.get("owner_user_id") or actor.user_id
        if not is_valid_id(owner) or not await self._members.is_team_member(team_id, owner):
            raise BadRequest("owner_user_id must be a member of the run's team")
        settings = self._settings(playbook)
        public = body.get("create_public_run")
        if public is None:
            public = bool(playbook["create_public_playbook_run"]) if playbook is not None else False
        if not isinstance(public, bool):
            raise BadRequest("invalid create_public_run")
        post_id = body.get("post_id") or ""
        if post_id and not is_valid_id(post_id):
            raise BadRequest("invalid post_id")
        run_id = new_id()
        if not channel_id:
            channel_id = await self._new_channel(run_id, name, team_id, public, playbook, actor)
        invited = [u for u in settings["invited_user_ids"] if is_valid_id(u)]
        for user_id in dict.fromkeys([owner, *invited]):
            if user_id != actor.user_id and await self._members.is_team_member(team_id, user_id):
                await self._channels.add_member(channel_id, user_id, actor)
        now = self._ctx.now_ms()
        fields = {
            "playbook_id": playbook["id"] if playbook is not None else "", "team_id": team_id, "channel_id": channel_id,
            "post_id": post_id, "type": "playbook" if playbook is not None else "channelChecklist", "name": name,
            "summary": summary or (value(playbook, "settings", {}).get("run_summary_template", "")
                                   if playbook is not None else ""),
            "summary_modified_at": 0, "owner_user_id": owner, "reporter_user_id": actor.user_id,
            "last_status_update_at": 0, "retrospective": value(playbook, "settings", {}).get("retrospective_template", "")
            if playbook is not None else "", "retrospective_published_at": 0, "retrospective_was_canceled": False,
            "reminder_timer_default_seconds": int(playbook["reminder_timer_default_seconds"] or 0) if playbook else 0,
            "status_update_enabled": value(playbook, "settings", {}).get("status_update_enabled", True)
            if playbook is not None else True,
            "retrospective_enabled": value(playbook, "settings", {}).get("retrospective_enabled", True)
            if playbook is not None else False,
            "broadcast_channel_ids": value(playbook, "settings", {}).get("broadcast_channel_ids", [])
            if playbook is not None else [],
            "webhook_on_status_update_urls": value(playbook, "settings", {}).get("webhook_on_status_update_urls", [])
            if playbook is not None else [],
            "settings": settings,
        }
        checklists = self._copied_checklists(value(playbook, "checklists", []) if playbook is not None else [], now)
        participants = [actor.user_id, owner, *invited]
        await self._ctx.store.write(run_scope(run_id), new_run_ops(run_id, fields, checklists, participants, now,
                                                                   new_id(), actor.user_id))
        run = await self.to_json(run_id)
        await self._announce(run, playbook, actor)
        for event in await self._events(run):  # the plugin's playbook_run_created, to the same audience
            self._ctx.events.publish(Event(RUN_CREATED,
                                           {"payload": json.dumps({"playbook_run": run})}, event.broadcast))
        await self.publish(run)
        if playbook is not None and value(playbook, "settings", {}).get("webhook_on_creation_enabled"):
            self._notifier.fire(run["webhook_on_creation_urls"], run)
        return run

    @staticmethod
    def _settings(playbook: sqlite3.Row | None) -> dict[str, Any]:
        if playbook is None:
            return dict(RUN_SETTINGS)
        source = {**value(playbook, "settings", {}), "default_owner_id": playbook["default_owner_id"] or ""}
        settings = {name: source.get(name, default) for name, default in RUN_SETTINGS.items()}
        settings["status_update_broadcast_channels_enabled"] = bool(source.get("broadcast_enabled"))
        settings["status_update_broadcast_webhooks_enabled"] = bool(source.get("webhook_on_status_update_enabled"))
        if not source.get("invite_users_enabled"):
            settings["invited_user_ids"] = []
        return settings

    def _copied_checklists(self, template: Sequence[Any], start: int) -> list[tuple[str, str, str, list[tuple[str, str, dict[str, Any]]]]]:
        """The playbook's checklists for a new run: fresh ids and positions, due dates made absolute."""
        lists = [c for c in template if isinstance(c, dict)]
        out = []
        for checklist, position in zip(lists, keys_between(None, None, len(lists), self.rng)):
            items = [i for i in checklist.get("items") or [] if isinstance(i, dict)]
            copied = []
            for item, item_position in zip(items, keys_between(None, None, len(items), self.rng)):
                due = int(item.get("due_date") or 0)
                copied.append((new_id(), item_position, {
                    "title": str(item.get("title") or ""), "description": str(item.get("description") or ""),
                    "command": str(item.get("command") or ""), "assignee_id": str(item.get("assignee_id") or ""),
                    "due_date": start + due if due else 0, "task_actions": item.get("task_actions") or []}))
            out.append((new_id(), position, str(checklist.get("title") or ""), copied))
        return out

    async def _new_channel(self, run_id: str, name: str, team_id: str, public: bool, playbook: sqlite3.Row | None,
                           actor: Session) -> str:
        template = (playbook["channel_name_template"] or "") if playbook is not None else ""
        display = (template.replace("{{.Name}}", name) if template else name)[:64].strip() or "run"
        slug = _SLUG.sub("-", display.lower()).strip("-")[:50] or "run"
        channel = await self._channels.create({"team_id": team_id, "type": "O" if public else "P",
                                               "name": f"{slug}-{run_id[:8]}", "display_name": display}, actor)
        return str(channel["id"])

    async def _announce(self, run: dict[str, Any], playbook: sqlite3.Row | None, actor: Session) -> None:
        """The run's start in its channel, and in the playbook's broadcast channels when enabled."""
        message = f"@{await self._username(actor.user_id)} started the run **{run['name']}**"
        await self._posts.create({"channel_id": run["channel_id"], "message": message, "type": "custom_run_start",
                                  "props": {"playbook_run_id": run["id"]}}, actor, check_membership=False)
        if playbook is not None and value(playbook, "settings", {}).get("broadcast_enabled"):
            for channel_id in run["broadcast_channel_ids"]:
                if await self._members.is_channel_member(channel_id, actor.user_id):
                    await self._posts.create({"channel_id": channel_id, "message": message}, actor)

    async def _username(self, user_id: str) -> str:
        row = await self._ctx.store.fetchone("SELECT username FROM users WHERE id = ?", (user_id,))
        return str(row["username"]) if row is not None else ""

    # -- changing ----------------------------------------------------------------------------

    async def write(self, run_id: str, ops: list[Op]) -> None:
        """Write a run's ops and tell its clients. The event carries the whole run (the plugin's shape),
        which grows with the timeline: it is built only when some client connection listens."""
        await self._ctx.store.write(run_scope(run_id), ops)
        if self._ctx.events.has_user_subscribers():
            run, public = await self._whole(run_id)
            for event in run_updated_events(run, public):
                self._ctx.events.publish(event)

    async def publish(self, run: dict[str, Any]) -> None:
        for event in await self._events(run):
            self._ctx.events.publish(event)

    async def _events(self, run: dict[str, Any], *, from_peer: bool = False) -> list[Event]:
        playbook = await self._ctx.store.fetchone("SELECT public FROM playbooks WHERE id = ?", (run["playbook_id"],))
        return run_updated_events(run, bool(playbook and playbook["public"]), from_peer=from_peer)

    async def peer_events(self, run_id: str, ops: Sequence[Op]) -> list[Event]:
        """For PeerEvents: a run's feed advanced with ops from a peer; one event for the run as it now is."""
        if not self._ctx.events.has_user_subscribers():
            return []  # nobody to tell: the whole run is not worth building
        if await self._ctx.store.fetchone("SELECT 1 FROM runs WHERE id = ? AND _deleted = 0", (run_id,)) is None:
            return []  # its creation has not arrived: the client loads it when it does
        run = await self.to_json(run_id)
        events = await self._events(run, from_peer=True)
        if any(isinstance(op, Create) and op.kind == "run" for op in ops):
            events = [Event(RUN_CREATED, {"payload": json.dumps({"playbook_run": run})}, e.broadcast, True)
                      for e in events] + events
        return events

    async def patch(self, run_id: str, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        await self.modifiable(run_id, actor)
        now = self._ctx.now_ms()
        fields: dict[str, Any] = {}
        if "name" in body:
            fields["name"] = text(body, "name", MAX_TITLE, required=True).strip()
        if "summary" in body:
            fields["summary"] = text(body, "summary", MAX_TEXT)
            fields["summary_modified_at"] = now
        if fields:
            await self.write(run_id, [Update("run", run_id, {**fields, "update_at": now})])
        return await self.to_json(run_id)

    async def change_owner(self, run_id: str, owner_id: object, actor: Session) -> None:
        row = await self.modifiable(run_id, actor)
        if not is_valid_id(owner_id) or not await self._members.is_team_member(row["team_id"], str(owner_id)):
            raise BadRequest("owner_id must be a member of the run's team")
        assert isinstance(owner_id, str)
        if owner_id != row["owner_user_id"]:
            await self.write(run_id, owner_ops(run_id, owner_id, actor.user_id, self._ctx.now_ms(), new_id()))

    async def add_participants(self, run_id: str, user_ids: object, actor: Session) -> None:
        row = await self.modifiable(run_id, actor)
        if not isinstance(user_ids, list) or not all(is_valid_id(u) for u in user_ids) or len(user_ids) > 1000:
            raise BadRequest("invalid user_ids")
        for user_id in user_ids:
            if not await self._members.is_team_member(row["team_id"], user_id):
                raise BadRequest("a participant must be a member of the run's team")
        new = [u for u in dict.fromkeys(user_ids) if u not in await self.participants(run_id)]
        if new:
            await self.write(run_id, participant_ops(run_id, new, self._ctx.now_ms(), new_id(), actor.user_id))

    async def status_update(self, run_id: str, body: dict[str, Any], actor: Session) -> None:
        row = await self.modifiable(run_id, actor)
        message = text(body, "message", MAX_TEXT)
        if not message.strip():
            raise BadRequest("message must not be empty")
        finish = body.get("finish_run", False)
        reminder = body.get("reminder", 0)
        if not isinstance(finish, bool) or not isinstance(reminder, int) or isinstance(reminder, bool):
            raise BadRequest("invalid reminder or finish_run")
        if reminder <= 0 and not finish:
            raise BadRequest("the reminder must be set and not 0")
        post = await self._posts.create({"channel_id": row["channel_id"], "message": message, "type": "custom_run_update",
                                         "props": {"playbook_run_id": run_id}}, actor, check_membership=False)
        now = self._ctx.now_ms()
        ops = status_update_ops(run_id, post["id"], message, actor.user_id, now, max(reminder, 0), new_id())
        if finish and row["current_status"] != FINISHED:
            ops += finish_ops(run_id, actor.user_id, now, new_id())
        await self.write(run_id, ops)
        run = await self.to_json(run_id)
        if run["status_update_broadcast_channels_enabled"]:
            for channel_id in run["broadcast_channel_ids"]:
                if await self._members.is_channel_member(channel_id, actor.user_id):
                    await self._posts.create({"channel_id": channel_id, "message": message, "type": "custom_run_update",
                                              "props": {"playbook_run_id": run_id}}, actor)
        if run["status_update_broadcast_webhooks_enabled"]:
            self._notifier.fire(run["webhook_on_status_update_urls"], run)

    async def finish(self, run_id: str, actor: Session) -> None:
        row = await self._owner_group_check(run_id, actor)
        if row["current_status"] != FINISHED:
            await self.write(run_id, finish_ops(run_id, actor.user_id, self._ctx.now_ms(), new_id()))
            await self._posts.create({"channel_id": row["channel_id"], "type": "custom_run_finished",
                                      "message": f"@{await self._username(actor.user_id)} marked **{row['name']}** "
                                                 "as finished.", "props": {"playbook_run_id": run_id}},
                                     actor, check_membership=False)

    async def restore(self, run_id: str, actor: Session) -> None:
        row = await self._owner_group_check(run_id, actor)
        if row["current_status"] == FINISHED:
            await self.write(run_id, restore_ops(run_id, actor.user_id, self._ctx.now_ms(), new_id()))

    async def _owner_group_check(self, run_id: str, actor: Session) -> sqlite3.Row:
        row = await self.modifiable(run_id, actor)
        if value(row, "settings", {}).get("owner_group_only_actions") and not (
                actor.is_system_admin or row["owner_user_id"] == actor.user_id):
            raise not_authorized()
        return row

    async def retrospective(self, run_id: str, body: dict[str, Any], actor: Session, *, publish: bool) -> None:
        row = await self.modifiable(run_id, actor)
        retro = text(body, "retrospective", MAX_TEXT)
        metrics = await self._metric_values(row, body.get("metrics"))
        if publish and int(row["retrospective_published_at"] or 0) and not row["retrospective_was_canceled"]:
            raise BadRequest("retrospective is already published")
        ops = retrospective_ops(run_id, retro, metrics, self._ctx.now_ms(), publish=publish, user_id=actor.user_id,
                                event_id=new_id())
        await self.write(run_id, ops)
        if publish:
            await self._posts.create({"channel_id": row["channel_id"], "type": "custom_retro",
                                      "message": f"### Retrospective\n{retro}"[:MAX_TEXT],
                                      "props": {"playbook_run_id": run_id}}, actor, check_membership=False)

    async def _metric_values(self, row: sqlite3.Row, raw: object) -> list[tuple[str, int | None]]:
        """Values for the playbook's metrics (at most 4, each id one of the playbook's)."""
        if raw is None:
            return []
        playbook = await self._ctx.store.fetchone("SELECT metrics FROM playbooks WHERE id = ?", (row["playbook_id"],))
        known = {m.get("id") for m in value(playbook, "metrics", []) if isinstance(m, dict)} if playbook else set()
        if not isinstance(raw, list) or len(raw) > 4:
            raise BadRequest("invalid metrics: at most 4 values")
        out: list[tuple[str, int | None]] = []
        for entry in raw:
            if not isinstance(entry, dict) or entry.get("metric_config_id") not in known:
                raise BadRequest("invalid metric: metric_config_id is not one of the playbook's metrics")
            amount = entry.get("value")
            if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount < 0):
                raise BadRequest("invalid metric value: a non-negative integer or null")
            out.append((str(entry["metric_config_id"]), amount))
        return out
