"""Op bodies to what the materializer needs, in one pass for the common case.

Applying a segment decodes each body (sync.decode_op builds and checks a crdt op) and then checks
it against the schema (materialize.validate converts field values to columns). For the op bulk
catch-up is made of, a Create whose fields are short strings, 64-bit ints, bools, None or empty
containers, that was two passes over every field plus the checks of each; here it is one. Any
other body goes the full way, so the result, or the error, is always that of
`validate(schema, decode_op(body))`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crdt import Create, Op
from crdt.ops import MAX_FIELDS, MAX_NAME_LEN, MAX_TEXT_LEN
from sync import decode_op, encoding
from sync.feed import MAX_BODY_BYTES

from .materialize import Columns, validate
from .schema import Schema

__all__ = ["BodyDecoder"]

_CREATE_TAG = 1  # crdt's wire tag of a Create
_MIN_INT, _MAX_INT = -(1 << 63), (1 << 63) - 1


def _name(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_NAME_LEN


@dataclass(frozen=True, slots=True)
class _Plan:
    """How fields of one shape (kind, names in order, type of each value) become columns."""

    texts: tuple[str, ...]       # str values in TEXT columns: their length is checked
    ints: tuple[str, ...]        # int values in INTEGER columns: their range is checked
    bools: tuple[str, ...]       # bool values in BOOL columns: stored as 0 or 1
    containers: tuple[str, ...]  # dict or list values in JSON columns: only empty ones pass
    fixed: Mapping[str, str]     # what those empty containers store ("{}" or "[]")
    sorted: bool                 # names already in order (canonical msgpack sorts them)


_UNPLANNED = object()
_MAX_PLANS = 4096


def _plan(schema: Schema, key: tuple[Any, ...]) -> _Plan | None:
    """The plan for fields of this shape, or None if one of them needs the full checks."""
    kind, names, kinds = key
    table = schema.entities.get(kind)
    if table is None:
        return None
    texts, ints, bools, containers, fixed = [], [], [], [], {}
    for name, kind_of in zip(names, kinds):
        type_ = table.column_types.get(name)
        if type_ is None or not _name(name):
            return None
        if kind_of is type(None):
            continue
        if kind_of is str and type_ == "TEXT":
            texts.append(name)
        elif kind_of is int and type_ == "INTEGER":
            ints.append(name)
        elif kind_of is bool and type_ == "BOOL":
            bools.append(name)
        elif (kind_of is dict or kind_of is list) and type_ == "JSON":
            containers.append(name)
            fixed[name] = "{}" if kind_of is dict else "[]"
        else:
            return None
    return _Plan(tuple(texts), tuple(ints), tuple(bools), tuple(containers), fixed, list(names) == sorted(names))


class BodyDecoder:
    """Decodes op bodies for one schema, keeping a plan per shape of fields it has seen."""

    def __init__(self, schema: Schema):
        self._schema = schema
        # ops of one kind nearly always have one of a few shapes, so a plan is made once per shape
        self._plans: dict[tuple[Any, ...], Any] = {}

    def decode(self, body: bytes) -> tuple[Op, Columns]:
        """The op in `body` and its column values; raises what decode_op or validate would."""
        wire = encoding.unpack(body, limit=MAX_BODY_BYTES)
        fast = self._simple_create(wire)
        if fast is not None:
            return fast
        op: Op = decode_op(body)  # decodes again, but only for ops outside the common case
        return op, validate(self._schema, op)

    def _simple_create(self, wire: Any) -> tuple[Create, Columns] | None:
        """A Create and its columns if the wire form is a Create that every check passes in the common
        way; None when anything is unusual (even if valid): the caller then takes the full path."""
        if type(wire) is not list or len(wire) not in (4, 5) or type(wire[0]) is not int or wire[0] != _CREATE_TAG:
            return None
        kind, id_, fields = wire[1], wire[2], wire[3]
        deps = wire[4] if len(wire) == 5 else []
        if not (_name(kind) and _name(id_)) or type(fields) is not dict or len(fields) > MAX_FIELDS:
            return None
        if type(deps) is not list or len(deps) > MAX_FIELDS:
            return None
        for dep in deps:
            if type(dep) is not list or len(dep) != 2 or not (_name(dep[0]) and _name(dep[1])) \
                    or dep[0] not in self._schema.entities:
                return None
        names = tuple(fields)
        key = (kind, names, tuple(map(type, fields.values())))
        plan = self._plans.get(key, _UNPLANNED)
        if plan is _UNPLANNED:
            if len(self._plans) >= _MAX_PLANS:  # hostile input could vary shapes without end
                self._plans.clear()
            plan = self._plans[key] = _plan(self._schema, key)
        if plan is None:
            return None
        value_of = fields.__getitem__
        # the checks crdt makes of every value: strings no longer than MAX_TEXT_LEN, ints of 64 bits,
        # containers (the plan admits only empty ones) with nothing inside
        if plan.texts and max(map(len, map(value_of, plan.texts))) > MAX_TEXT_LEN:
            return None
        if plan.ints:
            ints = list(map(value_of, plan.ints))
            if min(ints) < _MIN_INT or max(ints) > _MAX_INT:
                return None
        if plan.containers and any(map(value_of, plan.containers)):
            return None
        columns: Columns = {**fields, **plan.fixed}
        if plan.bools:
            columns.update(zip(plan.bools, map(int, map(value_of, plan.bools))))
        items = tuple(fields.items()) if plan.sorted else tuple(sorted(fields.items()))
        # Every check Create.__init__ makes was made above, so the op is built without repeating them.
        op = Create.__new__(Create)
        object.__setattr__(op, "kind", kind)
        object.__setattr__(op, "id", id_)
        object.__setattr__(op, "fields", items)
        object.__setattr__(op, "deps", tuple((d[0], d[1]) for d in deps))
        return op, columns
