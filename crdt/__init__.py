"""Pure CRDT core: clocks, ops and merge rules. Standard library only; no I/O."""

from .counter import Counter
from .errors import ClockSkewError, CrdtError, EncodingError, OversizedError, UnknownOpError
from .fractional import key_between, keys_between
from .hlc import MAX_DRIFT_MS, NODE_TAG_SIZE, STAMP_SIZE, HybridClock, Stamp
from .lww import LWWRegister
from .ops import (
    Add, Create, Delete, EntityRef, Fields, FieldsLike, Increment, Op, Remove, Update, Value,
    check_value, dependencies, op_from_wire, op_to_wire, set_owner,
)
from .orset import ORSet
from .replica import Entity, Replica

__all__ = [
    "Add", "ClockSkewError", "Counter", "Create", "CrdtError", "Delete", "EncodingError", "Entity",
    "EntityRef", "Fields", "FieldsLike", "HybridClock", "Increment", "LWWRegister", "MAX_DRIFT_MS",
    "NODE_TAG_SIZE",
    "ORSet", "Op", "OversizedError", "Remove", "Replica", "STAMP_SIZE", "Stamp", "UnknownOpError",
    "Update", "Value", "check_value", "dependencies", "key_between", "keys_between", "op_from_wire",
    "op_to_wire", "set_owner",
]
