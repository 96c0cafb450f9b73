"""The smaller run routes: followers, removing a timeline event, the status-update and
retrospective switches, and the owners of a team's runs.

Followers are the add-wins OR-set `run.followers` (a follow made offline survives a concurrent
unfollow of an earlier follow); the switches are registers of the run; a removed timeline event
keeps its row with `delete_at` set and is no longer shown, on every node.
"""

from __future__ import annotations

from typing import Any

from crdt import Add, Op, Update
from edgenode.ids import is_valid_id, new_id

from .context import Context
from .errors import BadRequest, NotFound
from .membership import Memberships
from .playbook_runs import RunService
from .playbooks_ops import event_op
from .users import Session

__all__ = ["RunExtras"]

FOLLOWERS = "run.followers"


class RunExtras:
    def __init__(self, ctx: Context, members: Memberships, runs: RunService):
        self._ctx = ctx
        self._members = members
        self._runs = runs

    async def followers(self, run_id: str, actor: Session) -> list[str]:
        await self._runs.viewable(run_id, actor)
        return [r[0] for r in await self._ctx.store.fetchall(
            "SELECT user_id FROM run_followers WHERE run_id = ? ORDER BY user_id", (run_id,))]

    async def follow(self, run_id: str, actor: Session, *, following: bool) -> None:
        """Follow or unfollow a run one may see (the caller only, as the plugin)."""
        await self._runs.viewable(run_id, actor)
        ops: list[Op] = []
        if following and actor.user_id not in await self.followers(run_id, actor):
            ops.append(Add(FOLLOWERS, run_id, actor.user_id))
        elif not following:
            remove = await self._members.remove(FOLLOWERS, run_id, actor.user_id)
            ops += [remove] if remove is not None else []
        if ops:
            await self._runs.write(run_id, ops)

    async def remove_timeline_event(self, run_id: str, event_id: str, actor: Session) -> None:
        await self._runs.modifiable(run_id, actor)
        row = await self._ctx.store.fetchone(
            "SELECT 1 FROM timeline_events WHERE id = ? AND run_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0",
            (event_id, run_id)) if is_valid_id(event_id) else None
        if row is None:
            raise NotFound("timeline event not found")
        await self._runs.write(run_id, [Update("timeline_event", event_id, {"delete_at": self._ctx.now_ms()})])

    async def toggle(self, run_id: str, field: str, body: dict[str, Any], actor: Session) -> None:
        """PUT .../status-update-enabled {status_enabled} or .../retrospective-enabled {retrospective_enabled}."""
        key = {"status_update_enabled": "status_enabled", "retrospective_enabled": "retrospective_enabled"}[field]
        enabled = body.get(key)
        if not isinstance(enabled, bool):
            raise BadRequest(f"{key} is required")
        row = await self._runs.modifiable(run_id, actor)
        if bool(row[field] if row[field] is not None else True) == enabled:
            return
        now = self._ctx.now_ms()
        kind = field.replace("_update", "_updates").removesuffix("_enabled") + ("_enabled" if enabled else "_disabled")
        await self._runs.write(run_id, [Update("run", run_id, {field: enabled, "update_at": now}),
                                        event_op(new_id(), run_id, now, kind, actor.user_id,
                                                 summary=f"{'enabled' if enabled else 'disabled'} {key}")])

    async def owners(self, team_id: str, actor: Session) -> list[dict[str, Any]]:
        """GET /runs/owners: the owners of the runs the caller may see, as OwnerInfo."""
        rows = await self._ctx.store.fetchall(
            "SELECT * FROM runs WHERE _deleted = 0 AND (? = '' OR team_id = ?)", (team_id, team_id))
        ids = sorted({r["owner_user_id"] for r in rows if await self._runs.can_view(r, actor)})
        users = await self._ctx.store.fetchall(
            f"SELECT id, username, first_name, last_name, nickname FROM users WHERE id IN ({','.join('?' * len(ids))})",
            ids) if ids else []
        return [{"user_id": u["id"], "username": u["username"] or "", "first_name": u["first_name"] or "",
                 "last_name": u["last_name"] or "", "nickname": u["nickname"] or ""} for u in users]
