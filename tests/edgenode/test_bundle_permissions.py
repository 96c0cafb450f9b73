"""The bundle routes are for system admins only: a member is refused with Mattermost's error and
nothing is written; an admin on a node in no mesh is told why in one sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.members_world import World, world_at

PERMISSIONS_ERROR = "api.context.permissions.app_error"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def test_a_member_can_neither_export_nor_import_a_bundle(world: World) -> None:
    before = await world.node.store.digest()
    exported = await world.call("POST", "/api/v4/edgenode/bundles/export", "alice", json={})
    assert (exported.status_code, exported.json()["id"]) == (403, PERMISSIONS_ERROR)
    imported = await world.call("POST", "/api/v4/edgenode/bundles/import", "alice", content=b"EDGENODE-BUNDLE\n")
    assert (imported.status_code, imported.json()["id"]) == (403, PERMISSIONS_ERROR)
    anonymous = await world.call("POST", "/api/v4/edgenode/bundles/import", content=b"EDGENODE-BUNDLE\n")
    assert anonymous.status_code == 401
    assert await world.node.store.digest() == before


async def test_an_admin_of_a_node_in_no_mesh_is_told_why(world: World) -> None:
    response = await world.call("POST", "/api/v4/edgenode/bundles/export", "admin", json={})
    assert response.status_code == 400 and "in no mesh" in response.json()["message"]
    garbage = await world.call("POST", "/api/v4/edgenode/bundles/import", "admin", content=b"not a bundle")
    assert garbage.status_code == 400
