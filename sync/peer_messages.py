"""The sync protocol's messages: frozen values, one tag each, canonical msgpack `[version, tag, fields...]`.

`decode_peer_message` is the edge: anything malformed raises a typed DecodeError, a newer protocol
version UnsupportedVersionError, and no raw value gets past it. The session that exchanges these
messages is `sync.peer.PeerSession`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from . import encoding
from .errors import DecodeError, UnsupportedVersionError
from .framing import MAX_FRAME

__all__ = [
    "PEER_PROTOCOL", "Handshake", "Reconcile", "Segment", "Ack", "Reject", "CaughtUp", "Ping", "Goodbye",
    "PeerMessage", "encode_peer_message", "decode_peer_message", "mesh_tag",
]

PEER_PROTOCOL = 1
_NODE_SIZE = 32
_MAX_MESH_TAG = 32
_MAX_REASON = 500
_MAX_WINDOW = 256


@dataclass(frozen=True, slots=True)
class Handshake:
    """Who we are and how we want to sync; the first frame each end sends."""

    node: bytes
    mesh: bytes
    live: bool
    window: int


@dataclass(frozen=True, slots=True)
class Reconcile:
    """One turn of the Reconciler (reconcile.encode_message bytes); an empty turn ends it."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Segment:
    """Encoded ops of one feed; `n` numbers it for the ack, `pending` is what the sender has left to send."""

    n: int
    pending: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """Segment `n` is committed (or was already held); `seq` is now the receiver's head of that feed."""

    n: int
    seq: int


@dataclass(frozen=True, slots=True)
class Reject:
    """Segment `n` failed verification and nothing of it was applied."""

    n: int
    reason: str


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Everything the sender planned to send has been acknowledged."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Keeps an idle live session from being taken for dead."""


@dataclass(frozen=True, slots=True)
class Goodbye:
    """The sender is ending the session; `reason` says why ("done" after a one-shot sync)."""

    reason: str


PeerMessage = Handshake | Reconcile | Segment | Ack | Reject | CaughtUp | Ping | Goodbye


def encode_peer_message(message: PeerMessage) -> bytes:
    """One message as one frame: [version, tag, fields...]."""
    m = message
    if isinstance(m, Handshake):
        wire: list[object] = [0, m.node, m.mesh, m.live, m.window]
    elif isinstance(m, Reconcile):
        wire = [1, m.payload]
    elif isinstance(m, Segment):
        wire = [2, m.n, m.pending, m.data]
    elif isinstance(m, Ack):
        wire = [3, m.n, m.seq]
    elif isinstance(m, Reject):
        wire = [4, m.n, m.reason[:_MAX_REASON]]
    elif isinstance(m, CaughtUp):
        wire = [5]
    elif isinstance(m, Ping):
        wire = [6]
    else:
        wire = [7, m.reason[:_MAX_REASON]]
    return encoding.pack([PEER_PROTOCOL, *wire])


def decode_peer_message(frame: bytes) -> PeerMessage:
    """Decode one frame; anything malformed raises a typed DecodeError, a newer version UnsupportedVersionError."""
    wire = encoding.unpack(frame, limit=MAX_FRAME)
    if not isinstance(wire, list) or len(wire) < 2:
        raise DecodeError("a peer message is [version, tag, fields...]")
    version, tag, *f = wire
    if not _is_int(version) or version < 1:
        raise DecodeError("bad peer protocol version")
    if version > PEER_PROTOCOL:
        raise UnsupportedVersionError(f"the peer speaks sync protocol v{version}; this node speaks v{PEER_PROTOCOL}: upgrade it")
    if tag == 0 and len(f) == 4:
        node, mesh, live, window = f
        if not isinstance(node, bytes) or len(node) != _NODE_SIZE:
            raise DecodeError("a handshake's node is a 32-byte public key")
        if not isinstance(mesh, bytes) or len(mesh) > _MAX_MESH_TAG or not isinstance(live, bool):
            raise DecodeError("malformed handshake")
        return Handshake(node, mesh, live, _int(window, 1, _MAX_WINDOW))
    if tag == 1 and len(f) == 1 and isinstance(f[0], bytes):
        return Reconcile(f[0])
    if tag == 2 and len(f) == 3 and isinstance(f[2], bytes):
        return Segment(_int(f[0], 1), _int(f[1], 0), f[2])
    if tag == 3 and len(f) == 2:
        return Ack(_int(f[0], 1), _int(f[1], 0))
    if tag == 4 and len(f) == 2 and isinstance(f[1], str):
        return Reject(_int(f[0], 1), f[1][:_MAX_REASON])
    if tag == 5 and not f:
        return CaughtUp()
    if tag == 6 and not f:
        return Ping()
    if tag == 7 and len(f) == 1 and isinstance(f[0], str):
        return Goodbye(f[0][:_MAX_REASON])
    raise DecodeError(f"unknown or malformed peer message (tag {tag!r}, {len(f)} fields)")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v: object, low: int, high: int = 1 << 62) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise DecodeError(f"expected an integer in {low}..{high}")
    return v


def mesh_tag(mesh_id: str) -> bytes:
    """The 8-byte tag that names a mesh in handshakes and mDNS records without revealing its id."""
    return hashlib.blake2b(mesh_id.encode(), digest_size=8, person=b"edgenode-mesh").digest()
