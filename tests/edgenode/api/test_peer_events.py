"""Ops that arrive from a peer raise the WebSocket events a local write raises, for the users they concern.

Two whole nodes (`open_node`) in one process, synced by live peer sessions over the in-memory link
(or, where the shape of a catch-up matters, by applying one node's feeds to the other in one
segment). Users write through node A's API; a WebSocket client is connected to node B's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.live_server import live_server, websocket_url
from websockets.asyncio.client import ClientConnection, connect

from crdt import Add, Create, Delete, Op, Remove, Stamp, Update
from edgenode.api.app import build_app
from edgenode.ids import new_id
from edgenode.node import Node, open_node
from edgenode.services import Event, EventBus
from edgenode.services.context import channel_scope
from edgenode.services.events import Broadcast
from edgenode.services.peer_events import MAX_POSTED_PER_FEED, Change, changes_of, read_shares
from edgenode.store import Store
from sync import FeedId
from sync.framing import memory_link_pair
from sync.peer import PeerSession, SessionConfig, mesh_tag

FRAME_TIMEOUT_S = 10.0  # only bounds a failing test
MESH = mesh_tag("peer-events-test")
PASSWORD = "password1"


@dataclass
class Client:
    """One node's HTTP API, driven over httpx's ASGI transport."""

    node: Node
    http: httpx.AsyncClient

    async def call(self, method: str, path: str, token: str = "", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def login(self, username: str) -> str:
        response = await self.http.post("/api/v4/users/login", json={"login_id": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.headers["Token"]


@dataclass
class World:
    """Nodes A and B; on A an admin, alice and bob in a team, whose town-square id is `square`."""

    a: Client
    b: Client
    square: str
    team: str
    tokens: dict[str, str]  # on node A
    users: dict[str, str]  # username -> id


async def open_client(stack: AsyncExitStack, data_dir: Path) -> Client:
    """Open the node of `data_dir` and its API client, both closed with `stack`."""
    node = await stack.enter_async_context(open_node(data_dir))
    http = await stack.enter_async_context(httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(node.services)),
                                                             base_url="http://localhost"))
    return Client(node, http)


async def build_world(a: Client, b: Client) -> World:
    users: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for name in ("admin", "alice", "bob", "carol"):
        created = await a.call("POST", "/api/v4/users", tokens.get("admin", ""),
                               json={"username": name, "email": f"{name}@example.com", "password": PASSWORD})
        users[name] = created["id"]
        tokens[name] = await a.login(name)
    team = (await a.call("POST", "/api/v4/teams", tokens["admin"],
                         json={"name": "field", "display_name": "Field", "type": "O"}))["id"]
    for name in ("alice", "bob", "carol"):
        await a.call("POST", f"/api/v4/teams/{team}/members", tokens["admin"], json={"team_id": team, "user_id": users[name]})
    square = (await a.call("GET", f"/api/v4/teams/{team}/channels/name/town-square", tokens["admin"]))["id"]
    return World(a, b, square, team, tokens, users)


@asynccontextmanager
async def live_sync(a: Store, b: Store) -> AsyncIterator[None]:
    """Keep a live peer session between the two stores while the block runs."""
    la, lb = memory_link_pair()
    tasks = [asyncio.create_task(PeerSession(store, link, node=store.node_id, mesh=MESH, initiator=first,
                                             config=SessionConfig()).run())
             for store, link, first in ((a, la, True), (b, lb, False))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition: Callable[[], Any], timeout: float = 15) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


async def in_sync(a: Client, b: Client) -> None:
    """Until both nodes hold the same ops and have raised the events of those from the other."""
    async def same() -> bool:
        return await a.node.store.digest() == await b.node.store.digest()
    await until(same)
    await a.node.services.peer_events.drain()
    await b.node.services.peer_events.drain()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        a = await open_client(stack, tmp_path / "a")
        b = await open_client(stack, tmp_path / "b")
        world = await build_world(a, b)
        await stack.enter_async_context(live_sync(a.node.store, b.node.store))
        await in_sync(a, b)
        yield world


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(FRAME_TIMEOUT_S):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


@asynccontextmanager
async def websocket_on_b(world: World, username: str) -> AsyncIterator[ClientConnection]:
    """`username`'s WebSocket to node B, logged in with a session of node B, past its hello."""
    token = await world.b.login(username)
    async with live_server(world.b.node) as base_url, connect(websocket_url(base_url)) as ws:
        await ws.send(json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": token}}))
        assert (await receive(ws))["event"] == "hello"
        assert await receive(ws) == {"status": "OK", "seq_reply": 1}
        yield ws


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    """The next event frame, skipping presence (a user's status changes as connections come and go)."""
    while True:
        frame = await receive(ws)
        if frame.get("event") not in ("status_change", "typing"):
            return frame


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


async def test_a_post_written_on_a_reaches_a_websocket_on_b_as_posted_then_edited_reacted_and_deleted(
        world: World) -> None:
    alice = world.tokens["alice"]
    with world.a.node.services.ctx.events.subscribe() as local_events:
        async with websocket_on_b(world, "bob") as ws:
            post = await world.a.call("POST", "/api/v4/posts", alice,
                                      json={"channel_id": world.square, "message": "hello from a, @bob"})
            posted = await next_event(ws)
            local = local_events.get_nowait()
            assert posted["event"] == "posted" and local.event == "posted"
            # the payload A's own clients got, except that the author is not online on B
            assert without(posted["data"], "set_online") == without(local.data, "set_online")
            assert json.loads(posted["data"]["post"]) == post
            assert posted["data"]["sender_name"] == "@alice" and posted["data"]["channel_display_name"] == "Town Square"
            assert (posted["data"]["team_id"], posted["data"]["channel_type"]) == (world.team, "O")
            assert json.loads(posted["data"]["mentions"]) == [world.users["bob"]]
            assert posted["data"]["set_online"] is False
            assert posted["broadcast"]["channel_id"] == world.square

            edited = await world.a.call("PUT", f"/api/v4/posts/{post['id']}/patch", alice, json={"message": "edited"})
            frame = await next_event(ws)
            assert frame["event"] == "post_edited" and json.loads(frame["data"]["post"]) == edited

            reaction = await world.a.call("POST", "/api/v4/reactions", alice,
                                          json={"user_id": world.users["alice"], "post_id": post["id"], "emoji_name": "tada"})
            frame = await next_event(ws)
            assert frame["event"] == "reaction_added" and json.loads(frame["data"]["reaction"]) == reaction

            await world.a.call("DELETE", f"/api/v4/users/{world.users['alice']}/posts/{post['id']}/reactions/tada", alice)
            frame = await next_event(ws)
            assert frame["event"] == "reaction_removed" and json.loads(frame["data"]["reaction"]) == reaction

            await world.a.call("DELETE", f"/api/v4/posts/{post['id']}", alice)
            frame = await next_event(ws)
            assert frame["event"] == "post_deleted"
            deleted = json.loads(frame["data"]["post"])
            assert (deleted["id"], deleted["message"]) == (post["id"], "")
            assert deleted["delete_at"] > 0 and "delete_by" not in frame["data"]  # a peer's op names no user


async def test_events_of_a_private_channel_reach_its_members_on_b_and_no_one_else(world: World) -> None:
    alice = world.tokens["alice"]
    secret = (await world.a.call("POST", "/api/v4/channels", alice,
                                 json={"team_id": world.team, "name": "secret", "display_name": "Secret", "type": "P"}))["id"]
    await in_sync(world.a, world.b)
    async with websocket_on_b(world, "alice") as alice_ws, websocket_on_b(world, "bob") as bob_ws:
        await world.a.call("POST", "/api/v4/posts", alice, json={"channel_id": secret, "message": "for alice only"})
        frame = await next_event(alice_ws)
        assert frame["event"] == "posted" and json.loads(frame["data"]["post"])["message"] == "for alice only"
        assert frame["data"]["channel_type"] == "P"
        await world.b.node.services.peer_events.drain()
        marker = await world.a.call("POST", "/api/v4/posts", alice, json={"channel_id": world.square, "message": "marker"})
        # events reach a connection in the order they were raised: bob's next one is the marker
        frame = await next_event(bob_ws)
        assert frame["event"] == "posted" and json.loads(frame["data"]["post"])["id"] == marker["id"]


async def test_membership_changes_from_a_raise_user_added_and_user_removed_on_b(world: World) -> None:
    admin = world.tokens["admin"]
    channel = (await world.a.call("POST", "/api/v4/channels", admin,
                                  json={"team_id": world.team, "name": "ops", "display_name": "Ops", "type": "O"}))["id"]
    await world.a.call("POST", f"/api/v4/channels/{channel}/members", admin, json={"user_id": world.users["bob"]})
    await in_sync(world.a, world.b)
    async with websocket_on_b(world, "bob") as ws:
        await world.a.call("POST", f"/api/v4/channels/{channel}/members", admin, json={"user_id": world.users["carol"]})
        frame = await next_event(ws)
        assert (frame["event"], frame["data"]) == ("user_added", {"user_id": world.users["carol"], "team_id": world.team})
        await world.a.call("PUT", f"/api/v4/channels/{channel}/patch", admin, json={"header": "new header"})
        frame = await next_event(ws)
        assert frame["event"] == "channel_updated" and frame["data"]["channel"]["header"] == "new header"
        await world.a.call("DELETE", f"/api/v4/channels/{channel}/members/{world.users['bob']}", admin)
        # the event for the channel's members no longer reaches bob; the one for bob himself does
        frame = await next_event(ws)
        assert (frame["event"], frame["data"]) == ("user_removed", {"channel_id": channel, "remover_id": ""})
        assert frame["broadcast"]["user_id"] == world.users["bob"]


async def test_a_catch_up_of_many_posts_announces_only_the_newest_ones(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        a = await open_client(stack, tmp_path / "a")
        b = await open_client(stack, tmp_path / "b")
        world = await build_world(a, b)
        await copy_feeds(a.node.store, b.node.store)  # B knows the team and its channels
        author = world.users["alice"]
        many = [Create("post", new_id(), {"channel_id": world.square, "user_id": author, "message": f"offline {i}",
                                          "create_at": 1_767_225_600_000 + i}, deps=[("channel", world.square)])
                for i in range(3 * MAX_POSTED_PER_FEED)]
        await a.node.store.write(channel_scope(world.square), many)
        with b.node.services.ctx.events.subscribe(peer_writes=True) as heard:
            await copy_feeds(a.node.store, b.node.store)  # the whole backlog in one segment
            await b.node.services.peer_events.drain()
            events = [heard.get_nowait() for _ in range(heard.qsize())]
        assert [e.event for e in events] == ["posted"] * MAX_POSTED_PER_FEED
        assert [json.loads(e.data["post"])["id"] for e in events] == [op.id for op in many[-MAX_POSTED_PER_FEED:]]
        assert all(e.from_peer for e in events)


async def test_ops_held_before_a_restart_raise_no_events_and_new_ones_do(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        a = await open_client(stack, tmp_path / "a")
        async with AsyncExitStack() as first_run:
            b = await open_client(first_run, tmp_path / "b")
            world = await build_world(a, b)
            await copy_feeds(a.node.store, b.node.store)
        await a.call("POST", "/api/v4/posts", world.tokens["alice"], json={"channel_id": world.square, "message": "one"})
        b = await open_client(stack, tmp_path / "b")
        with b.node.services.ctx.events.subscribe(peer_writes=True) as heard:
            await copy_feeds(a.node.store, b.node.store)  # A's feeds, from the team's creation on, and the new post
            await b.node.services.peer_events.drain()
            events = drained(heard)
        assert [(e.event, json.loads(e.data["post"])["message"]) for e in events] == [("posted", "one")]


async def copy_feeds(src: Store, dst: Store) -> None:
    """What a sync session does, in one segment per feed: apply to `dst` every op of `src` it lacks."""
    held = await dst.heads()
    for feed, head in sorted((await src.heads()).items(), key=lambda item: item[0].scope != "directory"):
        after = held[feed].seq if feed in held else 0
        if head.seq > after:
            await dst.apply(await src.segment(feed, after, head.seq - after))


def drained(subscription: asyncio.Queue[Event]) -> list[Event]:
    return [subscription.get_nowait() for _ in range(subscription.qsize())]


# -- the rules, without nodes -------------------------------------------------------------------

ALICE, POST, CHANNEL = "a" * 26, "p" * 26, "c" * 26


def test_a_node_internal_subscription_does_not_hear_peer_events_unless_it_asks_and_a_users_does() -> None:
    bus = EventBus()
    event = Event("posted", {}, Broadcast(channel_id=CHANNEL), from_peer=True)
    with bus.subscribe() as internal, bus.subscribe(peer_writes=True) as asked, bus.subscribe(ALICE) as client_of_alice:
        bus.publish(event)
        assert (internal.qsize(), asked.qsize(), client_of_alice.qsize()) == (0, 1, 1)


def test_changes_of_reports_edits_once_and_not_reaction_bumps_or_a_new_posts_own_edits() -> None:
    new = "n" * 26
    ops: list[Op] = [
        Create("post", new, {"channel_id": CHANNEL, "message": "hi"}),
        Update("post", new, {"message": "hi!", "edit_at": 2}),
        Update("post", POST, {"message": "one", "edit_at": 1}),
        Update("post", POST, {"is_pinned": True}),
        Add("post.reactions", POST, f"{ALICE}:tada"),
        Update("post", POST, {"update_at": 3}),
        Remove("post.reactions", POST, f"{ALICE}:tada", (Stamp(5, 0, b"\x01" * 8), Stamp(4, 0, b"\x02" * 8))),
    ]
    assert changes_of(ops) == [
        Change("posted", new), Change("post_edited", POST), Change("reaction_added", POST, f"{ALICE}:tada"),
        Change("reaction_removed", POST, f"{ALICE}:tada", at=4),
    ]


def test_changes_of_a_deleted_post_and_a_new_channel_are_what_the_services_raise() -> None:
    ops: list[Op] = [
        Update("post", POST, {"delete_at": 9, "update_at": 9}), Delete("post", POST),
        Create("channel", CHANNEL, {"team_id": "t" * 26, "type": "O", "name": "x", "creator_id": ALICE}),
        Add("channel.members", CHANNEL, ALICE),  # with the channel: no user_added, as ChannelService._create
        Update("channel", CHANNEL, {"delete_at": 10, "update_at": 10}),
        Update("channel", CHANNEL, {"delete_at": 0, "update_at": 11}),  # a restore raises nothing
        Remove("channel.members", CHANNEL, ALICE, (Stamp(5, 0, b"\x01" * 8),)),
    ]
    assert changes_of(ops) == [
        Change("post_deleted", POST), Change("channel_created", CHANNEL, creator_id=ALICE, team_id="t" * 26),
        Change("channel_deleted", CHANNEL, at=10), Change("user_removed", CHANNEL, ALICE),
    ]


def test_changes_of_a_burst_keeps_the_newest_posts_only() -> None:
    ops: list[Op] = [Create("post", f"{i:026d}", {"message": str(i)}) for i in range(10)]
    ops.append(Update("post", POST, {"message": "edited"}))
    assert changes_of(ops, max_posted=3) == [
        Change("posted", f"{7:026d}"), Change("posted", f"{8:026d}"), Change("posted", f"{9:026d}"),
        Change("post_edited", POST),
    ]


def test_a_rounds_reading_budget_serves_small_backlogs_in_full_and_shares_the_rest() -> None:
    feeds = [FeedId(bytes([i]) * 32, f"channel:{i}") for i in range(4)]
    backlogs = dict(zip(feeds, [1, 5, 10_000, 100_000]))
    assert read_shares(backlogs, budget=1000, per_feed=400) == dict(zip(feeds, [1, 5, 400, 400]))
    assert read_shares(backlogs, budget=100, per_feed=400) == dict(zip(feeds, [1, 5, 47, 47]))
    crowd = {FeedId(bytes([i]) * 32, "s"): 1 for i in range(5)}
    assert sorted(read_shares(crowd, budget=3, per_feed=400).values()) == [0, 0, 1, 1, 1]
