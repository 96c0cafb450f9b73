"""A chain of real parts, A -> USB -> B -> hub -> C: A's post and its attachment reach C, whom A never
met, and a private channel reaches only the nodes that hold it and are entitled to it.

A (the mesh's authority, support/bundle_mesh.py) never connects to anything: it writes a bundle for
B. B imports it offline, then B and C run as `edgenode serve --hub` edges of a real `serve --role
hub` process; C never talks to A or B directly. What each node holds is read from its store file
(read-only SQLite beside the running writer); what C serves, through C's API as alice.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.bundle_mesh import bundle_mesh, cli_run
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


async def _post_with_file(data_dir: Path, channel: str, message: str, file_id: str) -> str:
    """alice posts `message` on the node of `data_dir` with her uploaded file `file_id` attached."""
    async with open_node(data_dir) as node, serve(node) as world:
        await world.login("alice")
        made = await world.ok("POST", "/api/v4/posts", "alice", status=201,
                              json={"channel_id": channel, "message": message, "file_ids": [file_id]})
        return str(made["id"])


def test_a_chain_a_usb_b_hub_c_delivers_as_post_and_attachment_to_c_and_the_private_channel_to_none_of_them(
        tmp_path: Path) -> None:
    world = bundle_mesh(tmp_path)  # A: alice's public post and file, her private channel "secret" and its file
    a, b, hub, c = world.dir("a"), world.dir("b"), world.dir("hub"), world.dir("c")
    authority = require_mesh(a)
    join_mesh(hub, create_invite(authority, hub=True)[0])
    join_mesh(c, create_invite(authority)[0])
    public_file, public_hash = world.files["public_file"]
    secret_file, secret_hash = world.files["secret_file"]
    secret_scope = f"channel:{world.ids['secret']}"
    with_file = asyncio.run(_post_with_file(a, world.ids["town_square"], "the survey map", public_file))

    # A -> USB -> B: a bundle sealed to B carries what B may read; B hosts no member of "secret"
    stick = tmp_path / "a-for-b.bundle"
    b_id = node_display_id(load_or_create_identity(b).public_key)
    exported = cli_run("bundle", "export", "--data", a, "--for", b_id, "--out", stick)
    assert exported.exit_code == 0, exported.output
    imported = cli_run("bundle", "import", "--data", b, stick)
    assert imported.exit_code == 0, imported.output
    assert _holds(b, with_file) and _holds_blob(b, public_hash)

    sync_port = free_port()
    hub_args = ("--role", "hub", "--sync-host", "127.0.0.1", "--sync-port", str(sync_port))
    edge_args = ("--sync-port", "0", "--no-mdns", "--hub", f"127.0.0.1:{sync_port}", "--hub-interval", "1")
    with edgenode_server(hub, admin=None, extra_args=hub_args), \
            edgenode_server(b, admin=None, extra_args=edge_args), \
            edgenode_server(c, admin=None, extra_args=edge_args) as served_c:
        # B -> hub -> C: the post arrives with the directory, then C asks the hub for the file's bytes
        _until(lambda: _holds(c, with_file), "A's post on C")
        _until(lambda: _holds_blob(c, public_hash), "the attachment's bytes on C")

        with served_c.client() as http:  # alice logs in on C (never on B): C now hosts her
            login = http.post("/api/v4/users/login", json={"login_id": "alice", "password": PASSWORD})
            assert login.status_code == 200, login.text
        with served_c.client(login.headers["Token"]) as http:
            post = http.get(f"/api/v4/posts/{with_file}")
            assert post.status_code == 200, post.text
            assert (post.json()["message"], post.json()["file_ids"]) == ("the survey map", [public_file])
            download = http.get(f"/api/v4/files/{public_file}")
            assert download.status_code == 200, download.text
            assert hashlib.sha256(download.content).hexdigest() == public_hash

            # need-to-know: "secret" was never in B's bundle, since B hosts none of its members, so
            # no node after B in the chain can hold it, even C, which hosts alice now. It reaches
            # C when a node holding it syncs with C (or with the hub), or on a stick A writes for C.
            c_key = load_or_create_identity(c).public_key.hex()
            hosting = "SELECT count(*) FROM user_nodes WHERE user_id = ? AND node = ?"
            for node in (hub, b):  # C's claim to host alice travelled back through the hub
                _until(lambda node=node: _count(node, hosting, world.ids["alice"], c_key) == 1,
                       f"C hosting alice, on {node.name}")
            assert http.get(f"/api/v4/posts/{world.posts['secret']}").status_code == 404  # C never heard of it
            assert http.get(f"/api/v4/files/{secret_file}").status_code == 404
        for node in (b, hub, c):
            assert _count(node, "SELECT count(*) FROM feeds WHERE scope = ?", secret_scope) == 0, node.name
            assert _count(node, "SELECT count(*) FROM channels WHERE id = ?", world.ids["secret"]) == 0, node.name
            assert not _holds(node, world.posts["secret"]) and not _holds_blob(node, secret_hash), node.name
