"""In-process event bus: services publish Mattermost WebSocket events, connections subscribe.

Delivery is decided in two steps. At publish time a subscription drops, without any I/O, events
whose broadcast names another user or omits its own (`Broadcast.may_reach`). At delivery time the
connection's `Audience` asks the store whether its user belongs to the event's channel or team now,
so an event never reaches someone who left (or never joined) the channel it was published to.

Events are raised for local writes by the services, and for ops that arrived from peers by
`peer_events.PeerEvents` (`Event.from_peer`). A client's subscription receives both; a node-internal
one (no user, such as the outgoing-webhook dispatcher) receives only local ones unless it asks, since
the side effects of a write belong to the node where it was written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "MEMBERSHIP_EVENTS", "Audience", "Broadcast", "Event", "EventBus", "MembershipLookup", "Subscription",
]

MEMBERSHIP_EVENTS = frozenset({
    "user_added", "user_removed", "added_to_team", "leave_team", "channel_created", "channel_deleted",
    "channel_restored", "channel_converted", "delete_team", "restore_team",
})
"""Events that say some channel or team membership may have changed: an `Audience` forgets what it knew."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Who receives an event, as in Mattermost's WebsocketBroadcast.

    The most specific field wins: `user_id` (that user only), else `channel_id` (the channel's current
    members), else `team_id` (the team's current members), else everyone; `omit_users` always applies.
    """

    user_id: str = ""
    channel_id: str = ""
    team_id: str = ""
    omit_users: frozenset[str] = frozenset()

    def may_reach(self, user_id: str) -> bool:
        """False when the broadcast excludes `user_id` whatever the memberships are."""
        if user_id in self.omit_users:
            return False
        return not self.user_id or self.user_id == user_id

    def to_json(self) -> dict[str, Any]:
        return {
            "omit_users": {u: True for u in sorted(self.omit_users)} or None,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "team_id": self.team_id,
        }


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: dict[str, Any]
    broadcast: Broadcast = field(default_factory=Broadcast)
    from_peer: bool = False
    """True when raised for ops written on another node and received by sync, not for a local write."""


class Subscription(asyncio.Queue[Event]):
    """One subscriber's queue of events; `overflowed` records that the bus had to drop one for it.

    A subscriber that has lost an event must not carry on as if nothing happened (a Mattermost client
    trusts its event stream to keep its state): it should make its client resynchronise, for a
    WebSocket by closing the connection so the client reconnects and reloads.
    """

    def __init__(self, maxsize: int, user_id: str | None = None, *, peer_writes: bool | None = None):
        super().__init__(maxsize)
        self.user_id = user_id
        self.peer_writes = user_id is not None if peer_writes is None else peer_writes
        self.overflowed = False

    def offer(self, event: Event) -> None:
        """Queue `event` if it may concern this subscriber; never blocks and never raises."""
        if event.from_peer and not self.peer_writes:
            return
        if self.user_id is not None and not event.broadcast.may_reach(self.user_id):
            return
        if self.full():
            self.overflowed = True
            return
        self.put_nowait(event)


class EventBus:
    """Fan-out to subscriber queues; a slow subscriber loses events rather than slowing writers."""

    def __init__(self, queue_size: int = 1000):
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    @contextmanager
    def subscribe(self, user_id: str | None = None, *, peer_writes: bool | None = None) -> Iterator[Subscription]:
        """A queue of the events published while the block runs (with `user_id`, those that may reach that user).

        `peer_writes` says whether events of ops that arrived from peers are queued too; by default
        a user's subscription gets them and a node-internal one (no `user_id`) does not.
        """
        subscription = Subscription(self._queue_size, user_id, peer_writes=peer_writes)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)


class MembershipLookup(Protocol):
    """What an `Audience` needs to know about memberships (`Memberships` provides it)."""

    async def is_channel_member(self, channel_id: str, user_id: str) -> bool: ...

    async def is_team_member(self, team_id: str, user_id: str) -> bool: ...


class Audience:
    """Decides whether one user, behind one connection, receives an event, by Mattermost's broadcast rules.

    Memberships are read from the store when the event is delivered and remembered for `ttl_s`, so a
    burst of posts in one channel costs one lookup. The memory is cleared by any membership event,
    which reaches this connection before any later event of the same channel; the time limit bounds
    how long a change that came without an event (from another node) can go unnoticed.
    """

    def __init__(self, user_id: str, members: MembershipLookup, *, ttl_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.user_id = user_id
        self._members = members
        self._ttl_s = ttl_s
        self._clock = clock
        self._known: dict[tuple[str, str], tuple[bool, float]] = {}

    async def admits(self, event: Event) -> bool:
        if event.event in MEMBERSHIP_EVENTS:
            self._known.clear()
        broadcast = event.broadcast
        if not broadcast.may_reach(self.user_id):
            return False
        if broadcast.user_id:
            return True
        if broadcast.channel_id:
            return await self._is_member("channel", broadcast.channel_id)
        if broadcast.team_id:
            return await self._is_member("team", broadcast.team_id)
        return True

    async def _is_member(self, kind: str, owner: str) -> bool:
        now = self._clock()
        known = self._known.get((kind, owner))
        if known is not None and known[1] > now:
            return known[0]
        if kind == "channel":
            member = await self._members.is_channel_member(owner, self.user_id)
        else:
            member = await self._members.is_team_member(owner, self.user_id)
        self._known[(kind, owner)] = (member, now + self._ttl_s)
        return member
