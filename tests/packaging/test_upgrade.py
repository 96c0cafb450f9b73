"""Upgrades: the current edgenode opens a data folder an older one wrote (fixtures/datafolder.tar.gz,
made by tests/packaging/make_datafolder_fixture.py from the previous code), running any pending
migration once and after a backup; a folder from a newer edgenode is refused in one line, untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

import edgenode.node
from edgenode.node import open_node
from edgenode.store.migrations import BACKUPS_DIR
from support.binary import Build
from support.server_process import ADMIN_PASSWORD, edgenode_server, free_port

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "datafolder.tar.gz"
ROOT = Path(__file__).resolve().parents[2]


def _unpack(into: Path) -> tuple[Path, dict[str, Any]]:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(into, filter="data")
    return into / "node", json.loads((into / "MANIFEST.json").read_text())


def _migrations(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(row[0] for row in conn.execute("SELECT name FROM _migrations"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edgenode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgenode", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.slow
def test_the_current_code_serves_a_folder_the_previous_code_wrote(tmp_path: Path) -> None:
    data, manifest = _unpack(tmp_path)
    with edgenode_server(data, admin=None) as server, server.client() as http:
        login = http.post("/api/v4/users/login", json={"login_id": manifest["admin"], "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        post = http.get(f"/api/v4/posts/{manifest['post_id']}", headers={"Authorization": f"Bearer {login.headers['Token']}"})
        assert post.status_code == 200 and post.json()["message"] == manifest["message"]
    # what the previous code applied is a prefix of what this code knows: nothing of it is unknown here
    assert set(manifest["migrations"]) <= set(_migrations(data / "edgenode.db"))


async def test_a_pending_migration_runs_once_after_a_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, manifest = _unpack(tmp_path)
    runs: list[str] = []

    def newer(conn: sqlite3.Connection, _schema: object) -> None:
        runs.append("ran")
        conn.execute("CREATE TABLE upgraded_by_test (x INTEGER)")

    monkeypatch.setattr(edgenode.node, "LOCAL_MIGRATIONS", [*edgenode.node.LOCAL_MIGRATIONS, ("local_9999_newer", newer)])
    async with open_node(data):
        pass
    backups = sorted((data / BACKUPS_DIR).iterdir())
    # one backup, named after the first migration the older code had not applied (ours comes last)
    first_pending = next(name for name, _ in edgenode.node.LOCAL_MIGRATIONS if name not in manifest["migrations"])
    assert [b.name.endswith(f"-before-{first_pending}.db") for b in backups] == [True]
    assert oct(backups[0].stat().st_mode & 0o777) == "0o600" and oct((data / BACKUPS_DIR).stat().st_mode & 0o777) == "0o700"
    # the backup is the folder as the older code left it: restoring it is going back
    assert _migrations(backups[0]) == sorted(manifest["migrations"])
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT count(*) FROM posts WHERE id = ?", (manifest["post_id"],)).fetchone() == (1,)
    assert "local_9999_newer" in _migrations(data / "edgenode.db") and runs == ["ran"]

    async with open_node(data):  # a second start: nothing pending, no second run, no second backup
        pass
    assert runs == ["ran"] and len(list((data / BACKUPS_DIR).iterdir())) == 1


async def test_a_new_folder_gets_no_backup(tmp_path: Path) -> None:
    async with open_node(tmp_path / "fresh"):
        pass
    assert not (tmp_path / "fresh" / BACKUPS_DIR).exists()


def _from_the_future(data: Path) -> None:
    with sqlite3.connect(data / "edgenode.db") as conn:
        conn.execute("INSERT INTO _migrations VALUES ('local_9999_from_a_newer_edgenode', 0)")
    # as a clean stop leaves it: the WAL folded into the database file, so its bytes say everything
    with sqlite3.connect(data / "edgenode.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_an_older_edgenode_refuses_a_newer_folder_in_one_line(tmp_path: Path) -> None:
    data, _ = _unpack(tmp_path)
    _from_the_future(data)
    before = _sha(data / "edgenode.db")
    done = _edgenode("info", "--data", str(data))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: this database has migrations local_9999_from_a_newer_edgenode from a newer edgenode; "
        "upgrade edgenode to open it"]
    assert _sha(data / "edgenode.db") == before and not (data / BACKUPS_DIR).exists()


@pytest.mark.slow
def test_the_binary_opens_an_older_folder_and_refuses_a_newer_one(build: Build, tmp_path: Path) -> None:
    older, manifest = _unpack(tmp_path / "older")
    info = dict(line.split(": ", 1) for line in build.run("info", "--data", str(older)).stdout.splitlines())
    assert int(info["ops"]) > 0
    newer, _ = _unpack(tmp_path / "newer")
    _from_the_future(newer)
    done = build.run("serve", "--data", str(newer), "--port", str(free_port()), "--sync-port", "0", "--no-mdns",
                     check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "Error: this database has migrations local_9999_from_a_newer_edgenode from a newer edgenode; "
        "upgrade edgenode to open it"]
