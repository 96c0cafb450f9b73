"""Session and personal access tokens are stored as SHA-256 hashes: the database files hold nothing
a thief could authenticate with, and tokens stored in the clear by an older version are converted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import edgenode.services.users as users
from crdt import Create
from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity
from edgenode.ids import new_id, new_token, token_hash
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.node import open_node
from edgenode.schema import SCHEMA
from edgenode.services.context import DIRECTORY_SCOPE
from edgenode.store import Store
from support.login_world import CheapHasher, login_world


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", CheapHasher())


def raw_bytes(data: Path) -> bytes:
    """Everything in the data folder's files, as a thief copying the disk would get it."""
    return b"".join(path.read_bytes() for path in sorted(data.rglob("*")) if path.is_file())


async def test_the_database_files_hold_no_usable_session_or_access_token(tmp_path: Path) -> None:
    data = tmp_path / "node"
    async with login_world(data) as world:
        alice = await world.create_user("alice")
        await world.allow_access_tokens(alice["id"])
        session = await world.token("alice")
        made = await world.call("POST", f"/api/v4/users/{alice['id']}/tokens", session, json={"description": "ci"})
        assert made.status_code == 200, made.text
        access = made.json()["token"]
        for token in (session, access):
            assert (await world.call("GET", "/api/v4/users/me", token)).status_code == 200
        secrets = [session, access, world.admin_token]
        assert not [t for t in secrets if t.encode() in raw_bytes(data)]
        stored = {r["token_hash"] for r in await world.node.store.fetchall("SELECT token_hash FROM sessions")}
        assert stored == {token_hash(world.admin_token), token_hash(session)}
        (row,) = await world.node.store.fetchall("SELECT * FROM access_tokens")
        assert row["token_hash"] == token_hash(access) and access not in tuple(row)
        listed = await world.call("GET", f"/api/v4/users/{alice['id']}/tokens", session)
        assert "token" not in listed.json()[0]  # as Mattermost: the token is shown once, at creation
    assert not [t for t in secrets if t.encode() in raw_bytes(data)]

    async with open_node(data) as node:  # looked up by hash after a restart too
        found = await node.services.users.session_for_token(session)
        assert found is not None and found.user_id == alice["id"]
        by_token = await node.services.users.session_for_token(access)
        assert by_token is not None and by_token.is_token
        assert await node.services.users.session_for_token(token_hash(session)) is None  # the hash is no token


async def test_a_logout_and_a_revoked_token_find_their_hashed_rows(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        await world.allow_access_tokens(alice["id"])
        session = await world.token("alice")
        made = await world.call("POST", f"/api/v4/users/{alice['id']}/tokens", session, json={"description": "ci"})
        revoked = await world.call("POST", "/api/v4/users/tokens/revoke", session, json={"token_id": made.json()["id"]})
        assert revoked.status_code == 200
        assert (await world.call("GET", "/api/v4/users/me", made.json()["token"])).status_code == 401
        assert (await world.call("POST", "/api/v4/users/logout", session)).status_code == 200
        assert (await world.call("GET", "/api/v4/users/me", session)).status_code == 401
        assert await world.node.store.fetchall("SELECT 1 FROM sessions WHERE user_id = ?", (alice["id"],)) == []


async def test_tokens_an_older_version_stored_in_the_clear_are_hashed_and_keep_working(tmp_path: Path) -> None:
    data = tmp_path / "node"
    user_id, access_token, token_id = new_id(), new_token(), new_id()
    session_tokens = [new_token() for _ in range(300)]  # enough rows to span many pages
    session_token = session_tokens[0]
    # A node as the previous version left it: local tables before local_0006, tokens in the clear.
    before = [name for name, _ in LOCAL_MIGRATIONS].index("local_0006_login_security")
    signer = load_or_create_identity(data)
    async with Store(data / STORE_FILE, SCHEMA, signer, migrations=LOCAL_MIGRATIONS[:before]) as store:
        await store.write(DIRECTORY_SCOPE, [Create("user", user_id, {
            "username": "alice", "email": "alice@example.com", "roles": "system_user", "password_hash": "",
            "create_at": 1, "update_at": 1, "delete_at": 0})])
        await store.write_local(lambda conn: conn.executemany(
            "INSERT INTO sessions (token, id, user_id, create_at, expires_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(token, new_id(), user_id, 1, 2**52, 1) for token in session_tokens]))
        await store.write_local(lambda conn: conn.execute(
            "INSERT INTO access_tokens (id, token, user_id, description) VALUES (?, ?, ?, 'ci')",
            (token_id, access_token, user_id)))
    assert session_token.encode() in raw_bytes(data)

    # the upgrade itself, as it happens: a new edgenode process opens the folder (backup, then
    # migrations) and stops; then this process checks the hashed tokens still work
    upgrade = subprocess.run([sys.executable, "-m", "edgenode", "info", "--data", str(data)],
                             capture_output=True, text=True, timeout=120, check=False)
    assert upgrade.returncode == 0, upgrade.stderr
    async with open_node(data) as node:
        session = await node.services.users.session_for_token(session_token)
        assert session is not None and session.user_id == user_id
        access = await node.services.users.session_for_token(access_token)
        assert access is not None and access.is_token and access.id == token_id
        stored = {r["token_hash"] for r in await node.store.fetchall("SELECT token_hash FROM sessions")}
        assert stored == {token_hash(token) for token in session_tokens}
    leaked = raw_bytes(data)
    assert [t for t in [*session_tokens, access_token] if t.encode() in leaked] == []
