"""Hypothesis strategies and delivery helpers shared by the tests/crdt modules.

This is a plain module rather than conftest.py: test modules import it by name (conftest.py puts
tests/crdt on sys.path, since pytest runs with --import-mode=importlib), and a uniquely named module
cannot be confused with another directory's helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

from crdt import NODE_TAG_SIZE, Stamp

T = TypeVar("T")

MAX_WALL = (1 << 48) - 1
MAX_COUNTER = (1 << 16) - 1

NODES = (b"\x01" * NODE_TAG_SIZE, b"\x02" * NODE_TAG_SIZE, b"\x03" * NODE_TAG_SIZE)
"""Node tags of three simulated replicas."""

ORIGIN = Stamp(0, 0, bytes(NODE_TAG_SIZE))
"""The least stamp; below every stamp that `small_stamps` draws."""

node_tags = st.binary(min_size=NODE_TAG_SIZE, max_size=NODE_TAG_SIZE)

any_stamps = st.builds(Stamp, st.integers(0, MAX_WALL), st.integers(0, MAX_COUNTER), node_tags)
"""Any valid stamp."""

small_stamps = st.builds(Stamp, st.integers(1, 8), st.integers(0, 7), st.sampled_from(NODES))
"""Stamps from a small space, so that different ops often tie on (wall, counter) and differ only by node."""


def unique_stamps(min_size: int = 0, max_size: int = 30) -> st.SearchStrategy[list[Stamp]]:
    """Distinct stamps: one per op, as every node's clock guarantees."""
    return st.lists(small_stamps, min_size=min_size, max_size=max_size, unique=True)


def with_duplicates(draw: Any, items: Sequence[T]) -> list[T]:
    """The items in any order, some of them delivered more than once."""
    items = list(items)
    extra = draw(st.lists(st.sampled_from(items), max_size=len(items))) if items else []
    return draw(st.permutations(items + extra))


def partition(draw: Any, items: Sequence[T], replicas: int) -> list[list[T]]:
    """Give each item to a non-empty set of replicas; each replica then gets its items in any order."""
    shares: list[list[T]] = [[] for _ in range(replicas)]
    for item in items:
        for index in draw(st.sets(st.integers(0, replicas - 1), min_size=1)):
            shares[index].append(item)
    return [with_duplicates(draw, share) for share in shares]


def subsets(draw: Any, items: Sequence[T], count: int) -> list[list[T]]:
    """`count` arbitrary subsequences of the items (each may be empty), for building independent states."""
    return [[item for item in items if draw(st.booleans())] for _ in range(count)]
