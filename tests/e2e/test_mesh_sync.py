"""Enrolled nodes sync over the mesh's mutual TLS; a node outside the mesh cannot connect.

Real processes: the authority serves with its sync port on loopback, and its first user (the
system admin) creates a team through its API; `edgenode sync` runs from a node that joined with an
invite, which then serves its own API just long enough for that admin to post there, and syncs
again; and from a node that did not join. Both enrolled nodes state their certificates in their
"node" feeds when sync starts, so the joined node's post is admitted and readable on the authority.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from support.server_process import ServerProcess, edgenode_server, free_port

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity

EDGENODE = [sys.executable, "-m", "edgenode"]
MESSAGE = "written on the joined node"


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGENODE, *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def _sync(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + 20
    while True:
        done = _run("sync", f"127.0.0.1:{port}", "--data", str(data_dir), "--timeout", "5", env=env)
        if done.returncode == 0 or "cannot reach" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


def _town_square(server: ServerProcess) -> str:
    with server.client(server.admin_token) as http:
        teams = http.get("/api/v4/users/me/teams").json()
        if not teams:
            created = http.post("/api/v4/teams", json={"name": "field", "display_name": "Field", "type": "O"})
            assert created.status_code == 201, created.text
            teams = [created.json()]
        channel = http.get(f"/api/v4/teams/{teams[0]['id']}/channels/name/town-square")
        assert channel.status_code == 200, channel.text
        return str(channel.json()["id"])


def _messages(server: ServerProcess, channel: str) -> list[str]:
    with server.client(server.admin_token) as http:
        posts = http.get(f"/api/v4/channels/{channel}/posts").json()["posts"]
    return sorted(p["message"] for p in posts.values() if p["message"] == MESSAGE)


def test_a_joined_node_syncs_over_mesh_tls_its_posts_reach_the_authority_and_an_outsider_is_refused(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "EDGENODE_MDNS": "0"}
    authority, joiner, outsider = (tmp_path / n for n in ("authority", "joiner", "outsider"))
    assert _run("mesh", "init", "--name", "field", "--data", str(authority), env=env).returncode == 0
    invite = _run("mesh", "invite", "--data", str(authority), env=env)
    assert invite.returncode == 0, invite.stderr
    joined = _run("mesh", "join", invite.stdout.strip(), "--data", str(joiner), env=env)
    assert joined.returncode == 0, joined.stderr
    sync_port = free_port()
    listening = {"EDGENODE_SYNC_PORT": str(sync_port), "EDGENODE_SYNC_HOST": "127.0.0.1"}
    with edgenode_server(authority, extra_env=listening) as served:
        channel = _town_square(served)  # the admin and the team, in the authority's directory
        first = _sync(joiner, sync_port, env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("synced with node ")
        # a joined node takes its users from the mesh: the authority's admin logs in there
        with edgenode_server(joiner, extra_env={"EDGENODE_SYNC_PORT": "0"}) as member, \
                member.client(member.admin_token) as http:
            created = http.post("/api/v4/posts", json={"channel_id": channel, "message": MESSAGE})
            assert created.status_code == 201, created.text
        second = _sync(joiner, sync_port, env)
        assert second.returncode == 0, second.stderr
        assert _messages(served, channel) == [MESSAGE]

        refused = _run("sync", f"127.0.0.1:{sync_port}", "--data", str(outsider), "--unenrolled-sync",
                       "--timeout", "5", env=env)
        assert refused.returncode == 1
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    keys = {load_or_create_identity(d).public_key.hex() for d in (authority, joiner)}
    conn = sqlite3.connect(f"file:{authority / STORE_FILE}?mode=ro", uri=True)
    try:
        assert {row[0] for row in conn.execute("SELECT id FROM mesh_nodes")} == keys
    finally:
        conn.close()
