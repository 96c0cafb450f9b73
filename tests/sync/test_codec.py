"""sync.codec: op bodies and feed segments as bytes, the boundary where wire data becomes typed values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Add, Create, Delete, Increment, Remove, Stamp, Update
from crdt.ops import MAX_TEXT_LEN
from sync import (
    FORMAT_VERSION,
    DecodeError,
    FeedHead,
    InvalidOpError,
    OversizedError,
    UnknownOpTypeError,
    UnsupportedVersionError,
    decode_op,
    decode_segment,
    encode_op,
    encode_segment,
    verify_segment,
)
from sync.codec import MAX_SEGMENT_BYTES
from sync.encoding import pack
from sync.feed import MAX_BODY_BYTES

FUZZ = settings(max_examples=150, deadline=None)

NODE = bytes(range(8))
TAG_A = Stamp(1_700_000_000_000, 0, NODE)
TAG_B = Stamp(1_700_000_000_001, 3, bytes(8))

EVERY_OP_TYPE = [
    Create("post", "p1", {"message": "hello", "create_at": 1_700_000_000_000, "root_id": ""}),
    Create("post", "p2", {"n": None, "ok": True, "pi": 3.5, "blob": b"\x00\xff",
                          "tags": ["a", "b"], "meta": {"x": {"y": [1, -2]}}},
           deps=(("channel", "c1"), ("user", "u1"))),
    Create("channel", "c1"),
    Update("post", "p1", {"message": "edited"}),
    Delete("post", "p1"),
    Add("post.reactions", "p1", "+1:u1"),
    Remove("post.reactions", "p1", "+1:u1", (TAG_B, TAG_A)),
    Increment("post.replies", "p1", -3),
]


# --- ops ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", EVERY_OP_TYPE, ids=lambda op: type(op).__name__)
def test_decode_op_of_encode_op_returns_an_equal_op_for_every_op_type(op):
    decoded = decode_op(encode_op(op))
    assert type(decoded) is type(op)
    assert decoded == op


@pytest.mark.parametrize("op", EVERY_OP_TYPE, ids=lambda op: type(op).__name__)
def test_encode_op_is_canonical_so_re_encoding_gives_the_same_body(op):
    body = encode_op(op)
    assert encode_op(decode_op(body)) == body


def test_encode_op_does_not_depend_on_the_order_fields_were_given_in():
    in_order = Create("post", "p", {"a": 1, "b": 2})
    reversed_order = Create("post", "p", {"b": 2, "a": 1})
    assert encode_op(in_order) == encode_op(reversed_order)


field_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
    | st.floats(allow_nan=False) | st.text(max_size=30) | st.binary(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
names = st.text(min_size=1, max_size=64)


@FUZZ
@given(kind=names, id_=names, fields=st.dictionaries(names, field_values, max_size=8))
def test_any_valid_create_round_trips_through_its_body(kind, id_, fields):
    op = Create(kind, id_, fields)
    assert decode_op(encode_op(op)) == op


def test_an_unknown_op_tag_raises_unknown_op_type_naming_the_tag():
    with pytest.raises(UnknownOpTypeError, match="unknown op type 99"):
        decode_op(pack([99, "post", "p1"]))


def test_unknown_op_type_is_an_invalid_op_so_callers_can_catch_either():
    assert issubclass(UnknownOpTypeError, InvalidOpError)
    assert issubclass(InvalidOpError, DecodeError)


MALFORMED_OPS = {
    "not-a-list": ({"tag": 1}, "non-empty list"),
    "empty-list": ([], "non-empty list"),
    "string-tag": (["1", "post", "p"], "tag must be an integer"),
    "bool-tag": ([True, "post", "p", {}], "tag must be an integer"),
    "create-wrong-arity": ([1, "post"], "not a valid shape"),
    "delete-wrong-arity": ([3, "post", "p", "extra"], "not a valid shape"),
    "kind-not-a-string": ([3, 7, "p"], "kind must be a non-empty string"),
    "empty-id": ([3, "post", ""], "id must be a non-empty string"),
    "name-too-long": ([3, "post", "p" * 65], "limit is 64"),
    "fields-not-a-map": ([1, "post", "p", ["message", "x"]], "fields must be a map"),
    "update-without-fields": ([2, "post", "p", {}], "at least one field"),
    "oversized-text": ([2, "post", "p", {"m": "x" * (MAX_TEXT_LEN + 1)}], "limit is 65536"),
    "int-over-64-bits": ([2, "post", "p", {"n": 1 << 63}], "64 bits"),
    "too-deep": ([2, "post", "p", {"v": [[[[[[[[[[1]]]]]]]]]]}], "deeper"),
    "deps-not-a-list": ([1, "post", "p", {}, "channel"], "dependencies must be a list"),
    "dep-not-a-pair": ([1, "post", "p", {}, [["channel", "c", "x"]]], r"\(kind, id\) pair"),
    "dep-an-int": ([1, "post", "p", {}, [5]], r"malformed op|\(kind, id\) pair"),
    "dep-a-two-char-string": ([1, "post", "p", {}, ["ab"]], r"\(kind, id\) pair"),
    "dep-a-map": ([1, "post", "p", {}, [{"kind": "channel", "id": "c"}]], r"\(kind, id\) pair"),
    "set-kind-without-attribute": ([4, "post", "p", "+1"], "owner.attribute"),
    "empty-element": ([4, "post.reactions", "p", ""], "element must be a non-empty string"),
    "remove-without-tags": ([5, "post.reactions", "p", "+1", []], "at least one observed add"),
    "remove-tag-not-a-stamp": ([5, "post.reactions", "p", "+1", [b"short"]], "packed stamp"),
    "remove-tags-not-a-list": ([5, "post.reactions", "p", "+1", b"x" * 16], "tags must be a list"),
    "float-amount": ([6, "post.replies", "p", 1.5], "must be an integer"),
    "amount-over-32-bits": ([6, "post.replies", "p", 1 << 31], "32 bits"),
}


@pytest.mark.parametrize("wire, reason", MALFORMED_OPS.values(), ids=MALFORMED_OPS.keys())
def test_a_malformed_op_raises_invalid_op_naming_the_reason(wire, reason):
    with pytest.raises(InvalidOpError, match=reason) as info:
        decode_op(pack(wire))
    assert type(info.value) is InvalidOpError


def test_decode_op_of_bytes_that_are_not_messagepack_raises_decode_error():
    with pytest.raises(DecodeError, match="malformed"):
        decode_op(b"\xc1")


def test_decode_op_of_a_body_over_the_limit_raises_oversized():
    with pytest.raises(OversizedError, match=f"limit is {MAX_BODY_BYTES}"):
        decode_op(bytes(MAX_BODY_BYTES + 1))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_decode_op_of_random_bytes_raises_only_decode_errors(data):
    try:
        decode_op(data)
    except DecodeError:
        pass


wire_atoms = (
    st.none() | st.booleans() | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats() | st.text(max_size=6) | st.binary(max_size=20) | st.sampled_from(["post", "post.x", "p"])
)
wire_values = st.recursive(
    wire_atoms,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(tag=st.integers(min_value=0, max_value=8), args=st.lists(wire_values, max_size=5))
def test_decode_op_of_op_shaped_garbage_returns_an_op_or_raises_invalid_op(tag, args):
    try:
        op = decode_op(pack([tag, *args]))
    except InvalidOpError:
        return
    assert decode_op(encode_op(op)) == op


# --- segments -------------------------------------------------------------------------------------


def test_decode_segment_of_encode_segment_returns_equal_ops(feed5):
    assert decode_segment(encode_segment(feed5)) == list(feed5)


def test_a_segment_of_one_op_round_trips(feed5):
    assert decode_segment(encode_segment(feed5[:1])) == [feed5[0]]


def test_a_segment_that_starts_mid_feed_round_trips_and_verifies(signer, make_feed):
    ops = make_feed(signer, 12)
    later = ops[7:]
    assert decode_segment(encode_segment(later)) == later
    head = FeedHead(ops[6].seq, ops[6].link())
    assert verify_segment(head, decode_segment(encode_segment(later))) == FeedHead(12, ops[-1].link())


def test_a_segment_is_smaller_than_the_same_ops_sent_alone(signer, make_feed):
    ops = make_feed(signer, 50)
    assert len(encode_segment(ops)) < sum(len(op.to_bytes()) for op in ops)


def test_encode_segment_refuses_an_empty_segment():
    with pytest.raises(DecodeError, match="empty segment"):
        encode_segment([])


def test_decode_segment_of_a_future_format_version_raises_unsupported_version(feed5):
    wire = _segment_wire(feed5)
    wire[0] = FORMAT_VERSION + 1
    with pytest.raises(UnsupportedVersionError, match=f"version {FORMAT_VERSION + 1}.*upgrade"):
        decode_segment(pack(wire))


def test_decode_segment_over_the_limit_raises_oversized_before_parsing():
    with pytest.raises(OversizedError, match=f"limit is {MAX_SEGMENT_BYTES}"):
        decode_segment(b"\xc1" * (MAX_SEGMENT_BYTES + 1))


def _segment_wire(ops):
    """A segment's wire form written out by hand: [version, author, scope, first seq, first prev, rows]."""
    rows, wall = [], 0
    for op in ops:
        rows.append([op.stamp.wall_ms - wall, op.stamp.counter, op.body, op.signature])
        wall = op.stamp.wall_ms
    return [FORMAT_VERSION, ops[0].feed.author, ops[0].feed.scope, ops[0].seq, ops[0].prev, rows]


def test_segment_wire_helper_matches_the_codec(feed5):
    assert pack(_segment_wire(feed5)) == encode_segment(feed5)


MALFORMED_SEGMENTS = {
    "not-a-list": (lambda w: {"v": 1}, "non-empty list"),
    "version-zero": (lambda w: [0, *w[1:]], "does not exist"),
    "version-a-string": (lambda w: ["1", *w[1:]], "version must be an integer"),
    "five-parts": (lambda w: w[:5], "6 parts"),
    "short-author": (lambda w: [w[0], w[1][:31], *w[2:]], "32-byte public key"),
    "empty-scope": (lambda w: [*w[:2], "", *w[3:]], "scope"),
    "seq-zero": (lambda w: [*w[:3], 0, *w[4:]], "start at 1"),
    "prev-not-32-bytes": (lambda w: [*w[:4], b"\x00" * 31, w[5]], "32-byte hash"),
    "no-rows": (lambda w: [*w[:5], []], "at least one op"),
    "row-of-three": (lambda w: [*w[:5], [w[5][0][:3]]], r"not \[wall delta"),
    "time-not-an-int": (lambda w: [*w[:5], [[1.5, *w[5][0][1:]]]], "non-integer time"),
    "time-before-1970": (lambda w: [*w[:5], [[-1, *w[5][0][1:]]]], "wall time"),
    "body-a-string": (lambda w: [*w[:5], [[*w[5][0][:2], "body", w[5][0][3]]]], "body must be bytes"),
    "short-signature": (lambda w: [*w[:5], [[*w[5][0][:3], b"\x00" * 63]]], "64 bytes"),
}


@pytest.mark.parametrize("mutate, reason", MALFORMED_SEGMENTS.values(), ids=MALFORMED_SEGMENTS.keys())
def test_a_malformed_segment_raises_decode_error_naming_the_reason(feed5, mutate, reason):
    with pytest.raises(DecodeError, match=reason) as info:
        decode_segment(pack(mutate(_segment_wire(feed5))))
    assert type(info.value) is DecodeError
