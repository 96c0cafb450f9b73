"""The peer manager keeps one sync connection per peer, redials with backoff, and reports every peer's state.

Most tests run managers over the in-memory network with injected time; the TLS test uses real
loopback TCP with throwaway mesh certificates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from support.builders import CHANNEL, post, team_and_channel
from support.tls_certs import TestCA, peer_node_key

from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import Signer
from sync.manager import INBOUND, MDNS, STATIC, Backoff, MemoryNetwork, PeerAddress, PeerManager
from sync.peer import SessionConfig, mesh_tag

MESH = mesh_tag("test-mesh")
FAST = Backoff(base=0.01, cap=0.05)


async def until(condition: Callable[[], Any], timeout: float = 10) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


class Cluster:
    """Nodes named "a", "b", ... with a store and a manager each, on one in-memory network."""

    def __init__(self, tmp_path: Path, stack: AsyncExitStack):
        self.tmp_path = tmp_path
        self.stack = stack
        self.network = MemoryNetwork()
        self.stores: dict[str, Store] = {}
        self.managers: dict[str, PeerManager] = {}
        self.signers: dict[str, Signer] = {}

    def address(self, name: str) -> PeerAddress:
        return PeerAddress(f"{name}.test", 8066)

    async def node(self, name: str, *, static: tuple[str, ...] = (), **kwargs: Any) -> PeerManager:
        self.signers[name] = signer = Signer.generate()
        store = await self.stack.enter_async_context(Store(self.tmp_path / f"{name}.db", SCHEMA, signer))
        kwargs.setdefault("backoff", FAST)
        manager = PeerManager(store, node=signer.public_key, mesh=MESH, dial=self.network.dialer(name),
                              static_peers=[self.address(s) for s in static], **kwargs)
        self.network.attach(self.address(name), manager)
        self.stores[name], self.managers[name] = store, manager
        await self.stack.enter_async_context(manager)
        return manager

    async def converged(self, *names: str) -> bool:
        return await _converged(*(self.stores[n] for n in names))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with AsyncExitStack() as stack:
        yield Cluster(tmp_path, stack)


async def write_posts(store: Store, n: int, start: int = 0) -> None:
    if not await store.fetchone("SELECT 1 FROM channels WHERE id = ?", (CHANNEL,)):
        await store.write("directory", team_and_channel())
    await store.write(f"channel:{CHANNEL}", [post(f"{store.node_id.hex()[:10]}{i:016d}", f"m{i}")
                                             for i in range(start, start + n)])


def row(rows: list[Any], node: bytes | None) -> Any:
    (match,) = [r for r in rows if r.node == node]
    return match


async def test_a_static_peer_is_synced_and_both_ends_report_how_they_found_each_other(cluster: Cluster) -> None:
    await cluster.node("b")
    await write_posts(cluster.stores["b"], 5)
    a = await cluster.node("a", static=("b",))
    await write_posts(cluster.stores["a"], 3, start=10)
    await until(lambda: cluster.converged("a", "b"))
    kb = cluster.signers["b"].public_key

    async def settled() -> bool:
        return bool(row(await a.status(), kb).to_send == 0)

    await until(settled)
    a_sees = row(await a.status(), kb)
    b_sees = row(await cluster.managers["b"].status(), cluster.signers["a"].public_key)
    assert (a_sees.found, b_sees.found) == ((STATIC,), (INBOUND,))
    assert a_sees.connected and b_sees.connected and a_sees.addresses == ("b.test:8066",)
    assert a_sees.last_sync is not None and a_sees.last_contact is not None and a_sees.failures == 0
    assert (a_sees.ops_sent, b_sees.ops_sent) == (await authored(cluster.stores["a"]), 7)  # b: team, channel, 5 posts


async def authored(store: Store) -> int:
    """Ops `store`'s node wrote itself (a node that received the channel first writes only its posts)."""
    return sum(head.seq for feed, head in (await store.heads()).items() if feed.author == store.node_id)


async def _true(value: bool) -> bool:
    return value


async def test_two_nodes_that_dial_each_other_keep_exactly_the_connection_dialed_by_the_smaller_key(
        cluster: Cluster) -> None:
    a = await cluster.node("a", static=("b",))
    b = await cluster.node("b", static=("a",))
    ka, kb = cluster.signers["a"].public_key, cluster.signers["b"].public_key
    await until(lambda: _true(a._peers.get(kb) is not None and a._peers[kb].session is not None
                              and b._peers.get(ka) is not None and b._peers[ka].session is not None))
    await asyncio.sleep(0.3)  # time for any second connection to be made and dropped
    session_a, session_b = a._peers[kb].session, b._peers[ka].session
    assert session_a is not None and session_b is not None
    assert session_a.initiator == (ka < kb) and session_b.initiator == (kb < ka)
    dials = len(cluster.network.dials)
    await asyncio.sleep(0.3)
    assert len(cluster.network.dials) == dials, "the losing dialer must wait, not flap"
    await write_posts(cluster.stores["a"], 2)
    await until(lambda: cluster.converged("a", "b"))


async def test_an_unreachable_peer_is_redialed_with_doubling_jittered_delays_then_synced_at_once(
        cluster: Cluster) -> None:
    await cluster.node("b")
    cluster.network.down.add(cluster.address("b"))
    delays: list[float] = []
    resume = asyncio.Event()

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) >= 6:
            await resume.wait()

    a = await cluster.node("a", static=("b",), backoff=Backoff(base=1, cap=8), random=lambda: 0.5, sleep=sleep,
                           clock=lambda: 1000.0)
    await until(lambda: _true(len(delays) == 6))
    assert delays == [0.75, 1.5, 3.0, 6.0, 6.0, 6.0]  # 3/4 of 1, 2, 4, 8 (the cap), 8, 8
    (waiting,) = await a.status()
    assert (waiting.node, waiting.found, waiting.failures, waiting.next_attempt) == (None, (STATIC,), 6, 1006.0)
    assert waiting.last_error == "cannot reach b.test:8066: ConnectionRefusedError: nothing listens on b.test:8066"
    cluster.network.down.clear()
    await write_posts(cluster.stores["b"], 2)
    resume.set()
    await until(lambda: cluster.converged("a", "b"))
    synced = row(await a.status(), cluster.signers["b"].public_key)
    assert (synced.connected, synced.failures, synced.next_attempt, synced.last_error) == (True, 0, None, None)


async def test_a_discovered_peer_is_synced_at_once_and_no_longer_dialed_once_it_is_lost(cluster: Cluster) -> None:
    b = await cluster.node("b")
    await write_posts(cluster.stores["b"], 4)
    a = await cluster.node("a")
    kb = cluster.signers["b"].public_key
    a.discovered(kb, [cluster.address("b")])
    await until(lambda: cluster.converged("a", "b"))
    assert row(await a.status(), kb).found == (MDNS,)
    a.lost(kb)
    cluster.network.down.add(cluster.address("b"))
    session = a._peers[kb].session
    assert session is not None
    session.link.sever()  # type: ignore[attr-defined]
    await until(lambda: _true(a._peers[kb].session is None))
    await asyncio.sleep(0.2)
    dials = len(cluster.network.dials)
    await asyncio.sleep(0.2)
    assert len(cluster.network.dials) == dials
    assert not row(await a.status(), kb).connected
    del b


async def test_our_own_address_as_a_static_peer_is_dialed_once_and_reported(cluster: Cluster) -> None:
    a = await cluster.node("a", static=("a",))

    async def reported() -> bool:
        return any(r.last_error for r in await a.status())

    await until(reported)
    await asyncio.sleep(0.1)
    assert cluster.network.dials == [cluster.address("a")]
    (me,) = await a.status()
    assert me.last_error == "a.test:8066 is this node itself"


async def test_a_disconnected_peer_reports_what_it_lacks_since_the_last_session(cluster: Cluster) -> None:
    await cluster.node("b")
    a = await cluster.node("a", static=("b",))
    kb = cluster.signers["b"].public_key
    await write_posts(cluster.stores["a"], 3)
    await until(lambda: cluster.converged("a", "b"))
    cluster.network.down.add(cluster.address("b"))
    a._peers[kb].session.link.sever()  # type: ignore[union-attr]
    await until(lambda: _true(a._peers[kb].session is None))
    await write_posts(cluster.stores["a"], 7, start=100)
    status = row(await a.status(), kb)
    assert (status.connected, status.to_send, status.to_receive) == (False, 7, None)



async def test_the_frontier_a_peer_held_is_known_after_its_session_ended_and_unknown_for_a_stranger(
        cluster: Cluster) -> None:
    await cluster.node("b")
    a = await cluster.node("a", static=("b",))
    kb = cluster.signers["b"].public_key
    assert a.known_frontier(kb) is None
    await write_posts(cluster.stores["a"], 3)
    await until(lambda: cluster.converged("a", "b"))
    cluster.network.down.add(cluster.address("b"))
    a._peers[kb].session.link.sever()  # type: ignore[union-attr]
    await until(lambda: _true(a._peers[kb].session is None))
    await write_posts(cluster.stores["a"], 2, start=100)  # written after: not in what b held
    held = {feed: head.seq for feed, head in (await cluster.stores["b"].heads()).items()}
    assert a.known_frontier(kb) == held
    assert a.known_frontier(bytes(32)) is None

# -- mutual TLS over loopback TCP ------------------------------------------------------------------


async def test_mutual_tls_peers_sync_and_a_node_of_another_mesh_is_refused_and_gets_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mesh, stranger_ca = TestCA.create("mesh"), TestCA.create("elsewhere")
    async with AsyncExitStack() as stack:
        managers, stores = {}, {}
        for name, ca in (("a", mesh), ("b", mesh), ("c", stranger_ca)):
            signer = Signer.generate()
            stores[name] = await stack.enter_async_context(Store(tmp_path / f"{name}.db", SCHEMA, signer))
            server, client = ca.contexts(signer.seed, tmp_path / name)
            managers[name] = PeerManager(stores[name], node=signer.public_key, mesh=MESH, server_ssl=server,
                                         client_ssl=client, verify_peer=peer_node_key, backoff=FAST,
                                         listen=PeerAddress("127.0.0.1", 0), config=SessionConfig(keepalive=1))
            await stack.enter_async_context(managers[name])
        await write_posts(stores["b"], 5)
        b_address = managers["b"].listening[0]
        with caplog.at_level(logging.WARNING, logger="sync.manager"):
            managers["a"].add_peer(b_address)
            managers["c"].add_peer(b_address)
            await until(lambda: _converged(stores["a"], stores["b"]))
            await until(lambda: _true(any("refused a sync connection" in r.getMessage() for r in caplog.records)))
        assert await stores["c"].heads() == {}
        (c_view,) = await managers["c"].status()
        assert c_view.node is None and c_view.failures >= 1 and c_view.last_error is not None
        assert managers["a"].tls and row(await managers["b"].status(), stores["a"].node_id).found == (INBOUND,)


async def _converged(*stores: Store) -> bool:
    return len({await s.digest() for s in stores}) == 1 and all([bool(await s.heads()) for s in stores])


# -- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("10.0.0.2:9000", PeerAddress("10.0.0.2", 9000)), ("laptop.local", PeerAddress("laptop.local", 8066)),
    ("[fe80::1]:8067", PeerAddress("fe80::1", 8067)), ("[::1]", PeerAddress("::1", 8066)),
])
def test_peer_addresses_parse_from_host_and_optional_port(text: str, expected: PeerAddress) -> None:
    assert PeerAddress.parse(text) == expected and PeerAddress.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:0", "host:70000", "host:http", "[::1]x", "[::1", "[::1:8066"])
def test_malformed_peer_addresses_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        PeerAddress.parse(text)
