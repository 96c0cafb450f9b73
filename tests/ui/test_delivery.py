"""The routes the web UI adds under /api/v4/edgenode/: delivery marks (per post, whether it has reached
another node yet; two whole nodes served with peer sync over real loopback TCP), revocations, and the
console's mesh invites and revocations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from support.members_world import World, world_at
from support.served_nodes import PASSWORD, Served, served, settings, until

from edgenode.identity import node_display_id
from edgenode.mesh import init_mesh
from sync.manager import PeerAddress
from sync.mesh import decode_invite


async def _admin_post(node: Served, message: str) -> tuple[str, str, str]:
    """The first user (admin), a team, and a post in its town-square: (admin token, channel id, post id)."""
    created = await node.call("POST", "/api/v4/users", json={"username": "admin", "email": "admin@example.com",
                                                               "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = await node.login("admin")
    team = (await node.call("POST", "/api/v4/teams", token, json={"name": "field", "display_name": "Field",
                                                                   "type": "O"})).json()
    square = (await node.call("GET", f"/api/v4/teams/{team['id']}/channels/name/town-square", token)).json()
    posted = await node.call("POST", "/api/v4/posts", token, json={"channel_id": square["id"], "message": message})
    assert posted.status_code == 201, posted.text
    return token, square["id"], posted.json()["id"]


async def _delivery(node: Served, token: str, ids: list[str]) -> dict[str, object]:
    response = await node.call("POST", "/api/v4/edgenode/delivery", token, json=ids)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_post_is_marked_reached_once_a_peer_holds_it_and_not_before(tmp_path: Path) -> None:
    a_settings = settings()
    # b dials a before a exists: its post stays on b alone until a starts and they sync
    async with served(tmp_path / "b", settings(peers=(PeerAddress("127.0.0.1", a_settings.port),))) as b:
        token, _, post_id = await _admin_post(b, "written while alone")
        assert await _delivery(b, token, [post_id]) == {"posts": {post_id: False}, "peers_connected": 0}
        async with served(tmp_path / "a", a_settings) as a:
            async def reached() -> bool:
                return (await _delivery(b, token, [post_id]))["posts"] == {post_id: True}
            await until(reached)
            assert (await _delivery(b, token, [post_id]))["peers_connected"] == 1
            # on a, the post came from another node: it has reached one by its nature
            a_token = await a.login("admin")
            assert (await _delivery(a, a_token, [post_id]))["posts"] == {post_id: True}


async def test_delivery_answers_only_for_posts_the_user_may_read(tmp_path: Path) -> None:
    async with world_at(tmp_path / "node") as world:
        secret = await world.channel("secret", "P", by="alice")
        hidden = await world.post(secret, "only for alice", by="alice")
        public = await world.post(world.town_square, "for everyone", by="alice")
        answer = await world.ok("POST", "/api/v4/edgenode/delivery", "bob", json=[hidden, public])
        assert answer == {"posts": {public: False}, "peers_connected": 0}


async def test_delivery_refuses_a_body_that_is_not_a_short_list_of_post_ids(tmp_path: Path) -> None:
    async with world_at(tmp_path / "node") as world:
        for body in ({"ids": []}, ["not an id"], ["a" * 26] * 201):
            response = await world.call("POST", "/api/v4/edgenode/delivery", "alice", json=body)
            assert response.status_code == 400, body
        assert (await world.call("POST", "/api/v4/edgenode/delivery", json=[])).status_code == 401


async def test_revocations_are_listed_for_system_admins_only(tmp_path: Path) -> None:
    async with world_at(tmp_path / "node") as world:
        assert await world.ok("GET", "/api/v4/edgenode/revocations", "admin") == []
        assert (await world.call("GET", "/api/v4/edgenode/revocations", "alice")).status_code == 403



async def test_the_console_invites_a_node_and_revokes_it_on_the_mesh_authority(tmp_path: Path) -> None:
    async with world_at(tmp_path / "node") as world:
        # not in a mesh yet: refused with the reason, nothing written
        refused = await world.call("POST", "/api/v4/edgenode/mesh/invites", "admin", json={})
        assert refused.status_code == 400 and "not in a mesh" in refused.json()["message"]
        await asyncio.to_thread(init_mesh, tmp_path / "node")
        assert (await world.call("POST", "/api/v4/edgenode/mesh/invites", "alice", json={})).status_code == 403
        invite = await world.call("POST", "/api/v4/edgenode/mesh/invites", "admin", json={"hub": False})
        assert invite.status_code == 201 and invite.headers["cache-control"] == "no-store"
        body = invite.json()
        assert decode_invite(body["token"], now=datetime.now(UTC)).node_certificate is not None and body["node"] == node_display_id(
            bytes.fromhex(body["node_key"]))
        assert (await world.call("POST", "/api/v4/edgenode/mesh/revocations", "alice",
                                 json={"node": body["node"]})).status_code == 403
        revoked = await world.ok("POST", "/api/v4/edgenode/mesh/revocations", "admin", status=201,
                                 json={"node": body["node"], "reason": "laptop lost"})
        assert (revoked["node_key"], revoked["reason"]) == (body["node_key"], "laptop lost")
        listed = await world.ok("GET", "/api/v4/edgenode/revocations", "admin")
        assert [(r["node_key"], r["reason"]) for r in listed] == [(body["node_key"], "laptop lost")]
        again = await world.call("POST", "/api/v4/edgenode/mesh/revocations", "admin", json={"node": body["node"]})
        assert again.status_code == 400 and "already revoked" in again.json()["message"]
        actions = [a["action"] for a in await world.ok("GET", "/api/v4/audits", "admin")]
        assert {"createMeshInvite", "revokeMeshNode"} <= set(actions)
