"""What can end a sync session: the peer broke the protocol, refused us, or went silent."""

from __future__ import annotations

from .errors import SyncError
from .framing import LinkError

__all__ = [
    "PeerError", "PeerProtocolError", "IncompatiblePeerError", "PeerRefusedError", "SelfConnectionError",
    "DuplicateConnectionError", "PeerTimeoutError",
]


class PeerError(SyncError):
    """The peer broke the sync protocol, or one end refused the session."""


class PeerProtocolError(PeerError):
    """The peer sent a message that is malformed or not allowed at this point of the session."""


class IncompatiblePeerError(PeerError):
    """The peer speaks another protocol version or belongs to another mesh."""


class PeerRefusedError(PeerError):
    """The peer ended the session and said why (shutting down, duplicate connection, ...)."""


class SelfConnectionError(PeerError):
    """The link leads back to this node (e.g. a --peer naming our own address)."""


class DuplicateConnectionError(PeerError):
    """We already have a connection to this peer; this one is closed so that exactly one remains."""


class PeerTimeoutError(LinkError):
    """Nothing was heard from the peer for longer than the idle timeout: the link is presumed dead."""
