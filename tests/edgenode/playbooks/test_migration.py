"""local_0009_playbooks: a database made before the playbook model settled gets its columns and the
reminders table, and then serves runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgenode.config import STORE_FILE
from edgenode.node import open_node


async def test_an_older_database_gains_the_playbook_columns(tmp_path: Path) -> None:
    async with open_node(tmp_path / "node"):
        pass
    conn = sqlite3.connect(tmp_path / "node" / STORE_FILE)
    with conn:  # as a database of the earlier schema: fewer columns, no reminders table, migration not run
        conn.execute("ALTER TABLE runs DROP COLUMN settings")
        conn.execute("ALTER TABLE checklist_items DROP COLUMN state_modified_by")
        conn.execute("DROP TABLE playbook_reminders")
        conn.execute("DELETE FROM _migrations WHERE name = 'local_0009_playbooks'")
    conn.close()
    async with open_node(tmp_path / "node") as node:
        columns = {r[1] for r in await node.store.fetchall("PRAGMA table_info(runs)")}
        items = {r[1] for r in await node.store.fetchall("PRAGMA table_info(checklist_items)")}
        assert "settings" in columns and "state_modified_by" in items
        assert await node.store.fetchall("SELECT * FROM playbook_reminders") == []
