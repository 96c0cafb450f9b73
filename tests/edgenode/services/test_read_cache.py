"""Answers kept in read caches are exactly what the store says now, not what it said a moment ago.

A cache drops its answers when a commit touches a kind its queries read (a local write of that kind;
anything at all for foreign ops, retractions and node-local writes), so a deactivation or a removal
arriving from a peer refuses the very next request; and a fill that raced with such a commit is not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.members_world import Nodes, World, synced_pair

from crdt import Update
from edgenode.services.context import DIRECTORY_SCOPE
from edgenode.services.read_cache import ReadCache
from edgenode.store import ChangeListener
from sync.session import reconcile_pair


class _Commits:
    """Stands in for the store: what ReadCache needs of it is the change stream."""

    def __init__(self) -> None:
        self.listeners: list[ChangeListener] = []

    def subscribe_changes(self, listener: ChangeListener) -> None:
        self.listeners.append(listener)

    def commit(self, kinds: frozenset[str] | None) -> None:
        for listener in self.listeners:
            listener(kinds)


def _cache(commits: _Commits, kinds: set[str]) -> ReadCache[str, int]:
    return ReadCache(commits, kinds)  # type: ignore[arg-type]


class _Reads:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> int:
        self.count += 1
        return self.count


async def test_an_answer_is_kept_until_a_commit_touches_a_kind_it_reads() -> None:
    commits, reads = _Commits(), _Reads()
    cache = _cache(commits, {"user"})
    assert await cache.get("u1", reads) == 1
    assert await cache.get("u1", reads) == 1
    commits.commit(frozenset({"post", "channel_member"}))
    assert await cache.get("u1", reads) == 1  # a post changes nothing it read
    commits.commit(frozenset({"post", "user"}))
    assert await cache.get("u1", reads) == 2
    commits.commit(None)  # a foreign segment, a retraction, a node-local write: anything
    assert await cache.get("u1", reads) == 3


async def test_a_fill_that_raced_with_a_commit_is_answered_but_not_kept() -> None:
    commits, release = _Commits(), asyncio.Event()
    cache = _cache(commits, {"user"})

    async def slow_read() -> int:
        await release.wait()
        return 0  # what the store said before the commit below

    racing = asyncio.create_task(cache.get("u1", slow_read))
    await asyncio.sleep(0)
    commits.commit(frozenset({"user"}))
    release.set()
    assert await racing == 0
    assert await cache.get("u1", _Reads()) == 1  # read again, not the stale 0


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    async with synced_pair(tmp_path) as pair:
        yield pair


async def _post(world: World, who: str, channel_id: str) -> Any:
    return await world.call("POST", "/api/v4/posts", who, json={"channel_id": channel_id, "message": "hello"})


async def test_a_team_removal_from_a_peer_refuses_the_very_next_post(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    for _ in range(2):  # the session, the account, the channel and bob's membership are all cached now
        assert (await _post(a, "bob", a.town_square)).status_code == 201
    await reconcile_pair(a.node.store, b.node.store)
    remove = await b.node.services.members.remove("team.members", a.team, a.ids["bob"])
    assert remove is not None
    await b.node.store.write(DIRECTORY_SCOPE, [remove])
    await reconcile_pair(a.node.store, b.node.store)
    assert (await _post(a, "bob", a.town_square)).status_code == 403
    assert (await _post(a, "alice", a.town_square)).status_code == 201  # nobody else is touched


async def test_a_deactivation_from_a_peer_refuses_the_very_next_post(nodes: Nodes) -> None:
    a, b = nodes.a, nodes.b
    for _ in range(2):
        assert (await _post(a, "bob", a.town_square)).status_code == 201
    await reconcile_pair(a.node.store, b.node.store)
    now = b.node.services.ctx.now_ms()
    await b.node.store.write(DIRECTORY_SCOPE, [Update("user", a.ids["bob"], {"delete_at": now, "update_at": now})])
    await reconcile_pair(a.node.store, b.node.store)
    assert (await _post(a, "bob", a.town_square)).status_code == 401


async def test_a_local_removal_from_a_channel_refuses_the_very_next_post(nodes: Nodes) -> None:
    a = nodes.a
    plans = await a.channel("plans", "O", by="alice")
    await a.ok("POST", f"/api/v4/channels/{plans}/members", "bob", status=201, json={"user_id": a.ids["bob"]})
    assert (await _post(a, "bob", plans)).status_code == 201
    await a.ok("DELETE", f"/api/v4/channels/{plans}/members/{a.ids['bob']}", "alice")
    assert (await _post(a, "bob", plans)).status_code == 403
