"""Review: a delayed `/echo` acts for its user when it fires, so it must not post for a user
deactivated in the meantime (docs/security.md: a deactivated user's sessions stop at the next request,
also when the deactivation arrives from a peer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.members_world import World, world_at

from crdt import Update
from edgenode.services.context import DIRECTORY_SCOPE


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def _messages(world: World) -> list[str]:
    posts = await world.ok("GET", f"/api/v4/channels/{world.town_square}/posts", "admin")
    return [p["message"] for p in posts["posts"].values()]


async def test_a_delayed_echo_does_not_post_for_a_user_deactivated_meanwhile(world: World) -> None:
    commands = world.node.services.commands
    gate = asyncio.Event()

    async def wait_for_gate(seconds: float) -> None:
        await gate.wait()

    commands.sleep = wait_for_gate
    for who in ("alice", "bob"):
        await world.ok("POST", "/api/v4/commands/execute", who,
                       json={"channel_id": world.town_square, "command": f'/echo "from {who}" 60'})
    # bob is deactivated (as a deactivation replicated from a peer arrives) before the echo fires
    now = world.node.services.ctx.now_ms()
    await world.node.store.write(DIRECTORY_SCOPE, [Update("user", world.ids["bob"], {"delete_at": now, "update_at": now})])
    gate.set()
    await commands.drain()
    messages = await _messages(world)
    assert "from alice" in messages
    assert "from bob" not in messages
