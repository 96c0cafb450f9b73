"""The card orders of views this node recently served, to read a client's cardOrder patch as its move.

A Focalboard client drags one card and sends the view's whole cardOrder as it holds it. If others
moved cards since that client last read the view, its order differs from the current one in their
moves too, and writing the difference would move their cards back (and write a register per card).
The order the client started from is one this node served it (a load, a view read, a websocket event
after a patch, or the order it sent last): the node keeps the last few of each view, and when the
order sent is one card's drag away from one of them, only that card moves, to the place the client
dropped it (after the card it follows in the order sent), in the order as it is now.
Anything else (several cards changed at once, an order never served) is taken as sent, as before.
The newest order that explains the patch wins: so a client's undo (its order from before its own
move, sent right after it) moves the card back, and so, alike, does an order sent unchanged by a
client that missed one move (the two cannot be told apart; Focalboard sends cardOrder only on a move).

Only which register a patch writes depends on this memory; what every node shows still depends only
on the registers, so convergence is untouched, and no order reaches anybody through it.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict, deque
from collections.abc import Sequence

from .boards_model import one_moved

__all__ = ["ServedOrders", "rebase"]

PER_VIEW = 64
"""Orders kept per view: a client's read and its move, for a few dozen clients moving cards in one view
at once (16 in bench/bench_boards.py: with fewer kept, a client's base was often dropped before its
move came). Ids are interned, so an order costs a pointer per card (8 views of 64 orders of 5,000
cards: about 20 MB). A patch explained by none of them compares with each: about 1 ms apiece."""
MAX_VIEWS = 8


def rebase(base: Sequence[str], wanted: Sequence[str], current: Sequence[str]) -> list[str] | None:
    """`current` with the one card dragged from `base` to make `wanted` moved the same way; `current`
    itself when `wanted` is `base`; None when `wanted` is not one drag away from `base`."""
    if list(base) == list(wanted):
        return list(current)
    at = one_moved(base, wanted)
    if at is None:
        return None
    card = wanted[at]
    out = [c for c in current if c != card]
    if len(out) == len(current):  # the card is gone meanwhile: nothing to move
        return list(current)
    position = {c: i for i, c in enumerate(out)}
    for before in reversed(wanted[:at]):  # after the nearest card it follows that is still there
        if before in position:
            out.insert(position[before] + 1, card)
            return out
    out.insert(0, card)
    return out


class ServedOrders:
    """view id -> the last PER_VIEW card orders served (as id lists, or JSON text read when needed)."""

    def __init__(self, per_view: int = PER_VIEW, max_views: int = MAX_VIEWS):
        self._views: OrderedDict[str, deque[Sequence[str] | str]] = OrderedDict()
        self._per_view = per_view
        self._max_views = max_views

    def remember(self, view_id: str, order: Sequence[str] | str) -> None:
        kept = self._views.get(view_id)
        if kept is None:
            kept = self._views[view_id] = deque(maxlen=self._per_view)
            while len(self._views) > self._max_views:
                self._views.popitem(last=False)
        self._views.move_to_end(view_id)
        if kept and (kept[-1] is order or kept[-1] == order):  # a read of what was just sent, or again
            return
        kept.append(order if isinstance(order, str) else [sys.intern(c) for c in order])

    def desired(self, view_id: str, wanted: Sequence[str], current: Sequence[str]) -> list[str]:
        """The order to write for a client that sent `wanted`: its move applied to `current` if an order
        served lately shows what it moved (the newest such), else `wanted` as sent."""
        live = set(current)
        sent = [c for c in dict.fromkeys(wanted) if c in live]  # as moves() reads it
        kept = self._views.get(view_id)
        for index, order in enumerate(reversed(list(kept or ()))):
            if isinstance(order, str):
                order = [sys.intern(c) for c in json.loads(order)]
                assert kept is not None
                kept[-1 - index] = order  # read once
            assert not isinstance(order, str)
            rebased = rebase([c for c in order if c in live], sent, current)
            if rebased is not None:
                return rebased
        return list(wanted)
