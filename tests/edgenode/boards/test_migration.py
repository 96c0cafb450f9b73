"""local_0010_boards: a database made before the board model settled (its tables were declared,
with other columns, before boards were built) gains the columns the model has now."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgenode.config import STORE_FILE
from edgenode.node import open_node


async def test_an_older_database_gains_the_board_columns(tmp_path: Path) -> None:
    async with open_node(tmp_path / "node"):
        pass
    conn = sqlite3.connect(tmp_path / "node" / STORE_FILE)
    with conn:  # as a database of the earlier schema: fewer columns, migration not run
        conn.execute("ALTER TABLE boards DROP COLUMN template_version")
        conn.execute("ALTER TABLE cards DROP COLUMN is_template")
        conn.execute("DELETE FROM _migrations WHERE name = 'local_0010_boards'")
    conn.close()
    async with open_node(tmp_path / "node") as node:
        boards = {r[1] for r in await node.store.fetchall("PRAGMA table_info(boards)")}
        cards = {r[1] for r in await node.store.fetchall("PRAGMA table_info(cards)")}
        assert "template_version" in boards and "is_template" in cards
        assert await node.store.fetchall("SELECT * FROM boards") == []
