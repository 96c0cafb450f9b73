"""Leaving or being removed from a team leaves its channels, as in Mattermost.

A user removed from a team can read, post in, list or search none of the team's channels, public or
private, over HTTP or the WebSocket; re-joining the team brings back its default channels but not the
private channels the removal took away, nor any right held in them (channel admin).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.members_world import World, world_at
from support.live_server import live_server, websocket_url
from websockets.asyncio.client import ClientConnection, connect

FRAME_TIMEOUT_S = 5.0  # bounds a failing test only


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def _plans_with_bob(world: World) -> str:
    plans = await world.channel("plans", "P", by="alice")
    await world.ok("POST", f"/api/v4/channels/{plans}/members", "alice", status=201, json={"user_id": world.ids["bob"]})
    await world.post(plans, "the secret plan", by="alice")
    await world.post(plans, "bob was here", by="bob")
    await world.post(world.town_square, "bob in the square", by="bob")
    return plans


async def _remove_bob_from_team(world: World) -> None:
    await world.ok("DELETE", f"/api/v4/teams/{world.team}/members/{world.ids['bob']}", "admin")


async def _status(world: World, method: str, path: str, **kwargs: Any) -> int:
    return (await world.call(method, path, "bob", **kwargs)).status_code


async def test_a_user_removed_from_a_team_can_read_post_or_list_in_none_of_its_channels(world: World) -> None:
    plans = await _plans_with_bob(world)
    await _remove_bob_from_team(world)
    for channel in (world.town_square, plans):
        assert await _status(world, "GET", f"/api/v4/channels/{channel}") == 403
        assert await _status(world, "GET", f"/api/v4/channels/{channel}/posts") == 403
        assert await _status(world, "GET", f"/api/v4/channels/{channel}/members") == 403
        assert await _status(world, "GET", f"/api/v4/channels/{channel}/stats") == 403
        assert await _status(world, "GET", f"/api/v4/channels/{channel}/pinned") == 403
        assert await _status(world, "GET", f"/api/v4/users?in_channel={channel}") == 403
        assert await _status(world, "POST", "/api/v4/users/search", json={"term": "a", "in_channel_id": channel}) == 403
        assert await _status(world, "POST", "/api/v4/posts", json={"channel_id": channel, "message": "still here?"}) == 403
        assert await _status(world, "POST", f"/api/v4/channels/{channel}/members",
                             json={"user_id": world.ids["bob"]}) in (400, 403)
    # the team's channels are gone from bob's lists, and his membership from theirs
    assert await world.ok("GET", f"/api/v4/users/me/teams/{world.team}/channels", "bob") == []
    assert await world.ok("GET", f"/api/v4/users/me/teams/{world.team}/channels/members", "bob") == []
    members = await world.ok("GET", f"/api/v4/channels/{plans}/members", "alice")
    assert [m["user_id"] for m in members] == [world.ids["alice"]]
    in_square = await world.ok("GET", f"/api/v4/users?in_channel={world.town_square}", "alice")
    assert world.ids["bob"] not in {u["id"] for u in in_square}
    stats = await world.ok("GET", f"/api/v4/channels/{plans}/stats", "alice")
    assert stats["member_count"] == 1


async def test_a_user_removed_from_a_team_finds_nothing_of_it_in_search(world: World) -> None:
    await _plans_with_bob(world)
    found = await world.ok("POST", "/api/v4/posts/search", "bob", json={"terms": "secret"})
    assert [p["message"] for p in found["posts"].values()] == ["the secret plan"]
    await _remove_bob_from_team(world)
    assert (await world.ok("POST", "/api/v4/posts/search", "bob", json={"terms": "secret"}))["order"] == []
    assert (await world.ok("POST", "/api/v4/posts/search", "bob", json={"terms": "bob"}))["order"] == []
    in_team = await world.call("POST", f"/api/v4/teams/{world.team}/posts/search", "bob", json={"terms": "secret"})
    assert in_team.status_code == 403 or in_team.json()["order"] == []


async def test_the_removal_leaves_the_channel_sets_in_the_same_transaction(world: World) -> None:
    plans = await _plans_with_bob(world)
    await _remove_bob_from_team(world)
    rows = await world.node.store.fetchall(
        "SELECT channel_id FROM channel_members WHERE user_id = ? ORDER BY channel_id", (world.ids["bob"],))
    assert rows == []  # not only ineffective: removed, as Mattermost does
    removes = await world.node.store.fetchall(
        "SELECT f.scope FROM ops o JOIN feeds f ON f.id = o.feed WHERE f.scope IN (?, ?) ORDER BY f.scope",
        (f"channel:{plans}", f"user:{world.ids['bob']}"))
    assert {r["scope"] for r in removes} == {f"channel:{plans}", f"user:{world.ids['bob']}"}


async def test_rejoining_a_team_brings_back_its_default_channels_but_not_its_private_ones(world: World) -> None:
    plans = await _plans_with_bob(world)
    await _remove_bob_from_team(world)
    await world.add_to_team("bob")
    assert await _status(world, "GET", f"/api/v4/channels/{plans}") == 403
    assert await _status(world, "GET", f"/api/v4/channels/{plans}/posts") == 403
    assert await _status(world, "GET", f"/api/v4/channels/{world.town_square}/posts") == 200
    names = {c["name"] for c in await world.ok("GET", f"/api/v4/users/me/teams/{world.team}/channels", "bob")}
    assert names == {"town-square", "off-topic"}


async def test_a_channel_admin_removed_from_the_team_keeps_no_right_in_its_channels(world: World) -> None:
    den = await world.channel("den", "P", by="bob")  # bob creates it: channel admin
    await world.ok("POST", f"/api/v4/channels/{den}/members", "bob", status=201, json={"user_id": world.ids["alice"]})
    await _remove_bob_from_team(world)
    await world.add_to_team("bob")
    assert await _status(world, "PUT", f"/api/v4/channels/{den}/patch", json={"header": "mine"}) == 403
    assert await _status(world, "PUT", f"/api/v4/channels/{den}/members/{world.ids['alice']}/roles",
                         json={"roles": "channel_user channel_admin"}) == 403
    assert await _status(world, "DELETE", f"/api/v4/channels/{den}/members/{world.ids['alice']}") == 403
    assert await _status(world, "DELETE", f"/api/v4/channels/{den}") == 403
    assert await world.node.services.members.channel_roles(den, world.ids["bob"]) is None


# -- the WebSocket ----------------------------------------------------------------------------------

async def _receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(FRAME_TIMEOUT_S):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def test_a_user_removed_from_a_team_receives_no_more_events_of_its_channels(world: World) -> None:
    plans = await _plans_with_bob(world)
    direct = await world.ok("POST", "/api/v4/channels/direct", "alice", status=201,
                            json=[world.ids["alice"], world.ids["bob"]])
    async with live_server(world.node) as base_url, connect(websocket_url(base_url)) as ws:
        await ws.send(json.dumps({"seq": 1, "action": "authentication_challenge",
                                  "data": {"token": world.tokens["bob"]}}))
        assert (await _receive(ws))["event"] == "hello"
        assert (await _receive(ws))["status"] == "OK"
        await _remove_bob_from_team(world)
        await world.post(plans, "after the removal", by="alice")
        await world.post(world.town_square, "square after the removal", by="alice")
        await world.post(direct["id"], "marker", by="alice")  # bob still shares a direct channel with alice
        frames = []
        while True:
            frame = await _receive(ws)
            frames.append(frame)
            if frame["event"] == "posted" and json.loads(frame["data"]["post"])["message"] == "marker":
                break
    posted = [json.loads(f["data"]["post"])["message"] for f in frames if f["event"] == "posted"]
    assert posted == ["marker"]
    removed_from = {f["data"].get("channel_id") for f in frames if f["event"] == "user_removed"}
    assert {plans, world.town_square} <= removed_from
    assert any(f["event"] == "leave_team" and f["data"]["user_id"] == world.ids["bob"] for f in frames)


async def test_a_channel_add_racing_a_team_removal_on_one_node_never_grants_access(world: World) -> None:
    bob = world.ids["bob"]
    for round_ in range(12):
        channel = await world.channel(f"race-{round_}", "P", by="alice")
        add, remove = await asyncio.gather(
            world.call("POST", f"/api/v4/channels/{channel}/members", "alice", json={"user_id": bob}),
            world.call("DELETE", f"/api/v4/teams/{world.team}/members/{bob}", "admin"))
        assert remove.status_code == 200, remove.text
        assert add.status_code in (201, 400), add.text  # 400: the removal came first
        assert not await world.node.services.members.is_channel_member(channel, bob)
        assert await _status(world, "GET", f"/api/v4/channels/{channel}/posts") == 403
        await world.add_to_team("bob")  # and re-joining does not revive a racing add
        assert not await world.node.services.members.is_channel_member(channel, bob)
        assert await _status(world, "GET", f"/api/v4/channels/{channel}/posts") == 403
