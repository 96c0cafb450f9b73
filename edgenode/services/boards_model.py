"""The boards model as pure functions: ids of per-field registers, the card order of a view, and the
ops a move writes. No I/O: the services and the convergence tests share them.

A view's card order is every live card of the board sorted by (key, card id), where a card's key in
a view is its per-view position register ("card_position", id derived from (view, card)) if anybody ever moved it
there, else the card's own default position (written once, at creation). So every live card appears
exactly once in every view, whatever arrived; a move is one LWW register write, so concurrent moves
of different cards both take effect and a card moved on two sides ends where the later move put it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from crdt import Create, EncodingError, Op, Update, key_between, keys_between
from edgenode.ids import id_of

__all__ = [
    "BOARD_KIND", "CARD_KIND", "VALUE_KIND", "VIEW_KIND", "POSITION_KIND", "BLOCK_KIND", "MEMBER_KIND",
    "board_scope", "value_id", "position_id", "member_id", "Placed", "card_order", "moves", "move_ops",
]

BOARD_KIND = "board"
CARD_KIND = "card"
VALUE_KIND = "card_value"
VIEW_KIND = "view"
POSITION_KIND = "card_position"
BLOCK_KIND = "block"
MEMBER_KIND = "board_member"


def board_scope(board_id: str) -> str:
    """The feed scope of a board and everything in it (cards, values, views, blocks, members)."""
    return f"board:{board_id}"


def value_id(card_id: str, property_id: str) -> str:
    """The id of one card property value: derived, so two nodes writing it offline write one register."""
    return hashlib.blake2b(f"{card_id}\0{property_id}".encode(), digest_size=16).hexdigest()


def position_id(view_id: str, card_id: str) -> str:
    """Derived like value_id, and as short as an id: a move is one small op (see bench/bench_boards.py)."""
    return id_of(hashlib.blake2b(f"{view_id}\0{card_id}".encode(), digest_size=16).digest())


def member_id(board_id: str, user_id: str) -> str:
    return f"{board_id}:{user_id}"


@dataclass(frozen=True, slots=True)
class Placed:
    """A live card and its default position key."""

    id: str
    key: str


def card_order(cards: Iterable[Placed], overrides: Mapping[str, str]) -> list[tuple[str, str]]:
    """(card id, effective key) of every card, in the view's order; `overrides` are the view's own keys."""
    keyed = [(overrides.get(card.id, card.key), card.id) for card in cards]
    keyed.sort()
    return [(card_id, key) for key, card_id in keyed]


def _stable(current_index: Sequence[int]) -> set[int]:
    """Positions (in `current_index`) of a longest increasing subsequence: the cards that need not move."""
    tails: list[int] = []  # tails[k]: position of the smallest tail of an increasing run of length k+1
    back: list[int] = [-1] * len(current_index)
    for pos, value in enumerate(current_index):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if current_index[tails[mid]] < value:
                lo = mid + 1
            else:
                hi = mid
        back[pos] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(pos)
        else:
            tails[lo] = pos
    out: set[int] = set()
    pos = tails[-1] if tails else -1
    while pos >= 0:
        out.add(pos)
        pos = back[pos]
    return out


def moves(current: Sequence[tuple[str, str]], desired: Sequence[str], rng: random.Random) -> dict[str, str]:
    """The fewest new keys that turn `current` ((id, key) in order) into `desired` (ids).

    Ids in `desired` that are not current cards are ignored, and so are repeats; current cards
    missing from `desired` keep their keys. Only cards outside a longest run already in order get
    a key, each between its new neighbours, so a move of one card writes one key.
    """
    keys = dict(current)
    index = {card_id: i for i, (card_id, _) in enumerate(current)}
    wanted = [card_id for card_id in dict.fromkeys(desired) if card_id in keys]
    stable = _stable([index[card_id] for card_id in wanted])
    next_stable: list[str | None] = [None] * len(wanted)
    following: str | None = None
    for pos in range(len(wanted) - 1, -1, -1):
        next_stable[pos] = following
        if pos in stable:
            following = keys[wanted[pos]]
    assigned: dict[str, str] = {}
    before: str | None = None
    fits = True
    for pos, card_id in enumerate(wanted):
        if pos in stable:
            before = keys[card_id]
            continue
        try:
            before = assigned[card_id] = key_between(before, next_stable[pos], rng)
        except EncodingError:  # two stable neighbours share a key: nothing fits between them
            fits = False
            break
    final = {**keys, **assigned}
    if not fits or sorted(wanted, key=lambda c: (final[c], c)) != wanted:
        # equal keys (two cards created at one spot on two nodes) left no room: renumber the wanted cards
        assigned = dict(zip(wanted, keys_between(None, None, len(wanted), rng)))
    return assigned


def move_ops(view_id: str, assigned: Mapping[str, str], placed: Collection[str] = ()) -> list[Op]:
    """One register write per moved card: an Update of its position in the view if this node holds one
    (`placed`: cards with a position row here), else a Create, so first moves made on two nodes meet in
    one register. No deps: a position whose card or view is missing is simply not shown."""
    ops: list[Op] = []
    for card_id, key in sorted(assigned.items()):
        pid = position_id(view_id, card_id)
        if card_id in placed:
            ops.append(Update(POSITION_KIND, pid, {"position": key}))
        else:
            ops.append(Create(POSITION_KIND, pid, {"view_id": view_id, "card_id": card_id, "position": key}))
    return ops
