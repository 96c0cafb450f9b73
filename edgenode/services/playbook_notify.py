"""What a run tells the outside: webhooks on creation and on status updates, and status-update reminders.

Webhooks fire once per event across the mesh: from the node where the event was made, when the
service writes it (ops that arrive from peers never pass through the services). Each goes through
the guarded outbound client, in the background, so a slow receiver never holds up the request.

Reminders: a run with status updates enabled is due for one `reminder_timer_default_seconds` after
its last status update (or its start). Of the nodes that hold the run, the one that wrote the
register deciding the due time (the node of the last status update, or the run's creator) posts the
reminder in the run's channel, mentioning the owner; so ten laptops holding the run post one
reminder, not ten. A node remembers (locally) the due time it reminded for; the reminder post
replicates like any post. Nodes cut off from each other each remind for what they hold: at most
one reminder per connected group, which is what someone in each group needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from typing import Any

import msgpack  # type: ignore[import-untyped]

from crdt import NODE_TAG_SIZE, Stamp
from edgenode.outbound import OutboundError

from .context import Context
from .errors import ServiceError
from .posts import PostService
from .users import Session

__all__ = ["PlaybookNotifier"]

log = logging.getLogger("edgenode.playbooks")

REMINDER_CHECK_S = 30.0
_DUE_RUNS = (
    "SELECT r.* FROM runs r WHERE r._deleted = 0 AND r.current_status = 'InProgress' AND coalesce(r.status_update_enabled, 1) "
    "AND coalesce(r.reminder_timer_default_seconds, 0) > 0 "
    "AND coalesce(nullif(r.last_status_update_at, 0), r.create_at) + r.reminder_timer_default_seconds * 1000 <= ?")


class PlaybookNotifier:
    def __init__(self, ctx: Context, posts: PostService):
        self._ctx = ctx
        self._posts = posts
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.check_every_s = REMINDER_CHECK_S

    # -- webhooks ---------------------------------------------------------------------------------

    def fire(self, urls: list[str], payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        for url in urls:
            self._spawn(lambda url=url: self._send(url, body))  # type: ignore[misc]

    async def _send(self, url: str, body: bytes) -> None:
        try:
            await self._ctx.outbound.request("POST", url, content=body, headers={"Content-Type": "application/json"})
        except OutboundError as exc:
            log.warning("playbook webhook %s failed: %s", url, exc)

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the webhooks sent so far (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- reminders --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._remind_forever())

    async def stop(self) -> None:
        tasks = list(self._tasks) + ([self._loop] if self._loop is not None else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None

    async def _remind_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_every_s)
            try:
                await self.remind()
            except Exception:  # a bad row must not end every later reminder
                log.exception("status-update reminders failed")

    async def remind(self) -> list[str]:
        """Post the reminders this node is responsible for and has not posted yet; the runs reminded."""
        now = self._ctx.now_ms()
        store = self._ctx.store
        mine = store.node_id[:NODE_TAG_SIZE]
        reminded = []
        for run in await store.fetchall(_DUE_RUNS, (now,)):
            due = (int(run["last_status_update_at"] or 0) or int(run["create_at"] or 0)) \
                + int(run["reminder_timer_default_seconds"]) * 1000
            if _deciding_node(run) != mine:
                continue
            sent = await store.fetchone("SELECT due_at FROM playbook_reminders WHERE run_id = ?", (run["id"],))
            if sent is not None and int(sent["due_at"]) >= due:
                continue
            if not await self._post_reminder(run):
                continue
            await store.write_local(_remembered(run["id"], due))
            reminded.append(run["id"])
        return reminded

    async def _post_reminder(self, run: Any) -> bool:
        owner = await self._ctx.store.fetchone("SELECT username, roles FROM users WHERE id = ? AND _deleted = 0",
                                               (run["owner_user_id"],))
        if owner is None:
            return False
        try:
            await self._posts.create({
                "channel_id": run["channel_id"], "type": "custom_update_status",
                "message": f"@{owner['username']}, please provide a status update for **{run['name']}**.",
                "props": {"playbook_run_id": run["id"]}}, Session("", "", run["owner_user_id"], owner["roles"] or ""),
                check_membership=False)
        except ServiceError as exc:  # e.g. the channel was archived
            log.info("reminder for run %s not posted: %s", run["id"], exc.message)
            return False
        return True


def _remembered(run_id: str, due: int) -> Callable[[sqlite3.Connection], None]:
    def work(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO playbook_reminders VALUES (?, ?) "
                     "ON CONFLICT (run_id) DO UPDATE SET due_at = excluded.due_at", (run_id, due))
    return work


def _deciding_node(run: Any) -> bytes:
    """The node tag of the write that set the run's due time: its last status update, else its creation."""
    clocks: dict[str, bytes] = msgpack.unpackb(run["_clk"]) if run["_clk"] else {}
    packed = clocks.get("last_status_update_at") or run["_stamp"]
    return Stamp.unpack(packed).node
