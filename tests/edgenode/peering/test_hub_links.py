"""An edge's links to its hubs: redialed with jittered backoff capped at the hub interval, at once when the
host's network changes, and reported in the status document as the hub link; and open_peering's surface.

The edge's and the hub's managers sync real stores over an in-memory network whose links can be
cut; the edge's sleep is recorded and held, so the delays and "at once" are exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from support.builders import post, team_and_channel

from edgenode.mesh import init_mesh
from edgenode.node import open_node
from edgenode.peering import AdmittingStore, PeeringSettings, open_peering
from edgenode.peering.hub import HUB_LINK, HubLinks, hub_announcement, hub_section
from edgenode.peering.settings import ROLE_HUB, SyncSettings
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import Signer
from sync.manager import Backoff, MemoryNetwork, PeerAddress, PeerManager
from sync.peer import mesh_tag

HUB = PeerAddress("hub.test", 8066)
MESH = mesh_tag("field")


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


class HeldSleep:
    """Records every delay; returns at once for the first `free` of them, then holds until released."""

    def __init__(self, free: int):
        self.delays: list[float] = []
        self.free = free
        self.released = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) > self.free:
            await self.released.wait()


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def _node(stack: AsyncExitStack, path: Path, network: MemoryNetwork, name: str,
                **options: Any) -> tuple[Store, PeerManager]:
    signer = Signer.generate()
    store = await stack.enter_async_context(Store(path, SCHEMA, signer))
    manager = PeerManager(store, node=signer.public_key, mesh=MESH, dial=network.dialer(name), **options)
    await stack.enter_async_context(manager)
    return store, manager


async def test_a_hub_out_of_reach_is_redialed_with_jitter_up_to_the_hub_interval_and_at_once_when_the_network_changes(
        tmp_path: Path, stack: AsyncExitStack) -> None:
    network = MemoryNetwork()
    hub_store, hub = await _node(stack, tmp_path / "hub.db", network, "hub")
    network.attach(HUB, hub)
    network.down.add(HUB)
    await hub_store.write("directory", team_and_channel())
    await hub_store.write("channel:" + "c" * 26, [post("p" * 26, "from the hub")])

    sleep = HeldSleep(free=4)
    # the manager's own backoff (for LAN peers) is long; the hub link keeps to the hub interval
    edge_store, edge = await _node(stack, tmp_path / "edge.db", network, "edge", backoff=Backoff(base=1, cap=600),
                                   random=lambda: 0.5, sleep=sleep, clock=lambda: 1000.0)
    addresses = {"10.0.0.7"}
    links = HubLinks(edge, SyncSettings(hubs=(HUB,), hub_interval=2.0), addresses=lambda: frozenset(addresses),
                     poll_interval=0.01)
    links.start()
    following = asyncio.create_task(links.follow_network())
    try:
        await _until(lambda: _true(len(sleep.delays) == 5))
        assert sleep.delays == [0.75, 1.5, 1.5, 1.5, 1.5]  # 3/4 of 1, 2 (the interval), 2, ...: equal jitter
        (waiting,) = await edge.status()
        assert (waiting.found, waiting.failures, waiting.next_attempt) == ((HUB_LINK,), 5, 1001.5)

        network.down.clear()  # the link returns while the edge sleeps out its backoff ...
        addresses.add("192.168.1.20")  # ... and the host's network changed with it: the edge dials at once

        async def synced() -> bool:
            return await edge_store.fetchone("SELECT 1 FROM posts WHERE id = ?", ("p" * 26,)) is not None
        await _until(synced)
        assert len(sleep.delays) == 5  # no backoff delay ran out: the network change started the dial
        (linked,) = [row for row in await edge.status() if row.node == hub_store.node_id]
        assert (linked.connected, linked.found, linked.failures) == (True, (HUB_LINK,), 0)
        section = hub_section(SyncSettings(hubs=(HUB,), hub_interval=2.0), await edge.status())
        assert section["links"] == [{"address": "hub.test:8066", "node_key": hub_store.node_id.hex(),
                                     "connected": True, "last_sync_at": section["links"][0]["last_sync_at"],
                                     "failures": 0, "next_attempt_at": None, "last_error": None}]
        assert (section["role"], section["relays"], section["interval_s"]) == ("node", None, 2.0)
    finally:
        following.cancel()
        sleep.released.set()
        await asyncio.gather(following, return_exceptions=True)


def test_a_hub_says_at_start_whether_its_certificate_lets_it_relay_every_feed_or_public_data_only() -> None:
    assert hub_announcement(SyncSettings()) is None
    full = hub_announcement(SyncSettings(role=ROLE_HUB, roles=frozenset({"hub"})))
    assert full is not None and "storing and forwarding every feed of the mesh" in full
    public = hub_announcement(SyncSettings(role=ROLE_HUB))
    assert public is not None and "it relays public data only" in public and "mesh invite --hub" in public
    assert hub_section(SyncSettings(role=ROLE_HUB), [])["relays"] == "public data only"
    assert hub_section(SyncSettings(role=ROLE_HUB, roles=frozenset({"hub"})), [])["relays"] == "every feed"


async def _true(value: bool) -> bool:
    return value


async def test_open_peering_runs_an_enrolled_nodes_sync_behind_admission_and_exposes_its_apply_path(
        tmp_path: Path) -> None:
    init_mesh(tmp_path / "a", "field")
    async with open_node(tmp_path / "a") as node, open_peering(
            node.store, node.data_dir, PeeringSettings(SyncSettings(host="127.0.0.1", port=0, mdns=False))) as peering:
        assert isinstance(peering.feeds, AdmittingStore) and peering.feeds.store is node.store
        status = await peering.status()
        assert status["sync"]["running"] is True and status["sync"]["transport"] == "tls"
        assert peering.known_frontier(bytes(32)) is None
    async with open_node(tmp_path / "b") as node, open_peering(node.store, node.data_dir, PeeringSettings()) as off:
        assert off.feeds is None and (await off.status())["sync"]["running"] is False
