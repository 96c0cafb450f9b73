"""A revocation takes effect on live sync at once: the revoked node's open sessions end (and its redial
is refused), and ops of it that were being applied while the revocation arrived are cut afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from support.builders import post, team_and_channel
from support.served_nodes import served, settings, until

from edgenode.mesh import Mesh, create_invite, init_mesh, join_mesh, revoke
from edgenode.node import open_node
from edgenode.peering.admission import AdmittingStore
from edgenode.peering.revocations import RevocationEnforcer
from edgenode.peering.trust import MeshTrust, publish_enrolment
from edgenode.store import Store
from sync import FeedId, SignedOp
from sync.enrolment import NODE_SCOPE
from sync.manager import PeerAddress
from sync.revocation import MESH_SCOPE

T0_MS = 1_800_000_000_000


def _join(authority: Mesh, data_dir: Path) -> Mesh:
    token, _ = create_invite(authority)
    return join_mesh(data_dir, token)


async def test_revoking_a_connected_node_ends_its_session_and_its_redial_is_refused(tmp_path: Path) -> None:
    authority = init_mesh(tmp_path / "a", "field")
    member = _join(authority, tmp_path / "m")
    async with served(tmp_path / "a", settings(), enrolled=True) as a:
        async with served(tmp_path / "m", settings(peers=(PeerAddress("127.0.0.1", a.port),)), enrolled=True) as m:
            async def connected() -> bool:
                return any(p["connected"] for p in (await a.sync.status())["peers"])
            await until(connected)
            await revoke(a.node.store, authority, member.node_key, "lost laptop", now_ms=T0_MS)

            async def dropped() -> bool:
                return not await connected()
            await until(dropped, timeout=10)
            await asyncio.sleep(0.5)  # the member keeps redialing (backoff 0.05-0.2 s): each attempt is refused
            assert not await connected()
            (peer,) = [p for p in (await m.sync.status())["peers"] if p["node_key"] == authority.node_key.hex()
                       or p["node_key"] is None]
            assert not peer["connected"]


class _Gated:
    """The store, with apply() held at a gate: lets a revocation arrive between admission and commit."""

    def __init__(self, store: Store):
        self.store = store
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def apply(self, ops: Sequence[SignedOp]) -> Any:
        self.waiting.set()
        await self.gate.wait()
        return await self.store.apply(ops)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_ops_admitted_just_before_their_authors_revocation_arrived_are_cut_after_they_commit(
        tmp_path: Path) -> None:
    authority = init_mesh(tmp_path / "a", "field")
    mallory, victim = _join(authority, tmp_path / "mallory"), _join(authority, tmp_path / "victim")
    async with open_node(authority.data_dir) as admin:
        world = [await admin.store.write("directory", team_and_channel())]
    async with open_node(mallory.data_dir) as node:
        for ops in world:
            await node.store.apply(ops)
        await publish_enrolment(node.store, mallory, now_ms=T0_MS)  # as sync does when it starts
        record = await node.store.segment(FeedId(mallory.node_key, NODE_SCOPE))
        scope = "channel:" + "c" * 26
        kept = await node.store.write(scope, [post("k" * 26, "kept")])
        later = await node.store.write(scope, [post("l" * 26, "written after the authority's last look")])
    async with open_node(authority.data_dir) as admin:
        await admin.store.apply(kept)
        await revoke(admin.store, authority, mallory.node_key, "lost laptop", now_ms=T0_MS)
        mesh_feed = await admin.store.segment(FeedId(authority.node_key, MESH_SCOPE))

    async with open_node(victim.data_dir) as node:
        for ops in [*world, record]:
            await node.store.apply(ops)
        trust = await MeshTrust.load(victim, node.store)
        enforcer = RevocationEnforcer(node.store, trust)
        node.store.subscribe(enforcer.on_heads)
        gated = _Gated(node.store)
        admitting = AdmittingStore(gated, trust, enforcer)  # type: ignore[arg-type]
        applying = asyncio.create_task(admitting.apply(kept + later))  # admitted: no revocation known yet
        await asyncio.wait_for(gated.waiting.wait(), 5)
        await node.store.apply(mesh_feed)  # the revocation arrives meanwhile; the enforcer finds nothing to cut
        await _settled(lambda: enforcer.running)
        gated.gate.set()
        await applying  # the segment commits beyond the limit ...
        feed = FeedId(mallory.node_key, scope)
        await _settled(lambda: enforcer.running)  # ... and is cut right after

        async def cut() -> bool:
            return (await node.store.heads())[feed].seq == len(kept)
        await until(cut, timeout=5)
        assert await node.store.fetchone("SELECT 1 FROM posts WHERE id = ?", ("l" * 26,)) is None


async def _settled(running: Callable[[], asyncio.Task[None] | None]) -> None:
    for _ in range(100):
        task = running()
        if task is not None:
            await task
        await asyncio.sleep(0.01)
        if running() is None or running().done():  # type: ignore[union-attr]
            return
