"""A chain of real parts, A -> USB -> B -> hub -> C: A's post and its attachment reach C, whom A never
met, and each private channel reaches only the nodes of the chain entitled to it.

A (the mesh's authority, support/bundle_mesh.py) never connects to anything: it trades bundle files
with B. B imports them offline, then B and C run as `edgenode serve --hub` edges of a real `serve
--role hub` process; C never talks to A or B directly. What each node holds is read from its store
file (read-only SQLite beside the running writer); what C serves, through C's API as alice.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.bundle_mesh import BundleMesh, bundle_mesh, cli_run, login_on
from support.members_world import PASSWORD, serve
from support.server_process import edgenode_server, free_port

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.mesh import create_invite, join_mesh, require_mesh
from edgenode.node import open_node

pytestmark = pytest.mark.slow


def _count(data_dir: Path, sql: str, *params: object) -> int:
    conn = sqlite3.connect(f"file:{data_dir / STORE_FILE}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError:  # the node has not created its store yet
        return 0
    finally:
        conn.close()


def _until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling for arrival, not timing anything


def _holds(data_dir: Path, post_id: str) -> bool:
    return _count(data_dir, "SELECT count(*) FROM posts WHERE id = ?", post_id) == 1


def _holds_blob(data_dir: Path, content_hash: str) -> bool:
    return (data_dir / "files" / content_hash[:2] / content_hash[2:]).is_file()


async def _write_on_a(world: BundleMesh) -> dict[str, str]:
    """On A: alice's post with her uploaded file attached, and two private channels of bob's, "crew"
    (alice is a member) and "bobs" (bob alone), a post in each. Returns the three posts' ids."""
    async with open_node(world.dir("a")) as node, serve(node) as a:
        for name in ("alice", "bob"):
            await a.login(name)
        made = await a.ok("POST", "/api/v4/posts", "alice", status=201, json={
            "channel_id": world.ids["town_square"], "message": "the survey map",
            "file_ids": [world.files["public_file"][0]]})
        a.team = world.ids["team"]
        crew = await a.channel("crew", "P", by="bob")
        await a.ok("POST", f"/api/v4/channels/{crew}/members", "bob", status=201, json={"user_id": world.ids["alice"]})
        bobs = await a.channel("bobs", "P", by="bob")
        world.ids.update(crew=crew, bobs=bobs)
        return {"with_file": str(made["id"]), "crew": await a.post(crew, "for the crew", by="bob"),
                "bobs": await a.post(bobs, "for bob alone", by="bob")}


def _stick(tmp_path: Path, source: Path, target: Path, *recipient: str) -> None:
    """`source` exports a bundle (for `recipient`, if given), `target` imports it."""
    stick = tmp_path / f"{source.name}-to-{target.name}.bundle"
    exported = cli_run("bundle", "export", "--data", source, *recipient, "--out", stick)
    assert exported.exit_code == 0, exported.output
    imported = cli_run("bundle", "import", "--data", target, stick)
    assert imported.exit_code == 0, imported.output


def _node_id(data_dir: Path) -> str:
    return node_display_id(load_or_create_identity(data_dir).public_key)


def test_a_chain_a_usb_b_hub_c_delivers_as_post_and_attachment_to_c_and_private_channels_only_where_entitled(
        tmp_path: Path) -> None:
    world = bundle_mesh(tmp_path)  # A: alice's uploaded file, her private channel "secret" with a post and file
    a, b, hub, c = world.dir("a"), world.dir("b"), world.dir("hub"), world.dir("c")
    authority = require_mesh(a)
    join_mesh(hub, create_invite(authority, hub=True)[0])
    join_mesh(c, create_invite(authority)[0])
    public_file, public_hash = world.files["public_file"]
    secret_file, secret_hash = world.files["secret_file"]
    posts = asyncio.run(_write_on_a(world)) | {"secret": world.posts["secret"]}

    # A -> USB -> B, three sticks: the public data; bob logs in on B and B's stick back tells A that
    # B hosts him; then A's stick for B carries what B lacks and may read: bob's channels, not alice's
    _stick(tmp_path, a, b)
    asyncio.run(login_on(b, "bob"))
    _stick(tmp_path, b, a, "--for", _node_id(a))
    _stick(tmp_path, a, b, "--for", _node_id(b))
    assert all(_holds(b, posts[p]) for p in ("with_file", "crew", "bobs")) and _holds_blob(b, public_hash)
    assert not _holds(b, posts["secret"]) and not _holds_blob(b, secret_hash)

    sync_port = free_port()
    hub_args = ("--role", "hub", "--sync-host", "127.0.0.1", "--sync-port", str(sync_port))
    edge_args = ("--sync-port", "0", "--no-mdns", "--hub", f"127.0.0.1:{sync_port}", "--hub-interval", "1")
    with edgenode_server(hub, admin=None, extra_args=hub_args), \
            edgenode_server(b, admin=None, extra_args=edge_args), \
            edgenode_server(c, admin=None, extra_args=edge_args) as served_c:
        # B -> hub -> C: the post arrives with the directory, then C asks the hub for the file's bytes
        _until(lambda: _holds(c, posts["with_file"]), "A's post on C")
        _until(lambda: _holds_blob(c, public_hash), "the attachment's bytes on C")
        _until(lambda: _holds(hub, posts["crew"]) and _holds(hub, posts["bobs"]), "bob's channels on the hub")
        assert not _holds(c, posts["crew"])  # C hosts no member of crew yet

        with served_c.client() as http:  # alice logs in on C (never on B): C now hosts her
            login = http.post("/api/v4/users/login", json={"login_id": "alice", "password": PASSWORD})
            assert login.status_code == 200, login.text
        # the hub learns that C hosts alice and sends C the whole history of crew, her channel
        _until(lambda: _holds(c, posts["crew"]), "crew's post on C, once alice logged in there")
        with served_c.client(login.headers["Token"]) as http:
            post = http.get(f"/api/v4/posts/{posts['with_file']}")
            assert post.status_code == 200, post.text
            assert (post.json()["message"], post.json()["file_ids"]) == ("the survey map", [public_file])
            download = http.get(f"/api/v4/files/{public_file}")
            assert download.status_code == 200, download.text
            assert hashlib.sha256(download.content).hexdigest() == public_hash
            assert http.get(f"/api/v4/posts/{posts['crew']}").json()["message"] == "for the crew"
            # bobs: the hub holds it, but C hosts none of its members. secret: never on B's sticks (B
            # hosts none of its members), so nowhere after B in the chain, though C hosts alice now;
            # it reaches C when a node holding it (A) meets C or the hub, or on a stick A writes for C
            for absent in ("bobs", "secret"):
                assert http.get(f"/api/v4/posts/{posts[absent]}").status_code == 404, absent
            assert http.get(f"/api/v4/files/{secret_file}").status_code == 404
        for node, channel, held in ((hub, "bobs", 1), (c, "bobs", 0), (b, "secret", 0), (hub, "secret", 0),
                                    (c, "secret", 0)):
            feed = _count(node, "SELECT count(*) FROM feeds WHERE scope = ?", f"channel:{world.ids[channel]}")
            assert (feed > 0, _holds(node, posts[channel])) == (bool(held), bool(held)), (node.name, channel)
        assert not any(_holds_blob(node, secret_hash) for node in (b, hub, c))
