"""The SQLite store: signed op log, materialized tables, one writer with group commit."""

from .errors import (
    MissingDependencyError, RetractError, SchemaViolation, StoreClosedError, StoreError, StoreVersionError,
)
from .materialize import OpState
from .retract import RetractResult
from .schema import Column, CounterKind, EntityTable, Schema, SetTable
from .store import ChangeListener, OpsListener, Store, wall_clock_ms
from .writer import RemoteResult

__all__ = [
    "ChangeListener", "Column", "CounterKind", "EntityTable", "MissingDependencyError", "OpState", "OpsListener",
    "RemoteResult", "RetractError", "RetractResult", "Schema", "SchemaViolation", "SetTable", "Store",
    "StoreClosedError", "StoreError", "StoreVersionError", "wall_clock_ms",
]
