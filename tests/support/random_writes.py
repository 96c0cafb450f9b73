"""Random writes for partition tests: what a node's users might do next, and what must survive."""

from __future__ import annotations

import random

from crdt import Add, Delete, Update
from edgenode.store import Store

from .builders import CHANNEL, post


async def write_something(store: Store, author: str, tag: str, rng: random.Random, acknowledged: set[str],
                          *, most_posts: int = 1) -> None:
    """Once the channel is known: new posts (60%), an edit, a reaction or a delete of a random post.
    Posts whose write returned (durable) join `acknowledged`; a deleted one leaves it, since it must
    stay deleted instead."""
    if not await store.fetchone("SELECT 1 FROM channels WHERE id = ?", (CHANNEL,)):
        return
    posts = [r[0] for r in await store.fetchall("SELECT id FROM posts WHERE _deleted = 0")]
    roll = rng.random()
    if roll < 0.6 or not posts:
        pids = [f"{author}{tag}{i}".ljust(26, "p") for i in range(rng.randrange(1, most_posts + 1))]
        await store.write(f"channel:{CHANNEL}", [post(pid, f"post {tag}") for pid in pids])
        acknowledged.update(pids)
    elif roll < 0.75:
        await store.write("edits", [Update("post", rng.choice(posts), {"message": f"edit {tag}"})])
    elif roll < 0.9:
        await store.write("edits", [Add("post.reactions", rng.choice(posts), f"{author}:smile")])
    else:
        victim = rng.choice(posts)
        await store.write("edits", [Delete("post", victim)])
        acknowledged.discard(victim)
