"""Retraction benchmark: cutting a revoked node's later ops out of a large store, beside a baseline.

    python bench/bench_retract.py [--ops N] [--quick]

Store.retract rebuilds every materialized table from the ops it keeps, so its natural baseline is
what the same work costs on the apply path: a fresh store (same schema, same node-local search
index) applying exactly the kept ops, as 1000-op segments, measured in the same run on the same
disk. The ratio retract/fresh-apply is the figure to compare across machines.

The store holds N ops: 4 authors writing posts in 10 channels each (some replies to other authors'
posts), plus edits and reactions; one author, later revoked, wrote a tenth of them, and its last
half (its reactions on the others' posts, the others' replies to its posts) is retracted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    import crdt  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crdt import Add, Create, HybridClock, Op, Update
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import GENESIS, FeedHead, FeedId, SignedOp, Signer, encode_op

SEGMENT_OPS = 1000
AUTHORS = 4
CHANNELS = 10
T0_MS = 1_767_225_600_000
_WORDS = ["incident", "deploy", "rollback", "pager", "alert", "latency", "database", "replica", "failover",
          "restart", "disk", "runbook", "checklist", "owner", "status", "customer", "mitigated", "resolved",
          "postmortem", "ticket"]
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _id(rng: random.Random) -> str:
    return "".join(rng.choices(_ALPHABET, k=26))


class _Author:
    """Signs ops into its feeds as its store's writer would (stamp, encode, seal, link)."""

    def __init__(self) -> None:
        self.signer = Signer.generate()
        self.clock = HybridClock(self.signer.node_tag)
        self.heads: dict[str, FeedHead] = {}
        self.feeds: dict[str, list[SignedOp]] = {}
        self.now = T0_MS

    def write(self, scope: str, op: Op) -> None:
        self.now += 1
        signed = self.signer.seal(scope, self.heads.get(scope, FeedHead(0, GENESIS)), self.clock.tick(self.now),
                                  encode_op(op))
        self.heads[scope] = FeedHead(signed.seq, signed.link())
        self.feeds.setdefault(scope, []).append(signed)


def _post(rng: random.Random, post_id: str, channel: str, root: str = "") -> Create:
    deps: list[tuple[str, str]] = [("channel", channel), *([("post", root)] if root else [])]
    return Create("post", post_id, {
        "channel_id": channel, "user_id": "u" * 26, "root_id": root, "create_at": T0_MS, "update_at": T0_MS,
        "message": " ".join(rng.choices(_WORDS, k=rng.randint(3, 30))), "hashtags": "", "delete_at": 0,
    }, deps=deps)


def history(n_ops: int) -> tuple[list[_Author], dict[FeedId, int]]:
    """Authors holding about n_ops ops, and the cuts that retract the last half of the revoked author's."""
    rng = random.Random(7)
    authors = [_Author() for _ in range(AUTHORS)]
    revoked = authors[-1]
    team = _id(rng)
    channels = [_id(rng) for _ in range(CHANNELS)]
    authors[0].write("directory", Create("team", team, {"name": "ops", "type": "O"}))
    for c in channels:
        authors[0].write("directory", Create("channel", c, {"team_id": team, "type": "O", "name": c[:8]},
                                             deps=[("team", team)]))
    posts: list[str] = []
    written = 1 + CHANNELS
    while written < n_ops:
        author = revoked if rng.random() < 0.1 else rng.choice(authors[:-1])
        channel = rng.choice(channels)
        kind = rng.random()
        if kind < 0.7 or not posts:
            post_id = _id(rng)
            root = rng.choice(posts[-200:]) if posts and kind < 0.1 else ""
            author.write(f"channel:{channel}", _post(rng, post_id, channel, root))
            posts.append(post_id)
        elif kind < 0.85:
            author.write(f"channel:{channel}", Update("post", rng.choice(posts[-500:]),
                                                      {"message": " ".join(rng.choices(_WORDS, k=5))}))
        else:
            author.write(f"channel:{channel}", Add("post.reactions", rng.choice(posts[-500:]), f"{_id(rng)}:smile"))
        written += 1
    cuts = {FeedId(revoked.signer.public_key, scope): len(ops) // 2 for scope, ops in revoked.feeds.items()}
    return authors, cuts


def _segments(authors: Sequence[_Author], cuts: dict[FeedId, int] | None = None) -> list[list[SignedOp]]:
    """Every feed (cut where `cuts` says) as segments of SEGMENT_OPS, the directory first, then by
    stamp of each segment's first op, roughly as sync delivers them."""
    out: list[list[SignedOp]] = []
    for author in authors:
        for scope, ops in author.feeds.items():
            if cuts is not None:
                ops = ops[:cuts.get(FeedId(author.signer.public_key, scope), len(ops))]
            out.extend(ops[i:i + SEGMENT_OPS] for i in range(0, len(ops), SEGMENT_OPS) if ops[i:i + SEGMENT_OPS])
    return sorted(out, key=lambda seg: (seg[0].feed.scope != "directory", seg[0].stamp))


async def _apply(store: Store, segments: Sequence[list[SignedOp]]) -> float:
    start = time.perf_counter()
    for seg in segments:
        await store.apply(seg)
    return time.perf_counter() - start


def line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


async def run(n_ops: int) -> None:
    t0 = time.perf_counter()
    authors, cuts = history(n_ops)
    everything = _segments(authors)
    kept = _segments(authors, cuts)
    total = sum(len(s) for s in everything)
    n_kept = sum(len(s) for s in kept)
    print(f"retraction of {total - n_kept:,} of {total:,} ops ({len(cuts)} feeds of one author, cut to half; "
          f"prepared in {time.perf_counter() - t0:.1f} s, not timed)")
    with tempfile.TemporaryDirectory(prefix="bench-retract-") as tmp:
        async with Store(Path(tmp) / "victim.db", SCHEMA, Signer.generate(), migrations=LOCAL_MIGRATIONS) as victim:
            full_s = await _apply(victim, everything)
            result = await victim.retract(cuts)
            digest = await victim.digest()
        async with Store(Path(tmp) / "fresh.db", SCHEMA, Signer.generate(), migrations=LOCAL_MIGRATIONS) as fresh:
            fresh_s = await _apply(fresh, kept)
            same = await fresh.digest() == digest
    line("store.apply of all ops (setup, for scale)", f"{full_s:8.2f} s   {total / full_s:10,.0f} ops/s")
    line("store.retract (cut + rebuild, 1 txn)", f"{result.elapsed_s:8.2f} s   {result.replayed:,} ops replayed, "
         f"{result.waiting:,} left waiting")
    line("fresh store.apply of the kept ops", f"{fresh_s:8.2f} s   {n_kept / fresh_s:10,.0f} ops/s")
    line("ratio retract/fresh apply", f"{result.elapsed_s / fresh_s:8.2f}")
    line("digest equal to the fresh store's", "yes" if same else "NO: retract is wrong")
    if not same:
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=100_000, help="ops in the store before the retraction")
    parser.add_argument("--quick", action="store_true", help="10,000 ops")
    args = parser.parse_args(argv)
    asyncio.run(run(10_000 if args.quick else args.ops))


if __name__ == "__main__":
    main()
