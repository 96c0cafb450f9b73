"""What every service is built from: the store, the event bus and the clock, passed in once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgenode.outbound import GuardedClient
from edgenode.settings import NodeSettings
from edgenode.store import Store

from .events import EventBus
from .presence import Presence

__all__ = ["Context", "DIRECTORY_SCOPE", "USER_NODES", "USER_NODES_TABLE", "channel_scope", "user_scope"]

DIRECTORY_SCOPE = "directory"
"""The feed scope of users, teams and team memberships: replicated to every node of the mesh."""


USER_NODES = "user.nodes"
USER_NODES_TABLE = "user_nodes"
"""The set of nodes (key hex) a user uses (logged in, or made a personal access token there): those nodes are
entitled to the user's private channels and personal state (edgenode/peering/need_to_know.py)."""


def channel_scope(channel_id: str) -> str:
    """The feed scope of a channel, its members and everything posted in it."""
    return f"channel:{channel_id}"


def user_scope(user_id: str) -> str:
    """The feed scope of one user's personal state (saved posts, notices such as a channel removal):
    replicated only to the nodes the user uses."""
    return f"user:{user_id}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Context:
    store: Store
    data_dir: Path
    events: EventBus = field(default_factory=EventBus)
    now_ms: Callable[[], int] = _now_ms
    presence: Presence = field(default_factory=Presence)
    # True on a node that stands alone or holds its mesh's authority; a node that joined a mesh
    # takes its admins from the mesh's replicated directory instead
    first_user_becomes_admin: bool = True
    settings: NodeSettings = field(default_factory=NodeSettings)
    # the one client for requests made on a user's behalf (slash commands, outgoing webhooks)
    outbound: GuardedClient = field(default_factory=GuardedClient)
