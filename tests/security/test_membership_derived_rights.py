"""Rights derived from an account outlive neither the account nor its owner.

A deactivation may be made on another node: when it arrives, the user's sessions and personal access
tokens are refused on the very next request (not after a cache expires), and so are the tokens of
the bots the user owns (Mattermost disables a deactivated user's bots).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.live_server import live_server, websocket_url
from support.members_world import Nodes, World, synced_pair
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from crdt import Update
from edgenode.api.routes.websocket import CLOSE_SESSION_INVALID
from edgenode.services.context import DIRECTORY_SCOPE
from sync.session import reconcile_pair


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    async with synced_pair(tmp_path) as pair:
        yield pair


async def _deactivate_on_b_and_sync(nodes: Nodes, user_id: str) -> None:
    """A deactivation made on node B (by its admin tooling), replicated to node A."""
    await reconcile_pair(nodes.a.node.store, nodes.b.node.store)
    now = nodes.b.node.services.ctx.now_ms()
    await nodes.b.node.store.write(DIRECTORY_SCOPE, [Update("user", user_id, {"delete_at": now, "update_at": now})])
    await reconcile_pair(nodes.a.node.store, nodes.b.node.store)


async def _me(world: World, token: str) -> int:
    response = await world.client.get("/api/v4/users/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_a_deactivated_users_session_and_tokens_are_refused_at_once(nodes: Nodes) -> None:
    a = nodes.a
    session = a.tokens["bob"]
    await a.ok("PUT", f"/api/v4/users/{a.ids['bob']}/roles", "admin", json={"roles": "system_user system_user_access_token"})
    token = (await a.ok("POST", "/api/v4/users/me/tokens", "bob", json={"description": "cli"}))["token"]
    assert await _me(a, session) == 200 and await _me(a, token) == 200  # both now in the session cache
    await _deactivate_on_b_and_sync(nodes, a.ids["bob"])
    assert await _me(a, session) == 401
    assert await _me(a, token) == 401
    relogin = await a.call("POST", "/api/v4/users/login", json={"login_id": "bob", "password": "password1"})
    assert relogin.status_code == 401
    assert await _me(a, a.tokens["alice"]) == 200  # nobody else is touched


async def test_a_bots_token_is_refused_once_its_owner_is_deactivated(nodes: Nodes) -> None:
    a = nodes.a
    carol = await a.create_user("carol")
    await a.ok("PUT", f"/api/v4/users/{carol}/roles", "admin", json={"roles": "system_user system_admin"})
    await a.login("carol")
    bot = await a.ok("POST", "/api/v4/bots", "carol", status=201, json={"username": "relay-bot"})
    assert bot["owner_id"] == carol
    token = (await a.ok("POST", f"/api/v4/users/{bot['user_id']}/tokens", "admin", json={"description": "relay"}))["token"]
    assert await _me(a, token) == 200
    await _deactivate_on_b_and_sync(nodes, carol)
    assert await _me(a, token) == 401
    admin_bot = await a.ok("POST", "/api/v4/bots", "admin", status=201, json={"username": "admin-bot"})
    admin_bot_token = (await a.ok("POST", f"/api/v4/users/{admin_bot['user_id']}/tokens", "admin",
                                  json={"description": "x"}))["token"]
    assert await _me(a, admin_bot_token) == 200  # bots of active owners keep working


# -- integrations act for their creator --------------------------------------------------------------

async def _alpha_led_by_alice(a: World) -> tuple[str, str]:
    """Team alpha, created by alice (so its team admin), with bob; and its town square."""
    alpha = (await a.ok("POST", "/api/v4/teams", "alice", status=201,
                        json={"name": "alpha", "display_name": "Alpha", "type": "O"}))["id"]
    await a.add_to_team("bob", alpha, by="alice")
    square = (await a.ok("GET", f"/api/v4/teams/{alpha}/channels/name/town-square", "alice"))["id"]
    return alpha, square


async def test_an_incoming_webhook_stops_posting_when_its_creator_leaves_the_team(nodes: Nodes) -> None:
    a = nodes.a
    alpha, square = await _alpha_led_by_alice(a)
    hook = await a.ok("POST", "/api/v4/hooks/incoming", "alice", status=201, json={"channel_id": square})
    assert (await a.call("POST", f"/hooks/{hook['id']}", json={"text": "build green"})).status_code == 200
    await a.ok("DELETE", f"/api/v4/teams/{alpha}/members/{a.ids['alice']}", "admin")
    refused = await a.call("POST", f"/hooks/{hook['id']}", json={"text": "build red"})
    assert (refused.status_code, refused.json()["id"]) == (403, "web.incoming_webhook.permissions.app_error")
    posts = await a.ok("GET", f"/api/v4/channels/{square}/posts", "bob")
    assert "build red" not in {p["message"] for p in posts["posts"].values()}


async def test_an_outgoing_webhook_stops_firing_when_its_creator_leaves_the_team(nodes: Nodes) -> None:
    a = nodes.a
    alpha, square = await _alpha_led_by_alice(a)
    await a.ok("POST", "/api/v4/hooks/outgoing", "alice", status=201, json={
        "team_id": alpha, "trigger_words": ["deploy"], "callback_urls": ["http://hooks.example.com/deploy"],
        "display_name": "Deployer", "content_type": "application/json"})

    async def deliveries(message: str) -> int:
        post = await a.ok("POST", "/api/v4/posts", "bob", status=201, json={"channel_id": square, "message": message})
        data = {"post": json.dumps(post), "channel_type": "O", "team_id": alpha, "channel_name": "town-square"}
        return len(await a.node.services.outgoing.deliveries_for(data))

    assert await deliveries("deploy now") == 1
    await a.ok("DELETE", f"/api/v4/teams/{alpha}/members/{a.ids['alice']}", "admin")
    assert await deliveries("deploy again") == 0  # the team's posts no longer leave through alice's hook


async def test_a_deactivated_users_open_websocket_is_closed_at_its_next_event(nodes: Nodes) -> None:
    a = nodes.a
    async with live_server(a.node) as base_url, connect(websocket_url(base_url)) as ws:
        await ws.send(json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": a.tokens["bob"]}}))
        async with asyncio.timeout(5):
            assert json.loads(await ws.recv())["event"] == "hello"
            assert json.loads(await ws.recv())["status"] == "OK"
        await _deactivate_on_b_and_sync(nodes, a.ids["bob"])
        await a.post(a.town_square, "after the deactivation", by="alice")
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    frame = json.loads(await ws.recv())
                    assert frame.get("event") != "posted", frame
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_SESSION_INVALID
