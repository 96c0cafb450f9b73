"""Node-local tables: state that belongs to this node only and is never replicated.

Sessions and access tokens are credentials for *this* node's API; the audit log records what
happened *here*; the search index is derived from the posts table by triggers, so it is kept in
the same transaction as every change to a post, whether written here or received from a peer.
"""

from __future__ import annotations

import sqlite3

from edgenode.store import Schema

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


LOCAL_MIGRATIONS = [
    ("local_0001_sessions_tokens_audit", _local_0001_sessions_tokens_audit),
    ("local_0002_post_search", _local_0002_post_search),
]
