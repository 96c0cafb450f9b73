"""The ops each edit of a run writes (pure: ids, keys and the time are passed in).

Every edit writes only the registers it changes, plus one timeline event in the same batch, so:
- checks of different items made apart both survive (different entities);
- the same item changed on both sides keeps the write with the greater stamp, field by field, and
  the fields one edit writes together (state, state_modified, state_modified_by) win together;
- an item added on one side and a list reordered on the other keep both (a move writes only the
  moved item's (checklist_id, position));
- a status update never writes current_status, so a finish made elsewhere still ends the run
  Finished and the update is kept (it is its own entity).
The services call these after their checks; tests/edgenode/playbooks/test_convergence.py replays
them on three replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crdt import Add, Create, Delete, Op, Update

from .playbooks_model import FINISHED, IN_PROGRESS, metric_key

__all__ = [
    "add_checklist_ops", "add_item_ops", "delete_checklist_ops", "delete_item_ops", "event_op", "finish_ops",
    "item_fields_ops", "metric_ops", "move_checklist_ops", "move_item_ops", "new_run_ops", "owner_ops",
    "participant_ops", "restore_ops", "retrospective_ops", "status_update_ops", "item_state_ops",
]


def event_op(event_id: str, run_id: str, now: int, event_type: str, creator: str, *, summary: str = "",
             details: str = "", subject: str = "", post_id: str = "") -> Create:
    """One timeline event: its id and time are the edit's, so every node orders it the same."""
    fields: dict[str, Any] = {"run_id": run_id, "create_at": now, "event_at": now, "event_type": event_type,
                              "creator_user_id": creator, "summary": summary, "delete_at": 0}
    for name, field in (("details", details), ("subject_user_id", subject), ("post_id", post_id)):
        if field:
            fields[name] = field
    return Create("timeline_event", event_id, fields, deps=[("run", run_id)])


def new_run_ops(run_id: str, fields: dict[str, Any], checklists: Sequence[tuple[str, str, str, Sequence[tuple[str, str, dict[str, Any]]]]],
                participants: Sequence[str], now: int, event_id: str, creator: str) -> list[Op]:
    """A run, its checklists `(id, position, title, [(item id, position, item fields)])` and participants."""
    ops: list[Op] = [Create("run", run_id, {**fields, "create_at": now, "update_at": now,
                                             "current_status": IN_PROGRESS, "end_at": 0})]
    for checklist_id, position, title, items in checklists:
        ops += add_checklist_ops(run_id, checklist_id, position, title, now)
        for item_id, item_position, item in items:
            ops += add_item_ops(run_id, checklist_id, item_id, item_position, item, now)
    ops += [Add("run.participants", run_id, user_id) for user_id in dict.fromkeys(participants)]
    ops.append(event_op(event_id, run_id, now, "incident_created", creator, summary=f"Run started by {creator}"))
    return ops


def add_checklist_ops(run_id: str, checklist_id: str, position: str, title: str, now: int) -> list[Op]:
    return [Create("checklist", checklist_id, {"run_id": run_id, "title": title, "position": position,
                                               "create_at": now, "update_at": now}, deps=[("run", run_id)])]


def add_item_ops(run_id: str, checklist_id: str, item_id: str, position: str, item: dict[str, Any], now: int) -> list[Op]:
    fields = {"state": "", "assignee_id": "", "command": "", "description": "", "due_date": 0, **item,
              "run_id": run_id, "checklist_id": checklist_id, "position": position, "create_at": now,
              "update_at": now, "delete_at": 0}
    return [Create("checklist_item", item_id, fields, deps=[("checklist", checklist_id)])]


def delete_checklist_ops(checklist_id: str, item_ids: Sequence[str]) -> list[Op]:
    out: list[Op] = [Delete("checklist", checklist_id)]
    return out + [Delete("checklist_item", i) for i in item_ids]


def delete_item_ops(item_id: str) -> list[Op]:
    return [Delete("checklist_item", item_id)]


def move_checklist_ops(checklist_id: str, position: str, now: int) -> list[Op]:
    return [Update("checklist", checklist_id, {"position": position, "update_at": now})]


def move_item_ops(item_id: str, checklist_id: str, position: str, now: int) -> list[Op]:
    return [Update("checklist_item", item_id, {"checklist_id": checklist_id, "position": position, "update_at": now})]


def item_state_ops(run_id: str, item_id: str, state: str, user_id: str, now: int, event_id: str, title: str) -> list[Op]:
    fields: dict[str, Any] = {"state": state, "state_modified": now, "state_modified_by": user_id, "update_at": now}
    if state == "skipped":
        fields["delete_at"] = now  # the plugin marks the last skip in delete_at
    elif state in ("", "in_progress", "closed"):
        fields["delete_at"] = 0
    return [Update("checklist_item", item_id, fields),
            event_op(event_id, run_id, now, "task_state_modified", user_id,
                     summary=f"checked off checklist item \"{title}\"" if state == "closed"
                     else f"changed the state of checklist item \"{title}\" to \"{state or 'open'}\"")]


def item_fields_ops(run_id: str, item_id: str, fields: dict[str, Any], user_id: str, now: int, event_id: str,
                    title: str) -> list[Op]:
    """Edit of an item's title, description, command, assignee or due date."""
    ops: list[Op] = [Update("checklist_item", item_id, {**fields, "update_at": now})]
    if "assignee_id" in fields:
        ops.append(event_op(event_id, run_id, now, "assignee_changed", user_id, subject=fields["assignee_id"],
                            summary=f"changed the assignee of checklist item \"{title}\""))
    return ops


def participant_ops(run_id: str, user_ids: Sequence[str], now: int, event_id: str, creator: str) -> list[Op]:
    if not user_ids:
        return []
    out: list[Op] = [Add("run.participants", run_id, u) for u in user_ids]
    return out + [
        event_op(event_id, run_id, now, "participants_changed", creator, summary="added participants",
                 details=",".join(user_ids))]


def owner_ops(run_id: str, owner_id: str, user_id: str, now: int, event_id: str) -> list[Op]:
    return [Update("run", run_id, {"owner_user_id": owner_id, "update_at": now}),
            Add("run.participants", run_id, owner_id),
            event_op(event_id, run_id, now, "owner_changed", user_id, subject=owner_id, summary="changed the owner")]


def status_update_ops(run_id: str, post_id: str, message: str, user_id: str, now: int, reminder_seconds: int,
                      event_id: str) -> list[Op]:
    run_fields: dict[str, Any] = {"last_status_update_at": now, "update_at": now}
    if reminder_seconds > 0:
        run_fields["reminder_timer_default_seconds"] = reminder_seconds
    return [Create("status_update", post_id, {"run_id": run_id, "post_id": post_id, "message": message,
                                              "user_id": user_id, "create_at": now, "delete_at": 0},
                   deps=[("run", run_id)]),
            Update("run", run_id, run_fields),
            event_op(event_id, run_id, now, "status_updated", user_id, summary="posted a status update",
                     details=message[:1000], post_id=post_id)]


def finish_ops(run_id: str, user_id: str, now: int, event_id: str) -> list[Op]:
    return [Update("run", run_id, {"current_status": FINISHED, "end_at": now, "update_at": now}),
            event_op(event_id, run_id, now, "run_finished", user_id, summary="marked the run as finished")]


def restore_ops(run_id: str, user_id: str, now: int, event_id: str) -> list[Op]:
    return [Update("run", run_id, {"current_status": IN_PROGRESS, "end_at": 0, "update_at": now}),
            event_op(event_id, run_id, now, "run_restored", user_id, summary="restored the run")]


def retrospective_ops(run_id: str, text: str, metrics: Sequence[tuple[str, int | None]], now: int, *,
                      publish: bool = False, user_id: str = "", event_id: str = "") -> list[Op]:
    run_fields: dict[str, Any] = {"retrospective": text, "update_at": now}
    if publish:
        run_fields["retrospective_published_at"] = now
    ops: list[Op] = [Update("run", run_id, run_fields)]
    ops += metric_ops(run_id, metrics)
    if publish:
        ops.append(event_op(event_id, run_id, now, "published_retrospective", user_id,
                            summary="published the retrospective"))
    return ops


def metric_ops(run_id: str, metrics: Sequence[tuple[str, int | None]]) -> list[Op]:
    """One register per metric, created with its first value (a Create of an existing id writes it again)."""
    return [Create("run_metric", metric_key(run_id, metric_id),
                   {"run_id": run_id, "metric_config_id": metric_id, "value": amount}, deps=[("run", run_id)])
            for metric_id, amount in metrics]
