"""Frontier reconciliation finds exactly the feeds that differ, in few round trips and bytes."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import DecodeError, FeedHead, FeedId
from sync.reconcile import Reconciler, decode_message, encode_message


def _run(ours: dict[FeedId, FeedHead], theirs: dict[FeedId, FeedHead]) -> tuple[Reconciler, Reconciler, int, list[int]]:
    a, b = Reconciler(ours, initiator=True), Reconciler(theirs, initiator=False)
    outgoing, turn, sent = a.start(), 0, [0, 0]
    while outgoing:
        frame = encode_message(outgoing)
        sent[turn % 2] += len(frame)
        outgoing = (b if turn % 2 == 0 else a).receive(decode_message(frame))
        turn += 1
        assert turn < 40, "the session must end"
    return a, b, (turn + 1) // 2, sent


def _frontier(rng: random.Random, count: int) -> dict[FeedId, FeedHead]:
    return {FeedId(rng.randbytes(32), f"channel:{i}"): FeedHead(rng.randrange(1, 500), rng.randbytes(32)) for i in range(count)}


def _expected(ours: dict[FeedId, FeedHead], theirs: dict[FeedId, FeedHead]) -> dict[FeedId, int]:
    """What we must send: feeds they lack (from 0) or hold fewer ops of (from their seq)."""
    return {f: (theirs[f].seq if f in theirs else 0) for f, h in ours.items() if f not in theirs or theirs[f].seq < h.seq}


def test_peers_in_sync_find_out_in_one_round_trip_and_under_100_bytes_each_way() -> None:
    frontier = _frontier(random.Random(1), 3000)
    a, b, round_trips, sent = _run(frontier, dict(frontier))
    assert round_trips == 1 and max(sent) <= 100
    assert a.done and b.done and a.to_send == {} == b.to_send


def test_a_few_differences_among_thousands_of_feeds_take_three_round_trips_and_about_2_kb() -> None:
    rng = random.Random(2)
    ours = _frontier(rng, 5000)
    theirs = dict(ours)
    changed = rng.sample(sorted(ours, key=lambda f: f.scope), 4)
    theirs[changed[0]] = FeedHead(ours[changed[0]].seq + 3, rng.randbytes(32))   # they are ahead
    ours[changed[1]] = FeedHead(ours[changed[1]].seq + 1, rng.randbytes(32))     # we are ahead
    del theirs[changed[2]]                                                        # they lack a feed
    del ours[changed[3]]                                                          # we lack a feed
    a, b, round_trips, sent = _run(ours, theirs)
    assert round_trips <= 3
    assert sum(sent) <= 2048
    assert a.to_send == _expected(ours, theirs) and b.to_send == _expected(theirs, ours)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.integers(0, 30), st.integers(0, 2**32))
def test_reconciliation_finds_exactly_what_each_side_lacks(size: int, changes: int, seed: int) -> None:
    rng = random.Random(seed)
    ours = _frontier(rng, size)
    theirs = dict(ours)
    feeds = list(ours)
    for _ in range(changes):
        kind = rng.randrange(4)
        if kind == 0 and feeds:
            f = rng.choice(feeds)
            if f in theirs:
                theirs[f] = FeedHead(theirs[f].seq + rng.randrange(1, 5), rng.randbytes(32))
        elif kind == 1 and feeds:
            f = rng.choice(feeds)
            if f in ours:
                ours[f] = FeedHead(ours[f].seq + rng.randrange(1, 5), rng.randbytes(32))
        elif kind == 2:
            theirs[FeedId(rng.randbytes(32), "new")] = FeedHead(1, rng.randbytes(32))
        else:
            ours[FeedId(rng.randbytes(32), "new")] = FeedHead(2, rng.randbytes(32))
    a, b, _, _ = _run(ours, theirs)
    assert a.done and b.done
    assert a.to_send == _expected(ours, theirs)
    assert b.to_send == _expected(theirs, ours)


def test_two_histories_at_one_sequence_number_are_reported_as_forks() -> None:
    rng = random.Random(3)
    ours = _frontier(rng, 50)
    theirs = dict(ours)
    forked = next(iter(ours))
    theirs[forked] = FeedHead(ours[forked].seq, os.urandom(32))
    a, b, _, _ = _run(ours, theirs)
    assert a.forks == [forked] and b.forks == [forked]
    assert a.to_send == {} == b.to_send


@given(st.binary(max_size=300))
def test_garbage_frames_give_only_typed_decode_errors(data: bytes) -> None:
    try:
        decode_message(data)
    except DecodeError:
        pass


@pytest.mark.parametrize("frame", [b"\x92\x02\x90", b"\x92\x01\x91\x91\x09", b"\x92\x01\x91\x93\x03\xc4\x01\x20\x90"])
def test_future_versions_and_unknown_or_malformed_messages_are_refused(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_message(frame)
