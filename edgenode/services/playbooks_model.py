"""Playbooks and runs as the plugin's JSON, built from rows alone (pure: no store, no clock).

The same functions read the store's rows (JSON as text, booleans as 0/1) and crdt.Replica's entities
(Python values), so the convergence tests compare exactly what the API serves. Order is a function of
the rows: checklists and items by (position, id), timeline events by (event_at, stamp, id), status updates
newest first by (create_at, id); so every replica holding the same ops shows the same run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .models import Record

__all__ = [
    "FINISHED", "IN_PROGRESS", "ITEM_STATES", "MAX_ITEMS_PER_CHECKLIST", "MAX_CHECKLISTS", "MAX_METRICS", "MAX_TEXT",
    "MAX_TITLE", "METRIC_TYPES", "PLAYBOOK_SETTINGS", "RUN_SETTINGS", "Row", "checklist_view", "item_json",
    "metric_key", "ordered", "playbook_json", "run_json", "run_scope", "playbook_scope", "status_update_json",
    "timeline_json", "value",
]

Row = Record
"""A store row (sqlite3.Row), or a dict built from a Replica's entity with every declared column."""

IN_PROGRESS = "InProgress"
FINISHED = "Finished"
ITEM_STATES = ("", "in_progress", "closed", "skipped")
METRIC_TYPES = ("metric_duration", "metric_currency", "metric_integer")
MAX_METRICS = 4
MAX_TITLE = 1024
MAX_TEXT = 16_383  # a post's limit: status updates and retrospectives are also posts
MAX_CHECKLISTS = 100
MAX_ITEMS_PER_CHECKLIST = 1000

# Plugin fields of a playbook kept in its `settings` register, with their defaults.
PLAYBOOK_SETTINGS: dict[str, Any] = {
    "reminder_message_template": "", "status_update_enabled": True, "invited_user_ids": [],
    "invited_group_ids": [], "invite_users_enabled": False, "default_owner_enabled": False,
    "broadcast_channel_ids": [], "broadcast_enabled": False, "webhook_on_creation_urls": [],
    "webhook_on_creation_enabled": False, "webhook_on_status_update_urls": [], "webhook_on_status_update_enabled": False,
    "message_on_join": "", "message_on_join_enabled": False, "retrospective_reminder_interval_seconds": 0,
    "retrospective_template": "", "retrospective_enabled": True, "category_name": "", "categorize_channel_enabled": False,
    "run_summary_template_enabled": False, "run_summary_template": "", "channel_name_template": "",
    "channel_mode": "create_new_channel", "channel_id": "", "create_channel_member_on_new_participant": True,
    "remove_channel_member_on_removed_participant": True, "run_number_prefix": "", "admin_only_edit": False,
    "owner_group_only_actions": False, "new_channel_only": False, "auto_archive_channel": False,
}

# Plugin fields of a run copied from its playbook at creation into the run's `settings` register.
RUN_SETTINGS: dict[str, Any] = {
    "reminder_message_template": "", "invited_user_ids": [], "invited_group_ids": [], "default_owner_id": "",
    "broadcast_enabled": False, "webhook_on_creation_urls": [], "status_update_broadcast_channels_enabled": False,
    "status_update_broadcast_webhooks_enabled": False, "retrospective_reminder_interval_seconds": 0,
    "message_on_join": "", "category_name": "", "create_channel_member_on_new_participant": True,
    "remove_channel_member_on_removed_participant": True, "owner_group_only_actions": False,
}


def run_scope(run_id: str) -> str:
    """The feed scope of a run and everything in it (checklists, items, timeline, status updates)."""
    return f"run:{run_id}"


def playbook_scope(playbook_id: str) -> str:
    return f"playbook:{playbook_id}"


def metric_key(run_id: str, metric_id: str) -> str:
    """The id of a run's value for one metric: one register per metric."""
    return f"{run_id}:{metric_id}"


def value(row: Row, name: str, default: Any = None) -> Any:
    """A JSON column as a Python value, whether the row holds text (the store) or the value (a Replica)."""
    raw = _get(row, name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return default
    return raw


def _get(row: Row, name: str) -> Any:
    try:
        return row[name]
    except (KeyError, IndexError):
        return None


def _int(row: Row, name: str) -> int:
    raw = _get(row, name)
    return int(raw) if isinstance(raw, int | float) else 0


def _str(row: Row, name: str) -> str:
    raw = _get(row, name)
    return raw if isinstance(raw, str) else ""


def _bool(row: Row, name: str, default: bool = False) -> bool:
    raw = _get(row, name)
    return default if raw is None else bool(raw)


def ordered(rows: Iterable[Row], key: str = "position") -> list[Row]:
    """Rows sorted by (key, id): the order every replica shows."""
    return sorted(rows, key=lambda r: (r[key] or "", r["id"]))


def item_json(row: Row) -> dict[str, Any]:
    # The hot path of a run's JSON (a run may hold thousands of items): direct column reads. The
    # schema guarantees each column holds its type or NULL (validated per op), so `or` gives defaults.
    actions = row["task_actions"]
    if actions is not None and actions != "[]" and not isinstance(actions, list):
        actions = value(row, "task_actions", [])
    return {
        "id": row["id"], "title": row["title"] or "", "description": row["description"] or "",
        "state": row["state"] or "", "state_modified": row["state_modified"] or 0,
        "assignee_id": row["assignee_id"] or "", "assignee_type": row["assignee_type"] or "",
        "assignee_modified": row["assignee_modified"] or 0, "command": row["command"] or "",
        "command_last_run": row["command_last_run"] or 0, "due_date": row["due_date"] or 0,
        "task_actions": actions if isinstance(actions, list) else [],
        "update_at": row["update_at"] or 0, "delete_at": row["delete_at"] or 0,
    }


def checklist_view(checklists: Iterable[Row], items: Iterable[Row]) -> list[dict[str, Any]]:
    """A run's live checklists in order, each with its live items in order (items of a deleted
    checklist, or naming one this replica lacks, are not shown)."""
    by_list: dict[str, list[Row]] = {}
    for item in items:
        by_list.setdefault(item["checklist_id"] or "", []).append(item)
    out = []
    for checklist in ordered(checklists):
        its = [item_json(i) for i in ordered(by_list.get(_str(checklist, "id"), []))]
        out.append({"id": _str(checklist, "id"), "title": _str(checklist, "title"), "items": its,
                    "items_order": [i["id"] for i in its], "update_at": _int(checklist, "update_at")})
    return out


def timeline_json(row: Row) -> dict[str, Any]:
    return {
        "id": _str(row, "id"), "playbook_run_id": _str(row, "run_id"), "create_at": _int(row, "create_at"),
        "delete_at": _int(row, "delete_at"), "event_at": _int(row, "event_at"), "event_type": _str(row, "event_type"),
        "summary": _str(row, "summary"), "details": _str(row, "details"), "post_id": _str(row, "post_id"),
        "subject_user_id": _str(row, "subject_user_id"), "creator_user_id": _str(row, "creator_user_id"),
    }


def status_update_json(row: Row, author_name: str = "") -> dict[str, Any]:
    return {"id": _str(row, "post_id"), "create_at": _int(row, "create_at"), "delete_at": _int(row, "delete_at"),
            "message": _str(row, "message"), "author_user_name": author_name}


def run_json(run: Row, checklists: Iterable[Row], items: Iterable[Row], participants: Iterable[str],
             timeline: Iterable[Row], status_updates: Iterable[Row], metrics: Iterable[Row]) -> dict[str, Any]:
    """A PlaybookRun in the plugin's shape."""
    lists = checklist_view(checklists, items)
    settings = value(run, "settings", {})
    settings = {**RUN_SETTINGS, **(settings if isinstance(settings, dict) else {})}
    all_items = [i for c in lists for i in c["items"]]
    updates = sorted(status_updates, key=lambda r: (_int(r, "create_at"), _str(r, "post_id")))
    # events of one edit share a millisecond: then the order their ops were stamped in (the Create's
    # stamp, `_stamp`, the same on every node) keeps e.g. "status_updated" before "run_finished"
    events = sorted((e for e in timeline if not _int(e, "delete_at")),  # removed events are not shown
                    key=lambda r: (_int(r, "event_at"), _get(r, "_stamp") or b"", _str(r, "id")))
    broadcast = value(run, "broadcast_channel_ids", [])
    hooks = value(run, "webhook_on_status_update_urls", [])
    return {
        "id": _str(run, "id"), "name": _str(run, "name"), "summary": _str(run, "summary"),
        "summary_modified_at": _int(run, "summary_modified_at"), "owner_user_id": _str(run, "owner_user_id"),
        "reporter_user_id": _str(run, "reporter_user_id"), "team_id": _str(run, "team_id"),
        "channel_id": _str(run, "channel_id"), "post_id": _str(run, "post_id"), "playbook_id": _str(run, "playbook_id"),
        "type": _str(run, "type") or "playbook", "create_at": _int(run, "create_at"), "update_at": _int(run, "update_at"),
        "end_at": _int(run, "end_at"), "checklists": lists, "items_order": [c["id"] for c in lists],
        "status_posts": [{"id": _str(u, "post_id"), "create_at": _int(u, "create_at"),
                          "delete_at": _int(u, "delete_at")} for u in updates],
        "current_status": _str(run, "current_status") or IN_PROGRESS,
        "last_status_update_at": _int(run, "last_status_update_at"), "reminder_post_id": "", "previous_reminder": 0,
        "reminder_timer_default_seconds": _int(run, "reminder_timer_default_seconds"),
        "status_update_enabled": _bool(run, "status_update_enabled", True),
        "broadcast_channel_ids": broadcast if isinstance(broadcast, list) else [],
        "webhook_on_status_update_urls": hooks if isinstance(hooks, list) else [],
        "retrospective": _str(run, "retrospective"),
        "retrospective_published_at": _int(run, "retrospective_published_at"),
        "retrospective_was_canceled": _bool(run, "retrospective_was_canceled"),
        "retrospective_enabled": _bool(run, "retrospective_enabled", True),
        "timeline_events": [timeline_json(e) for e in events],
        "participant_ids": sorted(participants),
        "metrics_data": [{"metric_config_id": _str(m, "metric_config_id"), "value": _get(m, "value")}
                         for m in sorted(metrics, key=lambda m: _str(m, "metric_config_id"))],
        "run_number": 0, "sequential_id": "",
        "task_total": sum(1 for i in all_items if i["state"] != "skipped"),
        "task_completed": sum(1 for i in all_items if i["state"] == "closed"),
        **settings,
    }


def playbook_json(row: Row, *, num_runs: int = 0, active_runs: int = 0, last_run_at: int = 0) -> dict[str, Any]:
    """A Playbook in the plugin's shape."""
    checklists = value(row, "checklists", [])
    checklists = checklists if isinstance(checklists, list) else []
    settings = value(row, "settings", {})
    settings = {**PLAYBOOK_SETTINGS, **(settings if isinstance(settings, dict) else {})}
    members = value(row, "members", [])
    metrics = value(row, "metrics", [])
    keywords = value(row, "signal_any_keywords", [])
    steps: Sequence[Any] = [i for c in checklists if isinstance(c, dict) for i in c.get("items") or []]
    return {
        **settings,
        "id": _str(row, "id"), "title": _str(row, "title"), "description": _str(row, "description"),
        "team_id": _str(row, "team_id"), "public": _bool(row, "public"),
        "create_public_playbook_run": _bool(row, "create_public_playbook_run"),
        "create_at": _int(row, "create_at"), "update_at": _int(row, "update_at"), "delete_at": _int(row, "delete_at"),
        "num_stages": len(checklists), "num_steps": len(steps), "num_runs": num_runs, "num_actions": 0,
        "last_run_at": last_run_at, "active_runs": active_runs, "checklists": checklists,
        "members": members if isinstance(members, list) else [],
        "metrics": [{**m, "playbook_id": _str(row, "id")} for m in metrics if isinstance(m, dict)]
        if isinstance(metrics, list) else [],
        "reminder_timer_default_seconds": _int(row, "reminder_timer_default_seconds"),
        "default_owner_id": _str(row, "default_owner_id"), "channel_name_template": _str(row, "channel_name_template"),
        "signal_any_keywords": keywords if isinstance(keywords, list) else [],
        "signal_any_keywords_enabled": _bool(row, "signal_any_keywords_enabled"),
    }
