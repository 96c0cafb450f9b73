"""A reconciliation session between two stores held in one process.

The same Reconciler messages a network transport would carry are encoded and decoded here, so
tests of partitions and healing drive the real protocol; only the socket is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import decode_segment, encode_segment
from .ports import FeedStore
from .reconcile import Reconciler, decode_message, encode_message

__all__ = ["SessionReport", "reconcile_pair"]

_SEGMENT_OPS = 1000


@dataclass(slots=True)
class SessionReport:
    round_trips: int = 0
    control_bytes: int = 0
    segment_bytes: int = 0
    ops_sent: int = 0


async def _stream(src: FeedStore, dst: FeedStore, plan: dict, report: SessionReport) -> None:  # type: ignore[type-arg]
    for feed, after in plan.items():
        while True:
            ops = await src.segment(feed, after, _SEGMENT_OPS)
            if not ops:
                break
            data = encode_segment(ops)
            report.segment_bytes += len(data)
            report.ops_sent += len(ops)
            await dst.apply(decode_segment(data))
            after = ops[-1].seq


async def reconcile_pair(a: FeedStore, b: FeedStore) -> SessionReport:
    """Bring a and b to the same frontier: find what differs, then stream exactly the missing segments."""
    report = SessionReport()
    left = Reconciler(await a.heads(), initiator=True)
    right = Reconciler(await b.heads(), initiator=False)
    outgoing = left.start()
    turn = 0
    while outgoing:
        frame = encode_message(outgoing)
        report.control_bytes += len(frame)
        receiver = right if turn % 2 == 0 else left
        outgoing = receiver.receive(decode_message(frame))
        turn += 1
    report.round_trips = (turn + 1) // 2
    await _stream(a, b, left.to_send, report)
    await _stream(b, a, right.to_send, report)
    return report
