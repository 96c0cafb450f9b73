"""The event bus, the per-connection audience rule and presence, without a store or a socket."""

from __future__ import annotations

import pytest

from edgenode.services.events import Audience, Broadcast, Event, EventBus
from edgenode.services.presence import Presence

ALICE, BOB = "a" * 26, "b" * 26
CHANNEL, TEAM = "c" * 26, "t" * 26


class FakeMemberships:
    """Channel and team members held in sets, counting the lookups an Audience makes."""

    def __init__(self) -> None:
        self.channels: dict[str, set[str]] = {CHANNEL: {ALICE}}
        self.teams: dict[str, set[str]] = {TEAM: {ALICE, BOB}}
        self.lookups = 0

    async def is_channel_member(self, channel_id: str, user_id: str) -> bool:
        self.lookups += 1
        return user_id in self.channels.get(channel_id, set())

    async def is_team_member(self, team_id: str, user_id: str) -> bool:
        self.lookups += 1
        return user_id in self.teams.get(team_id, set())


@pytest.mark.parametrize(("broadcast", "alice", "bob"), [
    (Broadcast(), True, True),
    (Broadcast(user_id=ALICE), True, False),
    (Broadcast(omit_users=frozenset({ALICE})), False, True),
    (Broadcast(user_id=ALICE, omit_users=frozenset({ALICE})), False, False),
    (Broadcast(channel_id=CHANNEL), True, True),  # membership is decided later, by the Audience
])
def test_may_reach_excludes_only_what_the_broadcast_names(broadcast: Broadcast, alice: bool,
                                                           bob: bool) -> None:
    assert (broadcast.may_reach(ALICE), broadcast.may_reach(BOB)) == (alice, bob)


def test_broadcast_json_lists_omitted_users_as_a_map_or_null() -> None:
    assert Broadcast(channel_id=CHANNEL, omit_users=frozenset({BOB, ALICE})).to_json() == {
        "omit_users": {ALICE: True, BOB: True}, "user_id": "", "channel_id": CHANNEL, "team_id": ""}
    assert Broadcast(user_id=ALICE).to_json()["omit_users"] is None


async def test_a_user_subscription_never_queues_events_meant_for_someone_else() -> None:
    bus = EventBus()
    with bus.subscribe(ALICE) as alice, bus.subscribe() as everything:
        bus.publish(Event("preferences_changed", {}, Broadcast(user_id=BOB)))
        bus.publish(Event("typing", {}, Broadcast(channel_id=CHANNEL, omit_users=frozenset({ALICE}))))
        bus.publish(Event("posted", {}, Broadcast(channel_id=CHANNEL)))
        assert [alice.get_nowait().event for _ in range(alice.qsize())] == ["posted"]
        assert everything.qsize() == 3


async def test_a_full_subscription_drops_the_event_and_says_so_while_others_get_it() -> None:
    bus = EventBus(queue_size=2)
    with bus.subscribe() as slow:
        bus.publish(Event("one", {}))
        bus.publish(Event("two", {}))
        assert not slow.overflowed
        with bus.subscribe() as fresh:
            bus.publish(Event("three", {}))
            assert fresh.get_nowait().event == "three"
        assert slow.overflowed and slow.qsize() == 2


async def test_an_ended_subscription_receives_nothing_more() -> None:
    bus = EventBus()
    with bus.subscribe() as subscription:
        pass
    bus.publish(Event("posted", {}))
    assert subscription.empty()


async def test_audience_applies_user_then_channel_then_team_then_everyone() -> None:
    members = FakeMemberships()
    alice, bob = Audience(ALICE, members), Audience(BOB, members)
    cases = [
        Broadcast(user_id=BOB, channel_id=CHANNEL),  # the user wins over the channel
        Broadcast(channel_id=CHANNEL, team_id=TEAM),  # the channel wins over the team
        Broadcast(team_id=TEAM),
        Broadcast(),
        Broadcast(team_id=TEAM, omit_users=frozenset({BOB})),
    ]
    assert [(await alice.admits(Event("e", {}, b)), await bob.admits(Event("e", {}, b))) for b in cases] == [
        (False, True), (True, False), (True, True), (True, True), (True, False)]


async def test_audience_asks_every_time_so_a_change_from_another_node_holds_at_the_next_event() -> None:
    members = FakeMemberships()
    bob = Audience(BOB, members)
    posted = Event("posted", {}, Broadcast(channel_id=CHANNEL))
    assert await bob.admits(posted) is False
    members.channels[CHANNEL].add(BOB)  # joined on another node: no event tells us
    assert await bob.admits(posted) is True
    members.channels[CHANNEL].discard(BOB)  # and removed there again
    assert await bob.admits(posted) is False


async def test_audience_forgets_memberships_on_any_membership_event() -> None:
    members = FakeMemberships()
    alice = Audience(ALICE, members)
    posted = Event("posted", {}, Broadcast(channel_id=CHANNEL))
    assert await alice.admits(posted) is True
    members.channels[CHANNEL].discard(ALICE)
    removed = Event("user_removed", {"user_id": ALICE}, Broadcast(channel_id=CHANNEL))
    assert (await alice.admits(removed), await alice.admits(posted)) == (False, False)


def test_presence_counts_each_connection_of_a_user() -> None:
    presence = Presence()
    with presence.connected(ALICE):
        with presence.connected(ALICE):
            pass
        assert presence.statuses() == {ALICE: "online"}
        assert presence.statuses([ALICE, BOB]) == {ALICE: "online", BOB: "offline"}
    assert (presence.status(ALICE), presence.statuses()) == ("offline", {})
