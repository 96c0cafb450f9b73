"""Replicas that hold the same ops hold the same state, whatever order the ops came in.

Three nodes write concurrently and sync partially; fresh replicas then receive every feed in
random chunks, interleavings and duplications. All must reach one digest, and that state must
match crdt.Replica, the reference semantics, fed the same ops in yet another order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from crdt import Add, Create, Delete, Increment, Remove, Replica, Stamp, Update
from edgenode.store import Store
from support.builders import TEAM, post
from sync import SignedOp, decode_op

SEEDS = range(16)


async def _pull(dst: Store, src: Store) -> None:
    """dst takes everything src holds that dst lacks."""
    have = await dst.heads()
    for feed, head in (await src.heads()).items():
        after = have[feed].seq if feed in have else 0
        if head.seq > after:
            await dst.apply(await src.segment(feed, after, 100_000))


async def _all_feeds(store: Store) -> dict[object, list[SignedOp]]:
    return {feed: await store.segment(feed, 0, 100_000) for feed in await store.heads()}


async def _random_history(rng: random.Random, nodes: list[Store]) -> None:
    await nodes[0].write("directory", [Create("team", TEAM, {"name": "ops", "type": "O"})])
    for node in nodes[1:]:
        await _pull(node, nodes[0])
    for step in range(60):
        node = rng.choice(nodes)
        channels = [r[0] for r in await node.fetchall("SELECT id FROM channels")]
        posts = [r[0] for r in await node.fetchall("SELECT id FROM posts")]
        action = rng.random()
        if action < 0.1 or not channels:
            cid = f"ch{step:02d}{rng.randrange(10**6):06d}".ljust(26, "c")
            await node.write("directory", [Create("channel", cid, {"team_id": TEAM, "type": "O", "name": cid[:8]},
                                                  deps=[("team", TEAM)])])
        elif action < 0.4 or not posts:
            cid = rng.choice(channels)
            await node.write(f"channel:{cid}", [post(f"p{step:02d}{rng.randrange(10**6):06d}".ljust(26, "p"),
                                                     f"message {step}", channel=cid)])
        elif action < 0.55:
            await node.write("edits", [Update("post", rng.choice(posts), {"message": f"edit {step}",
                                                                           "is_pinned": rng.random() < 0.5})])
        elif action < 0.6:
            await node.write("edits", [Delete("post", rng.choice(posts))])
        elif action < 0.75:
            await node.write("edits", [Add("post.reactions", rng.choice(posts), f"u{rng.randrange(3)}:smile")])
        elif action < 0.85:
            pid = rng.choice(posts)
            element = f"u{rng.randrange(3)}:smile"
            tags = await node.fetchall("SELECT tag FROM set_tags WHERE kind = 'post.reactions' AND owner = ? "
                                       "AND element = ?", (pid, element))
            if tags:
                await node.write("edits", [Remove("post.reactions", pid, element,
                                                  tuple(Stamp.unpack(t[0]) for t in tags))])
        elif action < 0.9:
            await node.write("edits", [Increment("post.replies", rng.choice(posts), rng.randrange(-2, 5))])
        else:
            await _pull(node, rng.choice(nodes))


def _schedule(rng: random.Random, feeds: dict[object, list[SignedOp]]) -> list[list[SignedOp]]:
    """Chunks of every feed, interleaved at random (in order within a feed), some sent twice."""
    queues = []
    for ops in feeds.values():
        cuts = sorted(rng.sample(range(1, len(ops)), k=min(len(ops) - 1, rng.randrange(4)))) if len(ops) > 1 else []
        bounds = [0, *cuts, len(ops)]
        queues.append([ops[a:b] for a, b in zip(bounds, bounds[1:])])
    plan: list[list[SignedOp]] = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        chunk = queue.pop(0)
        plan.append(chunk)
        if rng.random() < 0.2:
            plan.append(chunk)  # a duplicate delivery
    return plan


def _visible_in_store(rows_by_kind: dict[str, list[dict[str, object]]]) -> dict[str, dict[str, object]]:
    return {f"{kind}/{row['id']}": row for kind, rows in rows_by_kind.items() for row in rows}


async def _store_view(store: Store, replica: Replica) -> tuple[dict[str, object], dict[str, object]]:
    """The store's state restricted to what the reference replica says, for an exact comparison."""
    expected = replica.visible()
    actual_entities: dict[str, object] = {}
    for ref, fields in expected["entities"].items():
        kind, id_ = ref.split("/")
        table = store.schema.entities[kind]
        row = await store.fetchone(f"SELECT * FROM {table.table} WHERE id = ? AND _deleted = 0", (id_,))
        types = {c.name: c.type for c in table.columns}
        actual_entities[ref] = None if row is None else {
            name: (json.loads(row[name]) if types[name] == "JSON" and row[name] is not None
                   else bool(row[name]) if types[name] == "BOOL" and row[name] is not None else row[name])
            for name in fields
        }
    live = await store.fetchall("SELECT count(*) FROM posts WHERE _deleted = 0")
    reactions: dict[str, list[str]] = {}
    for r in await store.fetchall("SELECT post_id, user_id, emoji_name FROM reactions ORDER BY 1, 2, 3"):
        reactions.setdefault(f"post.reactions/{r[0]}", []).append(f"{r[1]}:{r[2]}")
    counters = {f"{r[0]}/{r[1]}": r[2] for r in await store.fetchall("SELECT * FROM counter_totals ORDER BY 1, 2")}
    actual = {"entities": actual_entities, "sets": reactions, "counters": counters, "posts": live[0][0]}
    wanted = {**expected, "posts": sum(1 for k in expected["entities"] if k.startswith("post/"))}
    return actual, wanted


@pytest.mark.parametrize("seed", SEEDS)
async def test_every_delivery_order_converges_to_the_reference_state(open_store: Callable[..., Store], seed: int) -> None:
    rng = random.Random(seed)
    async with open_store("a") as a, open_store("b") as b, open_store("c") as c:
        await _random_history(rng, [a, b, c])
        feeds: dict[object, list[SignedOp]] = {}
        for node in (a, b, c):
            feeds.update(await _all_feeds(node))
        # own feeds are complete on their author; take the longest copy of each feed
        for node in (a, b, c):
            for feed, ops in (await _all_feeds(node)).items():
                if len(ops) > len(feeds[feed]):
                    feeds[feed] = ops

        digests = set()
        for name in ("d", "e"):
            async with open_store(name) as fresh:
                for chunk in _schedule(rng, feeds):
                    await fresh.apply(chunk)
                assert (await fresh.fetchone("SELECT count(*) FROM waiting"))[0] == 0
                digests.add(await fresh.digest())
                last = fresh
                replica = Replica()
                everything = [op for ops in feeds.values() for op in ops]
                rng.shuffle(everything)
                for op in everything:
                    replica.apply(op.stamp, decode_op(op.body))
                assert replica.waiting_count() == 0
                actual, wanted = await _store_view(last, replica)
                assert actual == wanted
        for node in (a, b, c):  # and the writers themselves, once fully synced
            for other in (a, b, c):
                await _pull(node, other)
            digests.add(await node.digest())
        assert len(digests) == 1
