"""Hybrid logical clock: monotonic stamps, restart safety, skew refusal and the packed byte order."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from crdt_strategies import MAX_COUNTER, MAX_WALL, any_stamps, node_tags, small_stamps
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from crdt import MAX_DRIFT_MS, NODE_TAG_SIZE, STAMP_SIZE, ClockSkewError, EncodingError, HybridClock, Stamp

NODE = b"\x07" * NODE_TAG_SIZE
wall_times = st.integers(0, 1 << 44)  # milliseconds, far from the 48-bit limit
# stamps far enough from the 48-bit limit that a clock can still tick after them
reachable_stamps = st.builds(Stamp, wall_times, st.integers(0, MAX_COUNTER), node_tags)


def strictly_increasing(stamps: list[Stamp]) -> bool:
    return all(a < b for a, b in pairwise(stamps))


@settings(max_examples=150)
@given(st.lists(wall_times, min_size=1, max_size=100))
@example([5_000, 4_000, 4_000, 0, 5_000, 5_001])
def test_tick_is_strictly_increasing_even_when_the_wall_clock_goes_backwards(nows):
    clock = HybridClock(NODE)
    stamps = [clock.tick(now) for now in nows]
    assert strictly_increasing(stamps)
    assert all(s.node == NODE for s in stamps)
    assert all(s.wall_ms >= now for s, now in zip(stamps, nows))
    assert clock.last == stamps[-1]


def test_tick_within_one_millisecond_counts_up_then_borrows_the_next_millisecond():
    clock = HybridClock(NODE)
    stamps = [clock.tick(1_000) for _ in range(MAX_COUNTER + 3)]
    assert stamps[0] == Stamp(1_000, 0, NODE)
    assert stamps[MAX_COUNTER] == Stamp(1_000, MAX_COUNTER, NODE)
    assert stamps[MAX_COUNTER + 1] == Stamp(1_001, 0, NODE)
    assert stamps[MAX_COUNTER + 2] == Stamp(1_001, 1, NODE)
    assert strictly_increasing(stamps)


@settings(max_examples=150)
@given(reachable_stamps, st.lists(wall_times, min_size=1, max_size=30))
@example(Stamp(10_000, MAX_COUNTER, b"\xff" * NODE_TAG_SIZE), [0, 10_000])
def test_a_clock_restored_with_last_never_issues_a_stamp_at_or_before_it(last, nows):
    clock = HybridClock(NODE, last=last)
    stamps = [clock.tick(now) for now in nows]
    assert all(s > last for s in stamps)
    assert strictly_increasing(stamps)


@settings(max_examples=150)
@given(
    local=st.lists(wall_times, max_size=10),
    remote=reachable_stamps,
    lag=st.integers(-(1 << 30), MAX_DRIFT_MS),
    later=st.lists(wall_times, min_size=1, max_size=10),
)
@example(local=[], remote=Stamp(500, 3, b"\xff" * NODE_TAG_SIZE), lag=0, later=[0])
def test_after_observe_every_later_tick_is_greater_than_the_remote_stamp(local, remote, lag, later):
    clock = HybridClock(NODE)
    issued = [clock.tick(now) for now in local]
    now = remote.wall_ms - lag  # the remote is at most MAX_DRIFT_MS ahead of us, so it is accepted
    clock.observe(remote, now)
    assert clock.last.node == NODE
    stamps = [clock.tick(t) for t in later]
    assert all(s > remote for s in stamps)
    assert all(s > i for s in stamps for i in issued)
    assert strictly_increasing(stamps)


@settings(max_examples=100)
@given(local=st.lists(wall_times, min_size=1, max_size=5), remote=small_stamps)
def test_observing_an_older_remote_stamp_leaves_the_clock_unchanged(local, remote):
    clock = HybridClock(NODE)
    for now in local:
        clock.tick(now)
    before = clock.last
    assume(remote < before)
    clock.observe(remote, 0)
    assert clock.last == before


@settings(max_examples=150)
@given(
    now=wall_times,
    excess=st.integers(1, 1 << 40),
    max_drift=st.sampled_from([MAX_DRIFT_MS, 0, 1, 60_000]),
    node=node_tags,
)
@example(now=1_000_000, excess=1, max_drift=MAX_DRIFT_MS, node=b"\x01" * NODE_TAG_SIZE)
def test_check_and_observe_refuse_a_remote_more_than_max_drift_ahead_and_say_by_how_much(
    now, excess, max_drift, node
):
    clock = HybridClock(NODE, max_drift_ms=max_drift)
    before = clock.tick(now)
    remote = Stamp(now + max_drift + excess, 0, node)
    ahead = max_drift + excess
    message = rf"\b{ahead} ms ahead\b.*\(limit {max_drift} ms\)"
    with pytest.raises(ClockSkewError, match=message):
        clock.check(remote, now)
    with pytest.raises(ClockSkewError, match=message):
        clock.observe(remote, now)
    assert clock.last == before  # a refused stamp does not move the clock
    assert clock.tick(now) == Stamp(before.wall_ms, before.counter + 1, NODE)


@settings(max_examples=50)
@given(now=wall_times, max_drift=st.sampled_from([MAX_DRIFT_MS, 0, 60_000]), counter=st.integers(0, 100))
def test_a_remote_exactly_max_drift_ahead_is_accepted(now, max_drift, counter):
    clock = HybridClock(NODE, max_drift_ms=max_drift)
    remote = Stamp(now + max_drift, counter, b"\x01" * NODE_TAG_SIZE)
    clock.check(remote, now)
    clock.observe(remote, now)
    assert clock.tick(now) > remote


def test_the_default_drift_limit_is_five_minutes():
    assert MAX_DRIFT_MS == 5 * 60 * 1000
    clock = HybridClock(NODE)
    clock.check(Stamp(MAX_DRIFT_MS, 0, NODE), 0)
    with pytest.raises(ClockSkewError, match=re.escape(f"{MAX_DRIFT_MS + 1} ms ahead")):
        clock.check(Stamp(MAX_DRIFT_MS + 1, 0, NODE), 0)


# pairs that tie on wall time or on (wall, counter) exercise the counter and node bytes
stamp_pairs = st.one_of(
    st.tuples(any_stamps, any_stamps),
    st.tuples(small_stamps, small_stamps),
    st.builds(
        lambda wall, c1, c2, n1, n2: (Stamp(wall, c1, n1), Stamp(wall, c2, n2)),
        st.integers(0, MAX_WALL), st.integers(0, MAX_COUNTER), st.integers(0, MAX_COUNTER), node_tags, node_tags,
    ),
)


@settings(max_examples=300)
@given(stamp_pairs)
@example((Stamp(1, 0, b"\x00" * 8), Stamp(0, MAX_COUNTER, b"\xff" * 8)))
@example((Stamp(256, 0, b"\x00" * 8), Stamp(255, 1, b"\x00" * 8)))
@example((Stamp(5, 256, b"\x00" * 8), Stamp(5, 255, b"\xff" * 8)))
@example((Stamp(5, 5, b"\x01" + b"\x00" * 7), Stamp(5, 5, b"\x00" + b"\xff" * 7)))
def test_packed_byte_order_equals_stamp_order(pair):
    a, b = pair
    assert (a < b) == (a.pack() < b.pack())
    assert (a == b) == (a.pack() == b.pack())
    assert (a > b) == (a.pack() > b.pack())


@settings(max_examples=50)
@given(st.lists(any_stamps, max_size=30))
def test_sorting_by_packed_bytes_sorts_by_stamp(stamps):
    assert sorted(stamps, key=Stamp.pack) == sorted(stamps)


@settings(max_examples=200)
@given(any_stamps)
@example(Stamp(MAX_WALL, MAX_COUNTER, b"\xff" * 8))
@example(Stamp(0, 0, b"\x00" * 8))
def test_pack_unpack_round_trips_through_fixed_width_bytes(stamp):
    packed = stamp.pack()
    assert isinstance(packed, bytes)
    assert len(packed) == STAMP_SIZE == 16
    assert Stamp.unpack(packed) == stamp


@settings(max_examples=100)
@given(st.binary(max_size=40).filter(lambda b: len(b) != NODE_TAG_SIZE))
def test_a_node_tag_of_the_wrong_length_is_rejected(node):
    with pytest.raises(EncodingError, match=f"node tag must be {NODE_TAG_SIZE} bytes"):
        Stamp(0, 0, node)
    with pytest.raises(EncodingError, match=f"node tag must be {NODE_TAG_SIZE} bytes"):
        HybridClock(node)


@settings(max_examples=100)
@given(st.integers(max_value=-1))
def test_a_negative_wall_time_is_rejected(wall):
    with pytest.raises(EncodingError, match="wall time"):
        Stamp(wall, 0, NODE)


@settings(max_examples=100)
@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_COUNTER + 1)))
def test_a_counter_outside_sixteen_bits_is_rejected(counter):
    with pytest.raises(EncodingError, match="counter"):
        Stamp(0, counter, NODE)


def test_a_wall_time_beyond_forty_eight_bits_is_rejected():
    Stamp(MAX_WALL, 0, NODE)
    with pytest.raises(EncodingError, match="wall time"):
        Stamp(MAX_WALL + 1, 0, NODE)


@settings(max_examples=100)
@given(st.binary(max_size=40).filter(lambda b: len(b) != STAMP_SIZE))
def test_unpacking_bytes_of_the_wrong_length_is_rejected(data):
    with pytest.raises(EncodingError, match=f"{STAMP_SIZE} bytes"):
        Stamp.unpack(data)
