"""The datacenter hub, from both ends: a node that serves many edges, and an edge's links to its hubs.

A hub is an ordinary node in another posture (`edgenode serve --role hub`): no mDNS (it is on no
edge's LAN), its sync port open to the edges, and every edge's session kept live at once by the
same PeerManager. It stores and forwards what its certificate entitles it to: with the `hub` role
(`edgenode mesh invite --hub`) every feed, because every edge's need-to-know counts a hub as hosting
everyone (edgenode/peering/need_to_know.py); without it, what any node with no users of its own
gets, the public data. It forwards to each edge only what that edge is entitled to.

An edge dials its hubs (`--hub HOST:PORT`), so it works behind NAT and firewalls that allow no
inbound connection. A hub link is a static peer of the manager, found as "hub": kept live while the
link holds; when it drops, redialed at once (a session that synced resets the backoff), then with
backoff and jitter up to `--hub-interval` seconds while the hub stays out of reach, and again at once
whenever the host's network changes (sync/netwatch.py), which is when a link usually returns.
"""

from __future__ import annotations

import logging
from typing import Any

from sync.manager import Backoff, PeerManager, PeerStatus
from sync.mesh import HUB_ROLE
from sync.netwatch import POLL_INTERVAL_S, AddressSource, follow_addresses, usable_ipv4_addresses

from .settings import ROLE_HUB, SyncSettings

__all__ = ["HUB_LINK", "hub_backoff", "relays_every_feed", "hub_announcement", "hub_section", "HubLinks"]

HUB_LINK = "hub"
"""How a hub link was found, in the manager's status (beside "static", "mdns", "inbound")."""
_log = logging.getLogger(__name__)


def hub_backoff(interval: float) -> Backoff:
    """From 1 s (or `interval` if shorter) doubling up to `interval`, each delay with jitter."""
    return Backoff(base=min(1.0, interval), cap=interval)


def relays_every_feed(settings: SyncSettings) -> bool:
    """Whether this node's certificate entitles it to every feed (the `hub` role)."""
    return HUB_ROLE in settings.roles


def hub_announcement(settings: SyncSettings) -> str | None:
    """What a node serving as a hub says at start about what it relays; None for other nodes."""
    if settings.role != ROLE_HUB:
        return None
    if relays_every_feed(settings):
        return "serving as a hub: no mDNS; storing and forwarding every feed of the mesh (its certificate has the hub role)"
    return ("serving as a hub WITHOUT the hub role in its certificate: it relays public data only (private channels "
            "and direct messages never reach it); for a full hub, join with a token from `edgenode mesh invite --hub`")


def hub_section(settings: SyncSettings | None, peers: list[PeerStatus]) -> dict[str, Any]:
    """The status document's "hub" part: this node's role, what it relays, and its links to hubs."""
    role = settings.role if settings is not None else None
    relays = None
    if role == ROLE_HUB and settings is not None:
        relays = "every feed" if relays_every_feed(settings) else "public data only"
    links = [peer for peer in peers if HUB_LINK in peer.found]
    return {
        "role": role,
        "relays": relays,
        "interval_s": settings.hub_interval if settings is not None and settings.hubs else None,
        "links": [
            {"address": ", ".join(peer.addresses), "node_key": peer.node.hex() if peer.node is not None else None,
             "connected": peer.connected,
             "last_sync_at": None if peer.last_sync is None else int(peer.last_sync * 1000),
             "failures": peer.failures,
             "next_attempt_at": None if peer.next_attempt is None else int(peer.next_attempt * 1000),
             "last_error": peer.last_error}
            for peer in links
        ],
    }


class HubLinks:
    """An edge's links to its hubs on a running PeerManager."""

    def __init__(self, manager: PeerManager, settings: SyncSettings, *,
                 addresses: AddressSource | None = usable_ipv4_addresses, poll_interval: float = POLL_INTERVAL_S):
        self._manager = manager
        self._settings = settings
        self._backoff = hub_backoff(settings.hub_interval)
        self._addresses = addresses
        self._poll_interval = poll_interval

    def start(self) -> None:
        for hub in self._settings.hubs:
            self._manager.add_peer(hub, HUB_LINK, backoff=self._backoff)

    async def follow_network(self) -> None:
        """Redial the hubs out of reach at once whenever the host's addresses change, until cancelled."""
        if self._addresses is None or not self._settings.hubs:
            return
        seen_first = False

        async def changed(_: frozenset[str]) -> None:
            nonlocal seen_first
            if seen_first:  # the first call is the state at start, not a change
                _log.info("the network changed: dialing the hubs now")
                self.start()
            seen_first = True

        await follow_addresses(self._addresses, changed, interval=self._poll_interval)

