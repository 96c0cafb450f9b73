"""How the op log keeps a signed op in a row, and how rows become signed ops again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crdt import Stamp
from sync import FeedId, SignedOp

__all__ = ["PREV_CHECKPOINT", "checkpoint_at_or_before", "ops_from_rows", "stored_prev"]

PREV_CHECKPOINT = 64
"""Only every 64th op stores its `prev` (32 bytes); the others' follow from the op before them."""


def stored_prev(op: SignedOp) -> bytes:
    """What the log keeps of an op's prev: the hash at checkpoints (seq 1, 65, 129, ...), else nothing.

    prev(n) is link(n-1), which the log can recompute from row n-1 once that row's own prev is
    known, so walking forward from the nearest checkpoint restores every prev. An empty blob costs
    no payload byte, and the column stays NOT NULL.
    """
    return op.prev if op.seq % PREV_CHECKPOINT == 1 else b""


def ops_from_rows(feed: FeedId, rows: Iterable[Sequence[Any]]) -> list[SignedOp]:
    """The signed ops of log rows (seq, prev, hlc, body, sig) of one feed, in seq order from a checkpoint.

    Each prev the log did not keep is the link of the op before it; the ops stop at a hole or
    at a row whose prev cannot be known, so only what is certain is returned.
    """
    ops: list[SignedOp] = []
    prev: bytes | None = None
    for seq, stored, hlc, body, sig in rows:
        if stored:
            prev = stored
        if prev is None or (ops and ops[-1].seq + 1 != seq) and not stored:
            break
        op = SignedOp(feed, seq, prev, Stamp(hlc >> 16, hlc & 0xFFFF, feed.node_tag), body, sig)
        prev = op.link()
        ops.append(op)
    return ops


def checkpoint_at_or_before(seq: int) -> int:
    """The sequence number of the nearest checkpoint at or before op `seq` (seq >= 1)."""
    return ((seq - 1) // PREV_CHECKPOINT) * PREV_CHECKPOINT + 1
