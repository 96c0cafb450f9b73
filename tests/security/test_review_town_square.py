"""Review: the default channel keeps its name, so it can't be renamed out of the archive guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.members_world import World, world_at


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def test_a_member_cannot_rename_town_square_and_so_cannot_archive_it(world: World) -> None:
    # Mattermost (UpdateChannel): "api.channel.update_channel.tried.app_error" for a rename of the default channel
    for path in (f"/api/v4/channels/{world.town_square}/patch", f"/api/v4/channels/{world.town_square}"):
        body = {"name": "renamed"} if path.endswith("patch") else {"id": world.town_square, "name": "renamed",
                                                                  "display_name": "Town Square"}
        response = await world.call("PUT", path, "alice", json=body)
        assert (response.status_code, response.json()["id"]) == (400, "api.channel.update_channel.tried.app_error"), \
            response.text
    response = await world.call("DELETE", f"/api/v4/channels/{world.town_square}", "alice")
    assert response.status_code == 400, response.text
    row = await world.node.store.fetchone("SELECT name, delete_at FROM channels WHERE id = ?", (world.town_square,))
    assert (row[0], row[1]) == ("town-square", 0)
    # other fields of the default channel may still change
    patched = await world.ok("PUT", f"/api/v4/channels/{world.town_square}/patch", "alice",
                             json={"display_name": "Lobby", "name": "town-square"})
    assert (patched["name"], patched["display_name"]) == ("town-square", "Lobby")


async def test_nobody_is_removed_from_town_square(world: World) -> None:
    # Mattermost (RemoveUserFromChannel): "api.channel.remove.default.app_error" for the default channel
    for who in ("alice", "admin"):
        response = await world.call("DELETE", f"/api/v4/channels/{world.town_square}/members/{world.ids['bob']}", who)
        assert (response.status_code, response.json()["id"]) == (400, "api.channel.remove.default.app_error"), \
            response.text
    assert await world.node.services.members.is_channel_member(world.town_square, world.ids["bob"])
    # /kick goes the same way
    await world.ok("POST", "/api/v4/commands/execute", "alice",
                   json={"channel_id": world.town_square, "command": "/kick @bob"})
    assert await world.node.services.members.is_channel_member(world.town_square, world.ids["bob"])
