"""Fixtures of the boards tests: an in-process node with a team (see support/boards_world.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.boards_world import BoardsWorld, boards_world


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its real cost takes ~0.1 s a hash; the fixtures hash several times per test."""
    from argon2 import PasswordHasher

    import edgenode.services.users as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BoardsWorld]:
    async with boards_world(tmp_path / "node") as w:
        yield w
