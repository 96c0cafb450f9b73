"""Partition and heal: nodes keep writing while links come and go; once healed, all agree.

Three nodes on real SQLite files write posts, edits, reactions and deletes while random
partitions decide which pairs can reconcile (through the real sync protocol and segment encoding);
sometimes a node restarts. After the partition heals and a final round of syncs, every digest is
equal and every acknowledged write is present.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from support.builders import team_and_channel
from support.random_writes import write_something

from edgenode.store import Store
from sync.session import reconcile_pair

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_partitions_heal_to_one_state_with_every_acknowledged_write(
        open_store: Callable[..., Store], seed: int) -> None:
    rng = random.Random(seed)
    names = ["a", "b", "c"]
    stores = {n: open_store(n) for n in names}
    for s in stores.values():
        await s.open()
    try:
        await stores["a"].write("directory", team_and_channel())
        acknowledged: set[str] = set()
        for step in range(40):
            author = rng.choice(names)
            await write_something(stores[author], author, f"{step:03d}{seed:04d}", rng, acknowledged)
            # a random partition: each pair may or may not have a link this step
            for x, y in [("a", "b"), ("b", "c"), ("a", "c")]:
                if rng.random() < 0.3:
                    await reconcile_pair(stores[x], stores[y])
            if rng.random() < 0.1:  # a node restarts (its data stays, its memory does not)
                victim = rng.choice(names)
                await stores[victim].close()
                stores[victim] = open_store(victim)
                await stores[victim].open()
        # heal: everybody can reach everybody
        for _ in range(2):
            for x, y in [("a", "b"), ("b", "c"), ("a", "c")]:
                await reconcile_pair(stores[x], stores[y])
        digests = {await s.digest() for s in stores.values()}
        assert len(digests) == 1
        for s in stores.values():
            present = {r[0] for r in await s.fetchall("SELECT id FROM posts WHERE _deleted = 0")}
            assert acknowledged <= present
            assert (await s.fetchone("SELECT count(*) FROM waiting"))[0] == 0
        assert (await reconcile_pair(stores["a"], stores["b"])).ops_sent == 0
    finally:
        for s in stores.values():
            await s.close()
