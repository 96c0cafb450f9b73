"""A run's checklists and items, addressed as the plugin does: by 0-based positions in the run as
the caller's node shows it. Each edit writes only what it changes (see playbooks_ops.py): a move is
one write of the item's (checklist, position), so edits made apart on other nodes all survive.
"""

from __future__ import annotations

import random
from typing import Any

from crdt import Op, Update, key_between
from edgenode.ids import is_valid_id, new_id

from .context import Context
from .errors import BadRequest
from .membership import Memberships
from .playbook_runs import RunService
from .playbooks import text
from .playbooks_model import ITEM_STATES, MAX_CHECKLISTS, MAX_ITEMS_PER_CHECKLIST, MAX_TEXT, MAX_TITLE
from .playbooks_ops import (
    add_checklist_ops, add_item_ops, delete_checklist_ops, delete_item_ops, event_op, item_fields_ops, item_state_ops,
    move_checklist_ops, move_item_ops,
)
from .users import Session

__all__ = ["ChecklistService"]


def _index(value: object, size: int, what: str, *, inclusive: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size + int(inclusive):
        raise BadRequest(f"invalid {what}: out of range")
    return value


class ChecklistService:
    def __init__(self, ctx: Context, members: Memberships, runs: RunService):
        self._ctx = ctx
        self._members = members
        self._runs = runs
        self.rng = random.Random()

    async def _run(self, run_id: str, actor: Session) -> dict[str, Any]:
        return await self._runs.outline(await self._runs.modifiable(run_id, actor, unfinished=True))

    async def _positions(self, ids: list[str], kind: str) -> list[str]:
        table = "checklists" if kind == "checklist" else "checklist_items"
        rows = {r["id"]: r["position"] for r in await self._ctx.store.fetchall(
            f"SELECT id, position FROM {table} WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
        return [rows[i] for i in ids]

    async def _key_at(self, ids: list[str], at: int, kind: str) -> str:
        """A position key that puts a new or moved entry at index `at` among `ids` (in their order)."""
        keys = await self._positions(ids, kind)
        before = keys[at - 1] if at > 0 else None
        after = keys[at] if at < len(keys) else None
        if before is not None and after is not None and before >= after:
            after = None  # equal keys (ordered by id): place after the earlier one
        return key_between(before, after, self.rng)

    async def _item(self, run_id: str, i: object, j: object, actor: Session) -> tuple[dict[str, Any], dict[str, Any]]:
        run = await self._run(run_id, actor)
        checklist = run["checklists"][_index(i, len(run["checklists"]), "checklist")]
        return run, checklist["items"][_index(j, len(checklist["items"]), "item")]

    # -- checklists ------------------------------------------------------------------------------

    async def add_checklist(self, run_id: str, body: dict[str, Any], actor: Session) -> None:
        run = await self._run(run_id, actor)
        if len(run["checklists"]) >= MAX_CHECKLISTS:
            raise BadRequest(f"a run has at most {MAX_CHECKLISTS} checklists")
        title = text(body, "title", MAX_TITLE, required=True)
        items = body.get("items") or []
        if not isinstance(items, list) or len(items) > MAX_ITEMS_PER_CHECKLIST:
            raise BadRequest("invalid items")
        checked = [self._item_fields(i, creating=True) for i in items]
        now = self._ctx.now_ms()
        checklist_id = new_id()
        ops = add_checklist_ops(run_id, checklist_id, await self._key_at(run["items_order"], len(run["items_order"]),
                                                                         "checklist"), title, now)
        low: str | None = None
        for fields in checked:
            low = key_between(low, None, self.rng)
            ops += add_item_ops(run_id, checklist_id, new_id(), low, fields, now)
        await self._runs.write(run_id, ops)

    async def remove_checklist(self, run_id: str, i: int, actor: Session) -> None:
        run = await self._run(run_id, actor)
        checklist = run["checklists"][_index(i, len(run["checklists"]), "checklist")]
        await self._runs.write(run_id, delete_checklist_ops(checklist["id"], checklist["items_order"]))

    async def rename_checklist(self, run_id: str, i: int, body: dict[str, Any], actor: Session) -> None:
        run = await self._run(run_id, actor)
        checklist = run["checklists"][_index(i, len(run["checklists"]), "checklist")]
        title = text(body, "title", MAX_TITLE, required=True)
        await self._runs.write(run_id, [Update("checklist", checklist["id"],
                                               {"title": title, "update_at": self._ctx.now_ms()})])

    async def move_checklist(self, run_id: str, body: dict[str, Any], actor: Session) -> None:
        run = await self._run(run_id, actor)
        order = list(run["items_order"])
        source = _index(body.get("source_checklist_idx"), len(order), "source_checklist_idx")
        dest = _index(body.get("dest_checklist_idx"), len(order), "dest_checklist_idx")
        moved = order.pop(source)
        await self._runs.write(run_id, move_checklist_ops(moved, await self._key_at(order, dest, "checklist"),
                                                          self._ctx.now_ms()))

    # -- items -----------------------------------------------------------------------------------

    def _item_fields(self, body: object, *, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("failed to decode ChecklistItem")
        fields: dict[str, Any] = {}
        if creating or "title" in body:
            fields["title"] = text(body, "title", MAX_TITLE, required=True).strip()
        for name, limit in (("description", MAX_TEXT), ("command", MAX_TITLE)):
            if name in body:
                fields[name] = text(body, name, limit)
        if creating:
            state = body.get("state", "") or ""
            if state not in ITEM_STATES:
                raise BadRequest("bad parameter new state")
            due = body.get("due_date", 0) or 0
            if not isinstance(due, int) or isinstance(due, bool) or due < 0:
                raise BadRequest("invalid due_date")
            assignee = body.get("assignee_id", "") or ""
            if assignee and not is_valid_id(assignee):
                raise BadRequest("invalid assignee_id")
            fields.update({"state": state, "due_date": due, "assignee_id": assignee})
        return fields

    async def add_item(self, run_id: str, i: int, body: dict[str, Any], actor: Session) -> None:
        run = await self._run(run_id, actor)
        checklist = run["checklists"][_index(i, len(run["checklists"]), "checklist")]
        if len(checklist["items"]) >= MAX_ITEMS_PER_CHECKLIST:
            raise BadRequest(f"a checklist has at most {MAX_ITEMS_PER_CHECKLIST} items")
        fields = self._item_fields(body, creating=True)
        if fields["assignee_id"] and not await self._members.is_team_member(run["team_id"], fields["assignee_id"]):
            raise BadRequest("the assignee must be a member of the run's team")
        order = checklist["items_order"]
        await self._runs.write(run_id, add_item_ops(run_id, checklist["id"], new_id(),
                                                    await self._key_at(order, len(order), "item"), fields,
                                                    self._ctx.now_ms()))

    async def edit_item(self, run_id: str, i: int, j: int, body: dict[str, Any], actor: Session) -> None:
        _, item = await self._item(run_id, i, j, actor)
        fields = self._item_fields(body, creating=False)
        if fields:
            await self._runs.write(run_id, [Update("checklist_item", item["id"], {**fields, "update_at": self._ctx.now_ms()})])

    async def delete_item(self, run_id: str, i: int, j: int, actor: Session) -> None:
        _, item = await self._item(run_id, i, j, actor)
        await self._runs.write(run_id, delete_item_ops(item["id"]))

    async def set_state(self, run_id: str, i: int, j: int, state: object, actor: Session) -> None:
        if state not in ITEM_STATES:
            raise BadRequest("bad parameter new state")
        assert isinstance(state, str)
        _, item = await self._item(run_id, i, j, actor)
        if item["state"] != state:
            await self._runs.write(run_id, item_state_ops(run_id, item["id"], state, actor.user_id, self._ctx.now_ms(),
                                                          new_id(), item["title"]))

    async def set_assignee(self, run_id: str, i: int, j: int, body: dict[str, Any], actor: Session) -> None:
        assignee = body.get("assignee_id", "") or ""
        assignee_type = body.get("assignee_type", "") or ""
        if not isinstance(assignee, str) or not isinstance(assignee_type, str):
            raise BadRequest("invalid assignee_id")
        assignee, assignee_type = assignee.strip(), assignee_type.strip()
        if assignee and assignee_type:
            raise BadRequest("assignee_id, assignee_type, and assignee_property_field_id are mutually exclusive")
        if assignee_type not in ("", "owner", "creator"):
            raise BadRequest("invalid assignee_type")
        run, item = await self._item(run_id, i, j, actor)
        if assignee and not (is_valid_id(assignee) and await self._members.is_team_member(run["team_id"], assignee)):
            raise BadRequest("the assignee must be a member of the run's team")
        now = self._ctx.now_ms()
        ops: list[Op] = item_fields_ops(run_id, item["id"], {"assignee_id": assignee, "assignee_type": assignee_type,
                                                            "assignee_modified": now}, actor.user_id, now, new_id(),
                                        item["title"])
        if assignee and assignee not in run["participant_ids"]:  # an assignee takes part, as in the plugin
            from crdt import Add
            ops.append(Add("run.participants", run_id, assignee))
        await self._runs.write(run_id, ops)

    async def set_due_date(self, run_id: str, i: int, j: int, body: dict[str, Any], actor: Session) -> None:
        due = body.get("due_date")
        if not isinstance(due, int) or isinstance(due, bool) or due < 0:
            raise BadRequest("failed to unmarshal: due_date must be milliseconds since the epoch, or 0")
        _, item = await self._item(run_id, i, j, actor)
        await self._runs.write(run_id, [Update("checklist_item", item["id"],
                                               {"due_date": due, "update_at": self._ctx.now_ms()})])

    async def set_command(self, run_id: str, i: int, j: int, body: dict[str, Any], actor: Session) -> None:
        command = text(body, "command", MAX_TITLE)
        _, item = await self._item(run_id, i, j, actor)
        await self._runs.write(run_id, [Update("checklist_item", item["id"],
                                               {"command": command, "update_at": self._ctx.now_ms()})])

    async def move_item(self, run_id: str, body: dict[str, Any], actor: Session) -> None:
        run = await self._run(run_id, actor)
        lists = run["checklists"]
        source = lists[_index(body.get("source_checklist_idx"), len(lists), "source_checklist_idx")]
        item_id = source["items_order"][_index(body.get("source_item_idx"), len(source["items"]), "source_item_idx")]
        dest = lists[_index(body.get("dest_checklist_idx"), len(lists), "dest_checklist_idx")]
        order = [i for i in dest["items_order"] if i != item_id]
        at = _index(body.get("dest_item_idx"), len(order), "dest_item_idx", inclusive=True)
        await self._runs.write(run_id, move_item_ops(item_id, dest["id"], await self._key_at(order, at, "item"),
                                                     self._ctx.now_ms()))

    async def duplicate_item(self, run_id: str, i: int, j: int, actor: Session) -> None:
        """A copy of the item (state and all, as the plugin) right after it."""
        run, item = await self._item(run_id, i, j, actor)
        checklist = run["checklists"][i]
        order = checklist["items_order"]
        if len(order) >= MAX_ITEMS_PER_CHECKLIST:
            raise BadRequest(f"a checklist has at most {MAX_ITEMS_PER_CHECKLIST} items")
        fields = {k: v for k, v in item.items() if k not in ("id", "update_at", "delete_at")}
        await self._runs.write(run_id, add_item_ops(run_id, checklist["id"], new_id(),
                                                    await self._key_at(order, j + 1, "item"), fields,
                                                    self._ctx.now_ms()))

    async def duplicate_checklist(self, run_id: str, i: int, actor: Session) -> None:
        """A copy of the checklist and its items right after it."""
        run = await self._run(run_id, actor)
        if len(run["checklists"]) >= MAX_CHECKLISTS:
            raise BadRequest(f"a run has at most {MAX_CHECKLISTS} checklists")
        checklist = run["checklists"][_index(i, len(run["checklists"]), "checklist")]
        now, copy_id = self._ctx.now_ms(), new_id()
        ops = add_checklist_ops(run_id, copy_id, await self._key_at(run["items_order"], i + 1, "checklist"),
                                checklist["title"], now)
        low: str | None = None
        for item in checklist["items"]:
            low = key_between(low, None, self.rng)
            ops += add_item_ops(run_id, copy_id, new_id(), low, {k: v for k, v in item.items()
                                                                 if k not in ("id", "update_at", "delete_at")}, now)
        await self._runs.write(run_id, ops)

    async def set_checklist_state(self, run_id: str, i: int, skipped: bool, actor: Session) -> None:
        """PUT .../checklists/{i}/skip (every item skipped) or /restore (every item open again)."""
        run = await self._run(run_id, actor)
        checklist = run["checklists"][_index(i, len(run["checklists"]), "checklist")]
        now, state = self._ctx.now_ms(), "skipped" if skipped else ""
        ops: list[Op] = [Update("checklist_item", item["id"], {
            "state": state, "state_modified": now, "state_modified_by": actor.user_id, "update_at": now,
            "delete_at": now if skipped else 0}) for item in checklist["items"] if item["state"] != state]
        if ops:
            ops.append(event_op(new_id(), run_id, now, "task_state_modified", actor.user_id,
                                summary=f"{'skipped' if skipped else 'restored'} checklist \"{checklist['title']}\""))
            await self._runs.write(run_id, ops)

    async def ran_command(self, run_id: str, i: int, j: int, actor: Session) -> dict[str, Any]:
        """Marks the item's command as run and returns the item (the caller executes the command)."""
        run, item = await self._item(run_id, i, j, actor)
        if not item["command"]:
            raise BadRequest("the item has no slash command")
        now = self._ctx.now_ms()
        await self._runs.write(run_id, [
            Update("checklist_item", item["id"], {"command_last_run": now, "update_at": now}),
            event_op(new_id(), run_id, now, "ran_slash_command", actor.user_id,
                     summary=f"ran the slash command: `{item['command']}`")])
        return {**item, "channel_id": run["channel_id"], "team_id": run["team_id"]}
