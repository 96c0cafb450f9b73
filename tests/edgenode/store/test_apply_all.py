"""Store.apply_all: many segments of foreign feeds in one transaction, all or nothing (a bundle import)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.builders import post, team_and_channel

from edgenode.store import Store
from sync import GENESIS, BadSignatureError, FeedHead, ForkError, SignedOp, encode_op


async def _authored(source: Store, n: int) -> tuple[list[SignedOp], list[SignedOp]]:
    """The source's directory feed (team and channel) and its channel feed of `n` posts."""
    directory = await source.write("directory", team_and_channel())
    channel = [op for i in range(n) for op in await source.write("channel:c", [post(f"p{i:025d}", f"message {i}")])]
    return directory, channel


async def test_segments_of_several_feeds_apply_in_one_transaction_and_notify_once(
        open_store: Callable[..., Store]) -> None:
    async with open_store("source") as source, open_store("target") as target:
        directory, channel = await _authored(source, 5)
        told: list[set[str]] = []
        target.subscribe(lambda heads: told.append({f.scope for f in heads}))
        commits = target.commits
        result = await target.apply_all(lambda: iter([directory, channel[:2], channel[2:]]))
        assert (result.applied, result.duplicates) == (7, 0)
        assert target.commits == commits + 1
        assert told == [{"directory", "channel:c"}]
        assert await target.digest() == await source.digest()
        again = await target.apply_all(lambda: iter([directory, channel]))
        assert (again.applied, again.duplicates) == (0, 7)


async def test_a_bad_segment_after_good_ones_rolls_back_every_segment(open_store: Callable[..., Store]) -> None:
    async with open_store("source") as source, open_store("target") as target:
        directory, channel = await _authored(source, 4)
        before = await target.digest()
        last = channel[-1]
        forged = SignedOp(last.feed, last.seq, last.prev, last.stamp, last.body + b" ", last.signature)
        with pytest.raises(BadSignatureError):
            await target.apply_all(lambda: iter([directory, channel[:2], [*channel[2:-1], forged]]))
        assert await target.digest() == before
        assert await target.heads() == {}


async def test_a_fork_among_the_segments_rolls_back_every_segment(open_store: Callable[..., Store]) -> None:
    async with open_store("source") as source, open_store("target") as target:
        directory, channel = await _authored(source, 3)
        await target.apply_all(lambda: iter([directory, channel]))
        before = await target.digest()
        # the author signs another op 1 of its channel feed: the target holds a different one
        other = source.signer.seal("channel:c", FeedHead(0, GENESIS), channel[0].stamp,
                                   encode_op(post("q" * 26, "another history")))
        fresh = await source.write("directory", team_and_channel("T" * 26, "C" * 26))
        with pytest.raises(ForkError):
            await target.apply_all(lambda: iter([fresh, [other]]))
        assert await target.digest() == before
