"""Node-local tables: state that belongs to this node only and is never replicated.

Sessions and access tokens are credentials for *this* node's API (stored as hashes); the audit log records what
happened *here*; the search index is derived from the posts table by triggers (batch triggers for
posts inserted many at a time), so it is kept in the same transaction as every change to a post, whether written here
or received from a peer.
"""

from __future__ import annotations

import sqlite3

from edgenode.ids import token_hash
from edgenode.store import Schema
from edgenode.store.migrations import BATCH_TRIGGERS_TABLES

__all__ = ["LOCAL_MIGRATIONS"]


def _run(conn: sqlite3.Connection, script: str) -> None:
    # statements are separated by a line holding only "--"; trigger bodies contain semicolons
    for statement in script.split("\n--\n"):
        if statement.strip():
            conn.execute(statement)


def _local_0001_sessions_tokens_audit(conn: sqlite3.Connection, schema: Schema) -> None:
    _run(conn, """
        CREATE TABLE sessions (
            token TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
            create_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_activity_at INTEGER NOT NULL,
            device_id TEXT NOT NULL DEFAULT '', is_token INTEGER NOT NULL DEFAULT 0, props TEXT NOT NULL DEFAULT '{}'
        )
--
        CREATE INDEX sessions_user ON sessions (user_id)
--
        CREATE TABLE access_tokens (
            id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '', is_active INTEGER NOT NULL DEFAULT 1
        )
--
        CREATE INDEX access_tokens_user ON access_tokens (user_id)
--
        CREATE TABLE audits (
            id TEXT PRIMARY KEY, create_at INTEGER NOT NULL, user_id TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL, extra_info TEXT NOT NULL DEFAULT '', ip_address TEXT NOT NULL DEFAULT '',
            session_id TEXT NOT NULL DEFAULT ''
        )
--
        CREATE INDEX audits_time ON audits (create_at)
--
        CREATE INDEX audits_user ON audits (user_id, create_at)
    """)


def _local_0002_post_search(conn: sqlite3.Connection, schema: Schema) -> None:
    # External-content FTS5 over posts: the text lives once, in posts; the index only holds terms.
    # Deleted posts leave the index. Triggers keep it in the transaction that changes the post.
    _run(conn, """
        CREATE VIRTUAL TABLE post_search USING fts5(
            message, hashtags, content='posts', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
        )
--
        CREATE TRIGGER post_search_insert AFTER INSERT ON posts WHEN new._deleted = 0 BEGIN
            INSERT INTO post_search (rowid, message, hashtags) VALUES (new.rowid, new.message, new.hashtags);
        END
--
        CREATE TRIGGER post_search_update AFTER UPDATE OF message, hashtags, _deleted ON posts BEGIN
            INSERT INTO post_search (post_search, rowid, message, hashtags)
                SELECT 'delete', old.rowid, old.message, old.hashtags WHERE old._deleted = 0;
            INSERT INTO post_search (rowid, message, hashtags)
                SELECT new.rowid, new.message, new.hashtags WHERE new._deleted = 0;
        END
    """)


def _local_0003_post_mentions(conn: sqlite3.Connection, schema: Schema) -> None:
    # Who each post mentions, one row per (mentioned user, post), so a member's mention count is a
    # range scan over their own rows rather than a pass over every unread post. "@channel" stands
    # for a channel-wide mention. Kept by triggers, so posts received from peers are indexed too;
    # coalesce() because a foreign create may omit any field and a failed insert would abort it.
    _run(conn, """
        CREATE TABLE post_mentions (
            user_id TEXT NOT NULL, channel_id TEXT NOT NULL, create_at INTEGER NOT NULL, post_id TEXT NOT NULL,
            author_id TEXT NOT NULL, is_root INTEGER NOT NULL,
            PRIMARY KEY (user_id, channel_id, create_at, post_id)
        ) WITHOUT ROWID
--
        CREATE INDEX post_mentions_post ON post_mentions (post_id)
--
        CREATE TRIGGER post_mentions_insert AFTER INSERT ON posts
        WHEN new._deleted = 0 AND new.mentions IS NOT NULL AND json_valid(new.mentions) BEGIN
            INSERT OR IGNORE INTO post_mentions (user_id, channel_id, create_at, post_id, author_id, is_root)
                SELECT DISTINCT value, coalesce(new.channel_id, ''), coalesce(new.create_at, 0), new.id,
                       coalesce(new.user_id, ''), coalesce(new.root_id, '') = ''
                FROM json_each(new.mentions) WHERE type = 'text' AND value != coalesce(new.user_id, '');
        END
--
        CREATE TRIGGER post_mentions_delete AFTER UPDATE OF _deleted ON posts WHEN new._deleted != 0 BEGIN
            DELETE FROM post_mentions WHERE post_id = new.id;
        END
    """)


def _local_0004_preferences(conn: sqlite3.Connection, schema: Schema) -> None:
    # Mattermost preferences other than saved posts (those are the replicated "user.flagged" set).
    _run(conn, """
        CREATE TABLE preferences (
            user_id TEXT NOT NULL, category TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (user_id, category, name)
        ) WITHOUT ROWID
    """)


def _local_0005_post_hashtags(conn: sqlite3.Connection, schema: Schema) -> None:
    # A second external-content index, of hashtags only, whose tokenizer keeps '#', '-', '.' and '_'
    # inside a token: "#ops-team" is one term, so #ops-team matches exactly (case-insensitively) and
    # #ops does not match it, which post_search's "ops" + "team" cannot tell apart. Only posts with
    # hashtags are indexed; the 'delete' mirrors that condition, as external content requires.
    _run(conn, """
        CREATE VIRTUAL TABLE post_hashtags USING fts5(
            hashtags, content='posts', content_rowid='rowid',
            tokenize="unicode61 remove_diacritics 0 tokenchars '#-._'"
        )
--
        INSERT INTO post_hashtags (rowid, hashtags)
            SELECT rowid, hashtags FROM posts WHERE _deleted = 0 AND coalesce(hashtags, '') != ''
--
        CREATE TRIGGER post_hashtags_insert AFTER INSERT ON posts
        WHEN new._deleted = 0 AND coalesce(new.hashtags, '') != '' BEGIN
            INSERT INTO post_hashtags (rowid, hashtags) VALUES (new.rowid, new.hashtags);
        END
--
        CREATE TRIGGER post_hashtags_update AFTER UPDATE OF hashtags, _deleted ON posts BEGIN
            INSERT INTO post_hashtags (post_hashtags, rowid, hashtags)
                SELECT 'delete', old.rowid, old.hashtags WHERE old._deleted = 0 AND coalesce(old.hashtags, '') != '';
            INSERT INTO post_hashtags (rowid, hashtags)
                SELECT new.rowid, new.hashtags WHERE new._deleted = 0 AND coalesce(new.hashtags, '') != '';
        END
    """)


def _local_0006_login_security(conn: sqlite3.Connection, schema: Schema) -> None:
    # Session and access tokens are kept as their hashes (edgenode.ids.token_hash): a copy of the
    # database (a backup, a stolen laptop's disk) then holds no usable credential. Existing tokens
    # are hashed in place, so clients already logged in stay logged in. The columns are renamed so
    # that code still writing a raw token fails loudly instead of storing a secret.
    # password_stamp: the hash of the password hash a session was opened with (services/users.py);
    # existing sessions get their user's current one. login_failures: services/login_guard.py's
    # per-account lockout counters.
    conn.create_function("edgenode_token_hash", 1, token_hash, deterministic=True)
    # secure_delete: the space the clear tokens leave is zeroed, not left in free pages of the file.
    conn.execute("PRAGMA secure_delete = ON")
    _run(conn, """
        ALTER TABLE sessions RENAME COLUMN token TO token_hash
--
        UPDATE sessions SET token_hash = edgenode_token_hash(token_hash)
--
        ALTER TABLE access_tokens RENAME COLUMN token TO token_hash
--
        UPDATE access_tokens SET token_hash = edgenode_token_hash(token_hash)
--
        ALTER TABLE sessions ADD COLUMN password_stamp TEXT NOT NULL DEFAULT ''
--
        UPDATE sessions SET password_stamp = edgenode_token_hash(
            coalesce((SELECT u.password_hash FROM users u WHERE u.id = sessions.user_id), ''))
--
        CREATE TABLE login_failures (
            account TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failure_at INTEGER NOT NULL
        ) WITHOUT ROWID
    """)
    conn.execute("PRAGMA secure_delete = OFF")


def _local_0007_post_index_batches(conn: sqlite3.Connection, schema: Schema) -> None:
    # Posts the store inserts many at a time (a segment from a peer, a bundle) enter post_search,
    # post_hashtags and post_mentions once per batch: the store runs these batch triggers right
    # after each such insert, in the same transaction (see edgenode/store/migrations.py), and the
    # per-row insert triggers skip the batch's rows. Each does over the rows with rowid > :after
    # exactly what its per-row trigger does; filled row by row, the full-text index cost several
    # times the insert itself. Any other insert (one post, or plain SQL) still fires the triggers.
    # json_each gets '[]' for invalid JSON: a join may call it before the WHERE filters the row.
    for statement in BATCH_TRIGGERS_TABLES:
        conn.execute(statement)
    not_batch = "NOT EXISTS (SELECT 1 FROM _batch_inserting WHERE tbl = 'posts')"
    for trigger in ("post_search_insert", "post_mentions_insert", "post_hashtags_insert"):
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)).fetchone()[0]
        head, when, body = sql.partition(" WHEN ")
        conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(f"{head} WHEN {not_batch} AND {body}")
    conn.executemany("INSERT INTO _batch_triggers (name, tbl, sql) VALUES (?, 'posts', ?)", [
        ("post_search", "INSERT INTO post_search (rowid, message, hashtags) "
                        "SELECT rowid, message, hashtags FROM posts WHERE rowid > :after AND _deleted = 0"),
        ("post_mentions", "INSERT OR IGNORE INTO post_mentions (user_id, channel_id, create_at, post_id, author_id, is_root) "
                          "SELECT DISTINCT j.value, coalesce(p.channel_id, ''), coalesce(p.create_at, 0), p.id, "
                          "coalesce(p.user_id, ''), coalesce(p.root_id, '') = '' "
                          "FROM posts p, json_each(CASE WHEN json_valid(p.mentions) THEN p.mentions ELSE '[]' END) j "
                          "WHERE p.rowid > :after AND p._deleted = 0 AND p.mentions IS NOT NULL "
                          "AND j.type = 'text' AND j.value != coalesce(p.user_id, '')"),
        ("post_hashtags", "INSERT INTO post_hashtags (rowid, hashtags) SELECT rowid, hashtags FROM posts "
                          "WHERE rowid > :after AND _deleted = 0 AND coalesce(hashtags, '') != ''"),
    ])


def _local_0011_known_frontiers(conn: sqlite3.Connection, schema: Schema) -> None:
    # per peer node and feed, how far we last knew the peer to hold it (edgenode/peering/known_frontiers.py)
    conn.execute("CREATE TABLE known_frontiers (node BLOB NOT NULL, author BLOB NOT NULL, scope TEXT NOT NULL, "
                 "seq INTEGER NOT NULL, learned_at INTEGER NOT NULL, PRIMARY KEY (node, author, scope)) WITHOUT ROWID")


_PLAYBOOK_KINDS = ("playbook", "run", "checklist", "checklist_item", "timeline_event")
_BOARD_KINDS = ("board", "card", "card_value", "view", "block")


def _add_missing_columns(conn: sqlite3.Connection, schema: Schema, kinds: tuple[str, ...]) -> None:
    """Give tables made before their entity's model settled the columns the model has now (columns
    it no longer has stay, unused: SQLite rows are written by column name). Tables new since are
    created after migrations, with the schema's own DDL."""
    for kind in kinds:
        table = schema.entities[kind]
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table.table})")}
        if not have:
            continue
        for column in table.columns:
            if column.name not in have:
                affinity = {"JSON": "TEXT", "BOOL": "INTEGER"}.get(column.type, column.type)
                conn.execute(f"ALTER TABLE {table.table} ADD COLUMN {column.name} {affinity}")


def _local_0009_playbooks(conn: sqlite3.Connection, schema: Schema) -> None:
    # The playbook tables were declared (and created, empty) before their model settled.
    _add_missing_columns(conn, schema, _PLAYBOOK_KINDS)
    # The due time of the last status-update reminder this node posted for each run (services/playbook_notify.py).
    conn.execute("CREATE TABLE playbook_reminders (run_id TEXT PRIMARY KEY, due_at INTEGER NOT NULL)")


def _local_0010_boards(conn: sqlite3.Connection, schema: Schema) -> None:
    # The board tables were declared (and created, empty) before their model settled, as the playbook ones.
    _add_missing_columns(conn, schema, _BOARD_KINDS)


def scrub_backup(conn: sqlite3.Connection) -> None:
    """A backup made before an upgrade holds no usable credential either (see local_0006): the session
    and access tokens an older version kept in the clear are left out of it. Restored into that
    version, its users sign in again and bots get new access tokens."""
    for table in ("sessions", "access_tokens"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if "token" in columns:  # the clear column; local_0006 renamed it to token_hash and hashed it
            conn.execute(f"DELETE FROM {table}")


LOCAL_MIGRATIONS = [
    ("local_0001_sessions_tokens_audit", _local_0001_sessions_tokens_audit),
    ("local_0002_post_search", _local_0002_post_search),
    ("local_0003_post_mentions", _local_0003_post_mentions),
    ("local_0004_preferences", _local_0004_preferences),
    ("local_0005_post_hashtags", _local_0005_post_hashtags),
    ("local_0006_login_security", _local_0006_login_security),
    ("local_0007_post_index_batches", _local_0007_post_index_batches),
    ("local_0009_playbooks", _local_0009_playbooks),
    ("local_0010_boards", _local_0010_boards),
    ("local_0011_known_frontiers", _local_0011_known_frontiers),
]
