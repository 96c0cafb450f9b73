"""Whole boards as loaded (GET /boards/{id}/blocks), kept as JSON fragments and refreshed per block.

Loading a board of thousands of cards is the boards UI's hot read, and the same for every member;
building its ~2 MB of JSON again after each change costs hundreds of milliseconds. So each kept
board holds one JSON fragment per card, each view's card order, the views and the content, and a
commit marks only what its ops touched (`Store.subscribe_ops`): the next load reads those blocks
again and joins the fragments, so a change costs what it touched, not the board.

What an op marks, by kind (the tables the load reads, see boards_queries):
- card: that card's fragment, every view's order (the live cards or their default keys changed) and
  the content (a deleted card's content is not served);
- card value: the fragment of the value's card;
- card position ("view:card"): that view's order;
- view: the views, and that view's order (a new view has none yet);
- block: the content, and the fragment of the block's card (its contentOrder).
A commit whose ops are unknown (a peer's segment, a retraction, node-local tables) marks everything.

Exact, as services/read_cache.py: the store calls the listener before the writer's caller resumes, so
a load that starts after a write returned finds its marks. A refresh takes the marks before it reads;
a commit landing while it reads marks again what it touched, so the next load reads it again.
Refreshes of one board run one at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Sequence

from crdt import Op
from edgenode.store import Store

from .boards_model import BLOCK_KIND, CARD_KIND, POSITION_KIND, VALUE_KIND, VIEW_KIND
from .boards_queries import BoardReader

__all__ = ["LoadedBoards"]

CardKey = tuple[bool, str, str]
"""How the load orders cards: SQLite's `ORDER BY position, id` (a NULL position first)."""


def _card_key(card_id: str, position: str | None) -> CardKey:
    return (position is not None, position or "", card_id)


class _Marks:
    """What commits touched since a board's last refresh."""

    def __init__(self, everything: bool) -> None:
        self.everything = everything
        self.cards: set[str] = set()
        self.values: set[str] = set()
        self.blocks: set[str] = set()
        self.orders: set[str] = set()
        self.all_orders = False
        self.views = False
        self.content = False

    def __bool__(self) -> bool:
        return (self.everything or self.views or self.content or self.all_orders
                or bool(self.cards or self.values or self.blocks or self.orders))

    def mark(self, ops: Sequence[Op] | None) -> None:
        if ops is None:
            self.everything = True
            return
        for op in ops:
            if op.kind == CARD_KIND:
                self.cards.add(op.id)
                self.all_orders = self.content = True
            elif op.kind == VALUE_KIND:
                self.values.add(op.id)
            elif op.kind == POSITION_KIND:
                self.orders.add(op.id.split(":", 1)[0])
            elif op.kind == VIEW_KIND:
                self.views = True
                self.orders.add(op.id)
            elif op.kind == BLOCK_KIND:
                self.blocks.add(op.id)
                self.content = True


class _Board:
    def __init__(self) -> None:
        self.marks = _Marks(everything=True)
        self.lock = asyncio.Lock()
        self.cards: dict[str, tuple[CardKey, str]] = {}
        self.cards_text = ""
        self.orders: dict[str, str] = {}
        self.views_text = ""
        self.content_text = ""
        self.answer = b"[]"


class LoadedBoards:
    """board id -> its unfiltered blocks as JSON bytes, for up to `max_boards` boards (least recent dropped)."""

    def __init__(self, store: Store, reader: BoardReader, *, max_boards: int = 8):
        self._reader = reader
        self._store = store
        self._boards: OrderedDict[str, _Board] = OrderedDict()
        self._max_boards = max_boards
        store.subscribe_ops(self._written)

    def _written(self, ops: Sequence[Op] | None) -> None:
        # ops carry no board id (an update names only its entity): every kept board is marked, and
        # a refresh reads only its own board's rows, so another board's ids find nothing to change
        for board in self._boards.values():
            board.marks.mark(ops)

    async def blocks_json(self, board_id: str) -> bytes:
        board = self._boards.get(board_id)
        if board is None:
            board = self._boards[board_id] = _Board()
            while len(self._boards) > self._max_boards:
                self._boards.popitem(last=False)
        self._boards.move_to_end(board_id)
        async with board.lock:
            if board.marks:
                marks, board.marks = board.marks, _Marks(everything=False)
                try:
                    await self._refresh(board_id, board, marks)
                except BaseException:
                    board.marks.everything = True  # the fragments may be half refreshed: build again
                    raise
            return board.answer

    def orders(self, board_id: str) -> dict[str, str]:
        """view id -> its card order (JSON text) in the board's last answer."""
        board = self._boards.get(board_id)
        return dict(board.orders) if board is not None else {}

    async def _refresh(self, board_id: str, board: _Board, marks: _Marks) -> None:
        reader, fetchall = self._reader, self._store.fetchall
        if marks.everything:
            board.cards = {card_id: (_card_key(card_id, position), text)
                           for card_id, position, text in await reader.card_fragments(board_id)}
            board.orders = {}
            cards_changed = views_changed = content_changed = True
            marks.all_orders = True
        else:
            ids = set(marks.cards)
            some = json.dumps(sorted(marks.values))
            if marks.values:
                ids.update(r[0] for r in await fetchall(
                    "SELECT DISTINCT card_id FROM card_values WHERE id IN (SELECT value FROM json_each(?))", (some,)))
            if marks.blocks:
                ids.update(r[0] for r in await fetchall(
                    "SELECT DISTINCT parent_id FROM blocks WHERE id IN (SELECT value FROM json_each(?)) "
                    "AND parent_id IS NOT NULL", (json.dumps(sorted(marks.blocks)),)))
            cards_changed = bool(ids)
            if ids:
                for card_id in ids:
                    board.cards.pop(card_id, None)
                for card_id, position, text in await reader.card_fragments(board_id, sorted(ids)):
                    board.cards[card_id] = (_card_key(card_id, position), text)
            views_changed = marks.views or marks.all_orders or bool(marks.orders)
            content_changed = marks.content
        if cards_changed:
            board.cards_text = ",".join(text for _, text in sorted(board.cards.values()))
        if views_changed:
            views = await reader.view_rows(board_id)
            texts = []
            orders: dict[str, str] = {}
            for view in views:
                view_id = view["id"]
                order = board.orders.get(view_id)
                if order is None or marks.all_orders or view_id in marks.orders:
                    order = await reader.view_order_json(board_id, view_id)
                orders[view_id] = order
                texts.append(reader.view_json(view, order))
            board.orders = orders
            board.views_text = ",".join(texts)
        if content_changed:
            board.content_text = await reader.content_json(board_id)
        parts = (board.cards_text, board.views_text, board.content_text)
        board.answer = ("[" + ",".join(p for p in parts if p) + "]").encode()
