"""The op model's wire form: every op round-trips, and any malformed wire raises a typed EncodingError."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from crdt_strategies import any_stamps
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crdt import (
    STAMP_SIZE,
    Add,
    Create,
    Delete,
    EncodingError,
    Increment,
    OversizedError,
    Remove,
    Stamp,
    UnknownOpError,
    Update,
    op_from_wire,
    op_to_wire,
)
from crdt.ops import MAX_DEPTH, MAX_FIELDS, MAX_NAME_LEN, MAX_TEXT_LEN

OP_TYPES = (Create, Update, Delete, Add, Remove, Increment)

names = st.one_of(
    st.text(min_size=1, max_size=12),
    st.text(min_size=MAX_NAME_LEN, max_size=MAX_NAME_LEN),
)
set_kinds = st.builds(
    lambda owner, attribute: f"{owner}.{attribute}",
    st.text(st.characters(blacklist_characters="."), min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
)
elements = st.text(min_size=1, max_size=4 * MAX_NAME_LEN)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.binary(max_size=20),
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
).filter(lambda v: depth(v) <= MAX_DEPTH)
fields = st.dictionaries(names, values, max_size=6)
deps = st.lists(st.tuples(names, names), max_size=4)

ops = st.one_of(
    st.builds(Create, names, names, fields, deps),
    st.builds(Update, names, names, st.dictionaries(names, values, min_size=1, max_size=6)),
    st.builds(Delete, names, names),
    st.builds(Add, set_kinds, names, elements),
    st.builds(Remove, set_kinds, names, elements, st.lists(any_stamps, min_size=1, max_size=5).map(tuple)),
    st.builds(Increment, set_kinds, names, st.integers(-(1 << 31), (1 << 31) - 1)),
)


def plain(wire: Any) -> bool:
    """Only what a canonical encoder must handle: lists, str-keyed maps and scalars."""
    if isinstance(wire, list):
        return all(map(plain, wire))
    if isinstance(wire, dict):
        return all(isinstance(k, str) and plain(v) for k, v in wire.items())
    return wire is None or isinstance(wire, (bool, int, float, str, bytes))


@settings(max_examples=300)
@given(ops)
@example(Create("card", "1", {"f": 1.5, "b": b"\x00\xff", "m": {"a": {"b": [1, None, -0.0]}}}, [("list", "9")]))
@example(Update("card", "1", {"inf": math.inf, "blob": bytes(MAX_TEXT_LEN), "text": "x" * MAX_TEXT_LEN}))
@example(Remove("post.reactions", "p", "+1", (Stamp(2, 0, b"b" * 8), Stamp(1, 0, b"a" * 8), Stamp(1, 0, b"a" * 8))))
def test_every_op_round_trips_through_its_wire_form(op):
    wire = op_to_wire(op)
    assert plain(wire)
    back = op_from_wire(wire)
    assert type(back) is type(op)
    assert back == op
    assert op_to_wire(back) == wire


# --- garbage in, typed errors out --------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.binary(max_size=20),
    st.binary(min_size=STAMP_SIZE, max_size=STAMP_SIZE),
)
garbage = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.one_of(scalars.filter(lambda k: not isinstance(k, float)), st.text(max_size=4)),
                        children, max_size=4),
    ),
    max_leaves=25,
)
# a plausible type tag followed by garbage arguments reaches every op's argument checks
shaped_garbage = st.builds(
    lambda tag, args: [tag, *args],
    st.one_of(st.integers(0, 7), garbage),
    st.lists(st.one_of(garbage, names, set_kinds), max_size=6),
)


def slots(wire: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) position inside a wire value."""
    found: list[tuple[Any, Any]] = []
    if isinstance(wire, list):
        for i, item in enumerate(wire):
            found.append((wire, i))
            found.extend(slots(item))
    elif isinstance(wire, dict):
        for key, item in wire.items():
            found.append((wire, key))
            found.extend(slots(item))
    return found


@st.composite
def mutated_wires(draw) -> Any:
    """A valid op's wire form with one position replaced, one map key replaced, or one item dropped or added."""
    wire = copy.deepcopy(op_to_wire(draw(ops)))
    positions = slots(wire)
    container, key = draw(st.sampled_from(positions))
    how = draw(st.sampled_from(["replace", "rekey", "drop", "append"]))
    if how == "rekey" and isinstance(container, dict):
        container[draw(st.one_of(st.integers(), st.binary(max_size=4), st.none(), st.text(max_size=4)))] = (
            container.pop(key)
        )
    elif how == "drop":
        del container[key]
    elif how == "append" and isinstance(container, list):
        container.append(draw(garbage))
    else:
        container[key] = draw(garbage)
    return wire


@settings(max_examples=500)
@given(st.one_of(garbage, shaped_garbage, mutated_wires()))
@example([1, "k", "i", {}, ["ab"]])  # a string is not a (kind, id) pair, though tuple("ab") is one
@example([1, "k", "i", {}, [{"a": 1, "b": 2}]])
@example([1, "k", "i", {1: "x"}])
@example([2, "k", "i", {"f": {b"k": 1}}])
@example([5, "a.b", "i", "e", [bytes(STAMP_SIZE), b"short"]])
@example([6, "a.b", "i", True])
@example([4, "nodot", "i", "e"])
def test_garbage_raises_only_encoding_errors_and_anything_accepted_is_a_valid_op(wire):
    try:
        op = op_from_wire(wire)
    except EncodingError:  # UnknownOpError and OversizedError are EncodingErrors too
        return
    assert isinstance(op, OP_TYPES)
    assert op_from_wire(op_to_wire(op)) == op


@pytest.mark.parametrize("deps", [["ab"], [{"a": 1, "b": 2}], [b"ab"], "ab", [["a", "b", "c"]]])
def test_a_dependency_must_be_a_kind_id_pair(deps):
    with pytest.raises(EncodingError, match="dependenc"):
        op_from_wire([1, "k", "i", {}, deps])


@settings(max_examples=100)
@given(st.one_of(st.integers(max_value=0), st.integers(min_value=7)), st.lists(garbage, max_size=4))
@example(7, ["k", "i"])
@example(1 << 70, [])
def test_an_unknown_type_tag_raises_unknown_op_error(tag, args):
    with pytest.raises(UnknownOpError, match=f"unknown op type {tag}"):
        op_from_wire([tag, *args])


@pytest.mark.parametrize("wire", [[1, "k"], [2, "k", "i"], [3, "k"], [4, "a.b", "i"], [5, "a.b", "i", "e"],
                                  [6, "a.b", "i", 1, 2], [3, "k", "i", "extra"]])
def test_a_known_type_tag_with_the_wrong_number_of_arguments_is_malformed_not_unknown(wire):
    with pytest.raises(EncodingError, match="not a valid shape") as caught:
        op_from_wire(wire)
    assert not isinstance(caught.value, UnknownOpError)


@pytest.mark.parametrize("wire", [[], None, "op", {"tag": 1}, [True, "k", "i"], ["1", "k", "i"], [1.0, "k", "i"]])
def test_a_wire_without_an_integer_type_tag_is_rejected(wire):
    with pytest.raises(EncodingError) as caught:
        op_from_wire(wire)
    assert not isinstance(caught.value, UnknownOpError)


LONG = "n" * (MAX_NAME_LEN + 1)
FULL = "n" * MAX_NAME_LEN


@pytest.mark.parametrize(
    "wire",
    [
        [2, "k", "i", {"f": "x" * (MAX_TEXT_LEN + 1)}],
        [2, "k", "i", {"f": b"x" * (MAX_TEXT_LEN + 1)}],
        [2, "k", "i", {"f": [["x" * (MAX_TEXT_LEN + 1)]]}],
        [2, "k", "i", {"f": {"g": b"x" * (MAX_TEXT_LEN + 1)}}],
        [2, "k", "i", {f"f{n}": n for n in range(MAX_FIELDS + 1)}],
        [1, "k", "i", {f"f{n}": n for n in range(MAX_FIELDS + 1)}],
        [1, "k", "i", {}, [["d", str(n)] for n in range(MAX_FIELDS + 1)]],
        [1, LONG, "i", {}],
        [1, "k", LONG, {}],
        [2, "k", "i", {LONG: 1}],
        [1, "k", "i", {}, [[LONG, "i"]]],
        [3, "k", LONG],
        [4, "a." + "b" * (MAX_NAME_LEN - 1), "i", "e"],
        [4, "a.b", "i", "e" * (4 * MAX_NAME_LEN + 1)],
        [5, "a.b", "i", "e", [Stamp(n, 0, b"n" * 8).pack() for n in range(MAX_FIELDS + 1)]],
        [2, "k", "i", {"f": [0] * (MAX_FIELDS * 16 + 1)}],
        [2, "k", "i", {"f": 1 << 63}],
        [2, "k", "i", {"f": [[[[[[[[[1]]]]]]]]]}],  # nine levels of nesting
        [6, "a.b", "i", 1 << 31],
    ],
)
def test_oversized_strings_collections_names_and_numbers_raise_oversized_error(wire):
    with pytest.raises(OversizedError):
        op_from_wire(wire)


@pytest.mark.parametrize(
    "wire",
    [
        [2, "k", "i", {"f": "x" * MAX_TEXT_LEN}],
        [2, "k", "i", {"f": b"x" * MAX_TEXT_LEN}],
        [2, "k", "i", {f"f{n}": n for n in range(MAX_FIELDS)}],
        [1, FULL, FULL, {FULL: 1}, [[FULL, FULL]]],
        [4, "a." + "b" * (MAX_NAME_LEN - 2), FULL, "e" * (4 * MAX_NAME_LEN)],
        [5, "a.b", "i", "e", [Stamp(n, 0, b"n" * 8).pack() for n in range(MAX_FIELDS)]],
        [2, "k", "i", {"f": (1 << 63) - 1, "g": -(1 << 63)}],
        [2, "k", "i", {"f": [[[[[[[[1]]]]]]]]}],  # eight levels of nesting
        [6, "a.b", "i", (1 << 31) - 1],
        [6, "a.b", "i", -(1 << 31)],
    ],
)
def test_values_at_the_limits_are_accepted(wire):
    op = op_from_wire(wire)
    assert op_from_wire(op_to_wire(op)) == op


def test_floats_bytes_and_nested_maps_are_allowed_as_values():
    value = {"ratio": 0.25, "blob": b"\x00\x01", "nested": {"list": [1.5, b"x", {"deep": None}], "flag": True}}
    op = op_from_wire([1, "card", "c1", {"meta": value, "score": -1.0e300}])
    assert dict(op.fields) == {"meta": value, "score": -1.0e300}
    assert op_from_wire(op_to_wire(op)) == op


@pytest.mark.parametrize(
    "wire",
    [
        [1, "k", "i", {1: "x"}],
        [2, "k", "i", {b"f": "x"}],
        [2, "k", "i", {None: "x"}],
        [2, "k", "i", {"f": {1: "x"}}],
        [2, "k", "i", {"f": [{"ok": 1}, {(1, 2): "x"}]}],
        [2, "k", "i", {"f": {"g": {b"k": 1}}}],
    ],
)
def test_non_string_map_keys_are_rejected(wire):
    with pytest.raises(EncodingError, match="must be (strings|a non-empty string)"):
        op_from_wire(wire)


@pytest.mark.parametrize(
    "wire",
    [
        [2, "k", "i", {}],  # an update that sets nothing
        [5, "a.b", "i", "e", []],  # a remove that cancels nothing
        [5, "a.b", "i", "e", [b"x" * (STAMP_SIZE - 1)]],
        [5, "a.b", "i", "e", ["not bytes" + "x" * 7]],
        [4, "ab", "i", "e"],  # set kinds are "owner.attribute"
        [4, ".b", "i", "e"],
        [4, "a.b", "i", ""],
        [6, "a.b", "i", True],
        [6, "a.b", "i", 1.0],
        [1, "", "i", {}],
        [2, "k", "i", {"f": {1, 2}}],
        [2, "k", "i", [["f", 1]]],  # fields travel as a map
    ],
)
def test_malformed_ops_are_rejected_with_encoding_error(wire):
    with pytest.raises(EncodingError):
        op_from_wire(wire)
