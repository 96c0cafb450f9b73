"""Property: whatever the partitions and the order ops arrive in, every node maps names to entities alike.

Three real stores write creates, renames and deletes of users and channels with names from a small pool
(so they collide, in any case, and with each other's derived names), without any local check (the
worst a set of offline nodes could produce), while random pairs sync through the real protocol.
After the partition heals, every node computes the same name -> entity map, in which every live
entity has exactly one name, that name finds it, and no two entities share one.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt import Create, Delete, Update
from edgenode.schema import SCHEMA
from edgenode.services.context import Context
from edgenode.services.names import CHANNEL, EMAIL, USERNAME, Namespace, Names
from edgenode.store import Store
from sync import Signer
from sync.session import reconcile_pair

TEAM = "t" * 26
NODES = 3
# "sam-aaaaaa" is also what a user with an id starting "aaaaaa" that lost "sam" would be shown as
USERNAMES = ["sam", "Sam", "ann", "sam-aaaaaa", "sam-bbbbbb"]
EMAILS = ["sam@example.com", "SAM@example.com", "ann@example.com", "sam+aaaaaa@example.com"]
CHANNELS = ["ops", "logistics", "ops-aaaaaa"]

_node = st.integers(0, NODES - 1)
_step = st.one_of(
    st.tuples(st.just("user"), _node, st.sampled_from("ab"), st.sampled_from(USERNAMES), st.sampled_from(EMAILS)),
    st.tuples(st.just("channel"), _node, st.sampled_from("ab"), st.sampled_from(CHANNELS)),
    st.tuples(st.just("rename_user"), _node, st.integers(0, 20), st.sampled_from(USERNAMES)),
    st.tuples(st.just("rename_channel"), _node, st.integers(0, 20), st.sampled_from(CHANNELS)),
    st.tuples(st.just("delete_user"), _node, st.integers(0, 20)),  # frees its names
    st.tuples(st.just("sync"), _node, _node),
)


async def _name_map(store: Store) -> dict[tuple[str, str, str], str]:
    """(namespace, scope, name) -> entity id for every live entity, as this node resolves names."""
    names = Names(Context(store, Path(".")))
    found: dict[tuple[str, str, str], str] = {}
    spaces: list[Namespace] = [USERNAME, EMAIL, CHANNEL]
    for ns in spaces:
        rows = await store.fetchall(f"SELECT id, {ns.scope}, {ns.column} FROM {ns.table} WHERE _deleted = 0 AND {ns.where}")
        for entity_id, scope, stored in rows:
            shown = await names.shown(ns, entity_id, stored)
            key = (ns.label, scope or "", shown.lower())
            assert key not in found, f"{key} names two entities"
            found[key] = entity_id
            assert await names.resolve(ns, shown, scope or "") == entity_id
    return found


async def _run(steps: list[tuple[Any, ...]], folder: Path) -> dict[tuple[str, str, str], str]:
    stores = [Store(folder / f"n{i}.db", SCHEMA, Signer.generate()) for i in range(NODES)]
    for store in stores:
        await store.open()
    try:
        await stores[0].write("directory", [Create("team", TEAM, {"name": "rescue", "type": "O"})])
        for store in stores[1:]:
            await reconcile_pair(stores[0], store)
        serial = 0
        for step in steps:
            kind, node = step[0], stores[step[1]]
            serial += 1
            if kind == "user":
                await node.write("directory", [Create("user", f"{step[2] * 6}{serial:020d}",
                                                      {"username": step[3], "email": step[4]})])
            elif kind == "channel":
                await node.write("directory", [Create("channel", f"{step[2] * 6}{serial:020d}",
                                                      {"team_id": TEAM, "type": "O", "name": step[3]},
                                                      deps=[("team", TEAM)])])
            elif kind == "delete_user":
                ids = [r[0] for r in await node.fetchall("SELECT id FROM users ORDER BY id")]
                if ids:
                    await node.write("directory", [Delete("user", ids[step[2] % len(ids)])])
            elif kind in ("rename_user", "rename_channel"):
                table, entity, column = (("users", "user", "username") if kind == "rename_user"
                                         else ("channels", "channel", "name"))
                ids = [r[0] for r in await node.fetchall(f"SELECT id FROM {table} ORDER BY id")]
                if ids:
                    await node.write("directory", [Update(entity, ids[step[2] % len(ids)], {column: step[3]})])
            elif step[1] != step[2]:
                await reconcile_pair(stores[step[1]], stores[step[2]])
        for _ in range(2):  # heal: every pair meets
            for i in range(NODES):
                for j in range(i + 1, NODES):
                    await reconcile_pair(stores[i], stores[j])
        maps = [await _name_map(store) for store in stores]
        assert maps[0] == maps[1] == maps[2]
        users = await stores[0].fetchall("SELECT id FROM users WHERE _deleted = 0")
        assert sorted(v for k, v in maps[0].items() if k[0] == "username") == sorted(r[0] for r in users)
        return maps[0]
    finally:
        for store in stores:
            await store.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_step, min_size=1, max_size=30))
def test_every_node_maps_names_to_the_same_entities_whatever_the_partitions(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_run(steps, Path(folder)))


def test_a_loser_whose_derived_name_is_taken_gets_a_longer_one() -> None:
    """Regression shape: 'sam-aaaaaa' is someone's own name, so the 'aaaaaa…' user that lost 'sam' goes further."""
    steps: list[tuple[Any, ...]] = [("user", 0, "b", "sam", "x@example.com"), ("sync", 0, 1),
                                    ("user", 1, "a", "sam", "y@example.com"), ("user", 2, "b", "sam-aaaaaa", "z@example.com")]
    with tempfile.TemporaryDirectory() as folder:
        names = asyncio.run(_run(steps, Path(folder)))
    assert names[("username", "", "sam")] == "bbbbbb00000000000000000001"
    assert names[("username", "", "sam-aaaaaa")] == "bbbbbb00000000000000000004"
    assert names[("username", "", "sam-aaaaaa00")] == "aaaaaa00000000000000000003"
