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
    "BlobWant", "BlobChunk", "BlobAck", "BlobMissing", "BlobHave", "BlobMessage", "BLOB_CHUNK", "MAX_BLOB_SIZE",
    "MAX_BLOB_WANT",
    "PeerMessage", "encode_peer_message", "decode_peer_message", "mesh_tag",
]

PEER_PROTOCOL = 2
_NODE_SIZE = 32
_MAX_MESH_TAG = 32
_MAX_REASON = 500
_MAX_WINDOW = 256
_HASH_SIZE = 32
BLOB_CHUNK = 256 * 1024
"""The most blob bytes one BlobChunk carries: far below a frame, so op segments interleave with big blobs."""
MAX_BLOB_SIZE = 1 << 32
"""The largest blob the protocol can describe (the node's own upload limit is far lower)."""
MAX_BLOB_WANT = 64
"""The most hashes one BlobWant names (and a peer may have unanswered)."""


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


@dataclass(frozen=True, slots=True)
class BlobWant:
    """Please send the blobs with these SHA-256 digests (each answered by BlobChunks or one BlobMissing)."""

    hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class BlobChunk:
    """Bytes `offset..offset+len(data)` of the blob `hash`, which is `total` bytes long; chunks come in order."""

    hash: bytes
    offset: int
    total: int
    data: bytes


@dataclass(frozen=True, slots=True)
class BlobAck:
    """The receiver has written the first `received` bytes of blob `hash` (flow control for its sender)."""

    hash: bytes
    received: int


@dataclass(frozen=True, slots=True)
class BlobMissing:
    """The sender does not hold blob `hash`, or may not give it to this peer (it does not say which)."""

    hash: bytes


@dataclass(frozen=True, slots=True)
class BlobHave:
    """The sender now holds blobs it answered BlobMissing for earlier in this session: ask again."""

    hashes: tuple[bytes, ...]


BlobMessage = BlobWant | BlobChunk | BlobAck | BlobMissing | BlobHave
PeerMessage = Handshake | Reconcile | Segment | Ack | Reject | CaughtUp | Ping | Goodbye | BlobMessage


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
    elif isinstance(m, Goodbye):
        wire = [7, m.reason[:_MAX_REASON]]
    elif isinstance(m, BlobWant):
        wire = [8, list(m.hashes)]
    elif isinstance(m, BlobChunk):
        wire = [9, m.hash, m.offset, m.total, m.data]
    elif isinstance(m, BlobAck):
        wire = [10, m.hash, m.received]
    elif isinstance(m, BlobMissing):
        wire = [11, m.hash]
    else:
        wire = [12, list(m.hashes)]
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
    if tag == 8 and len(f) == 1 and isinstance(f[0], list) and 1 <= len(f[0]) <= MAX_BLOB_WANT:
        return BlobWant(tuple(_hash(h) for h in f[0]))
    if tag == 9 and len(f) == 4 and isinstance(f[3], bytes):
        return _blob_chunk(_hash(f[0]), _int(f[1], 0, MAX_BLOB_SIZE), _int(f[2], 0, MAX_BLOB_SIZE), f[3])
    if tag == 10 and len(f) == 2:
        return BlobAck(_hash(f[0]), _int(f[1], 0, MAX_BLOB_SIZE))
    if tag == 11 and len(f) == 1:
        return BlobMissing(_hash(f[0]))
    if tag == 12 and len(f) == 1 and isinstance(f[0], list) and 1 <= len(f[0]) <= MAX_BLOB_WANT:
        return BlobHave(tuple(_hash(h) for h in f[0]))
    raise DecodeError(f"unknown or malformed peer message (tag {tag!r}, {len(f)} fields)")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v: object, low: int, high: int = 1 << 62) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise DecodeError(f"expected an integer in {low}..{high}")
    return v


def _hash(v: object) -> bytes:
    if not isinstance(v, bytes) or len(v) != _HASH_SIZE:
        raise DecodeError("a blob is named by its 32-byte SHA-256 digest")
    return v


def _blob_chunk(digest: bytes, offset: int, total: int, data: bytes) -> BlobChunk:
    if len(data) > BLOB_CHUNK:
        raise DecodeError(f"a blob chunk carries at most {BLOB_CHUNK} bytes")
    if offset + len(data) > total or (not data and total):
        raise DecodeError("a blob chunk must hold bytes within its blob's length")
    return BlobChunk(digest, offset, total, data)


def mesh_tag(mesh_id: str) -> bytes:
    """The 8-byte tag that names a mesh in handshakes and mDNS records without revealing its id."""
    return hashlib.blake2b(mesh_id.encode(), digest_size=8, person=b"edgenode-mesh").digest()
