"""Partition and heal over real peer sessions on faulty links, while writes continue.

Three nodes on real SQLite files keep writing posts, edits, reactions and deletes. At each step,
random pairs run a peer session (the real PeerSession, frames and all) over an in-memory link that
may be cut at a random frame (a lost link mid-stream); segments seen on the wire are kept and later
replayed to random nodes, duplicated and out of order (old, repeated and reordered deliveries);
nodes restart. After the partition heals, every digest is equal, every acknowledged write is
present, nothing waits for a dependency, and one more session has nothing to send.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from support.builders import team_and_channel
from support.random_writes import write_something

from crdt import CrdtError
from edgenode.store import Store
from sync import SyncError, decode_segment
from sync.framing import memory_link_pair
from sync.peer import PeerSession, Segment, SessionConfig, decode_peer_message, mesh_tag

SEEDS = range(12)
MESH = mesh_tag("faulty")
CONFIG = SessionConfig(live=False, window=2, segment_ops=7)  # small segments: many frames to cut between


async def _session(a: Store, b: Store, wire: list[bytes], cut_after: int | None = None) -> bool:
    """One session between a and b, whose link is cut after `cut_after` frames; True if it was cut."""
    la, lb = memory_link_pair()
    frames = 0

    def watch(frame: bytes) -> bytes:
        nonlocal frames
        frames += 1
        message = decode_peer_message(frame)
        if isinstance(message, Segment):
            wire.append(message.data)
        if cut_after is not None and frames >= cut_after:
            la.sever()
        return frame

    la.on_send = lb.on_send = watch
    sessions = [PeerSession(a, la, node=a.node_id, mesh=MESH, initiator=True, config=CONFIG),
                PeerSession(b, lb, node=b.node_id, mesh=MESH, initiator=False, config=CONFIG)]
    outcomes = await asyncio.wait_for(asyncio.gather(*(s.run() for s in sessions), return_exceptions=True), 30)
    for outcome in outcomes:  # a cut link ends a session with a SyncError; anything else is a bug
        if isinstance(outcome, BaseException) and not isinstance(outcome, SyncError):
            raise outcome
    return any(isinstance(outcome, SyncError) for outcome in outcomes)


async def _replay(store: Store, rng: random.Random, wire: list[bytes]) -> int:
    """Deliver a few segments seen earlier, in random order: duplicates are skipped, a segment that
    starts beyond what the store holds is refused whole (GapError) and changes nothing. Returns how
    many ops were duplicates."""
    duplicates = 0
    for data in rng.sample(wire, min(len(wire), rng.randrange(1, 5))):
        try:
            duplicates += (await store.apply(decode_segment(data))).duplicates
        except (SyncError, CrdtError):
            pass
    return duplicates


@pytest.mark.parametrize("seed", SEEDS)
async def test_faulty_links_and_restarts_heal_to_one_state_with_every_acknowledged_write(
        open_store: Callable[..., Store], seed: int) -> None:
    rng = random.Random(seed)
    names = ["a", "b", "c"]
    stores = {n: open_store(n) for n in names}
    for s in stores.values():
        await s.open()
    wire: list[bytes] = []
    cuts = duplicates = 0
    try:
        await stores["a"].write("directory", team_and_channel())
        acknowledged: set[str] = set()
        for step in range(40):
            author = rng.choice(names)
            await write_something(stores[author], author, f"{step:03d}{seed:04d}", rng, acknowledged, most_posts=5)
            for x, y in [("a", "b"), ("b", "c"), ("a", "c")]:  # which links exist this step
                if rng.random() < 0.3:
                    cut_after = rng.randrange(2, 40) if rng.random() < 0.4 else None
                    cuts += await _session(stores[x], stores[y], wire, cut_after)
            if wire and rng.random() < 0.3:
                duplicates += await _replay(stores[rng.choice(names)], rng, wire)
            if rng.random() < 0.1:  # a node restarts (its data stay, its memory does not)
                victim = rng.choice(names)
                await stores[victim].close()
                stores[victim] = open_store(victim)
                await stores[victim].open()
        # heal: every link works again
        assert cuts and duplicates  # the faults happened
        for _ in range(2):
            for x, y in [("a", "b"), ("b", "c"), ("a", "c")]:
                await _session(stores[x], stores[y], [])
        assert len({await s.digest() for s in stores.values()}) == 1
        for s in stores.values():
            present = {r[0] for r in await s.fetchall("SELECT id FROM posts WHERE _deleted = 0")}
            assert acknowledged <= present
            assert (await s.fetchone("SELECT count(*) FROM waiting"))[0] == 0
        la, lb = memory_link_pair()
        final = await asyncio.gather(
            PeerSession(stores["a"], la, node=stores["a"].node_id, mesh=MESH, initiator=True, config=CONFIG).run(),
            PeerSession(stores["b"], lb, node=stores["b"].node_id, mesh=MESH, initiator=False, config=CONFIG).run())
        assert final[0].ops_sent == final[1].ops_sent == 0 and final[0].round_trips == 1
    finally:
        for s in stores.values():
            await s.close()
