"""The op model: the only ways data changes, as plain immutable values with a wire form.

An entity is addressed by (kind, id). Every op names one entity and may depend on others: an op
is applied only once every entity it depends on has been created, so whether it applies is a
function of the set of ops received, never of their arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

from .errors import EncodingError, OversizedError, UnknownOpError
from .hlc import STAMP_SIZE, Stamp

__all__ = [
    "Value", "Fields", "FieldsLike", "EntityRef", "Create", "Update", "Delete", "Add", "Remove", "Increment",
    "Op", "op_to_wire", "op_from_wire", "dependencies", "set_owner",
    "MAX_NAME_LEN", "MAX_TEXT_LEN", "MAX_FIELDS", "MAX_DEPTH",
]

Value: TypeAlias = Any
"""None, bool, int, float, str, bytes, or lists and str-keyed maps of those (checked by check_value)."""
Fields: TypeAlias = tuple[tuple[str, Value], ...]
FieldsLike: TypeAlias = Mapping[str, Value] | Sequence[tuple[str, Value]]
"""Create and Update accept a map or (name, value) pairs as fields; they store checked, sorted Fields."""
EntityRef: TypeAlias = tuple[str, str]

MAX_NAME_LEN = 64          # kinds, ids, field names
MAX_TEXT_LEN = 65_536      # characters in one string or bytes in one blob value
MAX_FIELDS = 64            # fields in one Create/Update, items in one list or map, deps, tags
MAX_DEPTH = 8              # nesting of lists and maps in a value
_MAX_INT = (1 << 63) - 1


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise EncodingError(f"{what} must be a non-empty string, got {type(name).__name__}")
    if len(name) > MAX_NAME_LEN:
        raise OversizedError(f"{what} is {len(name)} characters; the limit is {MAX_NAME_LEN}")
    return name


def check_value(value: Value, depth: int = 0) -> Value:
    """Return the value if the op model can carry it, else raise a typed error saying why."""
    # Exact-type checks first: this runs for every field of every op applied, so the common
    # cases must not pay for isinstance() against abstract classes.
    kind = type(value)
    if kind is str or kind is bytes:
        if len(value) > MAX_TEXT_LEN:
            raise OversizedError(f"value is {len(value)} long; the limit is {MAX_TEXT_LEN}")
        return value
    if kind is int:
        if not -_MAX_INT - 1 <= value <= _MAX_INT:
            raise OversizedError("integer value does not fit in 64 bits")
        return value
    if value is None or kind is bool or kind is float:
        return value
    if depth > MAX_DEPTH or (depth == MAX_DEPTH and isinstance(value, (list, tuple, Mapping)) and value):
        raise OversizedError(f"value nests deeper than {MAX_DEPTH} levels")
    if kind is list or kind is tuple:
        if len(value) > MAX_FIELDS * 16:
            raise OversizedError(f"list has {len(value)} items; the limit is {MAX_FIELDS * 16}")
        return [check_value(v, depth + 1) for v in value]
    if kind is dict or isinstance(value, Mapping):
        if len(value) > MAX_FIELDS * 16:
            raise OversizedError(f"map has {len(value)} entries; the limit is {MAX_FIELDS * 16}")
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise EncodingError(f"map keys must be strings, got {type(k).__name__}")
            out[k] = check_value(v, depth + 1)
        return out
    # subclasses (an IntEnum, a str enum): stored as the plain value
    if isinstance(value, str):
        return check_value(str(value), depth)
    if isinstance(value, bytes):
        return check_value(bytes(value), depth)
    if isinstance(value, int):
        return check_value(int(value), depth)
    raise EncodingError(f"values of type {type(value).__name__} cannot be stored")


_PLAIN_TYPES = frozenset({str, int, type(None), bool})


def _plain_fields(fields: dict[Any, Any]) -> bool:
    """True when every name is a short string and every value a short string, int, bool or None.

    The common case when applying ops in bulk, decided with C-level builtins instead of a Python
    loop per field; anything else takes the full check.
    """
    if not fields:
        return True
    names = fields.keys()
    if set(map(type, names)) != {str} or not 0 < min(map(len, names)) <= max(map(len, names)) <= MAX_NAME_LEN:
        return False
    values = fields.values()
    types = set(map(type, values))
    if not types <= _PLAIN_TYPES:
        if not types <= _PLAIN_TYPES | {dict, list} or any([v for v in values if type(v) is dict or type(v) is list]):
            return False  # non-empty containers are checked in full
        types -= {dict, list}
    if str in types and max(map(len, [v for v in values if type(v) is str])) > MAX_TEXT_LEN:
        return False
    if int in types:
        ints = [v for v in values if type(v) is int]
        if min(ints) < -_MAX_INT - 1 or max(ints) > _MAX_INT:
            return False
    return True


def _check_fields(fields: object) -> Fields:
    if type(fields) is dict:  # the wire form: keys are unique already
        if len(fields) > MAX_FIELDS:
            raise OversizedError(f"{len(fields)} fields in one op; the limit is {MAX_FIELDS}")
        if _plain_fields(fields):
            # canonical msgpack already sorted the keys: then no pairs need comparing
            return tuple(fields.items()) if list(fields) == sorted(fields) else tuple(sorted(fields.items()))
        return tuple(sorted((_check_name("field name", k), check_value(v)) for k, v in fields.items()))
    if isinstance(fields, Mapping):
        items = list(fields.items())
    elif isinstance(fields, (list, tuple)):
        items = list(fields)
    else:
        raise EncodingError(f"fields must be a map, got {type(fields).__name__}")
    if len(items) > MAX_FIELDS:
        raise OversizedError(f"{len(items)} fields in one op; the limit is {MAX_FIELDS}")
    out: dict[str, Value] = {}
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise EncodingError("each field must be a (name, value) pair")
        name = _check_name("field name", item[0])
        if name in out:
            raise EncodingError(f"field {name!r} is given twice")
        out[name] = check_value(item[1])
    return tuple(sorted(out.items()))


# Create and Update write their own __init__ (init=False): they accept looser shapes (FieldsLike, any
# sequence of deps) than the canonical tuples they store, and the signature should say so.
@dataclass(frozen=True, slots=True, init=False)
class Create:
    """Bring an entity into existence with initial field values (each an LWW register at the op's stamp)."""

    kind: str
    id: str
    fields: Fields = ()
    deps: tuple[EntityRef, ...] = ()

    def __init__(self, kind: str, id: str, fields: FieldsLike = (), deps: Sequence[EntityRef] = ()) -> None:
        object.__setattr__(self, "kind", _check_name("kind", kind))
        object.__setattr__(self, "id", _check_name("id", id))
        object.__setattr__(self, "fields", _check_fields(fields))
        if len(deps) > MAX_FIELDS:
            raise OversizedError(f"{len(deps)} dependencies; the limit is {MAX_FIELDS}")
        checked = []
        for dep in deps:
            if not isinstance(dep, (list, tuple)) or len(dep) != 2:
                raise EncodingError("a dependency must be a (kind, id) pair")
            checked.append((_check_name("dependency kind", dep[0]), _check_name("dependency id", dep[1])))
        object.__setattr__(self, "deps", tuple(checked))


@dataclass(frozen=True, slots=True, init=False)
class Update:
    """Set some fields of an existing entity; each field is a last-writer-wins register."""

    kind: str
    id: str
    fields: Fields

    def __init__(self, kind: str, id: str, fields: FieldsLike) -> None:
        object.__setattr__(self, "kind", _check_name("kind", kind))
        object.__setattr__(self, "id", _check_name("id", id))
        checked = _check_fields(fields)
        if not checked:
            raise EncodingError("an update must set at least one field")
        object.__setattr__(self, "fields", checked)


@dataclass(frozen=True, slots=True)
class Delete:
    """Tombstone an entity forever: no later or concurrent op brings it back."""

    kind: str
    id: str

    def __post_init__(self) -> None:
        _check_name("kind", self.kind)
        _check_name("id", self.id)


@dataclass(frozen=True, slots=True)
class Add:
    """Add an element to the set `kind` ("<owner kind>.<attribute>") of entity `id`; the tag is the op's stamp."""

    kind: str
    id: str
    element: str

    def __post_init__(self) -> None:
        set_owner(self.kind)
        _check_name("id", self.id)
        _check_element(self.element)


@dataclass(frozen=True, slots=True)
class Remove:
    """Remove an element by cancelling the add-tags the remover had observed (observed-remove)."""

    kind: str
    id: str
    element: str
    tags: tuple[Stamp, ...]

    def __post_init__(self) -> None:
        set_owner(self.kind)
        _check_name("id", self.id)
        _check_element(self.element)
        if not self.tags:
            raise EncodingError("a remove must cancel at least one observed add")
        if len(self.tags) > MAX_FIELDS:
            raise OversizedError(f"{len(self.tags)} tags in one remove; the limit is {MAX_FIELDS}")
        if not all(isinstance(t, Stamp) for t in self.tags):
            raise EncodingError("remove tags must be stamps")
        object.__setattr__(self, "tags", tuple(sorted(set(self.tags))))


@dataclass(frozen=True, slots=True)
class Increment:
    """Add `amount` to the counter `kind` ("<owner kind>.<attribute>") of entity `id`."""

    kind: str
    id: str
    amount: int

    def __post_init__(self) -> None:
        set_owner(self.kind)
        _check_name("id", self.id)
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise EncodingError("a counter amount must be an integer")
        if not -(1 << 31) <= self.amount < (1 << 31):
            raise OversizedError("a counter amount must fit in 32 bits")


Op = Union[Create, Update, Delete, Add, Remove, Increment]


def _check_element(element: object) -> None:
    if not isinstance(element, str) or not element:
        raise EncodingError("a set element must be a non-empty string")
    if len(element) > 4 * MAX_NAME_LEN:
        raise OversizedError(f"set element is {len(element)} characters; the limit is {4 * MAX_NAME_LEN}")


def set_owner(kind: str) -> str:
    """The entity kind that owns a set or counter kind such as "post.reactions" (here "post")."""
    _check_name("kind", kind)
    owner, dot, attribute = kind.partition(".")
    if not dot or not owner or not attribute:
        raise EncodingError(f"set and counter kinds look like 'owner.attribute', got {kind!r}")
    return owner


def dependencies(op: Op) -> tuple[EntityRef, ...]:
    """The entities that must exist before `op` applies."""
    if isinstance(op, Create):
        return op.deps
    if isinstance(op, (Update, Delete)):
        return ((op.kind, op.id),)
    return ((set_owner(op.kind), op.id),)


_CREATE, _UPDATE, _DELETE, _ADD, _REMOVE, _INCREMENT = 1, 2, 3, 4, 5, 6


def op_to_wire(op: Op) -> list[Any]:
    """A plain list (ints, strings, bytes, maps) that sync/ encodes canonically."""
    if isinstance(op, Create):
        wire: list[Any] = [_CREATE, op.kind, op.id, dict(op.fields)]
        if op.deps:
            wire.append([list(d) for d in op.deps])
        return wire
    if isinstance(op, Update):
        return [_UPDATE, op.kind, op.id, dict(op.fields)]
    if isinstance(op, Delete):
        return [_DELETE, op.kind, op.id]
    if isinstance(op, Add):
        return [_ADD, op.kind, op.id, op.element]
    if isinstance(op, Remove):
        return [_REMOVE, op.kind, op.id, op.element, [t.pack() for t in op.tags]]
    if isinstance(op, Increment):
        return [_INCREMENT, op.kind, op.id, op.amount]
    raise EncodingError(f"not an op: {type(op).__name__}")


def op_from_wire(wire: object) -> Op:
    """Rebuild an op from its wire form; any deviation raises a typed EncodingError."""
    if not isinstance(wire, (list, tuple)) or not wire:
        raise EncodingError("an op must be a non-empty list")
    tag, args = wire[0], list(wire[1:])
    if isinstance(tag, bool) or not isinstance(tag, int):
        raise EncodingError("an op's type tag must be an integer")
    try:
        if tag == _CREATE and len(args) in (3, 4):
            deps = args[3] if len(args) == 4 else []
            if not isinstance(deps, (list, tuple)):
                raise EncodingError("create dependencies must be a list")
            # only a list is a pair on the wire: tuple() of a string or map would invent one
            return Create(args[0], args[1], _wire_fields(args[2]),  # checked once, in __init__
                          tuple(tuple(d) if isinstance(d, (list, tuple)) else d for d in deps))
        if tag == _UPDATE and len(args) == 3:
            return Update(args[0], args[1], _wire_fields(args[2]))
        if tag == _DELETE and len(args) == 2:
            return Delete(args[0], args[1])
        if tag == _ADD and len(args) == 3:
            return Add(args[0], args[1], args[2])
        if tag == _REMOVE and len(args) == 4:
            if not isinstance(args[3], (list, tuple)):
                raise EncodingError("remove tags must be a list")
            tags = tuple(Stamp.unpack(_bytes(t)) for t in args[3])
            return Remove(args[0], args[1], args[2], tags)
        if tag == _INCREMENT and len(args) == 3:
            return Increment(args[0], args[1], args[2])
    except TypeError as exc:  # e.g. an unhashable where a name belongs
        raise EncodingError(f"malformed op: {exc}") from None
    if tag not in (_CREATE, _UPDATE, _DELETE, _ADD, _REMOVE, _INCREMENT):
        raise UnknownOpError(f"unknown op type {tag}; this node may be older than the one that wrote it")
    raise EncodingError(f"op type {tag} has {len(args)} arguments, which is not a valid shape")


def _wire_fields(fields: object) -> Mapping[str, Value]:
    if not isinstance(fields, dict):
        raise EncodingError("op fields must be a map")
    return fields


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != STAMP_SIZE:
        raise EncodingError("a tag must be a packed stamp")
    return value
