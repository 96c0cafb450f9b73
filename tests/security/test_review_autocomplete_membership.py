"""Review: /users/autocomplete answers "who is in C" with the effective membership (docs/security.md,
Membership promise 3), not with the raw channel member set.

A channel add made offline while bob was being removed from the team survives the merge in the
OR-set but grants nothing; autocomplete must neither list bob as in the channel nor let bob, now in
no team, find the private channel's members through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from support.members_world import World, serve, world_at

from edgenode.node import open_node
from sync.session import reconcile_pair


async def _sync(x: World, y: World) -> None:
    for _ in range(2):
        await reconcile_pair(x.node.store, y.node.store)
        await reconcile_pair(y.node.store, x.node.store)


@pytest.fixture
async def merged(tmp_path: Path) -> AsyncIterator[tuple[World, World, str]]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(world_at(tmp_path / "a"))
        plans = await a.channel("plans", "P", by="alice")
        b = await stack.enter_async_context(serve(await stack.enter_async_context(open_node(tmp_path / "b"))))
        await _sync(a, b)
        b.ids, b.team, b.town_square = a.ids, a.team, a.town_square
        for name in ("admin", "alice"):
            await b.login(name)
        bob = a.ids["bob"]
        # partition: A removes bob from the team; B, not knowing, adds him to the private channel
        await a.ok("DELETE", f"/api/v4/teams/{a.team}/members/{bob}", "admin")
        await b.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
        await _sync(a, b)
        assert await a.node.store.fetchone("SELECT 1 FROM channel_members WHERE channel_id = ? AND user_id = ?",
                                           (plans, bob)) is not None
        assert not await a.node.services.members.is_channel_member(plans, bob)
        yield a, b, plans


async def test_autocomplete_in_a_channel_lists_only_its_effective_members(merged: tuple[World, World, str]) -> None:
    a, _, plans = merged
    found = await a.ok("GET", "/api/v4/users/autocomplete", "alice",
                       params={"in_team": a.team, "in_channel": plans, "name": ""})
    assert [u["username"] for u in found["users"]] == ["alice"]


async def test_a_user_removed_from_the_team_finds_nobody_through_a_dead_channel_add(
        merged: tuple[World, World, str]) -> None:
    a, _, _ = merged
    found = await a.ok("GET", "/api/v4/users/autocomplete", "bob", params={"name": "ali"})
    assert [u["username"] for u in found["users"]] == []
