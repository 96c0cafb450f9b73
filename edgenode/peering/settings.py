"""What a node's peer sync is told: where it listens, whom it dials, and the mesh trust it runs under."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Container
from dataclasses import dataclass, field

from sync.manager import DEFAULT_SYNC_PORT, PeerAddress
from sync.peer import SessionConfig

__all__ = ["SyncSettings", "UNENROLLED_MESH", "DEFAULT_SYNC_PORT"]

UNENROLLED_MESH = "unenrolled"
"""The mesh id of nodes that have joined no mesh: they sync (over plain TCP) only with each other."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_SYNC_PORT
    """The sync listener's port; 0 means do not listen (static and discovered peers are still dialed)."""
    peers: tuple[PeerAddress, ...] = ()
    mdns: bool = True
    mesh_id: str = UNENROLLED_MESH
    server_ssl: ssl.SSLContext | None = None
    client_ssl: ssl.SSLContext | None = None
    verify_peer: Callable[[ssl.SSLObject], bytes] | None = None
    session: SessionConfig = field(default_factory=SessionConfig)
    watch_revocations: Callable[[Callable[[Container[bytes]], None]], None] | None = None
    """Registers a callback for the revoked node keys, called whenever revocations change: their live
    sessions are ended (a revoked node is refused at the next handshake anyway)."""
    need_to_know: bool = True
    """Send private channels and personal feeds only to nodes entitled to them (edgenode/peering/need_to_know.py)."""

    @property
    def transport(self) -> str:
        return "tls" if self.server_ssl is not None else "tcp"
