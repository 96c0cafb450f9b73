"""Nodes served with peer sync replicate what users write, and say who their peers are and how far behind.

Nodes here are whole (`open_node`), sync over real loopback TCP, find each other on an in-memory LAN
(real mDNS is exercised in tests/e2e, inside network namespaces), and are driven through the HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from support.served_nodes import PASSWORD, Served, memory_discovery, served, settings, until
from support.server_process import free_port

from crdt import Create
from edgenode.api.app import build_app
from edgenode.cli import cli
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.node import Node, open_node
from edgenode.schema import SCHEMA
from edgenode.store import Store
from edgenode.peering.service import STATUS_FILE, read_status_file, running_pid, sync_once
from edgenode.peering.settings import SyncSettings
from sync import ForkError, Signer
from sync.discovery import MemoryLan
from sync.manager import PeerAddress, PeerUnreachableError


async def write_a_post(node: Served, message: str) -> tuple[str, str]:
    """Create the admin (first user), a team and a post in its town-square; returns (channel id, admin token)."""
    created = await node.call("POST", "/api/v4/users", json={"username": "admin", "email": "admin@example.com",
                                                               "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = await node.login("admin")
    team = await node.call("POST", "/api/v4/teams", token, json={"name": "field", "display_name": "Field", "type": "O"})
    assert team.status_code == 201, team.text
    square = await node.call("GET", f"/api/v4/teams/{team.json()['id']}/channels/name/town-square", token)
    channel = square.json()["id"]
    posted = await node.call("POST", "/api/v4/posts", token, json={"channel_id": channel, "message": message})
    assert posted.status_code == 201, posted.text
    return channel, token


async def test_nodes_on_one_lan_find_each_other_and_a_post_on_one_is_readable_through_the_others_api(
        tmp_path: Path) -> None:
    lan = MemoryLan()
    async with served(tmp_path / "a", settings(mdns=True), discovery=memory_discovery(lan)) as a, \
            served(tmp_path / "b", settings(mdns=True), discovery=memory_discovery(lan)) as b:
        channel, _ = await write_a_post(a, "hello from a")

        async def readable_on_b() -> bool:
            login = await b.call("POST", "/api/v4/users/login", json={"login_id": "admin", "password": PASSWORD})
            if login.status_code != 200:
                return False
            posts = await b.call("GET", f"/api/v4/channels/{channel}/posts", login.headers["Token"])
            return posts.status_code == 200 and any(p["message"] == "hello from a" for p in posts.json()["posts"].values())

        await until(readable_on_b)
        # the login on b just recorded that the admin uses b (user.nodes): that op travels back to a
        await until(lambda: _digests_equal(a.node, b.node))
        status = await a.sync.status()
        (peer,) = status["peers"]
        assert peer["node"] == node_display_id(b.node.store.node_id) and "mdns" in peer["found"]
        assert peer["connected"] and peer["last_contact_at"] and peer["failures"] == 0

        async def settled() -> bool:
            (p,) = (await a.sync.status())["peers"]
            return bool(p["to_send"] == 0 and p["to_receive"] == 0 and p["last_sync_at"])

        await until(settled)


async def test_the_status_api_is_for_system_admins_and_shows_node_mesh_and_peers(tmp_path: Path) -> None:
    async with served(tmp_path / "a", settings()) as a:
        async with served(tmp_path / "b", settings(peers=(PeerAddress("127.0.0.1", a.port),))) as b:
            await write_a_post(b, "first")
            await until(lambda: _digests_equal(a.node, b.node))
            admin = await b.login("admin")
            created = await b.call("POST", "/api/v4/users", admin, json={"username": "bob", "email": "bob@example.com",
                                                                          "password": PASSWORD})
            assert created.status_code == 201, created.text
            bob = await b.login("bob")
            assert (await b.call("GET", "/api/v4/edgenode/status", bob)).status_code == 403
            assert (await b.call("GET", "/api/v4/edgenode/status")).status_code == 401
            response = await b.call("GET", "/api/v4/edgenode/status", admin)
            assert response.status_code == 200 and response.headers["content-type"] == "application/json"
            document = response.json()
            assert document["node"] == b.node.id and document["mesh"]["id"] == "unenrolled"
            assert document["sync"] == {"running": True, "listening": [f"127.0.0.1:{b.port}"], "transport": "tcp",
                                        "mdns": False, "static_peers": [f"127.0.0.1:{a.port}"]}
            (peer,) = document["peers"]
            assert (peer["node"], peer["found"], peer["addresses"]) == (a.node.id, ["static"], [f"127.0.0.1:{a.port}"])


async def test_a_node_served_without_sync_reports_sync_not_running(tmp_path: Path) -> None:
    async with open_node(tmp_path / "a") as node:
        app = build_app(node.services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as http:
            await http.post("/api/v4/users", json={"username": "admin", "email": "a@example.com", "password": PASSWORD})
            token = (await http.post("/api/v4/users/login", json={"login_id": "admin", "password": PASSWORD})).headers["Token"]
            document = (await http.get("/api/v4/edgenode/status", headers={"Authorization": f"Bearer {token}"})).json()
    assert (document["node"], document["sync"]["running"], document["peers"]) == (node.id, False, [])


async def test_a_one_shot_sync_brings_a_stopped_node_up_to_date_and_says_what_moved(tmp_path: Path) -> None:
    async with served(tmp_path / "a", settings()) as a:
        await write_a_post(a, "catch me up")
        async with open_node(tmp_path / "b") as b:
            stats, wire = await sync_once(b.store, PeerAddress("127.0.0.1", a.port), SyncSettings())
            held = (await a.node.store.fetchone("SELECT count(*) FROM ops"))[0]  # type: ignore[index]
            assert (stats.ops_received, stats.ops_sent, stats.peer_node) == (held, 0, a.node.store.node_id)
            assert wire > 0 and await b.store.digest() == await a.node.store.digest()
            again, _ = await sync_once(b.store, PeerAddress("127.0.0.1", a.port), SyncSettings())
            assert (again.ops_received, again.ops_sent, again.round_trips) == (0, 0, 1)


async def test_a_one_shot_sync_to_nowhere_fails_with_one_line_saying_why(tmp_path: Path) -> None:
    port = free_port()
    async with open_node(tmp_path / "b") as b:
        with pytest.raises(PeerUnreachableError, match=f"^cannot reach 127.0.0.1:{port}: Connection refused$"):
            await sync_once(b.store, PeerAddress("127.0.0.1", port), SyncSettings())


async def test_the_running_node_keeps_its_status_file_current_and_marks_it_stopped_at_exit(tmp_path: Path) -> None:
    async with served(tmp_path / "a", settings(), status_interval=0.05) as a:
        await until(lambda: _true(read_status_file(tmp_path / "a") is not None))
        document = read_status_file(tmp_path / "a")
        assert document is not None and running_pid(document) == os.getpid()
        assert document["node"] == a.node.id and document["sync"]["running"]
        assert (tmp_path / "a" / STATUS_FILE).stat().st_mode & 0o777 == 0o600
    stopped = read_status_file(tmp_path / "a")
    assert stopped is not None and stopped["sync"]["running"] is False and running_pid(stopped) is None


# -- the CLI -------------------------------------------------------------------------------------


async def test_edgenode_status_prints_the_running_nodes_peers(tmp_path: Path) -> None:
    async with served(tmp_path / "a", settings()) as a:
        async with served(tmp_path / "b", settings(peers=(PeerAddress("127.0.0.1", a.port),)),
                          status_interval=0.05) as b:
            await write_a_post(a, "x")
            await until(lambda: _digests_equal(a.node, b.node))
            await asyncio.sleep(0.2)
            text = CliRunner().invoke(cli, ["status", "--data", str(tmp_path / "b")])
            as_json = CliRunner().invoke(cli, ["status", "--data", str(tmp_path / "b"), "--json"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[:5] == [f"node: {b.node.id}", "mesh: unenrolled (not enrolled in a mesh)",
                         f"served: yes (pid {os.getpid()})",
                         f"sync: running; 127.0.0.1:{b.port} over tcp; mDNS off", "peers: 1"]
    assert lines[5] == f"- {a.node.id}" and lines[6] == f"  found: static; address: 127.0.0.1:{a.port}"
    assert lines[7] == "  state: connected" and lines[9] == "  ops to send: 0; to receive: 0"
    assert json.loads(as_json.output)["peers"][0]["node"] == a.node.id


def test_edgenode_status_of_a_node_that_is_not_served_says_so(tmp_path: Path) -> None:
    load_or_create_identity(tmp_path / "n")  # a node that was never started
    result = CliRunner().invoke(cli, ["status", "--data", str(tmp_path / "n")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["mesh: unenrolled (not enrolled in a mesh)", "served: no",
                                               "sync: not running: the node is not being served", "peers: none known"]


async def test_edgenode_sync_syncs_once_and_prints_what_moved(tmp_path: Path) -> None:
    async with served(tmp_path / "a", settings()) as a:
        await write_a_post(a, "over the wire")
        held = (await a.node.store.fetchone("SELECT count(*) FROM ops"))[0]  # type: ignore[index]
        load_or_create_identity(tmp_path / "b")  # a node that was never started (sync creates no node)
        unenrolled = await _edgenode("sync", f"127.0.0.1:{a.port}", "--data", str(tmp_path / "b"))
        assert unenrolled.returncode == 1 and "this node is in no mesh" in unenrolled.stderr
        done = await _edgenode("sync", f"127.0.0.1:{a.port}", "--data", str(tmp_path / "b"), "--unenrolled-sync")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"synced with node {a.node.id} at 127.0.0.1:{a.port} in ")
        assert f": sent 0 ops in 0 feeds, received {held} ops in 3 feeds; " in done.stdout
        refused = await _edgenode("sync", f"127.0.0.1:{a.port}", "--data", str(tmp_path / "a"))
        assert refused.returncode == 1 and "is being served" in refused.stderr


async def test_edgenode_sync_to_an_unreachable_peer_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    load_or_create_identity(tmp_path / "b")
    done = await _edgenode("sync", f"127.0.0.1:{port}", "--data", str(tmp_path / "b"), "--unenrolled-sync")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"Error: cannot reach 127.0.0.1:{port}: Connection refused\n")


async def _edgenode(*args: str) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "edgenode", *args,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return subprocess.CompletedProcess(args, process.returncode or 0, out.decode(), err.decode())


async def _digests_equal(*nodes: Node) -> bool:
    return len({await n.store.digest() for n in nodes}) == 1


async def _true(value: bool) -> bool:
    return value


# -- the store's notification, which live sync rides on ---------------------------------------------


async def test_the_store_announces_advanced_heads_after_each_commit_and_not_for_duplicates(tmp_path: Path) -> None:
    from support.builders import CHANNEL, post, team_and_channel

    from sync import FeedHead, FeedId

    async with open_node(tmp_path / "a") as a, open_node(tmp_path / "b") as b:
        heard: list[dict[FeedId, FeedHead]] = []
        unsubscribe = b.store.subscribe(heard.append)
        await b.store.write("directory", team_and_channel())
        ours = FeedId(b.store.node_id, "directory")
        assert heard == [{ours: (await b.store.heads())[ours]}]
        await a.store.write("directory", team_and_channel("t" * 25 + "x", "c" * 25 + "x"))
        segment = await a.store.segment(FeedId(a.store.node_id, "directory"))
        await b.store.apply(segment)
        theirs = FeedId(a.store.node_id, "directory")
        assert heard[1] == {theirs: FeedHead(2, segment[-1].link())}
        await b.store.apply(segment)  # a replay changes nothing, so it announces nothing
        assert len(heard) == 2
        unsubscribe()
        await b.store.write(f"channel:{CHANNEL}", [post("p" * 26, "after unsubscribing")])
        assert len(heard) == 2


async def test_a_fork_received_from_a_peer_is_reported_in_the_status(tmp_path: Path) -> None:
    equivocator = Signer.generate()
    histories = []
    for name, message in (("one", "first history"), ("two", "second history")):  # same key, same seq 1
        async with Store(tmp_path / f"{name}.db", SCHEMA, equivocator) as author:
            histories.append(await author.write("channel:" + "c" * 26, [Create("team", "t" * 26, {"name": message})]))
    async with served(tmp_path / "a", settings(), status_interval=0.05) as a:
        await a.node.store.apply(histories[0])
        with pytest.raises(ForkError):
            await a.node.store.apply(histories[1])
        (fork,) = (await a.sync.status())["forks"]
        assert fork["author_key"] == equivocator.public_key.hex() and fork["scope"] == "channel:" + "c" * 26
        assert fork["seq"] == 1
        await asyncio.sleep(0.2)
        text = CliRunner().invoke(cli, ["status", "--data", str(tmp_path / "a")])
    assert f"fork: node {node_display_id(equivocator.public_key)} signed two different ops" in text.output
