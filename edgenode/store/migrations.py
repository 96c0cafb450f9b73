"""Named schema migrations, applied in order once each, inside the opening transaction.

An upgrade is one-way: the migrated database may no longer open in the older edgenode, so a database
that already holds data is copied to backups/ beside it before any pending migration runs (the copy
is what an operator restores to go back). A database naming migrations this code does not know was
written by a newer edgenode: it is refused, untouched."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import StoreVersionError
from .schema import Schema

__all__ = ["BACKUPS_DIR", "BATCH_TRIGGERS_TABLES", "BackupScrub", "MIGRATIONS", "Migration", "backup_before_migrating", "migrate",
           "pending_migrations"]

Migration = Callable[[sqlite3.Connection, Schema], None]

BATCH_TRIGGERS_TABLES = (
    "CREATE TABLE IF NOT EXISTS _batch_triggers (name TEXT PRIMARY KEY, tbl TEXT NOT NULL, sql TEXT NOT NULL) "
    "WITHOUT ROWID",
    # a row names a table the materializer is inserting a batch into: per-row triggers that a batch
    # trigger replaces skip the batch's rows with WHEN NOT EXISTS (SELECT 1 FROM _batch_inserting ...)
    "CREATE TABLE IF NOT EXISTS _batch_inserting (tbl TEXT PRIMARY KEY) WITHOUT ROWID",
)
"""Idempotent, so a migration adding batch triggers can run on a connection migrate() did not prepare."""


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    # not executescript(): it commits, and migrations must stay inside the opening transaction
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _0001_op_log(conn: sqlite3.Connection, schema: Schema) -> None:
    _execute_all(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
        -- one row per feed (author key, scope): how far we hold it
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            author BLOB NOT NULL,
            scope TEXT NOT NULL,
            seq INTEGER NOT NULL,
            link BLOB NOT NULL,
            UNIQUE (author, scope)
        );
        -- the signed op log. state: 0 applied, 1 waiting for a dependency, 2 invalid (see rejected)
        CREATE TABLE ops (
            feed INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            prev BLOB NOT NULL,
            hlc INTEGER NOT NULL,
            body BLOB NOT NULL,
            sig BLOB NOT NULL,
            state INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (feed, seq)
        ) WITHOUT ROWID;
        CREATE TABLE waiting (
            dep_kind TEXT NOT NULL, dep_id TEXT NOT NULL, feed INTEGER NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY (dep_kind, dep_id, feed, seq)
        ) WITHOUT ROWID;
        CREATE TABLE rejected (
            feed INTEGER NOT NULL, seq INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (feed, seq)
        ) WITHOUT ROWID;
        -- a second op seen at a sequence number we already hold: evidence of equivocation
        CREATE TABLE forks (
            feed INTEGER NOT NULL, seq INTEGER NOT NULL, op BLOB NOT NULL, seen_at INTEGER NOT NULL,
            PRIMARY KEY (feed, seq, op)
        ) WITHOUT ROWID;
        -- one row per live add: the tag is the add op's stamp, unique to that op
        CREATE TABLE set_tags (
            tag BLOB PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, element TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX set_tags_element ON set_tags (kind, owner, element);
        CREATE TABLE set_removed (tag BLOB PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE counter_incs (
            tag BLOB PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, amount INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE counter_totals (
            kind TEXT NOT NULL, owner TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (kind, owner)
        ) WITHOUT ROWID;
        """
    )


def _0002_materialized_tables(conn: sqlite3.Connection, schema: Schema) -> None:
    for statement in schema.ddl():
        conn.execute(statement)


MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_op_log", _0001_op_log),
    ("0002_materialized_tables", _0002_materialized_tables),
]


BACKUPS_DIR = "backups"


def _applied(conn: sqlite3.Connection) -> set[str]:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone() is None:
        return set()
    return {row[0] for row in conn.execute("SELECT name FROM _migrations")}


def _refuse_unknown(applied: set[str], known: set[str]) -> None:
    unknown = sorted(applied - known)
    if unknown:
        raise StoreVersionError(
            f"this database has migrations {', '.join(unknown)} from a newer edgenode; upgrade edgenode to open it"
        )


def pending_migrations(conn: sqlite3.Connection, extra: Sequence[tuple[str, Migration]] = ()) -> list[str]:
    """The migrations migrate() would apply, read without writing; refuses a newer database like migrate()."""
    everything = [*MIGRATIONS, *extra]
    applied = _applied(conn)
    _refuse_unknown(applied, {name for name, _ in everything})
    return [name for name, _ in everything if name not in applied]


BackupScrub = Callable[[sqlite3.Connection], None]
"""Run on a backup copy before it is kept: removes what no copy may hold (credentials kept in the
clear by an older version; the node's local schema knows which)."""


def backup_before_migrating(conn: sqlite3.Connection, path: Path, extra: Sequence[tuple[str, Migration]] = (),
                            now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                            scrub: BackupScrub | None = None) -> Path | None:
    """Copy the database at `path` (open as `conn`) to <its folder>/backups/ if it holds migrated data and
    migrations are pending; returns the copy, or None (a new database, or nothing to apply).

    Run before the opening transaction, by the one process that owns the data folder. SQLite's online
    backup copies a consistent snapshot, WAL included; the copy is written under a temporary name and
    renamed, so a crash leaves no half backup, and it is private (0600 in a 0700 folder) like the store."""
    applied = _applied(conn)
    pending = pending_migrations(conn, extra)
    if not applied or not pending:
        return None
    folder = path.parent / BACKUPS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms() / 1000))
    target = folder / f"{path.stem}-{stamp}-before-{pending[0]}{path.suffix}"
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    copy = sqlite3.connect(str(partial), isolation_level=None)  # autocommit: the scrub is kept, VACUUM may run
    try:
        conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file: reading it leaves no -wal beside it
        if scrub is not None:
            scrub(copy)
            copy.execute("VACUUM")  # what the scrub deleted must not linger in free pages of the copy
    finally:
        copy.close()
    os.replace(partial, target)
    return target


def migrate(conn: sqlite3.Connection, schema: Schema, extra: Sequence[tuple[str, Migration]] = ()) -> list[str]:
    """Apply pending migrations (the store's, then `extra` ones for node-local tables); refuse a
    database that has migrations this code does not know."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    # Batch triggers: statements the materializer runs once after each batch of rows it inserts
    # into `tbl` with one executemany, with :after the largest rowid the table held before the batch
    # (so `rowid > :after` selects the batch). They do set-based what a per-row AFTER INSERT trigger
    # does for every other insert, in the same transaction: a full-text index filled row by row from
    # a trigger costs several times the insert itself. Kept in the database, like triggers.
    for statement in BATCH_TRIGGERS_TABLES:
        conn.execute(statement)
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    everything = [*MIGRATIONS, *extra]
    _refuse_unknown(applied, {name for name, _ in everything})
    done = []
    for name, migration in everything:
        if name not in applied:
            migration(conn, schema)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, int(time.time() * 1000)))
            done.append(name)
    # Tables declared since the last migration (new entity kinds) are created idempotently.
    for statement in schema.ddl():
        conn.execute(statement)
    return done
