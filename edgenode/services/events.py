"""In-process event bus: services publish Mattermost WebSocket events, connections subscribe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Broadcast", "Event", "EventBus"]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Who receives an event, as in Mattermost's WebsocketBroadcast."""

    user_id: str = ""
    channel_id: str = ""
    team_id: str = ""
    omit_users: frozenset[str] = frozenset()

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


class EventBus:
    """Fan-out to subscriber queues; a slow subscriber loses events rather than slowing writers."""

    def __init__(self, queue_size: int = 1000):
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._queue_size = queue_size

    def publish(self, event: Event) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                continue
            queue.put_nowait(event)

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
