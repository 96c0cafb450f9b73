"""A private channel's and a direct message's feeds go only to nodes that host a member (or to a hub).

Four whole nodes on one (in-memory) LAN, all connected to each other, sync over loopback TCP. Users
are created by the admin on node A and each logs in on their own node: alice on A, bob on B, carol
on C; D is a hub. Public data reach every node; the private channel and the DM of alice and bob
reach A, B and D only, until carol joins; then C receives the whole history at once, and after
carol leaves, C receives her removal and nothing written after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.served_nodes import PASSWORD, Served, memory_discovery, served, settings, until

from crdt import Add, Create
from edgenode.mesh import create_invite, init_mesh, join_mesh
from edgenode.peering.need_to_know import HostingClaimError, NeedToKnow, check_hosting_claims
from edgenode.peering.trust import node_roles
from edgenode.node import Node
from edgenode.schema import SCHEMA
from edgenode.services.context import USER_NODES
from edgenode.store import Store
from sync import Signer
from sync.discovery import MemoryLan


@dataclass
class Mesh:
    a: Served
    b: Served
    c: Served
    d: Served
    tokens: dict[str, str]
    ids: dict[str, str]
    team: str
    town_square: str


async def _post(node: Served, token: str, channel: str, message: str) -> str:
    response = await node.call("POST", "/api/v4/posts", token, json={"channel_id": channel, "message": message})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _holds_post(node: Served, post_id: str) -> bool:
    return await node.node.store.fetchone("SELECT 1 FROM posts WHERE id = ?", (post_id,)) is not None


async def _scope_ops(node: Node, channel: str) -> int:
    row = await node.store.fetchone("SELECT coalesce(sum(seq), 0) FROM feeds WHERE scope = ?", (f"channel:{channel}",))
    return int(row[0])


async def _settled(mesh: Mesh, marker: str) -> None:
    """Wait until every node holds `marker` (a public post written last), then let live pushes drain."""
    for node in (mesh.a, mesh.b, mesh.c, mesh.d):
        await until(lambda node=node: _holds_post(node, marker))
    await asyncio.sleep(0.3)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    lan = MemoryLan()
    async with AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(served(tmp_path / name, settings(mdns=True),
                                                        discovery=memory_discovery(lan)))
                 for name in "abcd"]
        a, b, c, d = nodes
        # D is a hub: in a real mesh its certificate says so, and its enrolment record carries the role
        await d.node.store.write("node", [Create("node", d.node.store.node_id.hex(),
                                                 {"name": "hub", "certificate": "", "roles": "hub", "create_at": 0})])
        created = await a.call("POST", "/api/v4/users", json={"username": "alice", "email": "alice@example.com",
                                                               "password": PASSWORD})
        assert created.status_code == 201, created.text
        tokens = {"alice": await a.login("alice")}
        team = (await a.call("POST", "/api/v4/teams", tokens["alice"],
                             json={"name": "field", "display_name": "Field", "type": "O"})).json()["id"]
        ids = {"alice": created.json()["id"]}
        for name in ("bob", "carol"):
            user = await a.call("POST", "/api/v4/users", tokens["alice"],
                                json={"username": name, "email": f"{name}@example.com", "password": PASSWORD})
            assert user.status_code == 201, user.text
            ids[name] = user.json()["id"]
            added = await a.call("POST", f"/api/v4/teams/{team}/members", tokens["alice"],
                                 json={"team_id": team, "user_id": ids[name]})
            assert added.status_code == 201, added.text
        for name, node in (("bob", b), ("carol", c)):
            async def can_log_in(node: Served = node, name: str = name) -> bool:
                response = await node.call("POST", "/api/v4/users/login", json={"login_id": name, "password": PASSWORD})
                return response.status_code == 200
            await until(can_log_in)
            tokens[name] = await node.login(name)
        square = await a.call("GET", f"/api/v4/teams/{team}/channels/name/town-square", tokens["alice"])
        yield Mesh(a, b, c, d, tokens, ids, team, square.json()["id"])


async def test_private_channels_and_direct_messages_reach_only_the_nodes_of_their_members_and_hubs(
        mesh: Mesh) -> None:
    a, tokens, ids = mesh.a, mesh.tokens, mesh.ids
    private = await a.call("POST", "/api/v4/channels", tokens["alice"], json={
        "team_id": mesh.team, "name": "plans", "display_name": "Plans", "type": "P"})
    assert private.status_code == 201, private.text
    plans = private.json()["id"]
    joined = await a.call("POST", f"/api/v4/channels/{plans}/members", tokens["alice"], json={"user_id": ids["bob"]})
    assert joined.status_code == 201, joined.text
    secret = await _post(a, tokens["alice"], plans, "the secret plan")
    dm = (await a.call("POST", "/api/v4/channels/direct", tokens["alice"], json=[ids["alice"], ids["bob"]])).json()["id"]
    whisper = await _post(a, tokens["alice"], dm, "just between us")
    await _settled(mesh, await _post(a, tokens["alice"], mesh.town_square, "public news"))

    for entitled in (mesh.b, mesh.d):
        assert await _holds_post(entitled, secret) and await _holds_post(entitled, whisper)
    assert await _scope_ops(mesh.c.node, plans) == 0 and await _scope_ops(mesh.c.node, dm) == 0
    assert await mesh.c.node.store.fetchone("SELECT 1 FROM channels WHERE id IN (?, ?)", (plans, dm)) is None

    # carol joins: her node receives the channel's whole history, but still not the DM
    added = await a.call("POST", f"/api/v4/channels/{plans}/members", tokens["alice"], json={"user_id": ids["carol"]})
    assert added.status_code == 201, added.text
    await until(lambda: _holds_post(mesh.c, secret))
    history = await mesh.c.call("GET", f"/api/v4/channels/{plans}/posts", tokens["carol"])
    assert history.status_code == 200 and secret in history.json()["posts"]

    # carol leaves: her node learns of it, and receives nothing written afterwards
    removed = await a.call("DELETE", f"/api/v4/channels/{plans}/members/{ids['carol']}", tokens["alice"])
    assert removed.status_code == 200, removed.text
    later = await _post(a, tokens["alice"], plans, "after carol left")

    async def carol_removed_on_c() -> bool:
        row = await mesh.c.node.store.fetchone("SELECT 1 FROM channel_members WHERE channel_id = ? AND user_id = ?",
                                               (plans, ids["carol"]))
        return row is None
    await until(carol_removed_on_c)
    await _settled(mesh, await _post(a, tokens["alice"], mesh.town_square, "more public news"))
    assert await _holds_post(mesh.b, later) and await _holds_post(mesh.d, later)
    assert not await _holds_post(mesh.c, later)
    assert await _scope_ops(mesh.c.node, dm) == 0


async def test_a_first_login_on_another_node_brings_the_users_private_channels_there(mesh: Mesh) -> None:
    a, tokens, ids = mesh.a, mesh.tokens, mesh.ids
    dm = (await a.call("POST", "/api/v4/channels/direct", tokens["alice"], json=[ids["alice"], ids["bob"]])).json()["id"]
    whisper = await _post(a, tokens["alice"], dm, "see you at the gate")
    await _settled(mesh, await _post(a, tokens["alice"], mesh.town_square, "public"))
    assert not await _holds_post(mesh.c, whisper)

    await mesh.c.login("bob")  # bob borrows carol's laptop: node C now hosts bob too
    await until(lambda: _holds_post(mesh.c, whisper))


async def test_the_policy_grants_public_scopes_and_private_ones_by_hosted_member(mesh: Mesh) -> None:
    policy = NeedToKnow(mesh.a.node.store)
    for_b = await policy.for_peer(mesh.b.node.store.node_id)
    for_d = await policy.for_peer(mesh.d.node.store.node_id)
    await for_b.load()
    await for_d.load()
    assert for_b.allows("directory") and for_b.allows(f"channel:{mesh.town_square}")
    assert for_b.allows(f"user:{mesh.ids['bob']}") and not for_b.allows(f"user:{mesh.ids['carol']}")
    assert not for_b.allows("channel:" + "z" * 26)  # a channel nobody told us about is private
    assert for_d.hub and for_d.allows(f"user:{mesh.ids['carol']}") and not for_d.may_change("directory")


async def test_a_hub_enrolled_by_the_mesh_receives_private_channels_that_a_plain_member_node_does_not(
        tmp_path: Path) -> None:
    authority = init_mesh(tmp_path / "a", "field")
    for name, hub in (("h", True), ("b", False)):
        token, _ = create_invite(authority, hub=hub)
        join_mesh(tmp_path / name, token)
    lan = MemoryLan()
    async with AsyncExitStack() as stack:
        a, h, b = [await stack.enter_async_context(served(tmp_path / name, settings(mdns=True), enrolled=True,
                                                          discovery=memory_discovery(lan)))
                   for name in "ahb"]
        created = await a.call("POST", "/api/v4/users", json={"username": "alice", "email": "alice@example.com",
                                                               "password": PASSWORD})
        assert created.status_code == 201, created.text
        token = await a.login("alice")
        team = (await a.call("POST", "/api/v4/teams", token,
                             json={"name": "field", "display_name": "Field", "type": "O"})).json()["id"]
        private = await a.call("POST", "/api/v4/channels", token, json={
            "team_id": team, "name": "plans", "display_name": "Plans", "type": "P"})
        assert private.status_code == 201, private.text
        secret = await _post(a, token, private.json()["id"], "for hubs and members only")
        square = (await a.call("GET", f"/api/v4/teams/{team}/channels/name/town-square", token)).json()["id"]
        marker = await _post(a, token, square, "public")
        for node in (h, b):
            await until(lambda node=node: _holds_post(node, marker))
        await until(lambda: _holds_post(h, secret))  # the hub's role came from its certificate, over TLS
        await asyncio.sleep(0.3)
        assert not await _holds_post(b, secret)
        assert await node_roles(a.node.store, h.node.store.node_id) == frozenset({"hub"})


async def test_a_node_may_say_only_that_it_hosts_a_user_itself(tmp_path: Path) -> None:
    """Otherwise one enrolled node could draw a user's direct messages to another (or to itself)."""
    async with Store(tmp_path / "liar.db", SCHEMA, Signer.generate()) as liar, \
            Store(tmp_path / "honest.db", SCHEMA, Signer.generate()) as honest:
        user = "u" * 26
        directory = await liar.write("directory", [Create("user", user, {"username": "bob"})])
        claim = await liar.write("directory", [Add(USER_NODES, user, "ab" * 32)])  # "node abab... hosts bob"
        await honest.apply(directory)
        own = await honest.write("directory", [Add(USER_NODES, user, honest.node_id.hex())])
        check_hosting_claims(directory)
        check_hosting_claims(own)
        with pytest.raises(HostingClaimError, match="only a node may say whom it hosts"):
            check_hosting_claims(directory + claim)
