"""Declarations of materialized tables: which op kinds land in which table, and how.

The store derives its DDL, its materialization and its state digest from these declarations, so a
new entity is one declaration, not new SQL scattered through the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Column", "EntityTable", "SetTable", "CounterKind", "Schema", "SQL_TYPES"]

SQL_TYPES = {"TEXT", "INTEGER", "REAL", "BLOB", "JSON", "BOOL"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "TEXT"

    def __post_init__(self) -> None:
        if self.type not in SQL_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type}")
        if not self.name.isidentifier() or self.name.startswith("_"):
            raise ValueError(f"column name {self.name!r} must be an identifier not starting with _")


@dataclass(frozen=True, slots=True)
class EntityTable:
    """Entities of one kind: a row per id, a column per field, each field an LWW register.

    `immutable` fields may be given only at creation (an Update naming them is invalid), which is
    what lets authorization depend on them deterministically (e.g. a post's author).
    """

    kind: str
    table: str
    columns: tuple[Column, ...]
    immutable: frozenset[str] = frozenset()
    indexes: tuple[tuple[str, ...], ...] = ()
    # derived once: the apply path reads them for every op
    column_names: tuple[str, ...] = field(init=False, compare=False, repr=False)
    column_types: Mapping[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        object.__setattr__(self, "column_types", {c.name: c.type for c in self.columns})
        unknown = self.immutable - set(self.column_names)
        if unknown:
            raise ValueError(f"{self.kind}: immutable fields {sorted(unknown)} are not columns")


@dataclass(frozen=True, slots=True)
class SetTable:
    """An add-wins OR-set kind ("owner.attribute"), projected as one row per present element.

    An element string is split on ":" into `element_columns` (e.g. "user_id:emoji_name").
    """

    kind: str
    table: str
    owner_column: str
    element_columns: tuple[str, ...]

    @property
    def owner_kind(self) -> str:
        return self.kind.partition(".")[0]


@dataclass(frozen=True, slots=True)
class CounterKind:
    """A counter kind ("owner.attribute"); totals are kept in the shared counter_totals table."""

    kind: str

    @property
    def owner_kind(self) -> str:
        return self.kind.partition(".")[0]


@dataclass(frozen=True)
class Schema:
    entities: Mapping[str, EntityTable]
    sets: Mapping[str, SetTable]
    counters: Mapping[str, CounterKind] = field(default_factory=dict)

    @classmethod
    def of(cls, entities: Iterable[EntityTable], sets: Iterable[SetTable] = (),
           counters: Iterable[CounterKind] = ()) -> Schema:
        schema = cls({e.kind: e for e in entities}, {s.kind: s for s in sets}, {c.kind: c for c in counters})
        owned_kinds: list[SetTable | CounterKind] = [*schema.sets.values(), *schema.counters.values()]
        for owned in owned_kinds:
            if owned.owner_kind not in schema.entities:
                raise ValueError(f"{owned.kind}: owner kind {owned.owner_kind!r} is not declared")
        return schema

    def ddl(self) -> list[str]:
        """CREATE statements for every materialized table (idempotent)."""
        statements = []
        for entity in self.entities.values():
            cols = ", ".join(f"{c.name} {_affinity(c.type)}" for c in entity.columns)
            # _stamp: clock of the create; _clk: clocks of fields written later; _deleted: tombstone
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {entity.table} (id TEXT PRIMARY KEY, {cols}, "
                "_stamp BLOB NOT NULL, _clk BLOB, _deleted INTEGER NOT NULL DEFAULT 0)"
            )
            for index in entity.indexes:
                name = f"{entity.table}_{'_'.join(index)}"
                statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON {entity.table} ({', '.join(index)})")
        for s in self.sets.values():
            key = [s.owner_column, *s.element_columns]
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {s.table} ({', '.join(c + ' TEXT NOT NULL' for c in key)}, "
                f"create_at INTEGER NOT NULL, PRIMARY KEY ({', '.join(key)})) WITHOUT ROWID"
            )
        return statements


def _affinity(type_: str) -> str:
    return {"JSON": "TEXT", "BOOL": "INTEGER"}.get(type_, type_)
