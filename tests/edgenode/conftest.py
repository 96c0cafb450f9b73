"""Shared fixtures: fresh stores on real SQLite files, with an injectable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import Signer


class FakeClock:
    """A wall clock tests can set; starts at a fixed instant (2026-01-01)."""

    def __init__(self, now_ms: int = 1_767_225_600_000):
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_store(tmp_path: Path, clock: FakeClock) -> Callable[..., Store]:
    """Build (not yet opened) stores on files under tmp_path; use as `async with open_store("a") as s`."""
    signers: dict[str, Signer] = {}

    def build(name: str = "node", **kwargs: object) -> Store:
        signer = signers.setdefault(name, Signer.generate())
        kwargs.setdefault("now_ms", clock)
        return Store(tmp_path / f"{name}.db", SCHEMA, signer, **kwargs)  # type: ignore[arg-type]

    return build


@pytest.fixture
async def store(open_store: Callable[..., Store]) -> AsyncIterator[Store]:
    async with open_store() as s:
        yield s
