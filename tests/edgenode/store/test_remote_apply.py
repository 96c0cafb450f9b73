"""Foreign segments: verified, placed against what we hold, applied all or nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from nacl.signing import SigningKey

from crdt import ClockSkewError, Create, Stamp, Update
from edgenode.store import Store
from support.builders import CHANNEL, post, team_and_channel
from sync import BadSignatureError, ForkError, GapError, SignedOp, encode_segment
from sync.encoding import pack


async def _feeds(store: Store) -> dict[str, list[SignedOp]]:
    return {feed.scope: await store.segment(feed, 0, 10_000) for feed in await store.heads()}


async def test_a_replica_applying_anothers_feeds_reaches_the_same_digest(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        await a.write("directory", team_and_channel())
        await a.write("chan", [post(f"{i:026d}", f"m{i}") for i in range(20)])
        await a.write("chan", [Update("post", f"{3:026d}", {"message": "edited"})])
        for ops in (await _feeds(a)).values():
            await b.apply(ops)
        assert await b.digest() == await a.digest()
        assert (await b.fetchone("SELECT message FROM posts WHERE id = ?", (f"{3:026d}",)))[0] == "edited"


async def test_an_op_waits_for_the_entity_it_depends_on(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        await a.write("directory", team_and_channel())
        await a.write("chan", [post("p" * 26, "early bird")])
        feeds = await _feeds(a)
        result = await b.apply(feeds["chan"])
        assert (result.applied, result.waiting) == (0, 1)
        assert await b.fetchone("SELECT 1 FROM posts") is None
        await b.apply(feeds["directory"])
        assert (await b.fetchone("SELECT message FROM posts"))[0] == "early bird"
        assert (await b.fetchone("SELECT count(*) FROM waiting"))[0] == 0
        assert (await b.fetchone("SELECT count(*) FROM ops WHERE state != 0"))[0] == 0
        assert await b.digest() == await a.digest()


async def test_duplicates_and_replays_are_harmless(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        await a.write("directory", team_and_channel())
        ops = (await _feeds(a))["directory"]
        await b.apply(ops)
        digest = await b.digest()
        again = await b.apply(ops)
        overlap = await b.apply(ops[1:])
        assert (again.duplicates, again.applied, overlap.duplicates) == (2, 0, 1)
        assert await b.digest() == digest


async def test_a_tampered_segment_is_rejected_whole(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        await a.write("directory", team_and_channel())
        await a.write("chan", [post(f"{i:026d}", "m") for i in range(3)])
        ops = (await _feeds(a))["chan"]
        await b.apply((await _feeds(a))["directory"])
        before = await b.digest()
        forged_body = ops[1].body.replace(b"m", b"X")
        tampered = encode_segment([ops[0], dataclasses.replace(ops[1], body=forged_body), ops[2]])
        with pytest.raises(BadSignatureError, match="does not match its author's signature"):
            await b.apply_bytes(tampered)
        assert await b.digest() == before
        assert (await b.fetchone("SELECT count(*) FROM ops"))[0] == 2


async def test_a_forged_op_under_another_nodes_key_is_rejected(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        victim = (await a.write("directory", team_and_channel()[:1]))[0]
        mallory = SigningKey.generate()
        claim = dataclasses.replace(victim, body=pack([1, "team", "m" * 26, {"name": "mallory"}]))
        forged = dataclasses.replace(claim, signature=mallory.sign(claim.content_hash()).signature)
        with pytest.raises(BadSignatureError):
            await b.apply([forged])
        assert (await b.fetchone("SELECT count(*) FROM ops"))[0] == 0


async def test_a_gap_is_refused_until_the_missing_ops_arrive(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        await a.write("directory", team_and_channel())
        await a.write("chan", [post(f"{i:026d}", "m") for i in range(4)])
        ops = (await _feeds(a))["chan"]
        with pytest.raises(GapError, match="jumps from op 0 to op 3"):
            await b.apply(ops[2:])
        await b.apply(ops[:2])
        await b.apply(ops[2:])
        assert (await b.fetchone("SELECT count(*) FROM ops"))[0] == 4


async def test_a_fork_is_detected_recorded_and_nothing_applied(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        ops = await a.write("directory", team_and_channel())
        await b.apply(ops)
        # The author signs a second, different op 2: equivocation.
        other = a.signer.seal("directory", _head_before(ops[1]), ops[1].stamp,
                              pack([1, "team", "z" * 26, {"name": "evil"}]))
        digest = await b.digest()
        with pytest.raises(ForkError, match="two different ops at sequence 2"):
            await b.apply([other])
        assert await b.digest() == digest
        assert (await b.fetchone("SELECT seq FROM forks"))[0] == 2


async def test_an_authentic_op_of_unknown_type_is_kept_but_not_applied(open_store: Callable[..., Store]) -> None:
    async with open_store("a") as a, open_store("b") as b:
        ops = await a.write("directory", team_and_channel()[:1])
        future = a.signer.seal("directory", _after(ops[0]), Stamp(ops[0].stamp.wall_ms + 1, 0, ops[0].stamp.node),
                               pack([99, "hologram", "x"]))
        later = a.signer.seal("directory", _after(future), Stamp(ops[0].stamp.wall_ms + 2, 0, ops[0].stamp.node),
                              pack([1, "team", "y" * 26, {"name": "after"}]))
        result = await b.apply([ops[0], future, later])
        assert (result.applied, result.invalid) == (2, 1)
        reason = (await b.fetchone("SELECT reason FROM rejected"))[0]
        assert "unknown op type 99" in reason
        assert (await b.fetchone("SELECT count(*) FROM teams"))[0] == 2


async def test_ops_from_a_clock_far_in_the_future_are_refused(open_store: Callable[..., Store], clock) -> None:  # type: ignore[no-untyped-def]
    async with open_store("a") as a, open_store("b") as b:
        clock.now_ms += 3_600_000  # a's clock runs an hour fast
        ops = await a.write("directory", team_and_channel()[:1])
        clock.now_ms -= 3_600_000
        with pytest.raises(ClockSkewError, match="ms ahead of ours"):
            await b.apply(ops)
        assert (await b.fetchone("SELECT count(*) FROM ops"))[0] == 0


def _head_before(op: SignedOp):  # type: ignore[no-untyped-def]
    from sync import FeedHead
    return FeedHead(op.seq - 1, op.prev)


def _after(op: SignedOp):  # type: ignore[no-untyped-def]
    from sync import FeedHead
    return FeedHead(op.seq, op.link())
