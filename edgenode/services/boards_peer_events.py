"""Websocket events for board changes that arrived from peers (the board counterpart of peer_events.py).

It listens to the store's commits; for board feeds ("board:<id>") written by other nodes, a
background task reads the new ops (at most `MAX_OPS_PER_FEED` newest per feed and round) and sends
the board's members the UPDATE_BOARD / UPDATE_BLOCK messages the services send for local writes,
marked `from_peer`, built from what the store holds after the commit. As with posts, how far events
were raised is kept in memory from the heads held at startup, so a restart replays nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from crdt import Add, Create, Op, Remove, Update
from sync import DecodeError, FeedHead, FeedId, decode_op

from .boards_events import BoardEvents
from .boards_model import BLOCK_KIND, BOARD_KIND, CARD_KIND, POSITION_KIND, VALUE_KIND, VIEW_KIND
from .boards_queries import BoardReader
from .context import Context

__all__ = ["BoardPeerEvents", "MAX_OPS_PER_FEED"]

MAX_OPS_PER_FEED = 400
SETTLE_S = 0.02
_log = logging.getLogger(__name__)


def touched(ops: list[Op]) -> tuple[bool, set[str], set[str], set[str]]:
    """(board changed, block ids changed, card ids whose values changed, positions moved) by one board's ops."""
    board, blocks, valued, positions = False, set(), set(), set()
    for op in ops:
        if op.kind == BOARD_KIND or op.kind == "board.members":
            board = True
        elif op.kind in (CARD_KIND, VIEW_KIND, BLOCK_KIND):
            blocks.add(op.id)
        elif op.kind == POSITION_KIND:
            positions.add(op.id)
        elif op.kind == VALUE_KIND and isinstance(op, (Create, Update)):
            card = dict(op.fields).get("card_id")
            if isinstance(card, str):
                valued.add(card)
        elif isinstance(op, (Add, Remove)):
            board = True
    return board, blocks, valued, positions


class BoardPeerEvents:
    def __init__(self, ctx: Context, events: BoardEvents):
        self._ctx = ctx
        self._events = events
        self._reader = BoardReader(ctx.store)
        self._raised: dict[FeedId, int] = {}
        self._pending: dict[FeedId, int] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        store = self._ctx.store
        self._unsubscribe = store.subscribe(self._on_heads)
        self._raised = {feed: head.seq for feed, head in (await store.heads()).items()
                        if feed.author != store.node_id and feed.scope.startswith("board:")}
        self._task = asyncio.create_task(self._run(), name="board-peer-events")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._idle.set()

    async def drain(self) -> None:
        while self._task is not None and not self._idle.is_set():
            await self._idle.wait()

    def _on_heads(self, heads: dict[FeedId, FeedHead]) -> None:
        own = self._ctx.store.node_id
        noted = False
        for feed, head in heads.items():
            if feed.author != own and feed.scope.startswith("board:") and head.seq > self._pending.get(feed, 0):
                self._pending[feed] = head.seq
                noted = True
        if noted and self._task is not None:
            self._idle.clear()
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(SETTLE_S)
            self._wake.clear()
            advanced, self._pending = self._pending, {}
            try:
                for feed, head in advanced.items():
                    await self._feed(feed, head)
            except Exception:  # noqa: BLE001 -- a bad op must not end the events of every later op
                _log.exception("could not raise board events for ops received from peers")
            if not self._pending:
                self._idle.set()

    async def _feed(self, feed: FeedId, head: int) -> None:
        after = self._raised.get(feed, 0)
        if head <= after:
            return
        self._raised[feed] = head
        take = min(head - after, MAX_OPS_PER_FEED)
        ops: list[Op] = []
        for signed in await self._ctx.store.segment(feed, head - take, take):
            try:
                ops.append(decode_op(signed.body))
            except DecodeError:
                continue
        board_id = feed.scope.partition(":")[2]
        board = await self._ctx.store.fetchone("SELECT * FROM boards WHERE id = ? AND _deleted = 0", (board_id,))
        if board is None:
            return
        board_changed, blocks, valued, positions = touched(ops)
        blocks |= {p.partition(":")[0] for p in positions}  # a move changes its view's cardOrder
        if board_changed:
            await self._events.board_changed(board, from_peer=True)
        wanted = blocks | valued
        if wanted:
            changed = await self._reader.some_blocks(board_id, sorted(wanted))
            await self._events.blocks_changed(board, changed, from_peer=True)
