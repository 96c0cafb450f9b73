"""Bundles between real node folders that never connect: A -> USB -> B, and back.

A public bundle carries public data to any node of the mesh; a bundle --for a node carries what that
node lacks and may read, and learns from the bundles it sends back what it holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.served_nodes import served, settings
from support.bundle_mesh import (
    SECRET_MESSAGE, BundleMesh, bundle_mesh, cli_run, digest, holds_blob, holds_post, login_on, on_node, post_on,
    run,
)

from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.node import open_node
from edgenode.peering.admission import secure_settings
from edgenode.peering.service import sync_once
from edgenode.peering.settings import SyncSettings
from edgenode.peering.known_frontiers import known_frontier
from edgenode.node import Node
from sync.bundle_crypto import KeyWrap, Sealing, open_for_node, open_plain
from sync.bundle_format import BlobStart, BundleReader, Segment
from sync.manager import PeerAddress


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> BundleMesh:
    return bundle_mesh(tmp_path_factory.mktemp("bundles"))


def _node_id(data_dir: Path) -> str:
    return node_display_id(load_or_create_identity(data_dir).public_key)


def _segments_of(bundle: Path, reader_dir: Path) -> list[Segment]:
    seed = load_or_create_identity(reader_dir).seed
    with open(bundle, "rb") as src:
        reader = BundleReader(src)
        return [r for r in reader.records(open_for_node(reader.header.key, seed)) if isinstance(r, Segment)]


def test_a_public_bundle_carries_public_data_and_nothing_private_to_a_node_that_never_connected(
        mesh: BundleMesh, tmp_path: Path) -> None:
    stick = tmp_path / "public.bundle"
    exported = cli_run("bundle", "export", "--data", mesh.dir("a"), "--out", stick)
    assert exported.exit_code == 0, exported.output
    assert "for any node of the mesh (public data only)" in exported.output
    with open(stick, "rb") as src:
        records = list(BundleReader(src).records(open_plain(KeyWrap(Sealing.PLAIN))))
    scopes = {r.ops[0].feed.scope for r in records if isinstance(r, Segment)}
    assert "directory" in scopes and f"channel:{mesh.ids['town_square']}" in scopes
    assert f"channel:{mesh.ids['secret']}" not in scopes
    assert [r.content_hash for r in records if isinstance(r, BlobStart)] == [mesh.files["public_file"][1]]

    imported = cli_run("bundle", "import", "--data", mesh.dir("b"), stick)
    assert imported.exit_code == 0, imported.output
    assert holds_post(mesh.dir("b"), mesh.posts["public"])
    assert holds_blob(mesh.dir("b"), mesh.files["public_file"][1])  # the attachment's bytes travelled too
    assert not holds_post(mesh.dir("b"), mesh.posts["secret"])
    assert not holds_blob(mesh.dir("b"), mesh.files["secret_file"][1])

    before = digest(mesh.dir("b"))
    again = cli_run("bundle", "import", "--data", mesh.dir("b"), stick)
    assert again.exit_code == 0 and ": 0 ops applied" in again.output  # idempotent
    assert digest(mesh.dir("b")) == before


def test_a_bundle_for_a_node_that_hosts_no_member_carries_no_private_channel(mesh: BundleMesh, tmp_path: Path) -> None:
    stick = tmp_path / "for-d.bundle"
    exported = cli_run("bundle", "export", "--data", mesh.dir("a"), "--for", _node_id(mesh.dir("d")), "--out", stick)
    assert exported.exit_code == 0, exported.output
    scopes = {s.ops[0].feed.scope for s in _segments_of(stick, mesh.dir("d"))}
    assert f"channel:{mesh.ids['secret']}" not in scopes
    assert "directory" in scopes
    assert not any(SECRET_MESSAGE.encode() in op.body for s in _segments_of(stick, mesh.dir("d")) for op in s.ops)


def test_two_sticks_teach_each_side_what_the_other_holds_and_bring_a_hosted_members_private_channel(
        mesh: BundleMesh, tmp_path: Path) -> None:
    # B has the public data (the test above, or here); alice logs in on B: B now hosts her
    first = tmp_path / "public.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("a"), "--out", first).exit_code == 0
    assert cli_run("bundle", "import", "--data", mesh.dir("b"), first).exit_code == 0
    run(login_on(mesh.dir("b"), "alice"))

    back = tmp_path / "b-to-a.bundle"
    exported = cli_run("bundle", "export", "--data", mesh.dir("b"), "--for", _node_id(mesh.dir("a")), "--out", back)
    assert exported.exit_code == 0, exported.output
    imported = cli_run("bundle", "import", "--data", mesh.dir("a"), back)
    assert imported.exit_code == 0, imported.output

    b_key = load_or_create_identity(mesh.dir("b")).public_key

    async def b_frontier(node: Node) -> int:
        return len(await known_frontier(node.store, b_key))
    assert on_node(mesh.dir("a"), b_frontier) > 0  # A learned what B holds from B's bundle

    later = run(post_on(mesh.dir("a"), "alice", mesh.ids["secret"], "written after the first stick"))
    forth = tmp_path / "a-to-b.bundle"
    exported = cli_run("bundle", "export", "--data", mesh.dir("a"), "--for", _node_id(mesh.dir("b")), "--out", forth)
    assert exported.exit_code == 0, exported.output
    # what B lacks only: the private channel and the new post, not the public history B holds
    sent = _segments_of(forth, mesh.dir("b"))
    assert {s.ops[0].feed.scope for s in sent} == {f"channel:{mesh.ids['secret']}"}
    assert [op.seq for s in sent for op in s.ops] == list(range(1, sum(len(s.ops) for s in sent) + 1))
    assert cli_run("bundle", "import", "--data", mesh.dir("b"), forth).exit_code == 0
    assert holds_post(mesh.dir("b"), mesh.posts["secret"])
    assert holds_post(mesh.dir("b"), later)
    assert holds_blob(mesh.dir("b"), mesh.files["secret_file"][1])

    # B's own bundle back taught A what B held; what A sent since is not known to have arrived (a stick
    # can be lost), so it is sent again; --full sends everything B may read
    again = cli_run("bundle", "export", "--data", mesh.dir("a"), "--for", _node_id(mesh.dir("b")), "--out", forth)
    assert f"wrote {forth}: {sum(len(s.ops) for s in sent)} ops in 1 feeds" in again.output
    full = cli_run("bundle", "export", "--data", mesh.dir("a"), "--for", _node_id(mesh.dir("b")), "--full",
                   "--out", forth)
    assert full.exit_code == 0 and int(full.output.split(": ")[1].split()[0]) > sum(len(s.ops) for s in sent), full.output


def test_inspect_shows_the_header_and_for_the_recipient_what_it_covers(mesh: BundleMesh, tmp_path: Path) -> None:
    stick = tmp_path / "for-b.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("a"), "--for", _node_id(mesh.dir("b")), "--out", stick).exit_code == 0
    outsider = cli_run("bundle", "inspect", "--data", mesh.dir("d"), stick)
    assert outsider.exit_code == 0, outsider.output
    assert f"for: {_node_id(mesh.dir('b'))}" in outsider.output
    assert "only its recipient can read" in outsider.output
    recipient = cli_run("bundle", "inspect", "--data", mesh.dir("b"), stick)
    assert "signature: valid" in recipient.output and "covers: " in recipient.output


def test_an_all_bundle_opens_with_its_passphrase_and_restores_private_data(mesh: BundleMesh, tmp_path: Path) -> None:
    stick = tmp_path / "backup.bundle"
    exported = cli_run("bundle", "export", "--data", mesh.dir("a"), "--all", "--passphrase", "long passphrase",
                       "--out", stick)
    assert exported.exit_code == 0, exported.output
    wrong = cli_run("bundle", "import", "--data", mesh.dir("e"), stick, "--passphrase", "other")
    assert wrong.exit_code == 1 and "does not decrypt" in wrong.output
    right = cli_run("bundle", "import", "--data", mesh.dir("e"), stick, "--passphrase", "long passphrase")
    assert right.exit_code == 0, right.output
    assert holds_post(mesh.dir("e"), mesh.posts["secret"])



async def test_a_chain_a_usb_d_lan_e_delivers_as_posts_and_attachments_to_e(mesh: BundleMesh, tmp_path: Path) -> None:
    # A and E never meet: a stick takes A's public data to D, and D syncs with E over the mesh's TLS
    stick = tmp_path / "a.bundle"
    assert (await asyncio.to_thread(cli_run, "bundle", "export", "--data", mesh.dir("a"), "--out", stick)).exit_code == 0
    assert (await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("d"), stick)).exit_code == 0
    async with served(mesh.dir("d"), settings(), enrolled=True) as d, open_node(mesh.dir("e")) as e:
        secured, feeds = await secure_settings(e.store, e.data_dir, SyncSettings(), allow_unenrolled=False)
        await sync_once(e.store, PeerAddress("127.0.0.1", d.port), secured, feeds=feeds, data_dir=e.data_dir)
        assert await e.store.fetchone("SELECT 1 FROM posts WHERE id = ?", (mesh.posts["public"],)) is not None
    assert holds_blob(mesh.dir("e"), mesh.files["public_file"][1])
