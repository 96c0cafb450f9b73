"""Counter: the sum of distinct increments, each counted once however often it is delivered."""

from __future__ import annotations

from functools import reduce

from crdt_strategies import NODES, partition, subsets, unique_stamps, with_duplicates
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import Counter, Stamp

amounts = st.integers(-(1 << 31), (1 << 31) - 1)

Inc = tuple[int, Stamp]


@st.composite
def histories(draw, min_size: int = 0, max_size: int = 30) -> list[Inc]:
    """Increments (positive or negative) keyed by distinct stamps."""
    return [(draw(amounts), stamp) for stamp in draw(unique_stamps(min_size, max_size))]


def build(ops: list[Inc]) -> Counter:
    counter = Counter()
    for amount, stamp in ops:
        counter.increment(amount, stamp)
    return counter


@st.composite
def three_states(draw):
    return [build(part) for part in subsets(draw, draw(histories()), 3)]


@settings(max_examples=150)
@given(three_states())
def test_merge_is_commutative(states):
    a, b, _ = states
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).value == b.merge(a).value


@settings(max_examples=150)
@given(three_states())
def test_merge_is_associative(states):
    a, b, c = states
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@settings(max_examples=150)
@given(three_states())
def test_merge_is_idempotent(states):
    a, b, _ = states
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)


@settings(max_examples=150)
@given(st.data())
def test_any_delivery_order_with_duplicates_counts_each_increment_once(data):
    history = data.draw(histories())
    counter = build(with_duplicates(data.draw, history))
    assert counter == build(history)
    assert counter.value == sum(amount for amount, _ in history)


@settings(max_examples=150)
@given(st.data())
def test_partitioned_delivery_then_merge_equals_delivering_everything_to_one_replica(data):
    history = data.draw(histories())
    replicas = data.draw(st.integers(2, 3))
    states = [build(share) for share in partition(data.draw, history, replicas)]
    merged = reduce(Counter.merge, states)
    assert merged == build(history)
    assert merged.value == sum(amount for amount, _ in history)


def test_an_empty_counter_is_zero_and_decrements_are_increments_by_negative_amounts():
    counter = Counter()
    assert counter.value == 0
    counter.increment(5, Stamp(1, 0, NODES[0]))
    counter.increment(-7, Stamp(1, 0, NODES[1]))
    counter.increment(5, Stamp(1, 0, NODES[0]))  # a redelivery
    assert counter.value == -2


def test_merge_leaves_its_inputs_unchanged():
    a, b = build([(1, Stamp(1, 0, NODES[0]))]), build([(2, Stamp(1, 0, NODES[1]))])
    merged = a.merge(b)
    merged.increment(10, Stamp(2, 0, NODES[2]))
    assert (a.value, b.value, merged.value) == (1, 2, 13)
