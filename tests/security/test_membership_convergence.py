"""Effective channel membership is a function of the merged ops: every node computes the same answer.

Three stores on real SQLite files write team and channel membership changes as the services do
(each node acting on what it has seen, a team removal also removing the user's channel adds it sees),
under random partitions, orders and clock skews. After the partition heals, every store gives the
same effective membership, that answer is the pure rule applied to the OR-set tags, and nobody is an
effective member of a team channel without being a member of the team. Run on one store with no
partition, the rule agrees with Mattermost's sequential semantics (a naive model).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt import Add, Create, Op, Remove, Stamp
from edgenode.schema import SCHEMA
from edgenode.services.context import DIRECTORY_SCOPE, Context, channel_scope
from edgenode.services.membership import EFFECTIVE_CHANNEL_MEMBERS, Memberships, effective_channel_member
from edgenode.store import Store
from sync import Signer
from sync.session import reconcile_pair

TEAM = "t" * 26
PRIVATE, PUBLIC, DIRECT = "p" * 26, "o" * 26, "d" * 26
CHANNELS = {PRIVATE: TEAM, PUBLIC: TEAM, DIRECT: ""}
USERS = ("u" * 26, "v" * 26)
START_MS = 1_767_225_600_000

Action = tuple[str, int, int, str, int]
"""(what, node, user index, channel id, other node or clock step)"""

actions = st.tuples(
    st.sampled_from(["team_add", "team_remove", "channel_add", "channel_remove", "sync", "tick"]),
    st.integers(0, 2), st.integers(0, 1), st.sampled_from(sorted(CHANNELS)), st.integers(0, 2),
)


class Clock:
    def __init__(self, skew_ms: int):
        self.now_ms = START_MS + skew_ms

    def __call__(self) -> int:
        return self.now_ms


async def _setup(stores: list[Store]) -> None:
    first = stores[0]
    await first.write(DIRECTORY_SCOPE, [Create("team", TEAM, {"name": "ops", "type": "O"})])
    for channel, team in CHANNELS.items():
        kind = "D" if not team else ("P" if channel == PRIVATE else "O")
        deps = [("team", team)] if team else []
        await first.write(channel_scope(channel), [Create("channel", channel, {"team_id": team, "type": kind}, deps=deps)])
    await _heal(stores)


async def _heal(stores: list[Store]) -> None:
    for _ in range(2):
        for i, x in enumerate(stores):
            for y in stores[i + 1:]:
                await reconcile_pair(x, y)


async def _act(store: Store, members: Memberships, action: Action) -> None:
    """One membership change as the services make it, judged on what this store has seen."""
    what, _, user_index, channel, _ = action
    user = USERS[user_index]
    team = CHANNELS[channel]
    if what == "team_add" and not await members.is_team_member(TEAM, user):
        await store.write(DIRECTORY_SCOPE, [Add("team.members", TEAM, user)])
    elif what == "team_remove":
        remove = await members.remove("team.members", TEAM, user)
        if remove is not None:
            writes: list[tuple[str, list[Op]]] = [(DIRECTORY_SCOPE, [remove])]
            writes += [(channel_scope(c), [op]) for c, op in await members.team_channel_removes(TEAM, user)]
            await store.write_scopes(writes)
    elif what == "channel_add":
        allowed = not team or await members.is_team_member(team, user)
        if allowed and not await members.is_channel_member(channel, user):
            await store.write(channel_scope(channel), [Add("channel.members", channel, user)])
    elif what == "channel_remove":
        remove = await members.remove("channel.members", channel, user)
        if remove is not None:
            await store.write(channel_scope(channel), [remove])


async def _effective(store: Store) -> set[tuple[str, str]]:
    rows = await store.fetchall(f"SELECT channel_id, user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m")
    return {(r[0], r[1]) for r in rows}


async def _by_the_pure_rule(store: Store) -> set[tuple[str, str]]:
    tags: dict[tuple[str, str, str], list[bytes]] = {}
    for kind, owner, element, tag in await store.fetchall("SELECT kind, owner, element, tag FROM set_tags"):
        tags.setdefault((kind, owner, element), []).append(bytes(tag))
    found = set()
    for channel, team in CHANNELS.items():
        for user in USERS:
            channel_tags = tags.get(("channel.members", channel, user), [])
            team_tags = tags.get(("team.members", team, user), []) if team else None
            if effective_channel_member(channel_tags, team_tags):
                found.add((channel, user))
    return found


def _with_stores(count: int, skews: list[int], scenario: Callable[[list[Store], list[Clock]], object]) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            clocks = [Clock(skews[i]) for i in range(count)]
            stores = [Store(Path(tmp) / f"{i}.db", SCHEMA, Signer.generate(), now_ms=clocks[i]) for i in range(count)]
            for s in stores:
                await s.open()
            try:
                await _setup(stores)
                await scenario(stores, clocks)  # type: ignore[misc]
            finally:
                for s in stores:
                    await s.close()
    asyncio.run(run())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=30), st.lists(st.integers(-900, 900), min_size=3, max_size=3))
def test_every_node_computes_the_same_effective_membership_from_the_ops(steps: list[Action], skews: list[int]) -> None:
    async def scenario(stores: list[Store], clocks: list[Clock]) -> None:
        members = [Memberships(Context(s, Path("."))) for s in stores]
        for step in steps:
            what, node, _, _, other = step
            if what == "sync":
                if node != other:
                    await reconcile_pair(stores[node], stores[other])
            elif what == "tick":
                clocks[node].now_ms += 1 + other * 300
            else:
                await _act(stores[node], members[node], step)
        await _heal(stores)
        answers = [await _effective(s) for s in stores]
        assert answers[0] == answers[1] == answers[2]
        for store, answer in zip(stores, answers):
            assert answer == await _by_the_pure_rule(store)
            team_members = {r[0] for r in await store.fetchall("SELECT user_id FROM team_members WHERE team_id = ?", (TEAM,))}
            assert {user for channel, user in answer if CHANNELS[channel]} <= team_members

    _with_stores(3, skews, scenario)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=30))
def test_on_one_node_the_rule_is_mattermosts_sequential_semantics(steps: list[Action]) -> None:
    async def scenario(stores: list[Store], clocks: list[Clock]) -> None:
        store, members = stores[0], Memberships(Context(stores[0], Path(".")))
        team: set[str] = set()
        channels: set[tuple[str, str]] = set()
        for step in steps:
            what, _, user_index, channel, _ = step
            user = USERS[user_index]
            await _act(store, members, step)
            clocks[0].now_ms += 1
            # the model: sets, with leaving a team leaving its channels, and adds needing the team
            if what == "team_add":
                team.add(user)
            elif what == "team_remove":
                team.discard(user)
                channels -= {(c, user) for c, t in CHANNELS.items() if t}
            elif what == "channel_add" and (not CHANNELS[channel] or user in team):
                channels.add((channel, user))
            elif what == "channel_remove":
                channels.discard((channel, user))
            assert await _effective(store) == channels

    _with_stores(1, [0], scenario)


def _stamp(wall: int, counter: int = 0, node: bytes = b"\x01" * 8) -> bytes:
    return Stamp(wall, counter, node).pack()


def test_the_rule_needs_a_channel_add_after_the_current_team_join() -> None:
    joined, added, rejoined = _stamp(10), _stamp(20), _stamp(30)
    assert effective_channel_member([added], [joined])
    assert not effective_channel_member([added], [])  # removed from the team: nothing
    assert not effective_channel_member([added], [rejoined])  # re-joined: the old add does not count
    assert effective_channel_member([added, _stamp(40)], [rejoined])  # a new add after the re-join does
    assert not effective_channel_member([], [joined])
    assert effective_channel_member([added], None)  # direct and group channels have no team
    assert not effective_channel_member([], None)
    # concurrent duplicate joins: the earliest one that still holds counts
    assert effective_channel_member([_stamp(15)], [joined, _stamp(25)])


async def test_removing_the_earliest_join_leaves_only_adds_after_the_remaining_one(tmp_path: Path) -> None:
    async with Store(tmp_path / "s.db", SCHEMA, Signer.generate(), now_ms=Clock(0)) as store:
        await _setup([store])
        members = Memberships(Context(store, tmp_path))
        user = USERS[0]
        await store.write(DIRECTORY_SCOPE, [Add("team.members", TEAM, user)])
        await store.write(channel_scope(PRIVATE), [Add("channel.members", PRIVATE, user)])
        assert await members.is_channel_member(PRIVATE, user)
        first_tag = Stamp.unpack((await store.fetchone("SELECT tag FROM set_tags WHERE kind = 'team.members'"))[0])
        await store.write(DIRECTORY_SCOPE, [Remove("team.members", TEAM, user, (first_tag,)),
                                            Add("team.members", TEAM, user)])
        assert await members.is_team_member(TEAM, user)
        assert not await members.is_channel_member(PRIVATE, user)
