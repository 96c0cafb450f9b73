"""sync.feed: signed, hash-linked feeds; what a replica accepts and why it refuses the rest."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Create, Stamp
from sync import (
    FORMAT_VERSION,
    GENESIS,
    BadSignatureError,
    BrokenLinkError,
    DecodeError,
    FeedHead,
    FeedId,
    ForkError,
    GapError,
    ReorderedError,
    SignedOp,
    UnsupportedVersionError,
    VerificationError,
    WrongFeedError,
    check_continues,
    decode_segment,
    encode_op,
    encode_segment,
    verify_op,
    verify_segment,
)
from sync import feed as feed_module
from sync.encoding import pack

GENESIS_HEAD = FeedHead(0, GENESIS)


def head_after(op: SignedOp) -> FeedHead:
    return FeedHead(op.seq, op.link())


def body(text: str) -> bytes:
    return encode_op(Create("post", "p-" + text, {"message": text}))


@pytest.fixture(scope="module")
def spaced5(signer, make_feed) -> tuple[SignedOp, ...]:
    """Five ops a second apart, so that moving one stamp by a millisecond keeps stamps increasing."""
    return tuple(make_feed(signer, 5, ops_per_ms=1))


# --- the happy path -------------------------------------------------------------------------------


def test_verify_segment_accepts_a_valid_segment_and_returns_the_head_of_its_last_op(feed5):
    assert verify_segment(GENESIS_HEAD, feed5) == FeedHead(feed5[-1].seq, feed5[-1].link())
    assert verify_segment(GENESIS_HEAD, feed5) == FeedHead(5, feed5[-1].link())


def test_verify_segment_accepts_a_decoded_segment(feed5):
    assert verify_segment(GENESIS_HEAD, decode_segment(encode_segment(feed5))) == head_after(feed5[-1])


def test_verify_segment_continues_from_the_head_a_replica_already_holds(feed5):
    head = verify_segment(GENESIS_HEAD, feed5[:2])
    assert verify_segment(head, feed5[2:]) == head_after(feed5[-1])


def test_verify_segment_of_no_ops_returns_the_head_unchanged(feed5):
    head = head_after(feed5[2])
    assert verify_segment(head, []) == head


def test_the_first_op_of_a_feed_links_to_genesis(feed5):
    assert feed5[0].seq == 1
    assert feed5[0].prev == GENESIS


def test_each_op_links_to_the_op_before_it(feed5):
    for before, op in pairwise(feed5):
        assert op.seq == before.seq + 1
        assert op.prev == before.link()


def test_verify_segment_checks_one_signature_however_long_the_segment(signer, make_feed, monkeypatch):
    ops = make_feed(signer, 50)
    checked = []
    real = feed_module._check_signature
    monkeypatch.setattr(feed_module, "_check_signature", lambda op: (checked.append(op.seq), real(op)))
    verify_segment(GENESIS_HEAD, ops)
    assert checked == [50]


def test_seal_makes_the_next_op_after_the_head(signer, feed5):
    stamp = Stamp(feed5[-1].stamp.wall_ms + 1, 0, signer.node_tag)
    op = signer.seal(feed5[-1].feed.scope, head_after(feed5[-1]), stamp, body("six"))
    assert (op.feed, op.seq, op.prev, op.stamp, op.body) == (
        feed5[-1].feed, 6, feed5[-1].link(), stamp, body("six"))
    verify_op(op)
    assert verify_segment(head_after(feed5[-1]), [op]) == head_after(op)


def test_seal_refuses_a_stamp_that_does_not_carry_the_signers_node_tag(signer, other_signer):
    # the tag is not signed: the wire form always carries the author's, so a foreign one would make
    # the sealer's copy of the op differ from the copy every other replica decodes
    with pytest.raises(ValueError, match=r"cannot seal a stamp of node .*; this signer's stamps carry"):
        signer.seal("s", GENESIS_HEAD, Stamp(1_700_000_000_000, 0, other_signer.node_tag), body("x"))


def test_every_sealed_op_equals_its_decoded_copy(feed5):
    assert all(op.stamp.node == op.feed.node_tag for op in feed5)
    assert [SignedOp.from_bytes(op.to_bytes()) for op in feed5] == list(feed5)


# --- tampering ------------------------------------------------------------------------------------


def tampered(op: SignedOp, part: str) -> SignedOp:
    """`op` with one signed part changed and its signature kept."""
    if part == "body":
        return dataclasses.replace(op, body=op.body + b"\x00")
    if part == "stamp":
        s = op.stamp
        return dataclasses.replace(op, stamp=Stamp(s.wall_ms + 1, s.counter, s.node))
    if part == "prev":
        return dataclasses.replace(op, prev=bytes(32 - 1) + b"\x01")
    if part == "signature":
        return dataclasses.replace(op, signature=bytes([op.signature[0] ^ 1]) + op.signature[1:])
    raise ValueError(part)


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("part", ["body", "stamp", "signature"])
def test_a_tampered_op_in_a_decoded_segment_shows_as_a_bad_signature_at_the_head(spaced5, part, index):
    ops = list(spaced5)
    ops[index] = tampered(ops[index], part)
    decoded = decode_segment(encode_segment(ops))
    with pytest.raises(BadSignatureError, match="op 5 of feed 'channel:town-square' does not match"):
        verify_segment(GENESIS_HEAD, decoded)


def test_a_tampered_prev_of_the_first_op_of_a_decoded_segment_is_a_broken_link(spaced5):
    # a segment carries only its first op's prev; every later prev is recomputed from the op before
    ops = [tampered(spaced5[0], "prev"), *spaced5[1:]]
    with pytest.raises(BrokenLinkError, match="op 1 of feed 'channel:town-square' does not link to op 0"):
        verify_segment(GENESIS_HEAD, decode_segment(encode_segment(ops)))


@pytest.mark.parametrize("index", range(5))
def test_a_changed_prev_in_an_op_list_is_a_broken_link_at_that_op(spaced5, index):
    ops = list(spaced5)
    ops[index] = tampered(ops[index], "prev")
    with pytest.raises(BrokenLinkError, match=f"op {index + 1} of feed .* does not link to op {index}"):
        verify_segment(GENESIS_HEAD, ops)


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("part", ["body", "stamp", "signature"])
def test_tampering_an_op_before_the_last_in_an_op_list_breaks_the_next_ops_link(spaced5, part, index):
    ops = list(spaced5)
    ops[index] = tampered(ops[index], part)
    with pytest.raises(BrokenLinkError, match=f"op {index + 2} of feed .* does not link to op {index + 1}"):
        verify_segment(GENESIS_HEAD, ops)


@pytest.mark.parametrize("part", ["body", "stamp", "signature"])
def test_tampering_the_last_op_in_an_op_list_is_a_bad_signature(spaced5, part):
    ops = [*spaced5[:-1], tampered(spaced5[-1], part)]
    with pytest.raises(BadSignatureError, match=r"op 5 of feed .* does not match its author's signature"):
        verify_segment(GENESIS_HEAD, ops)


def forged(victim: SignedOp, other_signing_key, **changes) -> SignedOp:
    """`victim` with `changes`, claiming the victim's author but signed with another key."""
    unsigned = dataclasses.replace(victim, signature=b"", **changes)
    return dataclasses.replace(unsigned, signature=other_signing_key.sign(unsigned.content_hash()).signature)


def test_an_op_signed_by_another_key_but_claiming_the_author_is_a_bad_signature(spaced5, other_signing_key):
    fake = forged(spaced5[-1], other_signing_key, body=body("forged"))
    with pytest.raises(BadSignatureError, match="does not match its author's signature"):
        verify_op(fake)
    with pytest.raises(BadSignatureError, match=r"op 5 .* does not match its author's signature"):
        verify_segment(GENESIS_HEAD, [*spaced5[:-1], fake])
    with pytest.raises(BadSignatureError, match=r"op 5 .* does not match its author's signature"):
        verify_segment(GENESIS_HEAD, decode_segment(encode_segment([*spaced5[:-1], fake])))


def test_a_forged_continuation_of_a_real_feed_is_a_bad_signature(spaced5, other_signing_key):
    # the forger links correctly to the real head; only the signature can give it away
    head = head_after(spaced5[-1])
    stamp = Stamp(spaced5[-1].stamp.wall_ms + 1, 0, spaced5[-1].stamp.node)
    fake = forged(spaced5[-1], other_signing_key, seq=6, prev=head.link, stamp=stamp, body=body("six"))
    check_continues(head, fake)  # in place: well linked
    with pytest.raises(BadSignatureError, match="op 6"):
        verify_segment(head, [fake])


def test_an_op_of_another_author_relabelled_as_the_author_is_a_bad_signature(
        spaced5, other_signer, make_feed):
    theirs = make_feed(other_signer, 1)[0]
    relabelled = dataclasses.replace(theirs, feed=spaced5[0].feed,
                                     stamp=Stamp(theirs.stamp.wall_ms, 0, spaced5[0].feed.node_tag))
    with pytest.raises(BadSignatureError, match="op 1"):
        verify_segment(GENESIS_HEAD, [relabelled])


# --- order, gaps, forks, feeds --------------------------------------------------------------------


def test_an_op_older_than_the_head_is_reordered(feed5):
    with pytest.raises(ReorderedError, match="op 2 arrived after op 3 of feed 'channel:town-square'"):
        check_continues(head_after(feed5[2]), feed5[1])


def test_a_segment_that_goes_back_to_an_earlier_op_is_reordered(feed5):
    with pytest.raises(ReorderedError, match="op 1 arrived after op 3"):
        verify_segment(GENESIS_HEAD, [*feed5[:3], feed5[0]])


def test_a_segment_replayed_behind_the_head_is_reordered(feed5):
    with pytest.raises(ReorderedError, match="op 2 arrived after op 4"):
        verify_segment(head_after(feed5[3]), feed5[1:])


def test_two_swapped_ops_are_a_gap_because_the_later_one_arrives_too_early(feed5):
    with pytest.raises(GapError, match="jumps from op 1 to op 3"):
        verify_segment(GENESIS_HEAD, [feed5[0], feed5[2], feed5[1], *feed5[3:]])


def test_a_missing_op_is_a_gap_naming_the_missing_range(feed5):
    reason = "feed 'channel:town-square' jumps from op 2 to op 4; ops in between are missing"
    with pytest.raises(GapError, match=reason):
        verify_segment(GENESIS_HEAD, [feed5[0], feed5[1], feed5[3], feed5[4]])


def test_a_segment_that_does_not_start_right_after_the_head_is_a_gap(feed5):
    with pytest.raises(GapError, match="jumps from op 0 to op 3"):
        verify_segment(GENESIS_HEAD, feed5[2:])


def test_an_op_at_an_already_held_seq_is_a_fork(feed5):
    with pytest.raises(ForkError, match="op 3 of feed 'channel:town-square' is already held"):
        check_continues(head_after(feed5[2]), feed5[2])


def test_a_second_signed_op_at_a_held_seq_is_a_fork(signer, feed5):
    # the author equivocates: a different, validly signed op 3
    other3 = signer.seal(feed5[2].feed.scope, head_after(feed5[1]), feed5[2].stamp, body("equivocation"))
    verify_op(other3)
    assert other3 != feed5[2]
    with pytest.raises(ForkError, match=r"op 3 .* already held"):
        check_continues(head_after(feed5[2]), other3)
    with pytest.raises(ForkError, match=r"op 3 .* already held"):
        verify_segment(head_after(feed5[2]), [other3])


def test_an_op_repeated_within_a_segment_is_a_fork(feed5):
    with pytest.raises(ForkError, match=r"op 3 .* already held"):
        verify_segment(GENESIS_HEAD, [*feed5[:3], feed5[2]])


def test_check_continues_accepts_the_next_op(feed5):
    check_continues(head_after(feed5[1]), feed5[2])
    check_continues(GENESIS_HEAD, feed5[0])


def test_ops_of_another_scope_in_a_segment_are_the_wrong_feed(signer, make_feed):
    ours = make_feed(signer, 3)
    theirs = make_feed(signer, 3, scope="channel:off-topic")
    reason = "segment of feed 'channel:town-square' contains an op of feed 'channel:off-topic'"
    with pytest.raises(WrongFeedError, match=reason):
        verify_segment(GENESIS_HEAD, [ours[0], theirs[1], ours[2]])


def test_ops_of_another_author_in_a_segment_are_the_wrong_feed(signer, other_signer, make_feed):
    ours = make_feed(signer, 3)
    theirs = make_feed(other_signer, 3)  # same scope, same seqs: only the author differs
    with pytest.raises(WrongFeedError, match="contains an op of feed"):
        verify_segment(GENESIS_HEAD, [ours[0], theirs[1], ours[2]])


def test_equal_stamps_are_reordered(signer):
    stamp = Stamp(1_700_000_000_000, 0, signer.node_tag)
    first = signer.seal("s", GENESIS_HEAD, stamp, body("a"))
    second = signer.seal("s", head_after(first), stamp, body("b"))
    with pytest.raises(ReorderedError, match="op 2 of feed 's' has a stamp that does not increase"):
        verify_segment(GENESIS_HEAD, [first, second])


def test_decreasing_stamps_are_reordered_even_when_signed_and_linked(signer):
    first = signer.seal("s", GENESIS_HEAD, Stamp(1_700_000_000_000, 5, signer.node_tag), body("a"))
    second = signer.seal("s", head_after(first), Stamp(1_700_000_000_000, 4, signer.node_tag), body("b"))
    verify_op(second)  # each op is authentic on its own
    with pytest.raises(ReorderedError, match=r"op 2 .* stamp that does not increase"):
        verify_segment(GENESIS_HEAD, [first, second])
    with pytest.raises(ReorderedError, match=r"op 2 .* stamp that does not increase"):
        verify_segment(GENESIS_HEAD, decode_segment(encode_segment([first, second])))


def test_every_verification_error_is_a_verification_error_not_a_decode_error():
    for error in (BadSignatureError, BrokenLinkError, ReorderedError, GapError, ForkError, WrongFeedError):
        assert issubclass(error, VerificationError)
        assert not issubclass(error, DecodeError)


# --- a single op ----------------------------------------------------------------------------------


def test_verify_op_accepts_a_single_op_without_its_predecessors(feed5):
    verify_op(feed5[3])


@pytest.mark.parametrize(
    "change",
    [
        {"body": b"\x93\x03\xa4post\xa1x"},
        {"seq": 4},
        {"prev": bytes(32)},
        {"stamp": "wall+1"},
        {"stamp": "counter+1"},
        {"signature": "flip"},
        {"feed": "other-scope"},
        {"feed": "other-author"},
    ],
    ids=["body", "seq", "prev", "stamp-wall", "stamp-counter", "signature", "scope", "author"],
)
def test_verify_op_detects_any_change_to_a_single_op(feed5, other_signer, change):
    op = feed5[2]
    ((part, value),) = change.items()
    if value == "wall+1":
        value = Stamp(op.stamp.wall_ms + 1, op.stamp.counter, op.stamp.node)
    elif value == "counter+1":
        value = Stamp(op.stamp.wall_ms, op.stamp.counter + 1, op.stamp.node)
    elif value == "flip":
        value = op.signature[:-1] + bytes([op.signature[-1] ^ 0x80])
    elif value == "other-scope":
        value = FeedId(op.feed.author, "channel:elsewhere")
    elif value == "other-author":
        value = FeedId(other_signer.public_key, op.feed.scope)
    with pytest.raises(BadSignatureError, match="does not match its author's signature"):
        verify_op(dataclasses.replace(op, **{part: value}))


def test_an_op_with_a_garbage_signature_is_a_bad_signature(feed5):
    with pytest.raises(BadSignatureError, match="op 1"):
        verify_op(dataclasses.replace(feed5[0], signature=bytes(64)))


# --- standalone bytes -----------------------------------------------------------------------------


def test_signed_op_round_trips_through_its_standalone_bytes(feed5):
    for op in feed5:
        again = SignedOp.from_bytes(op.to_bytes())
        assert again == op
        assert again.link() == op.link()
        verify_op(again)


def test_signed_op_wire_form_is_version_author_scope_seq_prev_stamp_body_signature(feed5):
    op = feed5[0]
    assert op.to_bytes() == pack([FORMAT_VERSION, op.feed.author, op.feed.scope, op.seq, op.prev,
                                  op.stamp.wall_ms, op.stamp.counter, op.body, op.signature])


def standalone_wire(op: SignedOp) -> list:
    return [FORMAT_VERSION, op.feed.author, op.feed.scope, op.seq, op.prev,
            op.stamp.wall_ms, op.stamp.counter, op.body, op.signature]


@pytest.mark.parametrize("extra_parts", [0, 1], ids=["same-shape", "new-shape"])
def test_a_future_format_version_is_unsupported_and_says_to_upgrade(feed5, extra_parts):
    wire = standalone_wire(feed5[0]) + ["a part from the future"] * extra_parts
    wire[0] = FORMAT_VERSION + 1
    reason = f"format version {FORMAT_VERSION + 1}; this node reads up to {FORMAT_VERSION}: upgrade"
    with pytest.raises(UnsupportedVersionError, match=reason):
        SignedOp.from_bytes(pack(wire))


MALFORMED_STANDALONE = {
    "not-a-list": (lambda w: {"v": 1}, "non-empty list"),
    "version-zero": (lambda w: [0, *w[1:]], "version 0 does not exist"),
    "version-bool": (lambda w: [True, *w[1:]], "version must be an integer"),
    "eight-parts": (lambda w: w[:8], "9 parts, got 8"),
    "author-a-string": (lambda w: [w[0], "me", *w[2:]], "32-byte public key"),
    "scope-too-long": (lambda w: [*w[:2], "s" * 129, *w[3:]], "scope must be a string of 1..128"),
    "seq-zero": (lambda w: [*w[:3], 0, *w[4:]], "start at 1"),
    "seq-bool": (lambda w: [*w[:3], True, *w[4:]], "start at 1"),
    "prev-short": (lambda w: [*w[:4], b"\x00", *w[5:]], "32-byte hash"),
    "wall-a-float": (lambda w: [*w[:5], 1.0, *w[6:]], "two integers"),
    "wall-negative": (lambda w: [*w[:5], -1, *w[6:]], "wall time -1 is outside"),
    "counter-too-big": (lambda w: [*w[:6], 1 << 16, *w[7:]], "counter 65536 is outside"),
    "body-a-list": (lambda w: [*w[:7], [1], w[8]], "body must be bytes"),
    "signature-short": (lambda w: [*w[:8], b"sig"], "64 bytes"),
}


@pytest.mark.parametrize("mutate, reason", MALFORMED_STANDALONE.values(), ids=MALFORMED_STANDALONE.keys())
def test_malformed_standalone_bytes_raise_decode_error_naming_the_reason(feed5, mutate, reason):
    with pytest.raises(DecodeError, match=reason) as info:
        SignedOp.from_bytes(pack(mutate(standalone_wire(feed5[0]))))
    assert type(info.value) is DecodeError


# --- hostile bytes (property tests) ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_into_signed_op_from_bytes_raise_only_decode_errors(data):
    try:
        SignedOp.from_bytes(data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_into_decode_segment_raise_only_decode_errors(data):
    try:
        decode_segment(data)
    except DecodeError:
        pass


atoms = (
    st.none() | st.booleans() | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats() | st.text(max_size=4) | st.binary(max_size=70)
    | st.sampled_from([bytes(32), bytes(64), 1, 1_700_000_000_000, "s"])
)
garbage = st.recursive(atoms, lambda inner: st.lists(inner, max_size=5), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(garbage, min_size=8, max_size=9))
def test_well_formed_messagepack_of_the_wrong_shape_into_from_bytes_raises_only_decode_errors(parts):
    try:
        SignedOp.from_bytes(pack([FORMAT_VERSION, *parts]))
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(head=st.lists(garbage, min_size=4, max_size=4),
       rows=st.lists(st.lists(garbage, min_size=4, max_size=4), max_size=3))
def test_well_formed_messagepack_of_the_wrong_shape_into_decode_segment_raises_only_decode_errors(head, rows):
    try:
        decode_segment(pack([FORMAT_VERSION, *head, rows]))
    except DecodeError:
        pass


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_changing_one_byte_of_a_segment_is_refused_or_decodes_to_the_same_ops(spaced5, data):
    encoded = encode_segment(spaced5)
    index = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1), label="index")
    new_byte = data.draw(st.integers(min_value=0, max_value=255), label="byte")
    mutated = encoded[:index] + bytes([new_byte]) + encoded[index + 1:]
    try:
        ops = decode_segment(mutated)
        verify_segment(GENESIS_HEAD, ops)
    except (DecodeError, VerificationError):
        return
    # accepted: only if it is the same content (an unchanged byte, or an equal value written
    # another way, e.g. an int16 where a uint16 was written)
    assert ops == list(spaced5)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_changing_one_byte_of_a_standalone_op_is_refused_or_decodes_to_the_same_op(feed5, data):
    encoded = feed5[2].to_bytes()
    index = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1), label="index")
    new_byte = data.draw(st.integers(min_value=0, max_value=255), label="byte")
    mutated = encoded[:index] + bytes([new_byte]) + encoded[index + 1:]
    try:
        op = SignedOp.from_bytes(mutated)
        verify_op(op)
    except (DecodeError, VerificationError):
        return
    assert op == feed5[2]
