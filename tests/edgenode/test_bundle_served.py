"""Bundles into and out of a node that is being served: through its API (system admins only), so the
served process's one writer applies the import and raises the usual websocket events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from support.bundle_mesh import BundleMesh, bundle_mesh, cli_run, post_on
from support.live_server import live_server
from support.members_world import PASSWORD

from edgenode.data_lock import hold_data_folder
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.node import open_node


@pytest.fixture
def mesh(tmp_path: Path) -> BundleMesh:
    return bundle_mesh(tmp_path)


async def _login(base: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/api/v4/users/login", json={"login_id": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.headers["Token"]


async def test_an_import_into_a_served_node_goes_through_its_api_and_raises_websocket_events(
        mesh: BundleMesh, tmp_path: Path) -> None:
    directory = tmp_path / "directory.bundle"
    assert (await asyncio.to_thread(cli_run, "bundle", "export", "--data", mesh.dir("a"), "--out", directory)).exit_code == 0
    assert (await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("b"), directory)).exit_code == 0
    # alice posts on A after B's first stick; the second stick reaches B while B is served
    later = await post_on(mesh.dir("a"), "alice", mesh.ids["town_square"], "news from A")
    stick = tmp_path / "news.bundle"
    assert (await asyncio.to_thread(cli_run, "bundle", "export", "--data", mesh.dir("a"), "--out", stick)).exit_code == 0

    with hold_data_folder(mesh.dir("b"), "serving"):
        async with open_node(mesh.dir("b")) as node, live_server(node) as base:
            admin, alice = await _login(base, "admin"), await _login(base, "alice")
            refused = await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("b"), stick,
                                              "--url", base, "--token", alice)
            assert refused.exit_code == 1 and "(403)" in refused.output, refused.output
            without = await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("b"), stick)
            assert without.exit_code == 1 and "is being served" in without.output
            elsewhere = await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("b"), stick,
                                                "--url", "http://192.0.2.7:8065", "--token", admin)
            assert elsewhere.exit_code == 1 and "is not this machine's node" in elsewhere.output  # loopback only

            with node.services.ctx.events.subscribe(peer_writes=True) as events:
                result = await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("b"), stick,
                                                 "--url", base, "--token", admin)
                assert result.exit_code == 0, result.output
                assert "through the served node" in result.output
                assert await node.store.fetchone("SELECT 1 FROM posts WHERE id = ?", (later,)) is not None
                event = await asyncio.wait_for(events.get(), timeout=10)
                while event.event != "posted":
                    event = await asyncio.wait_for(events.get(), timeout=10)
                assert event.from_peer and "news from A" in str(event.data)

            out = tmp_path / "from-served-b.bundle"
            exported = await asyncio.to_thread(cli_run, "bundle", "export", "--data", mesh.dir("b"), "--for",
                                               node_display_id(load_or_create_identity(mesh.dir("a")).public_key),
                                               "--out", out, "--url", base, "--token", admin)
            assert exported.exit_code == 0, exported.output
    imported = await asyncio.to_thread(cli_run, "bundle", "import", "--data", mesh.dir("a"), out)
    assert imported.exit_code == 0, imported.output
    assert "ops applied" in imported.output
