"""Store.write's precondition: checked in the writer's transaction, atomically with the write.

These are the primitive's own specifications, on a real store file: of concurrent writes whose
checks ask for the same free name exactly one commits; a refused write leaves no trace (no op, no
row, no feed advance); and the other writes of the same group commit are unaffected.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from crdt import Create
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import Signer


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "node.db", SCHEMA, Signer.generate()) as opened:
        yield opened


class NameTaken(Exception):
    pass


def _free(name: str) -> Callable[[sqlite3.Connection], None]:
    def check(conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT 1 FROM users WHERE username = ? AND _deleted = 0", (name,)).fetchone():
            raise NameTaken(name)
    return check


def _user(n: int, name: str) -> Create:
    return Create("user", f"u{n:025d}", {"username": name})


async def test_of_concurrent_checked_writes_for_one_name_exactly_one_commits(store: Store) -> None:
    results = await asyncio.gather(*(store.write("directory", [_user(n, "sam")], check=_free("sam"))
                                     for n in range(20)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, NameTaken) for r in results if isinstance(r, BaseException))
    assert (await store.fetchone("SELECT count(*) FROM users WHERE username = 'sam'"))[0] == 1
    assert (await store.fetchone("SELECT count(*) FROM ops"))[0] == 1


async def test_a_refused_write_leaves_no_trace_and_its_neighbours_commit(store: Store) -> None:
    await store.write("directory", [_user(0, "sam")])
    heads = await store.heads()
    results = await asyncio.gather(
        store.write("directory", [_user(1, "ann")], check=_free("ann")),
        store.write("directory", [_user(2, "sam"), _user(3, "other")], check=_free("sam")),
        store.write("directory", [_user(4, "ben")], check=_free("ben")),
        return_exceptions=True)
    assert isinstance(results[1], NameTaken)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    names = sorted(r[0] for r in await store.fetchall("SELECT username FROM users"))
    assert names == ["ann", "ben", "sam"]  # nothing of the refused write, not even its second op
    feed = next(iter(heads))
    assert (await store.heads())[feed].seq == heads[feed].seq + 2


async def test_a_check_sees_every_write_committed_before_it(store: Store) -> None:
    await store.write("directory", [_user(0, "sam")], check=_free("sam"))
    with pytest.raises(NameTaken):
        await store.write("directory", [_user(1, "sam")], check=_free("sam"))
