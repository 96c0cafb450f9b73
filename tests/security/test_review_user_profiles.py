"""Review: another user's notification settings (their private mention keys) and the time of their last
password change are not for other members to read, as Mattermost's SanitizeProfile
(ClearNonProfileFields) keeps them from every profile it serves to someone else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.members_world import World, world_at


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


def _private(user: dict[str, Any]) -> tuple[Any, Any]:
    return user["notify_props"], user["last_password_update"]


async def test_another_members_mention_keys_and_password_time_are_not_served(world: World) -> None:
    bob = world.ids["bob"]
    await world.ok("PUT", "/api/v4/users/me/patch", "bob", json={"notify_props": {"mention_keys": "secret-project"}})
    own = await world.ok("GET", "/api/v4/users/me", "bob")
    assert own["notify_props"]["mention_keys"] == "secret-project" and own["last_password_update"] > 0
    seen = [
        await world.ok("GET", f"/api/v4/users/{bob}", "alice"),
        await world.ok("GET", "/api/v4/users/username/bob", "alice"),
        *(await world.ok("POST", "/api/v4/users/ids", "alice", json=[bob])),
        *(await world.ok("POST", "/api/v4/users/usernames", "alice", json=["bob"])),
        *[u for u in await world.ok("GET", "/api/v4/users", "alice") if u["id"] == bob],
        *(await world.ok("POST", "/api/v4/users/search", "alice", json={"term": "bob"})),
        *(await world.ok("GET", "/api/v4/users/autocomplete", "alice", params={"name": "bob"}))["users"],
    ]
    assert len(seen) == 7
    for user in seen:
        assert _private(user) == ({}, 0), user
    # a system admin still sees them
    assert (await world.ok("GET", f"/api/v4/users/{bob}", "admin"))["notify_props"]["mention_keys"] == "secret-project"
