"""A partition: node A removes bob from the team while node B, offline, adds him to a private channel.

The channel add survives the add-wins merge (it names a tag A never saw), yet after the merge every
node agrees that bob is not an effective member: he cannot read the channel on any node, it is not
sent to a node that hosts only him, and re-joining the team later does not revive the add.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.members_world import World, serve, world_at

from edgenode.peering.need_to_know import PeerNeedToKnow
from edgenode.node import open_node
from edgenode.services.context import DIRECTORY_SCOPE
from sync.session import reconcile_pair


@dataclass
class Pair:
    a: World
    b: World
    c: World  # a node only bob uses
    plans: str


async def _sync(*worlds: World) -> None:
    for _ in range(2):
        for x in worlds:
            for y in worlds:
                if x is not y:
                    await reconcile_pair(x.node.store, y.node.store)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(world_at(tmp_path / "a"))
        plans = await a.channel("plans", "P", by="alice")
        await a.post(plans, "the secret plan", by="alice")
        b = await stack.enter_async_context(serve(await stack.enter_async_context(open_node(tmp_path / "b"))))
        c = await stack.enter_async_context(serve(await stack.enter_async_context(open_node(tmp_path / "c"))))
        await _sync(a, b, c)
        for world in (b, c):
            world.ids, world.team, world.town_square = a.ids, a.team, a.town_square
        for name in ("admin", "alice"):
            await b.login(name)
        await c.login("bob")  # c hosts bob, and only bob
        await _sync(a, b, c)
        yield Pair(a, b, c, plans)


async def _reads(world: World, channel: str) -> int:
    return (await world.call("GET", f"/api/v4/channels/{channel}/posts", "bob")).status_code


async def test_a_channel_add_concurrent_with_a_team_removal_grants_nothing_on_any_node(pair: Pair) -> None:
    a, b, plans, bob = pair.a, pair.b, pair.plans, pair.a.ids["bob"]
    # partition: A removes bob from the team; B, not knowing, adds him to the private channel
    await a.ok("DELETE", f"/api/v4/teams/{a.team}/members/{bob}", "admin")
    await b.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    await b.login("bob")
    assert await _reads(b, plans) == 200  # on B, before the merge, the add is legitimate
    await _sync(a, b)
    for world in (a, b):
        # the add survived the merge in the OR-set ...
        raw = await world.node.store.fetchone("SELECT 1 FROM channel_members WHERE channel_id = ? AND user_id = ?",
                                              (plans, bob))
        assert raw is not None
        # ... and grants nothing: every node computes the same effective membership
        assert not await world.node.services.members.is_channel_member(plans, bob)
        assert await world.node.services.members.channel_roles(plans, bob) is None
        listed = await world.ok("GET", f"/api/v4/channels/{plans}/members", "alice")
        assert [m["user_id"] for m in listed] == [a.ids["alice"]]
    assert await _reads(b, plans) == 403
    assert (await b.call("POST", "/api/v4/posts", "bob", json={"channel_id": plans, "message": "hi"})).status_code == 403


async def test_rejoining_after_the_merge_does_not_revive_the_concurrent_add(pair: Pair) -> None:
    a, b, plans, bob = pair.a, pair.b, pair.plans, pair.a.ids["bob"]
    await a.ok("DELETE", f"/api/v4/teams/{a.team}/members/{bob}", "admin")
    await b.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    await _sync(a, b)
    await a.add_to_team("bob")
    await b.login("bob")
    await _sync(a, b)
    for world in (a, b):
        assert await world.node.services.members.is_team_member(a.team, bob)
        assert not await world.node.services.members.is_channel_member(plans, bob)
    assert await _reads(b, plans) == 403
    assert (await b.call("GET", f"/api/v4/channels/{a.town_square}/posts", "bob")).status_code == 200
    # a new, deliberate add after the re-join does count
    await b.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    await _sync(a, b)
    for world in (a, b):
        assert await world.node.services.members.is_channel_member(plans, bob)


async def test_a_node_hosting_only_the_removed_user_stops_being_sent_the_channel(pair: Pair) -> None:
    a, b, plans, bob = pair.a, pair.b, pair.plans, pair.a.ids["bob"]
    c_node = pair.c.node.store.node_id

    async def entitled() -> bool:
        peer = PeerNeedToKnow(a.node.store, c_node.hex())
        await peer.load()
        return peer.allows(f"channel:{plans}")

    await a.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    assert await entitled()
    await a.ok("DELETE", f"/api/v4/channels/{plans}/members/{bob}", "alice")
    assert not await entitled()
    # the partition: A removes bob from the team; B adds him to the channel again
    await a.ok("DELETE", f"/api/v4/teams/{a.team}/members/{bob}", "admin")
    await b.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    await _sync(a, b)
    assert not await entitled()


async def test_a_live_peer_session_drops_the_channel_when_its_only_hosted_member_leaves_the_team(pair: Pair) -> None:
    a, plans, bob = pair.a, pair.plans, pair.a.ids["bob"]
    await a.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    peer = PeerNeedToKnow(a.node.store, pair.c.node.store.node_id.hex())
    await peer.load()
    assert peer.allows(f"channel:{plans}")
    await a.ok("DELETE", f"/api/v4/teams/{a.team}/members/{bob}", "admin")
    change = await peer.refresh({DIRECTORY_SCOPE})
    assert not peer.allows(f"channel:{plans}")
    assert f"channel:{plans}" in change.lost


async def test_a_team_removal_from_a_peer_tells_the_websocket_clients_here(pair: Pair) -> None:
    a, b, plans, bob = pair.a, pair.b, pair.plans, pair.a.ids["bob"]
    await a.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": bob})
    await _sync(a, b)
    await b.node.services.peer_events.drain()
    await a.ok("DELETE", f"/api/v4/teams/{a.team}/members/{bob}", "admin")
    with b.node.services.ctx.events.subscribe(peer_writes=True) as heard:
        await _sync(a, b)
        await b.node.services.peer_events.drain()
        events = []
        while not heard.empty():
            events.append(heard.get_nowait())
    assert ("leave_team", a.team) in {(e.event, e.data.get("team_id")) for e in events}
    removed = {e.data.get("channel_id") for e in events if e.event == "user_removed"}
    assert {plans, a.town_square} <= removed
