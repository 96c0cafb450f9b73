"""Playbooks (run templates): create, read, list, replace, archive, restore, duplicate, export, import.

Permissions as the plugin's defaults: a team member may create one; in a public playbook every team
member counts as `playbook_member` (view, edit, run), in a private one only its `members` do; making
it private or changing members' roles needs `playbook_admin`. System admins may do everything.
A playbook is edited as a whole (PUT replaces it), so its settings are whole-value registers.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from collections.abc import Sequence

from crdt import Create, Op, Update
from edgenode.ids import is_valid_id, new_id

from .context import Context
from .errors import BadRequest, Forbidden
from .events import Broadcast, Event
from .membership import Memberships
from .playbooks_model import (
    MAX_CHECKLISTS, MAX_ITEMS_PER_CHECKLIST, MAX_METRICS, MAX_TEXT, MAX_TITLE, METRIC_TYPES, PLAYBOOK_SETTINGS,
    playbook_json, playbook_scope, value,
)
from .users import Session

__all__ = ["PlaybookService", "not_authorized", "playbook_event", "text"]

MEMBER, ADMIN = "playbook_member", "playbook_admin"


def playbook_event(name: str, team_id: str, *, from_peer: bool = False) -> Event:
    """The plugin's playbook_created / playbook_archived / playbook_restored, to the team: they carry
    only the team's id (clients reload the list they may see)."""
    return Event(f"custom_playbooks_{name}", {"payload": json.dumps({"teamID": team_id})}, Broadcast(team_id=team_id),
                 from_peer)


def not_authorized() -> Forbidden:
    """The plugin's answer to a failed permission check, also for an id it does not know."""
    return Forbidden("Not authorized")


def text(body: dict[str, Any], name: str, limit: int, *, required: bool = False, default: str = "") -> str:
    raw = body.get(name, default)
    if not isinstance(raw, str) or len(raw) > limit:
        raise BadRequest(f"invalid {name}: a string of at most {limit} characters")
    if required and not raw.strip():
        raise BadRequest(f"missing {name}")
    return raw


def _string_list(body: dict[str, Any], name: str, *, ids: bool = False, limit: int = 256) -> list[str]:
    raw = body.get(name) or []
    if not isinstance(raw, list) or len(raw) > limit or not all(isinstance(v, str) and len(v) <= 1024 for v in raw):
        raise BadRequest(f"invalid {name}: a list of at most {limit} strings")
    if ids and not all(is_valid_id(v) for v in raw):
        raise BadRequest(f"invalid {name}: not ids")
    return list(dict.fromkeys(raw))


def _checklists(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_CHECKLISTS:
        raise BadRequest(f"invalid checklists: a list of at most {MAX_CHECKLISTS}")
    out = []
    for checklist in raw:
        if not isinstance(checklist, dict):
            raise BadRequest("invalid checklist")
        items = checklist.get("items") or []
        if not isinstance(items, list) or len(items) > MAX_ITEMS_PER_CHECKLIST:
            raise BadRequest(f"invalid checklist items: at most {MAX_ITEMS_PER_CHECKLIST}")
        out.append({"id": checklist.get("id") if is_valid_id(checklist.get("id")) else new_id(),
                    "title": text(checklist, "title", MAX_TITLE), "items": [_template_item(i) for i in items]})
    return out


def _template_item(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequest("invalid checklist item")
    due = raw.get("due_date", 0) or 0
    if not isinstance(due, int) or isinstance(due, bool):
        raise BadRequest("invalid due_date: milliseconds after the run's start")
    assignee = raw.get("assignee_id", "") or ""
    if assignee and not is_valid_id(assignee):
        raise BadRequest("invalid assignee_id")
    actions = raw.get("task_actions") or []
    if not isinstance(actions, list) or len(json.dumps(actions)) > MAX_TEXT:
        raise BadRequest("invalid task_actions")
    return {"id": raw.get("id") if is_valid_id(raw.get("id")) else new_id(),
            "title": text(raw, "title", MAX_TITLE, required=True), "description": text(raw, "description", MAX_TEXT),
            "command": text(raw, "command", MAX_TITLE), "due_date": due, "assignee_id": assignee,
            "state": "", "task_actions": actions}


def _metrics(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_METRICS:
        raise BadRequest(f"playbook cannot have more than {MAX_METRICS} key metrics")
    out, titles = [], set()
    for metric in raw:
        if not isinstance(metric, dict) or metric.get("type") not in METRIC_TYPES:
            raise BadRequest(f"invalid metric: type must be one of {', '.join(METRIC_TYPES)}")
        title = text(metric, "title", 512, required=True)
        if title in titles:
            raise BadRequest("metrics names must be unique")
        titles.add(title)
        target = metric.get("target")
        if target is not None and (not isinstance(target, int) or isinstance(target, bool) or target < 0):
            raise BadRequest("invalid metric target: a non-negative integer or null")
        out.append({"id": metric.get("id") if is_valid_id(metric.get("id")) else new_id(), "title": title,
                    "description": text(metric, "description", 4096), "type": metric["type"], "target": target})
    return out


def _members(raw: object, creator: str) -> list[dict[str, Any]]:
    if not raw:
        return [{"user_id": creator, "roles": [MEMBER, ADMIN], "scheme_roles": [MEMBER, ADMIN]}]
    if not isinstance(raw, list) or len(raw) > 1000:
        raise BadRequest("invalid members")
    out: dict[str, dict[str, Any]] = {}
    for member in raw:
        if not isinstance(member, dict) or not is_valid_id(member.get("user_id")):
            raise BadRequest("invalid member: a user_id is required")
        roles = member.get("roles") or [MEMBER]
        if not isinstance(roles, list) or not all(r in (MEMBER, ADMIN) for r in roles):
            raise BadRequest(f"invalid member roles: {MEMBER} or {ADMIN}")
        roles = [r for r in (MEMBER, ADMIN) if r in roles or r == MEMBER]
        out[member["user_id"]] = {"user_id": member["user_id"], "roles": roles, "scheme_roles": roles}
    return list(out.values())


class PlaybookService:
    def __init__(self, ctx: Context, members: Memberships):
        self._ctx = ctx
        self._members = members

    # -- reading ---------------------------------------------------------------------------

    async def row(self, playbook_id: str) -> sqlite3.Row:
        row = await self._ctx.store.fetchone("SELECT * FROM playbooks WHERE id = ? AND _deleted = 0", (playbook_id,)) \
            if is_valid_id(playbook_id) else None
        if row is None:
            raise not_authorized()
        return row

    async def roles(self, row: sqlite3.Row, actor: Session) -> set[str]:
        """The actor's roles on the playbook: none if they may not even see it."""
        if actor.is_system_admin:
            return {MEMBER, ADMIN}
        if not await self._members.is_team_member(row["team_id"], actor.user_id):
            return set()
        listed = {m.get("user_id"): set(m.get("roles") or []) for m in value(row, "members", []) if isinstance(m, dict)}
        roles = listed.get(actor.user_id, set())
        if row["public"]:
            roles = roles | {MEMBER}
        return roles

    async def viewable(self, playbook_id: str, actor: Session) -> sqlite3.Row:
        row = await self.row(playbook_id)
        if MEMBER not in await self.roles(row, actor):
            raise not_authorized()
        return row

    async def to_json(self, row: sqlite3.Row) -> dict[str, Any]:
        stats = await self._ctx.store.fetchone(
            "SELECT count(*) AS n, coalesce(sum(current_status = 'InProgress'), 0) AS active, "
            "coalesce(max(create_at), 0) AS last FROM runs WHERE playbook_id = ? AND _deleted = 0", (row["id"],))
        assert stats is not None
        return playbook_json(row, num_runs=int(stats["n"]), active_runs=int(stats["active"]),
                             last_run_at=int(stats["last"]))

    async def get(self, playbook_id: str, actor: Session) -> dict[str, Any]:
        return await self.to_json(await self.viewable(playbook_id, actor))

    async def listing(self, actor: Session, *, team_id: str = "", page: int = 0, per_page: int = 1000,
                   search_term: str = "", with_archived: bool = False, sort: str = "title",
                   direction: str = "asc") -> dict[str, Any]:
        columns = {"title": "title", "stages": "title", "steps": "title", "runs": "create_at",
                   "last_run_at": "create_at", "active_runs": "create_at"}
        if sort not in columns or direction not in ("asc", "desc"):
            raise BadRequest("bad parameter 'sort' or 'direction'")
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM playbooks WHERE _deleted = 0 AND (? = '' OR team_id = ?) "
            "AND (? OR coalesce(delete_at, 0) = 0) AND (? = '' OR instr(lower(title), lower(?)) > 0) "
            f"ORDER BY {columns[sort]} {direction}, id", (team_id, team_id, int(with_archived), search_term, search_term))
        visible = [r for r in rows if MEMBER in await self.roles(r, actor)]
        items = [await self.to_json(r) for r in visible[page * per_page:(page + 1) * per_page]]
        total = len(visible)
        return {"total_count": total, "page_count": -(-total // per_page), "has_more": (page + 1) * per_page < total,
                "items": items}

    async def suggestions(self, team_id: str, message: str, actor: Session) -> list[sqlite3.Row]:
        """Playbooks of the team whose keywords the message contains, and which the author may run."""
        lowered = message.lower()
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM playbooks WHERE team_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0 "
            "AND signal_any_keywords_enabled ORDER BY title, id", (team_id,))
        return [r for r in rows if any(isinstance(k, str) and k.strip() and k.lower() in lowered
                                       for k in value(r, "signal_any_keywords", []))
                and MEMBER in await self.roles(r, actor)]

    # -- writing ---------------------------------------------------------------------------

    async def _fields(self, body: dict[str, Any], team_id: str, creator: str) -> dict[str, Any]:
        if not isinstance(body.get("public", True), bool):
            raise BadRequest("invalid public: a boolean")
        reminder = body.get("reminder_timer_default_seconds", 0)
        if not isinstance(reminder, int) or isinstance(reminder, bool) or reminder <= 0:
            raise BadRequest("playbook ReminderTimerDefaultSeconds must be > 0")
        keywords = _string_list(body, "signal_any_keywords", limit=64)
        default_owner = body.get("default_owner_id") or ""
        if default_owner and not (is_valid_id(default_owner) and await self._members.is_team_member(team_id, default_owner)):
            raise BadRequest("invalid default_owner_id: not a member of the playbook's team")
        broadcast = _string_list(body, "broadcast_channel_ids", ids=True)
        for channel_id in broadcast:  # another team's channel is not a broadcast target
            if await self._ctx.store.fetchone("SELECT 1 FROM channels WHERE id = ? AND team_id = ? AND _deleted = 0",
                                              (channel_id, team_id)) is None:
                raise BadRequest("invalid broadcast_channel_ids: a channel of another team or none")
        for name in ("webhook_on_creation_urls", "webhook_on_status_update_urls"):
            if not all(u.startswith(("http://", "https://")) for u in _string_list(body, name, limit=64)):
                raise BadRequest(f"invalid {name}: http or https URLs")
        settings: dict[str, Any] = {}
        for name, default in PLAYBOOK_SETTINGS.items():
            raw = body.get(name, default)
            if raw is None:
                raw = default
            if type(raw) is not type(default) or (isinstance(raw, str) and len(raw) > MAX_TEXT) \
                    or (isinstance(raw, list) and len(json.dumps(raw)) > MAX_TEXT):
                raise BadRequest(f"invalid {name}")
            settings[name] = raw
        settings["broadcast_channel_ids"] = broadcast
        if settings["channel_mode"] not in ("create_new_channel", "link_existing_channel"):
            raise BadRequest("invalid channel_mode: create_new_channel or link_existing_channel")
        if settings["channel_id"] and await self._ctx.store.fetchone(
                "SELECT 1 FROM channels WHERE id = ? AND team_id = ? AND _deleted = 0", (settings["channel_id"], team_id)) is None:
            raise BadRequest("invalid channel_id: a channel of another team or none")
        return {
            "title": text(body, "title", MAX_TITLE, required=True), "description": text(body, "description", MAX_TEXT),
            "public": body.get("public", True),
            "create_public_playbook_run": bool(body.get("create_public_playbook_run", False)),
            "checklists": _checklists(body.get("checklists")), "members": _members(body.get("members"), creator),
            "metrics": _metrics(body.get("metrics")), "settings": settings, "signal_any_keywords": keywords,
            "signal_any_keywords_enabled": bool(body.get("signal_any_keywords_enabled", bool(keywords))),
            "channel_name_template": text(body, "channel_name_template", MAX_TITLE),
            "default_owner_id": default_owner, "reminder_timer_default_seconds": reminder,
        }

    async def create(self, body: dict[str, Any], actor: Session) -> str:
        if body.get("id"):
            raise BadRequest("Playbook given already has ID")
        team_id = body.get("team_id")
        if not is_valid_id(team_id):
            raise BadRequest("invalid team_id")
        assert isinstance(team_id, str)
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise not_authorized()
        fields = await self._fields(body, team_id, actor.user_id)
        return await self._insert(team_id, fields)

    async def _insert(self, team_id: str, fields: dict[str, Any]) -> str:
        playbook_id, now = new_id(), self._ctx.now_ms()
        await self._ctx.store.write(playbook_scope(playbook_id), [Create("playbook", playbook_id, {
            **fields, "team_id": team_id, "create_at": now, "update_at": now, "delete_at": 0}, deps=[("team", team_id)])])
        self._ctx.events.publish(playbook_event("playbook_created", team_id))
        return playbook_id

    async def update(self, playbook_id: str, body: dict[str, Any], actor: Session) -> None:
        """PUT: the whole playbook replaced (its team, id and times stay)."""
        row = await self.viewable(playbook_id, actor)
        if int(row["delete_at"] or 0):
            raise BadRequest("Playbook cannot be modified: it is archived")
        roles = await self.roles(row, actor)
        fields = await self._fields(body, row["team_id"], actor.user_id)
        if "members" not in body:
            fields["members"] = value(row, "members", [])
        making_private = bool(row["public"]) and not fields["public"]
        if (making_private or fields["members"] != value(row, "members", [])) and ADMIN not in roles:
            raise not_authorized()
        await self._write(row, fields)

    async def patch(self, playbook_id: str, body: dict[str, Any], actor: Session) -> None:
        row = await self.viewable(playbook_id, actor)
        fields: dict[str, Any] = {}
        if "channel_name_template" in body:
            fields["channel_name_template"] = text(body, "channel_name_template", MAX_TITLE)
        if "run_number_prefix" in body:
            settings = value(row, "settings", {})
            fields["settings"] = {**settings, "run_number_prefix": text(body, "run_number_prefix", 64)}
        if fields:
            await self._write(row, fields)

    async def _write(self, row: sqlite3.Row, fields: dict[str, Any]) -> None:
        fields = {**fields, "update_at": self._ctx.now_ms()}
        await self._ctx.store.write(playbook_scope(row["id"]), [Update("playbook", row["id"], fields)])

    async def archive(self, playbook_id: str, actor: Session, *, archived: bool = True) -> None:
        row = await self.viewable(playbook_id, actor)
        if bool(int(row["delete_at"] or 0)) != archived:
            await self._write(row, {"delete_at": self._ctx.now_ms() if archived else 0})
            self._ctx.events.publish(playbook_event("playbook_archived" if archived else "playbook_restored",
                                                    row["team_id"]))

    async def peer_events(self, playbook_id: str, ops: Sequence[Op]) -> list[Event]:
        """For PeerEvents: what a client should hear of a playbook's ops from a peer."""
        row = await self._ctx.store.fetchone("SELECT team_id FROM playbooks WHERE id = ?", (playbook_id,))
        if row is None:
            return []
        events = []
        for op in ops:
            fields = dict(op.fields) if isinstance(op, Create | Update) else {}
            if isinstance(op, Create):
                events.append(playbook_event("playbook_created", row["team_id"], from_peer=True))
            elif isinstance(op, Update) and isinstance(fields.get("delete_at"), int):
                name = "playbook_archived" if fields["delete_at"] else "playbook_restored"
                events.append(playbook_event(name, row["team_id"], from_peer=True))
        return events

    async def duplicate(self, playbook_id: str, actor: Session) -> str:
        row = await self.viewable(playbook_id, actor)
        exported = self._exported(row)
        exported["title"] = f"Copy of {row['title']}"[:MAX_TITLE]
        exported["members"] = []  # the copy is the duplicator's, as in the plugin
        return await self._insert(row["team_id"], await self._fields(exported, row["team_id"], actor.user_id))

    async def export(self, playbook_id: str, actor: Session) -> dict[str, Any]:
        return self._exported(await self.viewable(playbook_id, actor))

    @staticmethod
    def _exported(row: sqlite3.Row) -> dict[str, Any]:
        """The plugin's export: the playbook without ids of this server (team, members, times, counts)."""
        out = playbook_json(row)
        for name in ("id", "team_id", "create_at", "update_at", "delete_at", "num_stages", "num_steps", "num_runs",
                     "num_actions", "last_run_at", "active_runs", "members", "default_owner_id",
                     "broadcast_channel_ids", "invited_user_ids", "channel_id"):
            out.pop(name, None)
        out["metrics"] = [{k: v for k, v in m.items() if k not in ("id", "playbook_id")} for m in out["metrics"]]
        for checklist in out["checklists"]:
            checklist.pop("id", None)
            for item in checklist.get("items", []):
                item.pop("id", None)
                item["assignee_id"] = ""
        out["version"] = 1
        return out

    async def import_(self, body: dict[str, Any], team_id: str, actor: Session) -> str:
        if not is_valid_id(team_id):
            raise BadRequest("invalid team_id")
        if not actor.is_system_admin and not await self._members.is_team_member(team_id, actor.user_id):
            raise not_authorized()
        version = body.pop("version", 1)
        if version != 1:
            raise BadRequest("unsupported export version")
        body = {**body, "members": [], "team_id": team_id}
        return await self._insert(team_id, await self._fields(body, team_id, actor.user_id))
