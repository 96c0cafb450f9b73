"""Across a partition: two sites give the same names to different entities while cut off.

Two real nodes (their own data folders, identities and SQLite stores), each serving its real app
over loopback HTTP, share a directory, are cut off, and each creates the same username, email,
team name and channel name and renames a user to the same name. The link heals: the real sync
protocol runs between their stores both ways. Then both nodes resolve every name to the same entity
(the one whose name was written first), the other entity stays reachable under the derived name
its JSON shows, and its owner is told.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.live_server import live_server

from edgenode.node import Node, open_node
from sync.session import reconcile_pair


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    import edgenode.services.users as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class Site:
    node: Node
    client: httpx.AsyncClient
    token: str = ""

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.client.request(method, f"/api/v4{path}", json=body,
                                         headers={"Authorization": f"Bearer {self.token}"} if self.token else {})

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.call(method, path, body)
        assert response.status_code in (200, 201), response.text
        return response.json()


@pytest.fixture
async def sites(tmp_path: Path) -> AsyncIterator[tuple[Site, Site]]:
    async with AsyncExitStack() as stack:
        made = []
        for name in ("north", "south"):
            node = await stack.enter_async_context(open_node(tmp_path / name))
            url = await stack.enter_async_context(live_server(node))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
            made.append(Site(node, client))
        yield made[0], made[1]


async def _heal(a: Site, b: Site) -> None:
    await reconcile_pair(a.node.store, b.node.store)
    await reconcile_pair(b.node.store, a.node.store)
    assert await a.node.store.digest() == await b.node.store.digest()


async def _login(site: Site, login_id: str) -> str:
    response = await site.call("POST", "/users/login", {"login_id": login_id, "password": "password1"})
    assert response.status_code == 200, response.text
    return str(response.headers["Token"])


async def _shared_world(north: Site, south: Site) -> dict[str, Any]:
    admin = await north.ok("POST", "/users", {"username": "admin", "email": "admin@example.com", "password": "password1"})
    north.token = await _login(north, "admin")
    team = await north.ok("POST", "/teams", {"name": "rescue", "display_name": "Rescue", "type": "O"})
    users = {}
    for name in ("ann", "ben"):
        users[name] = await north.ok("POST", "/users", {"username": name, "email": f"{name}@example.com",
                                                        "password": "password1"})
    await _heal(north, south)
    south.token = await _login(south, "admin")
    return {"admin": admin, "team": team, **users}


async def test_names_taken_on_both_sides_of_a_partition_resolve_alike_and_both_entities_stay_reachable(
        sites: tuple[Site, Site]) -> None:
    north, south = sites
    world = await _shared_world(north, south)
    team_id = world["team"]["id"]
    # -- cut off: north writes first, then south takes the same names
    first = {
        "user": await north.ok("POST", "/users", {"username": "sam", "email": "sam@example.com", "password": "password1"}),
        "mail": await north.ok("POST", "/users", {"username": "sam2", "email": "shared@example.com", "password": "password1"}),
        "team": await north.ok("POST", "/teams", {"name": "relief", "display_name": "Relief N", "type": "O"}),
        "channel": await north.ok("POST", "/channels", {"team_id": team_id, "name": "logistics", "display_name": "Log N"}),
        "rename": await north.ok("PUT", f"/users/{world['ann']['id']}/patch", {"username": "chief"}),
    }
    await asyncio.sleep(0.01)  # south's writes get later stamps
    second = {
        "user": await south.ok("POST", "/users", {"username": "sam", "email": "sam.s@example.com", "password": "password1"}),
        "mail": await south.ok("POST", "/users", {"username": "sam3", "email": "Shared@Example.com", "password": "password1"}),
        "team": await south.ok("POST", "/teams", {"name": "relief", "display_name": "Relief S", "type": "O"}),
        "channel": await south.ok("POST", "/channels", {"team_id": team_id, "name": "logistics", "display_name": "Log S"}),
        "rename": await south.ok("PUT", f"/users/{world['ben']['id']}/patch", {"username": "chief"}),
    }
    loser_id = second["user"]["id"]
    with north.node.services.ctx.events.subscribe(loser_id) as told:
        await _heal(north, south)
        event = await asyncio.wait_for(_next(told, "user_updated", loser_id), 10)
    assert event["props"]["name_conflict"] == "sam"

    for site in (north, south):
        # the earlier write keeps each name, on every node
        assert (await site.ok("GET", "/users/username/sam"))["id"] == first["user"]["id"]
        assert (await site.ok("GET", "/users/username/chief"))["id"] == world["ann"]["id"]
        assert (await site.ok("GET", "/teams/name/relief"))["id"] == first["team"]["id"]
        assert (await site.ok("GET", f"/teams/{team_id}/channels/name/logistics"))["id"] == first["channel"]["id"]
        assert (await site.ok("POST", "/users/usernames", ["sam", "chief"])) and {
            u["id"] for u in await site.ok("POST", "/users/usernames", ["sam", "chief"])} == {
            first["user"]["id"], world["ann"]["id"]}
        # the others are shown under a derived name, and found by it
        sam_s = await site.ok("GET", f"/users/{loser_id}")
        assert sam_s["username"] == f"sam-{loser_id[:6]}"
        assert sam_s["props"]["name_conflict"] == "sam"
        assert (await site.ok("GET", f"/users/username/{sam_s['username']}"))["id"] == loser_id
        ben = await site.ok("GET", f"/users/{world['ben']['id']}")
        assert ben["username"] == f"chief-{world['ben']['id'][:6]}"
        relief_s = await site.ok("GET", f"/teams/{second['team']['id']}")
        assert relief_s["name"] == f"relief-{second['team']['id'][:6]}"
        assert (await site.ok("GET", f"/teams/name/{relief_s['name']}"))["id"] == second["team"]["id"]
        log_s = await site.ok("GET", f"/channels/{second['channel']['id']}")
        assert log_s["name"] == f"logistics-{second['channel']['id'][:6]}"
        assert (await site.ok("GET", f"/teams/{team_id}/channels/name/{log_s['name']}"))["id"] == second["channel"]["id"]
        # an email resolves alike too: logging in with it reaches the earlier account
        assert (await site.call("POST", "/users/login", {"login_id": "shared@example.com", "password": "password1"})
                ).json()["id"] == first["mail"]["id"]
        mail_s = await site.ok("GET", f"/users/{second['mail']['id']}")
        assert mail_s["email"] == f"shared+{second['mail']['id'][:6]}@example.com"
        # the demoted account can still log in, by its derived name
        assert (await site.call("POST", "/users/login", {"login_id": sam_s["username"], "password": "password1"})
                ).json()["id"] == loser_id


async def test_after_a_merge_a_demoted_name_can_be_fixed_by_renaming_and_a_derived_name_cannot_be_taken(
        sites: tuple[Site, Site]) -> None:
    north, south = sites
    await _shared_world(north, south)
    await north.ok("POST", "/users", {"username": "sam", "email": "sam@example.com", "password": "password1"})
    await asyncio.sleep(0.01)
    loser = await south.ok("POST", "/users", {"username": "sam", "email": "sam.s@example.com", "password": "password1"})
    await _heal(north, south)
    derived = f"sam-{loser['id'][:6]}"
    taken = await north.call("POST", "/users", {"username": derived, "email": "x@example.com", "password": "password1"})
    assert (taken.status_code, taken.json()["id"]) == (400, "app.user.save.username_exists.app_error")
    renamed = await south.ok("PUT", f"/users/{loser['id']}/patch", {"username": "samuel"})
    assert renamed["username"] == "samuel" and "name_conflict" not in renamed["props"]
    await _heal(north, south)
    assert (await north.ok("GET", "/users/username/samuel"))["id"] == loser["id"]


async def test_every_demotion_is_announced_once_to_its_audience_and_resolving_writes_no_ops(
        sites: tuple[Site, Site]) -> None:
    north, south = sites
    world = await _shared_world(north, south)
    await north.ok("POST", "/teams", {"name": "relief", "display_name": "Relief N", "type": "O"})
    await north.ok("POST", "/channels", {"team_id": world["team"]["id"], "name": "logistics", "display_name": "Log N"})
    await asyncio.sleep(0.01)
    team = await south.ok("POST", "/teams", {"name": "relief", "display_name": "Relief S", "type": "O"})
    channel = await south.ok("POST", "/channels", {"team_id": world["team"]["id"], "name": "logistics",
                                                   "display_name": "Log S"})
    with north.node.services.ctx.events.subscribe(peer_writes=True) as told:
        await _heal(north, south)
        heads = await north.node.store.heads()
        await asyncio.sleep(0.5)  # announcing runs after the ops were applied
        await _heal(north, south)  # meeting again (nothing new) announces nothing more
        await asyncio.sleep(0.5)
        events = []
        while not told.empty():
            events.append(told.get_nowait())
    notices = [(e.event, e.broadcast.team_id or e.broadcast.channel_id) for e in events
               if e.event in ("update_team", "channel_updated")]
    assert notices == [("update_team", team["id"]), ("channel_updated", channel["id"])]
    shown = json.loads(next(e for e in events if e.event == "update_team").data["team"])["name"]
    assert shown == f"relief-{team['id'][:6]}"
    # resolving a conflict is a read: no node wrote anything for it
    assert await north.node.store.heads() == heads == await south.node.store.heads()


async def test_after_a_merge_a_mention_names_whom_the_name_resolves_to(sites: tuple[Site, Site]) -> None:
    north, south = sites
    world = await _shared_world(north, south)
    winner = await north.ok("POST", "/users", {"username": "sam", "email": "sam@example.com", "password": "password1"})
    await asyncio.sleep(0.01)
    loser = await south.ok("POST", "/users", {"username": "sam", "email": "sam.s@example.com", "password": "password1"})
    await _heal(north, south)
    team_id = world["team"]["id"]
    for user in (winner, loser):
        await north.ok("POST", f"/teams/{team_id}/members", {"team_id": team_id, "user_id": user["id"]})
    square = await north.ok("GET", f"/teams/{team_id}/channels/name/town-square")
    mentioned = {}
    for text in ("hello @sam", f"hello @sam-{loser['id'][:6]}"):
        post = await north.ok("POST", "/posts", {"channel_id": square["id"], "message": text})
        row = await north.node.store.fetchone("SELECT mentions FROM posts WHERE id = ?", (post["id"],))
        mentioned[text] = json.loads(row["mentions"])
    assert mentioned == {"hello @sam": [winner["id"]], f"hello @sam-{loser['id'][:6]}": [loser["id"]]}


async def _next(subscription: "asyncio.Queue[Any]", name: str, user_id: str) -> dict[str, Any]:
    while True:
        event = await subscription.get()
        if event.event == name and event.data["user"]["id"] == user_id:
            return event.data["user"]  # type: ignore[no-any-return]
