"""A peer sees only the feeds it is entitled to: in frontiers, segments and live pushes, judged in commit order.

The need-to-know policy is the node's (tests/edgenode/peering/test_need_to_know.py); here a list of
allowed scopes stands in for it, so that the view's own promises can be shown one at a time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest
from support.builders import team_and_channel

from crdt import Create
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import FeedHead, FeedId, Signer
from sync.framing import memory_link_pair
from sync.peer import PeerSession, SessionConfig, mesh_tag
from sync.peer_view import PeerView
from sync.ports import NO_CHANGE, ScopeChange

PUBLIC, PRIVATE = "channel:public", "channel:private"
MESH = mesh_tag("test-mesh")


class AllowedScopes:
    """A stand-in policy: the scopes in `allowed`; commits to `watched` scopes are judged by `refresh`,
    which waits for `release` and then applies `next_change`."""

    def __init__(self, allowed: set[str], watched: set[str] = frozenset()):  # type: ignore[assignment]
        self.allowed = set(allowed)
        self.watched = set(watched)
        self.release = asyncio.Event()
        self.release.set()
        self.loading = asyncio.Event()
        self.loading.set()
        self.load_started = asyncio.Event()
        self.next_change = NO_CHANGE
        self.refreshed: list[set[str]] = []

    async def load(self) -> None:
        self.load_started.set()
        await self.loading.wait()

    def allows(self, scope: str) -> bool:
        return scope in self.allowed

    def may_change(self, scope: str) -> bool:
        return scope in self.watched

    async def refresh(self, scopes: Collection[str]) -> ScopeChange:
        await self.release.wait()
        self.refreshed.append(set(scopes))
        change, self.next_change = self.next_change, NO_CHANGE
        self.allowed = (self.allowed | change.gained) - change.lost
        return change

    async def for_peer(self, peer: bytes) -> AllowedScopes:
        return self


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "a.db", SCHEMA, Signer.generate())
    await s.open()
    await s.write("directory", team_and_channel())
    yield s
    await s.close()


PEER = Signer.generate().public_key


_ids = itertools.count()


async def write(store: Store, scope: str, n: int = 1) -> FeedId:
    """Author `n` ops in this store's feed of `scope` (their content does not matter here)."""
    await store.write(scope, [Create("team", f"{next(_ids):026d}", {"name": "t"}) for _ in range(n)])
    return FeedId(store.node_id, scope)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_peer_is_offered_only_the_feeds_it_may_receive(store: Store) -> None:
    public, private = await write(store, PUBLIC), await write(store, PRIVATE)
    view = PeerView(store, AllowedScopes({PUBLIC, "directory"}), PEER)
    heads = await view.heads()
    assert public in heads and private not in heads
    assert await view.segment(private) == []


async def test_the_feeds_the_peer_wrote_itself_are_always_visible(tmp_path: Path, store: Store) -> None:
    peer = Store(tmp_path / "peer.db", SCHEMA, Signer.generate())
    await peer.open()
    try:
        theirs = await peer.write(PRIVATE, [Create("team", "p" * 26, {"name": "p"})])
        await store.apply(theirs)
        view = PeerView(store, AllowedScopes(set()), peer.node_id)
        assert FeedId(peer.node_id, PRIVATE) in await view.heads()
    finally:
        await peer.close()


async def test_segments_stop_at_the_last_head_announced_to_the_peer(store: Store) -> None:
    public = await write(store, PUBLIC, 3)
    view = PeerView(store, AllowedScopes({PUBLIC}), PEER)
    await view.heads()
    await write(store, PUBLIC, 2)  # committed, but never announced through this view
    assert [op.seq for op in await view.segment(public)] == [1, 2, 3]


async def test_a_commit_that_may_change_entitlement_holds_every_later_commit_until_judged(store: Store) -> None:
    policy = AllowedScopes({PUBLIC}, watched={PRIVATE})
    view = PeerView(store, policy, PEER)
    seen: list[dict[FeedId, FeedHead]] = []
    stop = view.subscribe(seen.append)
    try:
        await view.heads()
        policy.release.clear()
        policy.next_change = ScopeChange(gained=frozenset({PRIVATE}))
        private = await write(store, PRIVATE, 2)
        public = await write(store, PUBLIC)
        await settle()
        assert seen == []  # the public commit waits behind the private one
        policy.release.set()
        await asyncio.wait_for(_until(lambda: len(seen) >= 2), 5)
        assert policy.refreshed == [{PRIVATE}]
        assert private in seen[0] and seen[0][private].seq == 2
        assert public in seen[-1]
        assert [op.seq for op in await view.segment(private)] == [1, 2]
    finally:
        stop()


async def test_a_loss_ends_the_feed_where_it_was_judged_and_nothing_after_it_is_announced(store: Store) -> None:
    policy = AllowedScopes({PRIVATE}, watched={PRIVATE})
    view = PeerView(store, policy, PEER)
    seen: list[dict[FeedId, FeedHead]] = []
    stop = view.subscribe(seen.append)
    try:
        await view.heads()
        private = FeedId(store.node_id, PRIVATE)
        await write(store, PRIVATE)  # written while the peer is entitled
        await asyncio.wait_for(_until(lambda: len(seen) == 1), 5)
        policy.next_change = ScopeChange(lost=frozenset({PRIVATE}))
        await write(store, PRIVATE)  # say, the removal of the peer's last member
        await write(store, PRIVATE)  # and a post after it
        await asyncio.wait_for(_until(lambda: len(policy.refreshed) == 3), 5)
        await settle()
        assert [heads[private].seq for heads in seen] == [1]
        assert [op.seq for op in await view.segment(private)] == [1]
        assert private not in await view.heads()
    finally:
        stop()


async def test_the_frontier_read_while_a_commit_is_being_judged_stops_at_the_judged_head(store: Store) -> None:
    policy = AllowedScopes({PRIVATE}, watched={PRIVATE})
    view = PeerView(store, policy, PEER)
    stop = view.subscribe(lambda heads: None)
    try:
        private = await write(store, PRIVATE)  # judged once the view loads, at the first heads()
        await view.heads()
        policy.release.clear()
        policy.next_change = ScopeChange(lost=frozenset({PRIVATE}))
        await write(store, PRIVATE, 2)  # held: its judgement is pending
        await settle()
        assert (await view.heads())[private].seq == 1  # not the current head, 3
        policy.release.set()
        await asyncio.wait_for(_until(lambda: len(policy.refreshed) == 2), 5)
        assert [op.seq for op in await view.segment(private)] == [1]
    finally:
        stop()


async def test_a_commit_made_while_the_entitlement_loads_is_judged_too(store: Store) -> None:
    policy = AllowedScopes({PRIVATE}, watched={PRIVATE})
    view = PeerView(store, policy, PEER)
    stop = view.subscribe(lambda heads: None)
    try:
        private = await write(store, PRIVATE)
        policy.loading.clear()
        frontier = asyncio.create_task(view.heads())
        await asyncio.wait_for(policy.load_started.wait(), 5)  # the view read the store's heads
        policy.next_change = ScopeChange(lost=frozenset({PRIVATE}))
        await write(store, PRIVATE)  # e.g. the removal, committed while the entitlement loads
        policy.loading.set()
        assert (await frontier)[private].seq == 1
        await asyncio.wait_for(_until(lambda: len(policy.refreshed) == 2), 5)
        assert [op.seq for op in await view.segment(private)] == [1]
        assert private not in await view.heads()
    finally:
        stop()


async def test_a_session_with_need_to_know_sends_only_the_entitled_feeds_then_the_history_of_a_gained_one(
        tmp_path: Path, store: Store) -> None:
    other = Store(tmp_path / "b.db", SCHEMA, Signer.generate())
    await other.open()
    try:
        await write(store, PUBLIC, 3)
        await write(store, PRIVATE, 4)
        policy = AllowedScopes({PUBLIC, "directory"}, watched={PRIVATE})
        la, lb = memory_link_pair()
        config = SessionConfig(live=True)
        ours = PeerSession(store, la, node=store.node_id, mesh=MESH, initiator=True, config=config, entitlements=policy)
        theirs = PeerSession(other, lb, node=other.node_id, mesh=MESH, initiator=False, config=config)
        tasks = [asyncio.create_task(ours.run()), asyncio.create_task(theirs.run())]
        try:
            async def caught_up() -> bool:
                return ours.caught_up and theirs.caught_up
            await asyncio.wait_for(_until_async(caught_up), 10)
            held = {feed.scope: head.seq for feed, head in (await other.heads()).items()}
            assert held.get(PUBLIC) == 3 and PRIVATE not in held
            policy.next_change = ScopeChange(gained=frozenset({PRIVATE}))
            await write(store, PRIVATE)  # e.g. the op that adds a member the peer hosts

            async def has_private() -> bool:
                head = (await other.heads()).get(FeedId(store.node_id, PRIVATE))
                return head is not None and head.seq == 5
            await asyncio.wait_for(_until_async(has_private), 10)
        finally:
            ours.stop("done")
            theirs.stop("done")
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await other.close()


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0.005)


async def _until_async(condition: object) -> None:
    while not await condition():  # type: ignore[operator]
        await asyncio.sleep(0.005)
