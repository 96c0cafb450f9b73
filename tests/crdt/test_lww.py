"""Last-writer-wins register: the value written at the greatest stamp wins, whatever the delivery."""

from __future__ import annotations

from functools import reduce

from crdt_strategies import NODES, ORIGIN, partition, subsets, unique_stamps, with_duplicates
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import LWWRegister, Stamp

values = st.one_of(st.integers(), st.text(max_size=4), st.none())

Write = tuple[object, Stamp]


@st.composite
def writes(draw, min_size: int = 1, max_size: int = 30) -> list[Write]:
    """Writes with distinct stamps: a stamp names exactly one write, so equal stamps mean equal values."""
    stamps = draw(unique_stamps(min_size, max_size))
    return [(draw(values), stamp) for stamp in stamps]


def initial() -> LWWRegister[object]:
    return LWWRegister(None, ORIGIN)


def apply_all(register: LWWRegister[object], ops: list[Write]) -> LWWRegister[object]:
    for value, stamp in ops:
        register = register.set(value, stamp)
    return register


def winner(ops: list[Write]) -> LWWRegister[object]:
    value, stamp = max(ops, key=lambda w: w[1])
    return LWWRegister(value, stamp)


@st.composite
def three_states(draw):
    """Three registers built from random write sequences drawn from one pool of distinct stamps."""
    history = draw(writes(min_size=3))
    return [apply_all(initial(), part) for part in subsets(draw, history, 3)]


@settings(max_examples=150)
@given(three_states())
def test_merge_is_commutative(states):
    a, b, _ = states
    assert a.merge(b) == b.merge(a)


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
@given(three_states())
def test_merge_keeps_the_write_with_the_greater_stamp(states):
    a, b, _ = states
    merged = a.merge(b)
    assert merged.stamp == max(a.stamp, b.stamp)
    assert merged in (a, b)


@settings(max_examples=150)
@given(st.data())
def test_any_delivery_order_with_duplicates_yields_the_greatest_stamped_write(data):
    history = data.draw(writes())
    first = apply_all(initial(), history)
    second = apply_all(initial(), with_duplicates(data.draw, history))
    assert first == second == winner(history)


@settings(max_examples=150)
@given(st.data())
def test_partitioned_delivery_then_merge_equals_delivering_everything_to_one_replica(data):
    history = data.draw(writes())
    replicas = data.draw(st.integers(2, 3))
    states = [apply_all(initial(), share) for share in partition(data.draw, history, replicas)]
    assert reduce(LWWRegister.merge, states) == apply_all(initial(), history) == winner(history)


def test_a_tie_on_wall_time_and_counter_is_broken_by_node_tag_on_every_replica():
    low, high = Stamp(10, 0, NODES[0]), Stamp(10, 0, NODES[1])
    one = initial().set("from node 1", low).set("from node 2", high)
    two = initial().set("from node 2", high).set("from node 1", low)
    assert one == two == LWWRegister("from node 2", high)


def test_a_write_at_an_older_stamp_does_not_overwrite():
    register = LWWRegister("new", Stamp(20, 0, NODES[0]))
    assert register.set("old", Stamp(19, 5, NODES[2])) is register
