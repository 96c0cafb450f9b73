"""The in-memory replica: the same visible state from any delivery of the same ops, checked
against a naive oracle; ops wait for the entities they depend on; deletes are permanent."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest
from crdt_strategies import NODES, unique_stamps, with_duplicates
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import (
    Add,
    Create,
    Delete,
    Increment,
    Op,
    Remove,
    Replica,
    Stamp,
    Update,
    dependencies,
)

Event = tuple[Stamp, Op]
Ref = tuple[str, str]

REFS: list[Ref] = [(kind, id_) for kind in ("doc", "card") for id_ in ("1", "2", "3")]
SET_OF = {"doc": "doc.tags", "card": "card.labels"}
COUNTER_OF = {"doc": "doc.views", "card": "card.votes"}
field_names = st.sampled_from(["title", "done", "position"])
field_values = st.one_of(st.integers(-3, 3), st.text("ab", max_size=2), st.none(), st.booleans())
field_maps = st.dictionaries(field_names, field_values, max_size=3)
elements = st.sampled_from(["x", "y", "z"])


@st.composite
def histories(draw, max_others: int = 25) -> list[Event]:
    """A mixed op set over a few entities, every op with its own stamp.

    Each entity in use has one or two Creates; a Create depends only on entities earlier in a
    random order, so once every Create has arrived nothing need wait. Removes name tags of earlier
    Adds to the same set (mostly the same element). Delivery order is left to the tests.
    """
    order = draw(st.permutations(REFS))
    refs = order[: draw(st.integers(1, len(order)))]
    creates = []
    for i, ref in enumerate(refs):
        for _ in range(draw(st.integers(1, 2))):
            deps = draw(st.lists(st.sampled_from(refs[:i]), unique=True, max_size=2)) if i else []
            creates.append(Create(*ref, draw(field_maps), deps))
    others = draw(st.integers(0, max_others))
    stamps = draw(unique_stamps(len(creates) + others, len(creates) + others))
    events: list[Event] = list(zip(stamps, creates))
    adds: dict[Ref, list[tuple[str, Stamp]]] = defaultdict(list)
    for stamp in stamps[len(creates):]:
        kind, id_ = draw(st.sampled_from(refs))
        what = draw(st.sampled_from(["update", "update", "delete", "add", "add", "remove", "increment"]))
        set_ref = (SET_OF[kind], id_)
        if what == "remove" and adds[set_ref]:
            element = draw(elements)
            own = [tag for e, tag in adds[set_ref] if e == element]
            pool = own if own and draw(st.integers(0, 4)) else [tag for _, tag in adds[set_ref]]
            op: Op = Remove(*set_ref, element, tuple(draw(st.sets(st.sampled_from(pool), min_size=1))))
        elif what in ("add", "remove"):
            element = draw(elements)
            op = Add(*set_ref, element)
            adds[set_ref].append((element, stamp))
        elif what == "update":
            op = Update(kind, id_, draw(st.dictionaries(field_names, field_values, min_size=1, max_size=3)))
        elif what == "delete":
            op = Delete(kind, id_)
        else:
            op = Increment(COUNTER_OF[kind], id_, draw(st.integers(-5, 5)))
        events.append((stamp, op))
    return events


def deliver(events: list[Event], replica: Replica | None = None) -> Replica:
    replica = Replica() if replica is None else replica
    for stamp, op in events:
        replica.apply(stamp, op)
    return replica


def applicable(events: list[Event]) -> tuple[set[Ref], list[Event]]:
    """Oracle: the entities that get created (a least fixpoint) and the ops whose dependencies all exist."""
    distinct = list(dict.fromkeys(events))
    created: set[Ref] = set()
    grew = True
    while grew:
        grew = False
        for _, op in distinct:
            if isinstance(op, Create) and (op.kind, op.id) not in created and set(op.deps) <= created:
                created.add((op.kind, op.id))
                grew = True
    return created, [(s, op) for s, op in distinct if set(dependencies(op)) <= created]


def expected_visible(events: list[Event]) -> dict[str, Any]:
    """Oracle for Replica.visible(): LWW fields of live entities, add-wins sets, summed counters."""
    created, applied = applicable(events)
    deleted = {(op.kind, op.id) for _, op in applied if isinstance(op, Delete)}
    latest: dict[Ref, dict[str, tuple[Stamp, Any]]] = defaultdict(dict)
    adds: dict[Ref, dict[str, set[Stamp]]] = defaultdict(lambda: defaultdict(set))
    removed: dict[Ref, set[Stamp]] = defaultdict(set)
    counters: dict[Ref, int] = defaultdict(int)
    for stamp, op in applied:
        ref = (op.kind, op.id)
        if isinstance(op, (Create, Update)):
            for name, value in op.fields:
                if name not in latest[ref] or latest[ref][name][0] < stamp:
                    latest[ref][name] = (stamp, value)
        elif isinstance(op, Add):
            adds[ref][op.element].add(stamp)
        elif isinstance(op, Remove):
            removed[ref] |= set(op.tags)
        elif isinstance(op, Increment):
            counters[ref] += op.amount
    sets = {ref: sorted(e for e, tags in by_element.items() if tags - removed[ref]) for ref, by_element in adds.items()}
    return {
        "entities": {
            f"{k}/{i}": {name: value for name, (_, value) in latest[(k, i)].items()}
            for (k, i) in created - deleted
        },
        "sets": {f"{k}/{i}": members for (k, i), members in sets.items() if members},
        "counters": {f"{k}/{i}": total for (k, i), total in counters.items()},
    }


def expected_waiting(events: list[Event]) -> int:
    return len(set(events)) - len(applicable(events)[1])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_delivery_order_with_duplicates_converges_to_the_oracle_with_nothing_left_waiting(data):
    history = data.draw(histories())
    replicas = [deliver(history), deliver(history[::-1])]
    replicas += [deliver(with_duplicates(data.draw, history)) for _ in range(2)]
    expected = expected_visible(history)
    assert all(r.visible() == expected for r in replicas)
    assert len({repr(r.visible()) for r in replicas}) == 1  # the same canonical order too
    assert all(r.waiting_count() == 0 for r in replicas)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_ops_whose_dependency_never_arrives_stay_waiting_and_invisible_until_it_does(data):
    history = data.draw(histories())
    missing = data.draw(st.sampled_from(sorted({(op.kind, op.id) for _, op in history if isinstance(op, Create)})))
    withheld = [(s, op) for s, op in history if isinstance(op, Create) and (op.kind, op.id) == missing]
    received = [e for e in history if e not in withheld]
    replica = deliver(with_duplicates(data.draw, received))

    waiting = expected_waiting(received)
    direct = {e for e in received if missing in dependencies(e[1])}
    assert replica.waiting_count() == waiting >= len(direct)
    visible = replica.visible()
    assert visible == expected_visible(received)
    kind, id_ = missing
    assert f"{kind}/{id_}" not in visible["entities"]
    assert f"{SET_OF[kind]}/{id_}" not in visible["sets"]
    assert f"{COUNTER_OF[kind]}/{id_}" not in visible["counters"]

    deliver(with_duplicates(data.draw, withheld), replica)  # the creates arrive at last
    assert replica.waiting_count() == 0
    assert replica.visible() == expected_visible(history)


@settings(max_examples=150, deadline=None)
@given(
    history=histories(max_others=10),
    writes=st.lists(st.tuples(st.sampled_from(["update", "create"]), field_maps), min_size=1, max_size=6),
    data=st.data(),
)
def test_a_delete_is_permanent_no_later_or_concurrent_update_or_re_create_brings_the_entity_back(
    history, writes, data
):
    target = next(op for _, op in history if isinstance(op, Create))
    ref = (target.kind, target.id)
    used = {s for s, _ in history}
    fresh = [Stamp(wall, 0, node) for wall in range(9, 40) for node in NODES]  # all later than the history
    resurrections = [
        (stamp, Update(*ref, fields or {"title": "back"}) if how == "update" else Create(*ref, fields))
        for stamp, (how, fields) in zip(fresh, writes)
    ]
    delete_stamp = data.draw(st.sampled_from([s for s in fresh[len(writes):]] + [Stamp(0, 1, NODES[0])]))
    assert delete_stamp not in used
    delete = (delete_stamp, Delete(*ref))
    events = history + resurrections + [delete]
    replica = Replica()
    delete_received = False
    for stamp, op in with_duplicates(data.draw, events):
        replica.apply(stamp, op)
        delete_received = delete_received or (stamp, op) == delete
        if delete_received and replica.exists(ref):  # the delete has been applied (not just parked)
            assert f"{ref[0]}/{ref[1]}" not in replica.visible()["entities"]
    assert replica.exists(ref) and replica.waiting_count() == 0
    assert f"{ref[0]}/{ref[1]}" not in replica.visible()["entities"]
    assert replica.visible() == expected_visible(events)


A, B = ("list", "a"), ("list", "b")
CREATES = {
    "A": (Stamp(1, 0, NODES[0]), Create(*A, {"title": "A"})),
    "B": (Stamp(1, 0, NODES[1]), Create(*B, {"title": "B"})),
    "C": (Stamp(2, 0, NODES[2]), Create("item", "c", {"title": "C"}, [A, B])),
}


@pytest.mark.parametrize("order", list(itertools.permutations("ABC")))
def test_a_create_with_deps_waits_until_every_dependency_exists(order):
    replica = Replica()
    for n, name in enumerate(order, start=1):
        replica.apply(*CREATES[name])
        arrived = set(order[:n])
        assert ("item/c" in replica.visible()["entities"]) == (arrived == {"A", "B", "C"})
        assert replica.waiting_count() == (1 if "C" in arrived and not {"A", "B"} <= arrived else 0)
    assert replica.visible()["entities"] == {"list/a": {"title": "A"}, "list/b": {"title": "B"}, "item/c": {"title": "C"}}


def test_ops_for_an_entity_that_has_not_arrived_wait_for_it_then_apply():
    post = ("post", "p")
    early = [
        (Stamp(5, 0, NODES[1]), Update(*post, {"message": "edited"})),
        (Stamp(6, 0, NODES[1]), Add("post.reactions", "p", "+1")),
        (Stamp(7, 0, NODES[2]), Increment("post.views", "p", 3)),
    ]
    replica = deliver(early + early)
    assert replica.waiting_count() == 3
    assert replica.visible() == {"entities": {}, "sets": {}, "counters": {}}
    replica.apply(Stamp(1, 0, NODES[0]), Create(*post, {"message": "hi", "pinned": False}))
    assert replica.waiting_count() == 0
    assert replica.visible() == {
        "entities": {"post/p": {"message": "edited", "pinned": False}},
        "sets": {"post.reactions/p": ["+1"]},
        "counters": {"post.views/p": 3},
    }


def test_creates_that_depend_on_each_other_wait_forever():
    a = (Stamp(1, 0, NODES[0]), Create("x", "a", {}, [("x", "b")]))
    b = (Stamp(1, 0, NODES[1]), Create("x", "b", {}, [("x", "a")]))
    replica = deliver([a, b, a])
    assert replica.waiting_count() == 2
    assert replica.visible()["entities"] == {}


@pytest.mark.parametrize("reverse", [False, True])
def test_a_long_dependency_chain_applies_in_either_delivery_order(reverse):
    # each item depends on the one before; delivered newest first, every create waits for its parent
    chain = [
        (Stamp(n + 1, 0, NODES[0]), Create("item", str(n), {"n": n}, [("item", str(n - 1))] if n else []))
        for n in range(5_000)
    ]
    replica = deliver(chain[::-1] if reverse else chain)
    assert replica.waiting_count() == 0
    assert len(replica.visible()["entities"]) == 5_000
