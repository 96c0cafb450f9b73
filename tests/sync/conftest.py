"""Shared fixtures for the sync/ specifications: signers, and feeds of N ops built the real way."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from nacl.signing import SigningKey

from crdt import Create, HybridClock
from sync import GENESIS, FeedHead, SignedOp, Signer, encode_op

SCOPE = "channel:town-square"
AUTHOR_SEED = bytes(range(32))
OTHER_SEED = bytes(range(100, 132))
T0_MS = 1_700_000_000_000  # a fixed wall clock: the tests never read the real time
GENESIS_HEAD = FeedHead(0, GENESIS)


def build_feed(
    signer: Signer,
    n: int,
    *,
    scope: str = SCOPE,
    head: FeedHead = GENESIS_HEAD,
    clock: HybridClock | None = None,
    start_ms: int = T0_MS,
    ops_per_ms: int = 2,
) -> list[SignedOp]:
    """The next `n` ops of `signer`'s feed in `scope` after `head`, each a small post Create.

    Stamps increase strictly: `ops_per_ms` ops share each wall millisecond (told apart by the
    counter), and milliseconds are a second apart.
    """
    clock = clock if clock is not None else HybridClock(signer.node_tag)
    ops: list[SignedOp] = []
    for i in range(n):
        seq = head.seq + 1
        body = encode_op(Create("post", f"post-{seq:06d}", {"message": f"message number {seq}", "n": seq}))
        stamp = clock.tick(start_ms + 1000 * (i // ops_per_ms))
        op = signer.seal(scope, head, stamp, body)
        ops.append(op)
        head = FeedHead(op.seq, op.link())
    return ops


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(AUTHOR_SEED)


@pytest.fixture(scope="session")
def other_signer() -> Signer:
    return Signer(OTHER_SEED)


@pytest.fixture(scope="session")
def other_signing_key() -> SigningKey:
    """The raw key of `other_signer`, for forging signatures over content it does not author."""
    return SigningKey(OTHER_SEED)


@pytest.fixture(scope="session")
def make_feed() -> Callable[..., list[SignedOp]]:
    """build_feed(signer, n, *, scope, head, clock, start_ms, ops_per_ms): the helper as a fixture."""
    return build_feed


@pytest.fixture(scope="session")
def feed5(signer: Signer) -> tuple[SignedOp, ...]:
    """Five valid ops of one feed, from genesis (a tuple: tests copy it before changing anything)."""
    return tuple(build_feed(signer, 5))
