"""Enforcing a revocation on a node that applied the revoked node's later ops before it learned of it:
afterwards it serves exactly what a node that never held those ops serves, and refuses them again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from support.builders import CHANNEL, TEAM, team_and_channel

from crdt import Add, Create, Update
from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.mesh import Mesh, create_invite, init_mesh, join_mesh, revoke
from edgenode.node import Node, open_node
from edgenode.peering.revocations import enforce_revocations
from edgenode.peering.trust import MeshTrust
from edgenode.schema import SCHEMA
from edgenode.services import Session
from edgenode.store import Store
from edgenode.peering.admission import secure_settings
from edgenode.peering.settings import SyncSettings
from sync import FeedId, SignedOp
from sync.revocation import MESH_SCOPE

T0_MS = 1_800_000_000_000
ADMIN = "a" * 26
ALICE = "l" * 26
MALLORY = "m" * 26
BOB = "b" * 26
ALICES_POST = "p" * 26
MALLORYS_POST = "q" * 26
BOBS_REPLY = "r" * 26
SCOPE = f"channel:{CHANNEL}"


def _join(authority: Mesh, data_dir: Path) -> Mesh:
    token, _ = create_invite(authority)
    return join_mesh(data_dir, token)


@asynccontextmanager
async def _author(data_dir: Path) -> AsyncIterator[Store]:
    """A node's store used only to sign its ops (no services running)."""
    async with Store(data_dir / STORE_FILE, SCHEMA, load_or_create_identity(data_dir), migrations=LOCAL_MIGRATIONS) as s:
        yield s


async def _feeds(store: Store) -> list[list[SignedOp]]:
    return [await store.segment(feed, 0, 100_000) for feed in await store.heads()]


def _user(user_id: str, name: str) -> Create:
    return Create("user", user_id, {"username": name, "email": f"{name}@example.com", "roles": "system_user",
                                    "create_at": 1, "update_at": 1, "delete_at": 0})


def _post(post_id: str, user: str, message: str, root: str = "") -> Create:
    deps = [("channel", CHANNEL), *([("post", root)] if root else [])]
    return Create("post", post_id, {"channel_id": CHANNEL, "user_id": user, "message": message, "root_id": root,
                                    "create_at": 10, "update_at": 10, "delete_at": 0, "hashtags": ""}, deps=deps)


async def _seen_through_the_api(node: Node) -> dict[str, Any]:
    """Posts, reactions, members and search results as a system admin gets them from the services."""
    admin = Session("session", "token", ADMIN, "system_admin system_user")
    services = node.services
    return {
        "posts": await services.posts.for_channel(CHANNEL, admin),
        "reactions": await services.reactions.for_post(ALICES_POST, admin),
        "members": [m["user_id"] for m in await services.channels.members(CHANNEL, 0, 100)],
        "search": {words: (await services.search.search(TEAM, words, admin))["order"]
                   for words in ("rivers", "defaced", "flood", "reply")},
    }


@pytest.fixture
def authority(tmp_path: Path) -> Mesh:
    return init_mesh(tmp_path / "admin", "Field team")


async def test_a_node_that_applied_a_revoked_nodes_later_ops_ends_as_if_it_never_had(
    authority: Mesh, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    mallory, bob = _join(authority, tmp_path / "mallory"), _join(authority, tmp_path / "bob")
    victim, witness = _join(authority, tmp_path / "victim"), _join(authority, tmp_path / "witness")
    async with _author(authority.data_dir) as admin:
        await admin.write("directory", [_user(ADMIN, "admin"), _user(ALICE, "alice"), *team_and_channel(),
                                        Add("team.members", TEAM, ADMIN), Add("team.members", TEAM, ALICE)])
        await admin.write(SCOPE, [Add("channel.members", CHANNEL, ADMIN), Add("channel.members", CHANNEL, ALICE),
                                  _post(ALICES_POST, ALICE, "about rivers")])
        world = await _feeds(admin)
    async with _author(mallory.data_dir) as store:
        for ops in world:
            await store.apply(ops)
        kept = await store.write(SCOPE, [_post("k" * 26, MALLORY, "kept: the authority held it")])
        later = await store.write(SCOPE, [
            _post(MALLORYS_POST, MALLORY, "flood"),
            Add("post.reactions", ALICES_POST, f"{MALLORY}:thumbsdown"),
            Add("channel.members", CHANNEL, MALLORY),
            Update("post", ALICES_POST, {"message": "defaced"}),
        ])
    async with _author(bob.data_dir) as store:
        for ops in [*world, kept + later]:
            await store.apply(ops)
        bobs = await store.write(SCOPE, [_post(BOBS_REPLY, BOB, "a reply", root=MALLORYS_POST),
                                         Add("post.reactions", MALLORYS_POST, f"{BOB}:laughing")])
    async with _author(authority.data_dir) as admin:
        await admin.apply(kept)
        await revoke(admin, authority, mallory.node_key, "lost laptop", now_ms=T0_MS)
        mesh_feed = await admin.segment(FeedId(authority.node_key, MESH_SCOPE))

    async with open_node(victim.data_dir) as node, open_node(witness.data_dir) as fresh:
        for ops in [*world, kept + later, bobs]:  # before the revocation arrived
            await node.store.apply(ops)
        await node.store.apply(mesh_feed)
        trust = MeshTrust(victim, node.store)
        for ops in [mesh_feed, *world, kept, bobs]:  # the witness knew of the revocation first
            await fresh.store.apply(ops)
        assert (await _seen_through_the_api(node))["search"]["defaced"] == [ALICES_POST]

        with caplog.at_level(logging.WARNING, logger="edgenode.peering.revocations"):
            result = await enforce_revocations(node.store, trust)

        feed = FeedId(mallory.node_key, SCOPE)
        assert result is not None and result.removed == {feed: len(later)}
        assert f"retracted 4 ops of node {node_display_id(mallory.node_key)} in scope {SCOPE!r}" in caplog.text
        assert await node.store.digest() == await fresh.store.digest()
        seen = await _seen_through_the_api(node)
        assert seen == await _seen_through_the_api(fresh)
        assert seen["posts"]["order"] == [ALICES_POST, "k" * 26]
        assert seen["posts"]["posts"][ALICES_POST]["message"] == "about rivers"
        assert seen["reactions"] == []
        assert seen["members"] == sorted([ADMIN, ALICE])
        # Bob's reply and reaction wait for the post they answer, as on the witness
        waiting = "SELECT f.author, o.seq FROM ops o JOIN feeds f ON f.id = o.feed WHERE o.state = 1 ORDER BY 1, 2"
        assert [tuple(r) for r in await node.store.fetchall(waiting)] == [(bob.node_key, 1), (bob.node_key, 2)]
        assert await node.store.fetchall(waiting) == await fresh.store.fetchall(waiting)

        # a peer offering the retracted ops again gets them refused; the store stays cut
        digest, heads = await node.store.digest(), await node.store.heads()
        admitted = await trust.admit(kept + later)
        assert admitted == kept
        assert (await node.store.apply(admitted)).duplicates == 1
        assert await trust.admit(later) == []
        assert (await node.store.digest(), await node.store.heads()) == (digest, heads)
        assert await enforce_revocations(node.store, trust) is None  # nothing left to cut


async def test_a_synced_node_retracts_by_itself_when_a_revocation_arrives(authority: Mesh, tmp_path: Path) -> None:
    mallory, victim = _join(authority, tmp_path / "mallory"), _join(authority, tmp_path / "victim")
    async with _author(authority.data_dir) as admin:
        await admin.write("directory", [_user(ADMIN, "admin"), *team_and_channel()])
        world = await _feeds(admin)
    async with _author(mallory.data_dir) as store:
        for ops in world:
            await store.apply(ops)
        kept = await store.write(SCOPE, [_post("k" * 26, MALLORY, "kept")])
        later = await store.write(SCOPE, [_post(MALLORYS_POST, MALLORY, "flood")])
    async with _author(authority.data_dir) as admin:
        await admin.apply(kept)
        await revoke(admin, authority, mallory.node_key, "lost laptop", now_ms=T0_MS)
        mesh_feed = await admin.segment(FeedId(authority.node_key, MESH_SCOPE))

    async with open_node(victim.data_dir) as node:
        await secure_settings(node.store, node.data_dir, SyncSettings(), allow_unenrolled=False)  # what `edgenode serve` does
        for ops in [*world, kept + later]:
            await node.store.apply(ops)
        assert await node.store.fetchone("SELECT 1 FROM posts WHERE id = ?", (MALLORYS_POST,))
        await node.store.apply(mesh_feed)  # the revocation arrives from a peer

        async def cut() -> bool:
            return (await node.store.heads())[FeedId(mallory.node_key, SCOPE)].seq == len(kept)
        for _ in range(500):
            if await cut():
                break
            await asyncio.sleep(0.01)
        assert await cut()
        assert await node.store.fetchone("SELECT 1 FROM posts WHERE id = ?", (MALLORYS_POST,)) is None
