"""The boards model as pure functions: ids of per-field registers, the card order of a view, and the
ops a move writes. No I/O: the services and the convergence tests share them.

A view's card order is every live card of the board sorted by (key, card id), where a card's key in
a view is its per-view position register ("card_position" id "view:card") if anybody ever moved it
there, else the card's own default position (written once, at creation). So every live card appears
exactly once in every view, whatever arrived; a move is one LWW register write, so concurrent moves
of different cards both take effect and a card moved on two sides ends where the later move put it.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from crdt import Create, EncodingError, Op, key_between, keys_between
from crdt.fractional import DIGITS

__all__ = [
    "BOARD_KIND", "CARD_KIND", "VALUE_KIND", "VIEW_KIND", "POSITION_KIND", "BLOCK_KIND", "MEMBER_KIND",
    "board_scope", "value_id", "position_id", "position_range", "member_id", "Placed", "append_keys", "card_order",
    "moves", "move_ops", "one_moved",
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
    """"view:card": the register holds only the key, and the view's positions are one range of ids."""
    return f"{view_id}:{card_id}"


def position_range(view_id: str) -> tuple[str, str]:
    """Ids from the first to past the last position id of a view (":" is followed by ";" in ASCII)."""
    return f"{view_id}:", f"{view_id};"


def member_id(board_id: str, user_id: str) -> str:
    return f"{board_id}:{user_id}"


_TIME_DIGITS = 8  # 62**8 ms: past the year 8000
_INDEX_DIGITS = 3  # cards created in one batch


def _base62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, len(DIGITS))
        out.append(DIGITS[digit])
    return "".join(reversed(out))


def append_keys(last: str | None, count: int, now_ms: int, rng: random.Random) -> list[str]:
    """Default keys for `count` new cards after every card so far: the creation time, an index, a random
    tail. Appending with key_between would lengthen keys by a digit every few cards; these stay 13
    characters, so a board of thousands of cards keeps short keys, and moves between them stay short."""
    start = now_ms
    if last is not None and last[:_TIME_DIGITS] >= _base62(now_ms, _TIME_DIGITS):
        # the clock is behind the last card (or in its millisecond): continue one millisecond after it
        start = 0
        for digit in last[:_TIME_DIGITS].ljust(_TIME_DIGITS, DIGITS[0]):
            start = start * len(DIGITS) + DIGITS.index(digit)
        start += 1
    prefix = _base62(start, _TIME_DIGITS)
    return [prefix + _base62(i, _INDEX_DIGITS) + rng.choice(DIGITS) + rng.choice(DIGITS[1:]) for i in range(count)]


class Placed(NamedTuple):
    """A live card and its default position key (a tuple: boards of thousands of cards make many)."""

    id: str
    key: str


def card_order(cards: Iterable[Placed], overrides: Mapping[str, str]) -> list[tuple[str, str]]:
    """(card id, effective key) of every card, in the view's order; `overrides` are the view's own keys."""
    get = overrides.get
    keyed = [(get(card_id, key), card_id) for card_id, key in cards]
    keyed.sort()
    return [(card_id, key) for key, card_id in keyed]


def _stable(current_index: Sequence[int]) -> set[int]:
    """Positions (in `current_index`) of a longest increasing subsequence: the cards that need not move."""
    tails: list[int] = []  # tails[k]: position of the smallest tail of an increasing run of length k+1
    tail_values: list[int] = []
    back: list[int] = [-1] * len(current_index)
    for pos, value in enumerate(current_index):
        at = bisect_left(tail_values, value)
        back[pos] = tails[at - 1] if at else -1
        if at == len(tails):
            tails.append(pos)
            tail_values.append(value)
        else:
            tails[at] = pos
            tail_values[at] = value
    out: set[int] = set()
    pos = tails[-1] if tails else -1
    while pos >= 0:
        out.add(pos)
        pos = back[pos]
    return out


def one_moved(current: Sequence[str], wanted: Sequence[str]) -> int | None:
    """The position in `wanted` of the one card whose move turns `current` into `wanted`, if that is all."""
    if len(current) != len(wanted):
        return None
    first = next((i for i, (a, b) in enumerate(zip(current, wanted)) if a != b), None)
    if first is None:
        return None
    for card in (wanted[first], current[first]):  # moved up, or moved down
        rest = [c for c in current if c != card]
        if rest == [c for c in wanted if c != card]:
            return wanted.index(card)
    return None


def moves(current: Sequence[tuple[str, str]], desired: Sequence[str], rng: random.Random) -> dict[str, str]:
    """The fewest new keys that turn `current` ((id, key) in order) into `desired` (ids).

    Ids in `desired` that are not current cards are ignored, and so are repeats; current cards
    missing from `desired` keep their keys. Only cards outside a longest run already in order get
    a key, each between its new neighbours, so a move of one card writes one key.
    """
    keys = dict(current)
    wanted = [card_id for card_id in dict.fromkeys(desired) if card_id in keys]
    moved = one_moved([card_id for card_id, _ in current], wanted)
    if moved is not None:  # the common case, a drag of one card: no need for the longest run
        stable = set(range(len(wanted))) - {moved}
    else:
        index = {card_id: i for i, (card_id, _) in enumerate(current)}
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


def move_ops(view_id: str, assigned: Mapping[str, str]) -> list[Op]:
    """One register write per moved card. A Create, so that first moves made on two nodes meet in one
    register, holding only the key (the id names view and card), and without deps: a position whose
    card or view is missing is simply not shown. About 90 bytes of op body (bench/bench_boards.py)."""
    return [Create(POSITION_KIND, position_id(view_id, card_id), {"position": key})
            for card_id, key in sorted(assigned.items())]
