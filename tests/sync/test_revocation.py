"""The revocation rule: a revoked node's ops are accepted up to the sequence numbers the authority
named, per feed, and refused beyond, the same way on every replica whatever the order of arrival."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt import Create
from sync import GENESIS, FeedHead, FeedId, SignedOp, Signer, UnknownAuthorError, decode_op, encode_op
from sync.revocation import (
    MESH_SCOPE,
    REVOCATION_KIND,
    Revocation,
    Revocations,
    accepted_prefix,
    accepts,
    check_author,
    retractions,
    revocation_from_op,
    revocation_ops,
)

AUTHORITY = bytes([1]) * 32
REVOKED = bytes([2]) * 32
HONEST = bytes([3]) * 32
CHANNEL = "channel:town-square"
T0_MS = 1_700_000_000_000

REVOKED_AFTER_5 = Revocations.of([Revocation(REVOKED, T0_MS, "lost laptop", {CHANNEL: 5, "directory": 2})])


def test_ops_of_a_node_that_is_not_revoked_are_always_accepted() -> None:
    assert accepts(HONEST, CHANNEL, 10**9, REVOKED_AFTER_5) is True
    assert accepts(REVOKED, CHANNEL, 10**9, Revocations()) is True


def test_a_revoked_nodes_ops_are_accepted_up_to_the_named_sequence_number_and_refused_beyond() -> None:
    assert [accepts(REVOKED, CHANNEL, seq, REVOKED_AFTER_5) for seq in range(1, 8)] == [True] * 5 + [False] * 2
    assert [accepts(REVOKED, "directory", seq, REVOKED_AFTER_5) for seq in (1, 2, 3)] == [True, True, False]


def test_a_feed_the_revocation_does_not_name_is_refused_from_its_first_op() -> None:
    # the authority never saw it, so nothing in it can be shown to predate the revocation
    assert accepts(REVOKED, "channel:elsewhere", 1, REVOKED_AFTER_5) is False


def test_several_revocations_of_one_node_combine_to_the_smallest_limit_and_the_union_of_scopes() -> None:
    revocations = Revocations.of([
        Revocation(REVOKED, T0_MS, "", {CHANNEL: 5}),
        Revocation(REVOKED, T0_MS + 1, "", {CHANNEL: 3, "directory": 7}),
    ])
    assert (revocations.limit(REVOKED, CHANNEL), revocations.limit(REVOKED, "directory")) == (3, 7)
    assert revocations.limit(REVOKED, "run:x") == 0
    assert revocations.limit(HONEST, CHANNEL) is None


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 20), max_size=4),
                min_size=1, max_size=4))
def test_the_limits_do_not_depend_on_the_order_revocations_arrive_in(limits: list[dict[str, int]]) -> None:
    revocations = [Revocation(REVOKED, T0_MS, "", scopes) for scopes in limits]
    seen = {
        tuple(Revocations.of(order).limit(REVOKED, scope) for scope in "abcde")
        for order in itertools.permutations(revocations)
    }
    assert len(seen) == 1


def test_the_accepted_part_of_a_segment_is_the_prefix_up_to_the_limit(
    signer: Signer, make_feed: Callable[..., list[SignedOp]],
) -> None:
    ops = make_feed(signer, 8, scope=CHANNEL)
    revoked = Revocations.of([Revocation(signer.public_key, T0_MS, "", {CHANNEL: 5})])
    assert accepted_prefix(ops, revoked) == 5
    assert accepted_prefix(ops[5:], revoked) == 0
    assert accepted_prefix(ops, Revocations()) == 8
    assert accepted_prefix([], revoked) == 0


def test_retractions_name_the_feeds_held_beyond_their_limit_and_where_to_cut_them() -> None:
    heads = {
        FeedId(REVOKED, CHANNEL): FeedHead(9, GENESIS),
        FeedId(REVOKED, "directory"): FeedHead(2, GENESIS),
        FeedId(REVOKED, "run:x"): FeedHead(4, GENESIS),
        FeedId(HONEST, CHANNEL): FeedHead(50, GENESIS),
    }
    assert retractions(heads, REVOKED_AFTER_5) == {FeedId(REVOKED, CHANNEL): 5, FeedId(REVOKED, "run:x"): 0}


def test_only_the_authority_writes_in_the_mesh_scope() -> None:
    check_author(FeedId(AUTHORITY, MESH_SCOPE), AUTHORITY)
    check_author(FeedId(HONEST, CHANNEL), AUTHORITY)
    with pytest.raises(UnknownAuthorError, match="^node 0303030303030303 wrote in scope 'mesh', which only the mesh"):
        check_author(FeedId(HONEST, MESH_SCOPE), AUTHORITY)


# -- as ops ----------------------------------------------------------------------------------


def test_a_revocation_travels_as_a_create_op_and_reads_back_the_same() -> None:
    revocation = Revocation(REVOKED, T0_MS, "lost laptop", {CHANNEL: 5, "directory": 2})
    [op] = revocation_ops(revocation, iter(["r1"]))
    assert op == Create(REVOCATION_KIND, "r1", {
        "node_key": REVOKED.hex(), "revoked_at": T0_MS, "reason": "lost laptop",
        "last_seqs": {"directory": 2, CHANNEL: 5},
    })
    assert revocation_from_op(decode_op(encode_op(op))) == revocation


def test_a_revocation_naming_more_scopes_than_one_op_holds_is_split_and_combines_back() -> None:
    scopes = {f"channel:{i:05d}": i for i in range(2500)}
    ops = revocation_ops(Revocation(REVOKED, T0_MS, "", scopes), (f"r{i}" for i in itertools.count()))
    assert len(ops) == 3
    combined = Revocations.of(r for r in (revocation_from_op(decode_op(encode_op(op))) for op in ops) if r)
    assert all(combined.limit(REVOKED, scope) == seq for scope, seq in scopes.items())


def test_a_revocation_of_a_node_with_no_ops_is_one_op_with_no_limits() -> None:
    [op] = revocation_ops(Revocation(REVOKED, T0_MS), iter(["r1"]))
    assert dict(op.fields)["last_seqs"] == {}


def test_ops_that_are_not_revocations_or_name_no_node_key_state_nothing() -> None:
    assert revocation_from_op(Create("team", "t1", {"name": "x"})) is None
    assert revocation_from_op(Create(REVOCATION_KIND, "r1", {"node_key": "not hex"})) is None
    assert revocation_from_op(Create(REVOCATION_KIND, "r1", {"node_key": REVOKED.hex()[:-2]})) is None


def test_damaged_limits_read_as_none_named_so_the_node_is_still_revoked_everywhere_alike() -> None:
    op = Create(REVOCATION_KIND, "r1", {"node_key": REVOKED.hex(), "revoked_at": "soon", "last_seqs": {CHANNEL: -1}})
    assert revocation_from_op(op) == Revocation(REVOKED, 0, "", {})
