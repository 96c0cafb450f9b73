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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Audience", "Broadcast", "Event", "EventBus", "MembershipLookup", "Subscription",
]

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

    def has_user_subscribers(self) -> bool:
        """Whether any user (a client connection) listens: events costly to build are skipped otherwise."""
        return any(subscription.user_id is not None for subscription in self._subscribers)

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

    Memberships are asked of `members` for every event it delivers: the node's Memberships answer from
    read caches that the store's commit stream clears (services/read_cache.py), so a burst of posts in
    one channel still costs one lookup, and a removal, local or from a peer, holds from the very next
    event. (A time-limited memory here let a removed member hear up to a second more of a channel.)
    """

    def __init__(self, user_id: str, members: MembershipLookup):
        self.user_id = user_id
        self._members = members

    async def admits(self, event: Event) -> bool:
        broadcast = event.broadcast
        if not broadcast.may_reach(self.user_id):
            return False
        if broadcast.user_id:
            return True
        if broadcast.channel_id:
            return await self._members.is_channel_member(broadcast.channel_id, self.user_id)
        if broadcast.team_id:
            return await self._members.is_team_member(broadcast.team_id, self.user_id)
        return True
