"""Op bodies and feed segments as bytes: the boundary where wire data becomes typed values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from crdt import CrdtError, Op, UnknownOpError, op_from_wire, op_to_wire

from . import encoding
from .errors import DecodeError, InvalidOpError, OversizedError, UnknownOpTypeError
from .feed import FORMAT_VERSION, MAX_BODY_BYTES, FeedId, SignedOp, build, check_version

__all__ = ["encode_op", "decode_op", "encode_segment", "decode_segment", "ops_of_kind", "MAX_SEGMENT_BYTES"]

MAX_SEGMENT_BYTES = 16 * 1024 * 1024


def encode_op(op: Op) -> bytes:
    return encoding.pack(op_to_wire(op))


def decode_op(body: bytes) -> Op:
    """The op in a signed op's body; raises InvalidOpError or UnknownOpTypeError, never applies part."""
    wire = encoding.unpack(body, limit=MAX_BODY_BYTES)
    try:
        return op_from_wire(wire)
    except UnknownOpError as exc:
        raise UnknownOpTypeError(str(exc)) from None
    except CrdtError as exc:
        raise InvalidOpError(str(exc)) from None


def encode_segment(ops: Sequence[SignedOp]) -> bytes:
    """Encode ops of one feed, contiguous from ops[0]; stamps are delta-encoded (they only increase)."""
    if not ops:
        raise DecodeError("cannot encode an empty segment")
    first = ops[0]
    rows = []
    wall = 0
    for op in ops:
        rows.append([op.stamp.wall_ms - wall, op.stamp.counter, op.body, op.signature])
        wall = op.stamp.wall_ms
    return encoding.pack([FORMAT_VERSION, first.feed.author, first.feed.scope, first.seq, first.prev, rows])


def decode_segment(data: bytes) -> list[SignedOp]:
    """Decode a segment; its links and head signature are then checked by feed.verify_segment."""
    if len(data) > MAX_SEGMENT_BYTES:
        raise OversizedError(f"segment is {len(data)} bytes; the limit is {MAX_SEGMENT_BYTES}")
    wire = encoding.unpack(data, limit=MAX_SEGMENT_BYTES)
    if not isinstance(wire, list) or not wire:
        raise DecodeError("a segment must be a non-empty list")
    check_version(wire[0])
    if len(wire) != 6:
        raise DecodeError(f"a segment has 6 parts, got {len(wire)}")
    _, author, scope, first_seq, prev, rows = wire
    feed = FeedId(author, scope)
    if isinstance(first_seq, bool) or not isinstance(first_seq, int) or first_seq < 1:
        raise DecodeError("sequence numbers start at 1")
    if not isinstance(rows, list) or not rows:
        raise DecodeError("a segment must hold at least one op")
    ops: list[SignedOp] = []
    wall = 0
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 4:
            raise DecodeError(f"op {index} of the segment is not [wall delta, counter, body, signature]")
        delta, counter, body, signature = row
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise DecodeError(f"op {index} of the segment has a non-integer time")
        wall += delta
        op = build(feed, first_seq + index, prev, wall, counter, body, signature)
        ops.append(op)
        prev = op.link()  # the next op must link here; a mismatch shows as a bad head signature
    return ops


def ops_of_kind(ops: Sequence[SignedOp], kind: str) -> Iterator[tuple[SignedOp, Op]]:
    """The ops of a segment whose kind is `kind`, decoded, for checks at the sync edge.

    msgpack keeps strings as raw UTF-8, so whatever its encoding, such an op's body holds the kind's
    bytes: one search over the segment passes the common case without decoding a body. Bodies that
    do not decode are skipped: the store keeps them as invalid and never applies them.
    """
    needle = kind.encode()
    if needle not in b"\0".join(op.body for op in ops):
        return
    for signed in ops:
        if needle not in signed.body:
            continue
        try:
            op = decode_op(signed.body)
        except DecodeError:
            continue
        if op.kind == kind:
            yield signed, op
