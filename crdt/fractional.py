"""Fractional indexing: position keys for ordered lists (checklist items, cards) with concurrent moves.

An item's position is an LWW register holding a key; the list is the items sorted by (key, id).
Inserting or moving an item writes one key between its new neighbours' keys, so a move is a single
register write: two concurrent moves of the same item resolve to one position (the later write),
never to a duplicated item, which list CRDTs such as RGA cannot offer without a separate move op.
Concurrent inserts at the same spot get distinct keys thanks to a random suffix, and equal keys,
if they ever occur, are ordered by item id, so every replica shows the same order.

A key is a string of base-62 digits read as a fraction in (0, 1); it never ends in the zero digit,
so there is always room between two keys. The digits are in ASCII order, so Python's string order
and SQLite's BINARY collation agree with numeric order.
"""

from __future__ import annotations

import random

from .errors import EncodingError

__all__ = ["DIGITS", "key_between", "keys_between", "check_key"]

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(DIGITS)
_VALUE = {d: i for i, d in enumerate(DIGITS)}
_JITTER_DIGITS = 2


def check_key(key: str) -> str:
    if not key or key[-1] == DIGITS[0] or any(c not in _VALUE for c in key):
        raise EncodingError(f"{key!r} is not a position key (base-62 digits, not ending in '0')")
    return key


def _midpoint(a: str, b: str | None) -> str:
    """A key strictly between a and b (a may be "" for 0; b None for 1), possibly a prefix of b."""
    if b is not None:
        n = 0
        while (a[n] if n < len(a) else DIGITS[0]) == b[n]:
            n += 1
        if n:
            return b[:n] + _midpoint(a[n:], b[n:])
    da = _VALUE[a[0]] if a else 0
    db = _VALUE[b[0]] if b is not None else _BASE
    if db - da > 1:
        return DIGITS[(da + db) // 2]
    if b is not None and len(b) > 1:
        return b[0]
    return DIGITS[da] + _midpoint(a[1:], None)


def key_between(before: str | None, after: str | None, rng: random.Random) -> str:
    """A fresh key strictly between two neighbours' keys (None for either end of the list)."""
    a = check_key(before) if before is not None else ""
    b = check_key(after) if after is not None else None
    if b is not None and a >= b:
        raise EncodingError(f"cannot place a key between {before!r} and {after!r}: they are not in order")
    key = _midpoint(a, b)
    while b is not None and b.startswith(key):  # make room for the random suffix below b
        key += _midpoint("", b[len(key) :])
    suffix = "".join(rng.choice(DIGITS) for _ in range(_JITTER_DIGITS - 1)) + rng.choice(DIGITS[1:])
    return key + suffix


def keys_between(before: str | None, after: str | None, count: int, rng: random.Random) -> list[str]:
    """`count` increasing keys between two neighbours, for inserting several items at once."""
    keys: list[str] = []
    low = before
    for _ in range(count):
        low = key_between(low, after, rng)
        keys.append(low)
    return keys
