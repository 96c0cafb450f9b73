"""Sites that never meet sync through a datacenter hub, which forwards to each only what it may receive,
and a hub killed in the middle of a sync loses nothing.

Real processes: `edgenode serve --role hub` listens on loopback; edges run `edgenode serve --hub
HOST:PORT` with no sync port of their own and no mDNS, so they can only meet through the hub. What
each node holds is read from its store file (read-only SQLite, beside the running writer).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.builders import post, team_and_channel
from support.server_process import ServerProcess, edgenode_server, free_port

from edgenode.config import STORE_FILE
from edgenode.mesh import create_invite, init_mesh, join_mesh
from edgenode.node import open_node

pytestmark = pytest.mark.slow

EDGENODE = [sys.executable, "-m", "edgenode"]
SITE_B_TEAM, SITE_B_CHANNEL = "b" * 26, "d" * 26


def _rows(data_dir: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{data_dir / STORE_FILE}?mode=ro", uri=True, timeout=30)
    try:
        return list(conn.execute(sql, params))
    except sqlite3.OperationalError:  # the node has not created its store yet
        return []
    finally:
        conn.close()


def _messages(data_dir: Path) -> set[str]:
    return {str(row[0]) for row in _rows(data_dir, "SELECT message FROM posts WHERE _deleted = 0")}


def _until(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _edgenode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGENODE, *args], capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ))


def _hub(sync_port: int) -> tuple[str, ...]:
    return ("--role", "hub", "--sync-host", "127.0.0.1", "--sync-port", str(sync_port))


def _edge(sync_port: int) -> tuple[str, ...]:
    return ("--sync-port", "0", "--no-mdns", "--hub", f"127.0.0.1:{sync_port}", "--hub-interval", "1")


def _post_via_api(server: ServerProcess, channel: str, message: str) -> None:
    with server.client(server.admin_token) as http:
        made = http.post("/api/v4/posts", json={"channel_id": channel, "message": message})
        assert made.status_code == 201, made.text


def test_two_sites_that_never_meet_converge_through_the_hub_and_a_private_channel_reaches_only_the_entitled(
        tmp_path: Path) -> None:
    site_a, site_b, hub = tmp_path / "site-a", tmp_path / "site-b", tmp_path / "hub"
    authority = init_mesh(site_a, "field")
    join_mesh(hub, create_invite(authority, hub=True)[0])
    join_mesh(site_b, create_invite(authority)[0])

    async def write_site_b() -> None:  # site B's own team and post, written before it ever syncs
        async with open_node(site_b) as node:
            await node.store.write("directory", team_and_channel(SITE_B_TEAM, SITE_B_CHANNEL))
            await node.store.write(f"channel:{SITE_B_CHANNEL}", [post("p" * 26, "public from B", SITE_B_CHANNEL)])
    asyncio.run(write_site_b())

    sync_port = free_port()
    with edgenode_server(hub, admin=None, extra_args=_hub(sync_port)) as hub_server, \
            edgenode_server(site_a, extra_args=_edge(sync_port)) as a, \
            edgenode_server(site_b, admin=None, extra_args=_edge(sync_port)):
        assert "storing and forwarding every feed of the mesh" in hub_server.log.read_text()
        with a.client(a.admin_token) as http:  # the admin logged in on A: A hosts the admin
            team = http.post("/api/v4/teams", json={"name": "field", "display_name": "Field", "type": "O"}).json()
            square = http.get(f"/api/v4/teams/{team['id']}/channels/name/town-square").json()["id"]
            secret = http.post("/api/v4/channels", json={"team_id": team["id"], "name": "secret",
                                                         "display_name": "Secret", "type": "P"})
            assert secret.status_code == 201, secret.text
        _post_via_api(a, square, "public from A")
        _post_via_api(a, secret.json()["id"], "private from A")
        _post_via_api(a, square, "public from A, after the private one")

        _until(lambda: "public from B" in _messages(site_a), "B's public post on A")
        _until(lambda: {"public from A", "public from B", "private from A"} <= _messages(hub), "everything on the hub")
        _until(lambda: "public from A, after the private one" in _messages(site_b), "A's last post on B")

        assert "private from A" not in _messages(site_b)
        secret_scope = f"channel:{secret.json()['id']}"
        assert _rows(site_b, "SELECT count(*) FROM feeds WHERE scope = ?", (secret_scope,)) == [(0,)]
        assert _rows(site_b, "SELECT count(*) FROM channels WHERE id = ?", (secret.json()["id"],)) == [(0,)]

        status = json.loads(_edgenode("status", "--data", str(site_a), "--json").stdout)
        (link,) = status["hub"]["links"]
        assert link["address"] == f"127.0.0.1:{sync_port}" and link["connected"] is True
        assert link["node_key"] == _rows(hub, "SELECT id FROM mesh_nodes WHERE roles = 'hub'")[0][0]
        text = _edgenode("status", "--data", str(site_a)).stdout
        assert f"hub link: 127.0.0.1:{sync_port}: connected" in text
        with a.client(a.admin_token) as http:
            assert http.get("/api/v4/edgenode/status").json()["hub"]["links"][0]["connected"] is True
        hub_status = json.loads(_edgenode("status", "--data", str(hub), "--json").stdout)
        assert hub_status["hub"] | {"links": []} == {"role": "hub", "relays": "every feed", "interval_s": None,
                                                      "links": []}
        assert sum(1 for peer in hub_status["peers"] if peer["connected"]) == 2


def test_a_hub_killed_in_the_middle_of_a_sync_restarts_and_loses_nothing(tmp_path: Path) -> None:
    site, hub = tmp_path / "site", tmp_path / "hub"
    authority = init_mesh(site, "field")
    join_mesh(hub, create_invite(authority)[0])  # no hub role: it relays public data only, and says so
    total = 20_000

    async def write_many() -> None:
        async with open_node(site) as node:
            await node.store.write("directory", team_and_channel())
            for start in range(0, total, 1000):
                await node.store.write("channel:" + "c" * 26, [post(f"{i:026d}", f"post {i}") for i in
                                                               range(start, start + 1000)])
    asyncio.run(write_many())

    def hub_holds() -> int:
        rows = _rows(hub, "SELECT coalesce(max(seq), 0) FROM feeds WHERE scope = ?", ("channel:" + "c" * 26,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    sync_port = free_port()
    with edgenode_server(site, admin=None, extra_args=_edge(sync_port)):
        with edgenode_server(hub, admin=None, extra_args=_hub(sync_port)) as first:
            assert "it relays public data only" in first.log.read_text()
            _until(lambda: hub_holds() > 0, "the hub's first segment", timeout=60)
            first.process.kill()  # SIGKILL: no shutdown, no flush beyond what was committed
            first.process.wait()
        at_kill = hub_holds()
        assert 0 < at_kill < total, at_kill  # killed in the middle of the sync
        with edgenode_server(hub, admin=None, extra_args=_hub(sync_port)):
            _until(lambda: hub_holds() == total, "the whole feed on the restarted hub", timeout=120)
            _until(lambda: len(_messages(hub)) == total, "every post materialized on the hub", timeout=60)
    digests = {}
    for data_dir in (site, hub):
        info = _edgenode("info", "--data", str(data_dir))
        assert info.returncode == 0, info.stderr
        digests[data_dir.name] = dict(line.split(": ", 1) for line in info.stdout.splitlines())["digest"]
    assert digests["site"] == digests["hub"]
