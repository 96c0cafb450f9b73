"""Applies ops to the materialized tables, inside the writer's open transaction.

The rules are those of crdt.Replica (the reference), expressed over SQLite rows:
- an entity row per Create; each field an LWW register whose clock is the row's `_stamp` unless
  the field was written later, in which case its clock is in `_clk` (a map, to keep rows small);
  a Create writes every declared field, the omitted ones as NULL;
- `_deleted` is a tombstone that nothing clears;
- OR-set tags in set_tags / set_removed, projected as one row per present element;
- counter increments keyed by their stamp, totals kept beside them.
An op whose dependencies do not exist yet is parked in `waiting` and applied when they arrive.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from crdt import NODE_TAG_SIZE, Add, Create, Delete, EntityRef, Increment, Op, Remove, Stamp, Update, dependencies
from sync import decode_op

from .errors import SchemaViolation
from .schema import EntityTable, Schema, SetTable

__all__ = ["KNOWN_LIMIT", "OpState", "Materializer", "validate", "digest_queries"]


class OpState(IntEnum):
    APPLIED = 0
    WAITING = 1
    INVALID = 2


_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "TEXT": (str,),
    "INTEGER": (int,),
    "REAL": (int, float),
    "BLOB": (bytes,),
    "BOOL": (bool,),
}


def _column_value(table: EntityTable, name: str, type_: str, value: Any) -> Any:
    if value is None:
        return None
    if type_ == "JSON":
        if not value and isinstance(value, (dict, list)):
            return "{}" if isinstance(value, dict) else "[]"
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SchemaViolation(f"{table.kind}.{name} must be JSON-compatible: {exc}") from None
    ok = _TYPE_CHECKS[type_]
    if not isinstance(value, ok) or (type_ in ("INTEGER", "REAL") and isinstance(value, bool)):
        raise SchemaViolation(f"{table.kind}.{name} must be {type_.lower()}, got {type(value).__name__}")
    # only a BOOL column admits a bool here (INTEGER and REAL refused it above); it stores 0 or 1
    return int(value) if isinstance(value, bool) else value


Columns = dict[str, Any]
"""Field values of a Create or Update converted to what their columns store."""


def validate(schema: Schema, op: Op) -> Columns:
    """Check that the op fits the schema and return its converted field values.

    Raises SchemaViolation otherwise. Depends on the op alone, so it is deterministic.
    """
    if isinstance(op, (Create, Update, Delete)):
        table = schema.entities.get(op.kind)
        if table is None:
            raise SchemaViolation(f"unknown entity kind {op.kind!r}")
        columns: Columns = {}
        if isinstance(op, (Create, Update)):
            types = table.column_types
            is_update = isinstance(op, Update)
            for name, value in op.fields:
                type_ = types.get(name)
                if type_ is None:
                    raise SchemaViolation(f"{op.kind} has no field {name!r}")
                if is_update and name in table.immutable:
                    raise SchemaViolation(f"{op.kind}.{name} is set at creation and cannot be changed")
                # fast path for the common cases; everything else is checked and converted in full
                kind = type(value)
                if value is None or (kind is str and type_ == "TEXT") or (kind is int and type_ == "INTEGER"):
                    columns[name] = value
                else:
                    columns[name] = _column_value(table, name, type_, value)
        if isinstance(op, Create):
            for dep_kind, _ in op.deps:
                if dep_kind not in schema.entities:
                    raise SchemaViolation(f"dependency on unknown entity kind {dep_kind!r}")
        return columns
    if isinstance(op, (Add, Remove)):
        set_table = schema.sets.get(op.kind)
        if set_table is None:
            raise SchemaViolation(f"unknown set kind {op.kind!r}")
        if len(op.element.split(":", len(set_table.element_columns) - 1)) != len(set_table.element_columns):
            raise SchemaViolation(
                f"{op.kind} elements have {len(set_table.element_columns)} parts separated by ':'"
            )
    elif isinstance(op, Increment):
        if op.kind not in schema.counters:
            raise SchemaViolation(f"unknown counter kind {op.kind!r}")
    return {}


KNOWN_LIMIT = 4_096
"""Entities the Materializer remembers as existing, at most (about 0.7 MB)."""


class Materializer:
    """Stateless apart from caches: entities known to exist (existence never ends), and whether
    any op waits (so the common create skips looking for ops it would release)."""

    def __init__(self, conn: sqlite3.Connection, schema: Schema):
        self._conn = conn
        self._schema = schema
        self._known: set[EntityRef] = set()
        self._any_waiting: bool | None = None
        self._insert_sql = {
            t.kind: (
                f"INSERT INTO {t.table} (id, {', '.join(t.column_names)}, _stamp) "
                f"VALUES (?, {', '.join('?' for _ in t.columns)}, ?) ON CONFLICT (id) DO NOTHING"
            )
            for t in schema.entities.values()
        }
        # Batch triggers (see migrations.migrate): what per-row AFTER INSERT triggers do, run once
        # per executemany of rows, which the per-row triggers skip; read once, as only a migration
        # changes them.
        self._batch_triggers: dict[str, list[str]] = {}
        for table_name, sql in conn.execute("SELECT tbl, sql FROM _batch_triggers ORDER BY name"):
            self._batch_triggers.setdefault(table_name, []).append(sql)

    def forget(self) -> None:
        """Drop the caches (after a rollback they may describe rows that are gone)."""
        self._known.clear()
        self._any_waiting = None

    def _remember(self, ref: EntityRef) -> None:
        # Every create lands here, so an unbounded set would grow with the store (about 170 B per
        # post, for the life of the process). Starting over when full keeps it bounded; a ref
        # forgotten costs one indexed lookup the next time an op depends on it.
        if len(self._known) >= KNOWN_LIMIT:
            self._known.clear()
        self._known.add(ref)

    def _remember_many(self, refs: list[EntityRef]) -> None:
        # a whole batch of creates at once, under the same bound as _remember
        if len(self._known) + len(refs) > KNOWN_LIMIT:
            self._known.clear()
        self._known.update(refs[-KNOWN_LIMIT:])

    @property
    def known(self) -> int:
        """How many entities the existence cache holds now (at most KNOWN_LIMIT)."""
        return len(self._known)

    def exists(self, ref: EntityRef) -> bool:
        if ref in self._known:
            return True
        table = self._schema.entities.get(ref[0])
        if table is None:
            return False
        found = self._conn.execute(f"SELECT 1 FROM {table.table} WHERE id = ?", (ref[1],)).fetchone()
        if found:
            self._remember(ref)
        return found is not None

    def missing_dependency(self, op: Op) -> EntityRef | None:
        for dep in dependencies(op):
            if not self.exists(dep):
                return dep
        return None

    def apply(self, feed: int, seq: int, stamp: Stamp, op: Op, columns: Columns) -> OpState:
        """Apply an op checked by validate() (which gave `columns`), or park it until its dependencies exist."""
        missing = self.missing_dependency(op)
        if missing is not None:
            self._conn.execute("INSERT OR IGNORE INTO waiting VALUES (?, ?, ?, ?)", (*missing, feed, seq))
            self._any_waiting = True
            return OpState.WAITING
        if self._execute(stamp, op, columns) and self._waiting():
            self._release_waiting((op.kind, op.id))
        return OpState.APPLIED

    def apply_many(self, items: Sequence[tuple[int, int, Stamp, Op, Columns]]) -> list[OpState]:
        """apply() for each (feed, seq, stamp, op, columns), in order, with the same outcome.

        Bulk catch-up is mostly creates: a run of creates of one kind whose dependencies exist goes
        to SQLite as one executemany, which is what makes applying a large segment fast.
        """
        states: list[OpState] = []
        i = 0
        while i < len(items):
            run_end = i
            kind = items[i][3].kind
            ids: set[str] = set()
            while run_end < len(items):
                op = items[run_end][3]
                if not isinstance(op, Create) or op.kind != kind or op.id in ids or self.missing_dependency(op):
                    break
                ids.add(op.id)
                run_end += 1
            if run_end - i > 1:
                self._create_many(items[i:run_end])
                states.extend([OpState.APPLIED] * (run_end - i))
                i = run_end
            else:
                feed, seq, stamp, op, columns = items[i]
                states.append(self.apply(feed, seq, stamp, op, columns))
                i += 1
        return states

    def _create_many(self, run: Sequence[tuple[int, int, Stamp, Op, Columns]]) -> None:
        table = self._schema.entities[run[0][3].kind]
        names = table.column_names
        rows = [(op.id, *map(columns.get, names), stamp.pack()) for _, _, stamp, op, columns in run]
        batched = table.table in self._batch_triggers
        if batched:
            after = self._last_rowid(table)
            self._conn.execute("INSERT INTO _batch_inserting VALUES (?)", (table.table,))
        # rowcount, not total_changes: the latter also counts rows written by triggers and indexes,
        # which would hide that every row is new and send each one through the look-up below
        everything_new = self._conn.executemany(self._insert_sql[table.kind], rows).rowcount == len(rows)
        if batched:
            self._conn.execute("DELETE FROM _batch_inserting WHERE tbl = ?", (table.table,))
            self._after_insert(table, after)
        if everything_new and not self._waiting():  # the common catch-up: nothing to merge or release
            self._remember_many([(table.kind, op.id) for _, _, _, op, _ in run])
            return
        for (_, _, stamp, op, columns), row in zip(run, rows):
            if not everything_new:
                held = self._conn.execute(f"SELECT _stamp FROM {table.table} WHERE id = ?", (op.id,)).fetchone()
                if held[0] != row[-1]:  # the row was there before: merge as a duplicate create
                    self._write_fields(table, op.id, columns, stamp, complete=True)
                    continue
            self._remember((op.kind, op.id))
            if self._waiting():
                self._release_waiting((op.kind, op.id))

    def _waiting(self) -> bool:
        if self._any_waiting is None:
            self._any_waiting = self._conn.execute("SELECT EXISTS (SELECT 1 FROM waiting)").fetchone()[0] == 1
        return self._any_waiting

    def _release_waiting(self, ref: EntityRef) -> None:
        parked = self._conn.execute(
            "DELETE FROM waiting WHERE dep_kind = ? AND dep_id = ? RETURNING feed, seq", ref
        ).fetchall()
        if parked:
            self._any_waiting = None  # maybe none left; ask the table next time
        for feed, seq in sorted(parked):
            hlc, body, node = self._conn.execute(
                "SELECT o.hlc, o.body, f.author FROM ops o JOIN feeds f ON f.id = o.feed "
                "WHERE o.feed = ? AND o.seq = ?", (feed, seq)
            ).fetchone()
            stamp = Stamp(hlc >> 16, hlc & 0xFFFF, node[:NODE_TAG_SIZE])
            op = decode_op(body)
            state = self.apply(feed, seq, stamp, op, validate(self._schema, op))
            self._conn.execute("UPDATE ops SET state = ? WHERE feed = ? AND seq = ?", (int(state), feed, seq))

    # -- entities ---------------------------------------------------------------------------

    def _execute(self, stamp: Stamp, op: Op, columns: Columns) -> bool:
        """Apply one op whose dependencies exist; True if it created a new entity."""
        if isinstance(op, Create):
            return self._create(stamp, op, columns)
        if isinstance(op, Update):
            self._write_fields(self._schema.entities[op.kind], op.id, columns, stamp, complete=False)
        elif isinstance(op, Delete):
            table = self._schema.entities[op.kind]
            self._conn.execute(f"UPDATE {table.table} SET _deleted = 1 WHERE id = ?", (op.id,))
        elif isinstance(op, Add):
            self._add(self._schema.sets[op.kind], op, stamp)
        elif isinstance(op, Remove):
            self._remove(op)
        elif isinstance(op, Increment):
            self._increment(op, stamp)
        return False

    def _create(self, stamp: Stamp, op: Create, columns: Columns) -> bool:
        table = self._schema.entities[op.kind]
        values = [columns.get(name) for name in table.column_names]
        cursor = self._conn.execute(self._insert_sql[op.kind], (op.id, *values, stamp.pack()))
        if cursor.rowcount == 1:  # a single row: the per-row triggers indexed it
            self._remember((op.kind, op.id))
            return True
        # Another Create of the same id (e.g. two nodes opening the same direct channel offline):
        # it writes every field, and each field keeps the later write.
        self._write_fields(table, op.id, columns, stamp, complete=True)
        return False

    def _last_rowid(self, table: EntityTable) -> int:
        return int(self._conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table.table}").fetchone()[0])

    def _after_insert(self, table: EntityTable, after: int) -> None:
        """Run the table's batch triggers over the rows just inserted: a new row gets a rowid above
        every rowid the table held, so the rows with rowid > `after` (the largest before) are exactly those."""
        for sql in self._batch_triggers.get(table.table, ()):
            self._conn.execute(sql, {"after": after})

    def _write_fields(self, table: EntityTable, id_: str, columns: Columns, stamp: Stamp, complete: bool) -> None:
        row = self._conn.execute(f"SELECT _stamp, _clk FROM {table.table} WHERE id = ?", (id_,)).fetchone()
        created_stamp: bytes = row[0]
        clocks: dict[str, bytes] = msgpack.unpackb(row[1]) if row[1] else {}
        packed = stamp.pack()
        names = table.column_names if complete else tuple(columns)
        changed: dict[str, Any] = {}
        for name in names:
            if packed > clocks.get(name, created_stamp):
                changed[name] = columns.get(name)
                clocks[name] = packed
        if not changed:
            return
        assignments = ", ".join(f"{name} = ?" for name in changed)
        clk = msgpack.packb(dict(sorted(clocks.items())), use_bin_type=True)
        self._conn.execute(
            f"UPDATE {table.table} SET {assignments}, _clk = ? WHERE id = ?", (*changed.values(), clk, id_)
        )

    # -- sets and counters --------------------------------------------------------------------

    def _projection_key(self, table: SetTable, owner: str, element: str) -> tuple[str, ...]:
        return (owner, *element.split(":", len(table.element_columns) - 1))

    def _where(self, table: SetTable) -> str:
        return " AND ".join(f"{c} = ?" for c in (table.owner_column, *table.element_columns))

    def _add(self, table: SetTable, op: Add, stamp: Stamp) -> None:
        tag = stamp.pack()
        if self._conn.execute("SELECT 1 FROM set_removed WHERE tag = ?", (tag,)).fetchone():
            return  # its remove arrived first
        self._conn.execute("INSERT OR IGNORE INTO set_tags VALUES (?, ?, ?, ?)", (tag, op.kind, op.id, op.element))
        cols = (table.owner_column, *table.element_columns)
        self._conn.execute(
            f"INSERT INTO {table.table} ({', '.join(cols)}, create_at) VALUES ({', '.join('?' for _ in cols)}, ?) "
            f"ON CONFLICT DO UPDATE SET create_at = min(create_at, excluded.create_at)",
            (*self._projection_key(table, op.id, op.element), stamp.wall_ms),
        )

    def _remove(self, op: Remove) -> None:
        # A tag names one add, so it is cancelled wherever it is, as crdt.ORSet does; every
        # element that lost a tag is then re-projected.
        touched: set[tuple[str, str, str]] = set()
        for tag in op.tags:
            packed = tag.pack()
            self._conn.execute("INSERT OR IGNORE INTO set_removed VALUES (?)", (packed,))
            touched.update(self._conn.execute("DELETE FROM set_tags WHERE tag = ? RETURNING kind, owner, element", (packed,)))
        for kind, owner, element in sorted(touched):
            table = self._schema.sets[kind]
            live = [
                Stamp.unpack(row[0]).wall_ms
                for row in self._conn.execute(
                    "SELECT tag FROM set_tags WHERE kind = ? AND owner = ? AND element = ?", (kind, owner, element)
                )
            ]
            key = self._projection_key(table, owner, element)
            if live:
                self._conn.execute(f"UPDATE {table.table} SET create_at = ? WHERE {self._where(table)}", (min(live), *key))
            else:
                self._conn.execute(f"DELETE FROM {table.table} WHERE {self._where(table)}", key)

    def _increment(self, op: Increment, stamp: Stamp) -> None:
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO counter_incs VALUES (?, ?, ?, ?)", (stamp.pack(), op.kind, op.id, op.amount)
        )
        if cursor.rowcount == 1:
            self._conn.execute(
                "INSERT INTO counter_totals VALUES (?, ?, ?) "
                "ON CONFLICT DO UPDATE SET value = value + excluded.value",
                (op.kind, op.id, op.amount),
            )


def digest_queries(schema: Schema) -> list[tuple[str, str]]:
    """(label, SELECT) pairs listing every materialized row in a canonical order.

    Equal sets of ops give equal results whatever order they arrived in. Entity rows start with
    (id, _deleted): the digest keeps only those two of a tombstoned row.
    """
    queries = []
    for kind in sorted(schema.entities):
        table = schema.entities[kind]
        cols = ", ".join(table.column_names)
        queries.append((f"entity:{kind}", f"SELECT id, _deleted, {cols} FROM {table.table} ORDER BY id"))
    for kind in sorted(schema.sets):
        st = schema.sets[kind]
        cols = ", ".join((st.owner_column, *st.element_columns, "create_at"))
        queries.append((f"set:{kind}", f"SELECT {cols} FROM {st.table} ORDER BY {cols}"))
    queries.append(("counters", "SELECT kind, owner, value FROM counter_totals ORDER BY kind, owner"))
    return queries
