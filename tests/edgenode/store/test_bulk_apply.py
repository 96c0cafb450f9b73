"""Faster must not mean different: the bulk apply path gives what applying op by op gives.

A segment is decoded in one pass for the common Create (edgenode/store/decode.py), its run of
creates inserted with one executemany, and a whole node's search, hashtag and mention indexes
filled once per batch by batch triggers. Fed the same feeds, a node taking whole segments, a
node taking one op at a time, and a node keeping its indexes by the per-row triggers the batch
triggers replaced reach the same digest and answer searches alike.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt import Create, Delete, Update
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.schema import SCHEMA
from edgenode.store import Store
from edgenode.store.decode import BodyDecoder
from edgenode.store.materialize import validate
from support.builders import CHANNEL, TEAM, team_and_channel
from sync import SignedOp, Signer, decode_op, encode_op

# -- the one-pass decoder -------------------------------------------------------------------------

_NAMES = st.sampled_from(["message", "user_id", "channel_id", "create_at", "is_pinned", "props", "file_ids",
                          "mentions", "hashtags", "edit_at", "nosuchfield", "", "x" * 65, "_stamp"])
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1), st.floats(allow_nan=False),
    st.text(max_size=8), st.sampled_from(["a" * 65_536, "b" * 65_537]), st.binary(max_size=4),
    st.sampled_from([{}, [], {"k": 1}, [1], ["u" * 26]]),
)
_WIRES = st.builds(
    lambda tag, kind, id_, fields, deps, shape: [tag, kind, id_, fields, deps][:shape],
    st.sampled_from([1, 1, 1, 2, 7, True]),
    st.sampled_from(["post", "user", "channel", "nosuchkind", "", 3]),
    st.sampled_from(["p" * 26, "", "i" * 65, 5]),
    st.one_of(st.dictionaries(_NAMES, _VALUES, max_size=8), st.just([["message", "x"]])),
    st.one_of(st.just([["channel", CHANNEL]]), st.just([]), st.just([["nosuchkind", "x"]]), st.just([["channel"]]),
              st.just("channel"), st.just([["channel", CHANNEL]] * 65)),
    st.sampled_from([5, 5, 4, 3, 6]),
)


def _outcome(run: Callable[[], Any]) -> Any:
    try:
        return ("ok", run())
    except Exception as exc:  # the property: the same error type and message, whatever it is
        return ("error", type(exc), str(exc))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_WIRES)
def test_the_one_pass_decoder_gives_what_decode_op_and_validate_give(wire: list[Any]) -> None:
    body = msgpack.packb(wire, use_bin_type=True)
    decoder = BodyDecoder(SCHEMA)

    def full() -> Any:
        op = decode_op(body)
        return op, validate(SCHEMA, op)

    assert _outcome(lambda: decoder.decode(body)) == _outcome(full)
    assert _outcome(lambda: decoder.decode(body)) == _outcome(full)  # the second time from its plan


def test_a_typical_post_create_takes_the_one_pass_path_and_matches() -> None:
    op = Create("post", "p" * 26, {"channel_id": CHANNEL, "user_id": "u" * 26, "message": "hello #ops", "props": {},
                                   "is_pinned": False, "create_at": 5, "hashtags": "#ops", "file_ids": []},
                deps=[("channel", CHANNEL)])
    body = encode_op(op)
    decoded, columns = BodyDecoder(SCHEMA).decode(body)
    assert (decoded, columns) == (op, validate(SCHEMA, op))
    assert columns["is_pinned"] == 0 and columns["props"] == "{}" and columns["file_ids"] == "[]"


# -- whole nodes: bulk vs op by op ----------------------------------------------------------------

_WORDS = "deploy rollback pager latency failover résumé naïve on call".split()
USERS = [c * 26 for c in "uvw"]


def _history(rng: random.Random) -> list[tuple[str, list[Any]]]:
    """Writes (scope, ops) of one author: posts with words, hashtags and mentions, then edits and deletes."""
    writes: list[tuple[str, list[Any]]] = [("directory", team_and_channel())]
    posts: list[str] = []
    for step in range(rng.randrange(20, 120)):
        action = rng.random()
        if action < 0.7 or not posts:
            pid = f"p{step:04d}{rng.randrange(10**6):06d}".ljust(26, "p")
            tags = " ".join(rng.sample(["#ops", "#ops-team", "#db.prod", "#x_y"], rng.randrange(3)))
            fields: dict[str, Any] = {
                "channel_id": CHANNEL, "user_id": rng.choice(USERS), "root_id": rng.choice(["", *posts[-2:]]),
                "message": " ".join(rng.choices(_WORDS, k=rng.randrange(1, 6))) + (" " + tags if tags else ""),
                "hashtags": tags, "create_at": 1000 + step, "props": {}, "is_pinned": rng.random() < 0.1,
            }
            if rng.random() < 0.5:
                fields["mentions"] = json.dumps(rng.sample([*USERS, "@channel"], rng.randrange(1, 3)))
            if rng.random() < 0.05:
                fields["mentions"] = "not json"
            writes.append((f"channel:{CHANNEL}", [Create("post", pid, fields, deps=[("channel", CHANNEL)])]))
            posts.append(pid)
        elif action < 0.85:
            writes.append(("edits", [Update("post", rng.choice(posts), {
                "message": " ".join(rng.choices(_WORDS, k=2)), "hashtags": rng.choice(["", "#ops"])})]))
        else:
            writes.append(("edits", [Delete("post", rng.choice(posts))]))
    return writes


async def _answers(store: Store) -> dict[str, Any]:
    """Everything a search, hashtag search or mention count could read."""
    out: dict[str, Any] = {"digest": await store.digest()}
    for word in [*_WORDS, "resume", "naive", "ops", "team"]:
        rows = await store.fetchall("SELECT p.id FROM post_search s JOIN posts p ON p.rowid = s.rowid "
                                    "WHERE post_search MATCH ? ORDER BY p.id", (word,))
        out[f"search:{word}"] = [r[0] for r in rows]
    for tag in ["#ops", "#ops-team", "#db.prod", "#x_y"]:
        rows = await store.fetchall("SELECT p.id FROM post_hashtags h JOIN posts p ON p.rowid = h.rowid "
                                    "WHERE post_hashtags MATCH ? ORDER BY p.id", (f'"{tag}"',))
        out[f"tag:{tag}"] = [r[0] for r in rows]
    out["mentions"] = [tuple(r) for r in await store.fetchall("SELECT * FROM post_mentions ORDER BY 1, 2, 3, 4")]
    return out


PER_ROW_TRIGGERS = [m for m in LOCAL_MIGRATIONS if m[0] != "local_0007_post_index_batches"]
"""A whole node as it was before batch triggers: every index kept by per-row triggers (the reference)."""


def _node(path: Path, migrations: Any = LOCAL_MIGRATIONS) -> Store:
    return Store(path, SCHEMA, Signer.generate(), migrations=migrations)


async def test_a_whole_node_fed_whole_segments_answers_like_one_fed_op_by_op(tmp_path: Path) -> None:
    for seed in range(6):
        rng = random.Random(seed)
        feeds: list[list[SignedOp]] = []
        # two authors; the second creates some of the first's posts again (a duplicate create merges)
        async with _node(tmp_path / f"a{seed}.db") as a, _node(tmp_path / f"b{seed}.db") as b:
            history = _history(rng)
            for scope, ops in history:
                await a.write(scope, ops)
            await b.write("directory", team_and_channel())
            again = [ops[0] for scope, ops in history if scope.startswith("channel:") and rng.random() < 0.2]
            for op in again:
                await b.write(f"channel:{CHANNEL}", [Create(op.kind, op.id, {**dict(op.fields), "message": "other"},
                                                            deps=op.deps)])
            for source in (a, b):
                for feed in await source.heads():
                    feeds.append(await source.segment(feed, 0, 100_000))
        async with _node(tmp_path / f"bulk{seed}.db") as bulk, _node(tmp_path / f"single{seed}.db") as single, \
                _node(tmp_path / f"reference{seed}.db", PER_ROW_TRIGGERS) as reference:
            for segment in feeds:
                await bulk.apply(segment)
            for segment in feeds:
                for op in segment:
                    await single.apply([op])
                    await reference.apply([op])
            expected = await _answers(reference)
            assert await _answers(bulk) == expected, seed
            assert await _answers(single) == expected, seed
            assert (await bulk.fetchone("SELECT count(*) FROM posts"))[0] > 0  # type: ignore[index]
