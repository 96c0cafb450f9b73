"""Observed-remove set, add-wins: merge laws, delivery-order independence and a naive oracle."""

from __future__ import annotations

import itertools
from functools import reduce
from typing import NamedTuple

import pytest
from crdt_strategies import NODES, partition, subsets, unique_stamps, with_duplicates
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crdt import ORSet, Stamp

ELEMENTS = ("a", "b", "c")


class AddOp(NamedTuple):
    element: str
    tag: Stamp


class RemoveOp(NamedTuple):
    element: str
    tags: frozenset[Stamp]


SetOp = AddOp | RemoveOp


@st.composite
def histories(draw, min_size: int = 1, max_size: int = 25) -> list[SetOp]:
    """Adds tagged with distinct stamps, and removes of tags added earlier in the history.

    A remove mostly names tags of its own element (what its author observed); sometimes it names
    tags that were added under other elements, which must cancel them just the same.
    """
    ops: list[SetOp] = []
    added: list[AddOp] = []
    for tag in draw(unique_stamps(min_size, max_size)):
        element = draw(st.sampled_from(ELEMENTS))
        if added and draw(st.booleans()):
            own = [a.tag for a in added if a.element == element]
            pool = own if own and draw(st.integers(0, 4)) else [a.tag for a in added]
            ops.append(RemoveOp(element, frozenset(draw(st.sets(st.sampled_from(pool), min_size=1)))))
        else:
            add = AddOp(element, tag)
            ops.append(add)
            added.append(add)
    return ops


def apply(state: ORSet, op: SetOp) -> ORSet:
    if isinstance(op, AddOp):
        state.add(op.element, op.tag)
    else:
        state.remove(op.element, op.tags)
    return state


def build(ops: list[SetOp]) -> ORSet:
    return reduce(apply, ops, ORSet())


def oracle(ops: list[SetOp]) -> dict[str, frozenset[Stamp]]:
    """Naive semantics: an element's live tags are its add tags not named by any remove."""
    removed = set().union(*(op.tags for op in ops if isinstance(op, RemoveOp)))
    live: dict[str, set[Stamp]] = {}
    for op in ops:
        if isinstance(op, AddOp) and op.tag not in removed:
            live.setdefault(op.element, set()).add(op.tag)
    return {element: frozenset(tags) for element, tags in live.items()}


def snapshot(state: ORSet) -> tuple[dict[str, frozenset[Stamp]], frozenset[Stamp]]:
    return {e: frozenset(t) for e, t in state.adds.items()}, frozenset(state.removed)


@st.composite
def three_states(draw):
    return [build(part) for part in subsets(draw, draw(histories(min_size=3)), 3)]


S = [Stamp(i, 0, NODES[0]) for i in range(1, 6)]

# a remove naming a tag that was added under another element: before the fix, the add survived
# when it arrived first and vanished when it arrived second
CROSS_ELEMENT = [AddOp("b", S[0]), RemoveOp("a", frozenset({S[0]})), AddOp("a", S[1])]


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
@example([build(CROSS_ELEMENT), ORSet(), ORSet()])
def test_merge_is_idempotent(states):
    a, b, _ = states
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)


@settings(max_examples=100)
@given(three_states())
def test_merge_leaves_its_inputs_unchanged_and_shares_no_mutable_state(states):
    a, b, _ = states
    before_a, before_b = snapshot(a), snapshot(b)
    merged = a.merge(b)
    merged.add("z", Stamp(99, 0, NODES[0]))
    merged.remove("a", set().union(*merged.adds.values()))
    assert snapshot(a) == before_a and snapshot(b) == before_b


@settings(max_examples=200)
@given(st.data())
def test_any_delivery_order_with_duplicates_yields_the_same_state(data):
    history = data.draw(histories())
    assert build(with_duplicates(data.draw, history)) == build(history)


@pytest.mark.parametrize("order", list(itertools.permutations(CROSS_ELEMENT)))
def test_a_remove_cancels_the_tags_it_names_even_if_they_were_added_under_another_element(order):
    state = build(list(order))
    assert state.elements() == {"a"}
    assert state.tags("a") == {S[1]}
    assert state.tags("b") == frozenset()
    assert state == build(CROSS_ELEMENT)


@settings(max_examples=150)
@given(st.data())
def test_partitioned_delivery_then_merge_equals_delivering_everything_to_one_replica(data):
    history = data.draw(histories())
    replicas = data.draw(st.integers(2, 3))
    states = [build(share) for share in partition(data.draw, history, replicas)]
    assert reduce(ORSet.merge, states) == build(history)


@settings(max_examples=200)
@given(st.data())
def test_the_set_matches_a_naive_oracle_whatever_the_delivery_order(data):
    history = data.draw(histories())
    state = build(with_duplicates(data.draw, history))
    expected = oracle(history)
    assert state.elements() == frozenset(expected)
    for element in ELEMENTS:
        assert (element in state) == (element in expected)
        assert state.tags(element) == expected.get(element, frozenset())


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_concurrent_add_survives_a_remove_that_did_not_observe_it(order):
    # node 1 adds x; node 2 observes that add and removes x; meanwhile node 1 adds x again
    ops = [AddOp("x", S[0]), RemoveOp("x", frozenset({S[0]})), AddOp("x", S[1])]
    state = build([ops[i] for i in order])
    assert "x" in state
    assert state.tags("x") == {S[1]}


@settings(max_examples=150)
@given(
    tags=st.sets(st.sampled_from(S), min_size=1),
    observed_mask=st.lists(st.booleans(), min_size=5, max_size=5),
    other=st.sets(st.integers(6, 9), max_size=3),
    remove_first=st.booleans(),
)
def test_a_remove_cancels_exactly_the_observed_tags(tags, observed_mask, other, remove_first):
    observed = {t for t in tags if observed_mask[t.wall_ms - 1]} or {min(tags)}
    others = {Stamp(w, 0, NODES[1]) for w in other}
    adds = [AddOp("x", t) for t in tags] + [AddOp("y", t) for t in others]
    remove = RemoveOp("x", frozenset(observed))
    state = build([remove, *adds] if remove_first else [*adds, remove])
    assert state.tags("x") == tags - observed
    assert ("x" in state) == bool(tags - observed)
    assert state.tags("y") == others


def test_a_remove_arriving_before_its_add_still_cancels_it():
    state = ORSet()
    state.remove("x", [S[0]])
    state.add("x", S[0])
    assert "x" not in state
    assert state.elements() == frozenset()
    assert build([AddOp("x", S[0])]).merge(build([RemoveOp("x", frozenset({S[0]}))])).elements() == frozenset()


def test_tags_are_what_a_remove_issued_now_must_cancel():
    state = build([AddOp("x", S[0]), AddOp("x", S[1]), AddOp("y", S[2])])
    state.remove("x", state.tags("x"))
    assert state.elements() == {"y"}
