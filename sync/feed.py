"""Signed, hash-linked feeds: one author's ops in one replication scope, in order.

Each op commits to the previous op of its feed through `prev`, the previous op's link hash, and
the link hash covers the signature too. So a valid signature on the last op of a contiguous
segment authenticates every op, and every signature, before it: verifying a segment costs one
signature check plus a hash per op. Each op still carries its own signature, so any single op
can be verified alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from msgpack import packb as _packb  # type: ignore[import-untyped]  # msgpack ships no type hints

from nacl.exceptions import BadSignatureError as _NaclBadSignature
from nacl.signing import SigningKey, VerifyKey

from crdt import NODE_TAG_SIZE, CrdtError, Stamp

from . import encoding
from .errors import (
    BadSignatureError, BrokenLinkError, DecodeError, ForkError, GapError, OversizedError,
    ReorderedError, UnsupportedVersionError, WrongFeedError,
)

__all__ = [
    "FORMAT_VERSION", "GENESIS", "FeedId", "FeedHead", "SignedOp", "Signer",
    "verify_op", "verify_segment", "check_continues", "MAX_BODY_BYTES", "MAX_SCOPE_LEN",
]

FORMAT_VERSION = 1
GENESIS = bytes(32)
"""The `prev` of a feed's first op."""
MAX_BODY_BYTES = 1024 * 1024
MAX_SCOPE_LEN = 128
_SIGNATURE_SIZE = 64
_KEY_SIZE = 32


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


@dataclass(frozen=True, slots=True)
class FeedId:
    """A feed: the author's ed25519 public key and a replication scope such as "channel:<id>"."""

    author: bytes
    scope: str

    def __post_init__(self) -> None:
        if not isinstance(self.author, bytes) or len(self.author) != _KEY_SIZE:
            raise DecodeError("a feed's author must be a 32-byte public key")
        if not isinstance(self.scope, str) or not 0 < len(self.scope) <= MAX_SCOPE_LEN:
            raise DecodeError(f"a feed's scope must be a string of 1..{MAX_SCOPE_LEN} characters")

    @property
    def node_tag(self) -> bytes:
        """The prefix of the author key that every stamp in this feed carries."""
        return self.author[:NODE_TAG_SIZE]


@dataclass(frozen=True, slots=True)
class FeedHead:
    """How far a replica holds a feed: the last sequence number and that op's link hash."""

    seq: int
    link: bytes


@dataclass(frozen=True, slots=True)
class SignedOp:
    """One op of a feed with its position, link to its predecessor, stamp and signature."""

    feed: FeedId
    seq: int
    prev: bytes
    stamp: Stamp
    body: bytes
    signature: bytes
    # Hashes computed once per op (every check of a segment needs them); not part of the value.
    _hashes: list[bytes] = field(default_factory=list, init=False, compare=False, repr=False, hash=False)

    def content_hash(self) -> bytes:
        """What the author signs: every field but the signature, canonically encoded."""
        if not self._hashes:
            # only ints, str and bytes: msgpack's own encoding of them is already canonical
            self._hashes.append(_hash(_packb([
                FORMAT_VERSION, self.feed.author, self.feed.scope, self.seq, self.prev,
                self.stamp.wall_ms, self.stamp.counter, self.body,
            ], use_bin_type=True)))
        return self._hashes[0]

    def link(self) -> bytes:
        """The hash the next op of the feed must name as `prev`; it covers the signature too."""
        if len(self._hashes) < 2:
            self._hashes.append(_hash(self.content_hash() + self.signature))
        return self._hashes[1]

    def to_bytes(self) -> bytes:
        """The standalone encoding, for an op that travels alone."""
        return encoding.pack([
            FORMAT_VERSION, self.feed.author, self.feed.scope, self.seq, self.prev,
            self.stamp.wall_ms, self.stamp.counter, self.body, self.signature,
        ])

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedOp:
        wire = encoding.unpack(data, limit=MAX_BODY_BYTES + 1024)
        if not isinstance(wire, list) or not wire:
            raise DecodeError("a signed op must be a non-empty list")
        check_version(wire[0])
        if len(wire) != 9:
            raise DecodeError(f"a signed op has 9 parts, got {len(wire)}")
        _, author, scope, seq, prev, wall, counter, body, signature = wire
        return build(FeedId(author, scope), seq, prev, wall, counter, body, signature)


def check_version(version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise DecodeError("format version must be an integer")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"written in format version {version}; this node reads up to {FORMAT_VERSION}: upgrade it"
        )
    if version < 1:
        raise DecodeError(f"format version {version} does not exist")


def build(feed: FeedId, seq: object, prev: object, wall: object, counter: object,
          body: object, signature: object) -> SignedOp:
    """A SignedOp from decoded parts, checking each part's type and size."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise DecodeError("sequence numbers start at 1")
    if not isinstance(prev, bytes) or len(prev) != 32:
        raise DecodeError("prev must be a 32-byte hash")
    if not isinstance(body, bytes):
        raise DecodeError("an op body must be bytes")
    if len(body) > MAX_BODY_BYTES:
        raise OversizedError(f"op body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
        raise DecodeError("a signature must be 64 bytes")
    if isinstance(wall, bool) or not isinstance(wall, int) or isinstance(counter, bool) or not isinstance(counter, int):
        raise DecodeError("a stamp is two integers")
    try:
        stamp = Stamp(wall, counter, feed.node_tag)
    except CrdtError as exc:
        raise DecodeError(str(exc)) from None
    return SignedOp(feed, seq, prev, stamp, body, signature)


class Signer:
    """Signs ops as one node; the only holder of the private key."""

    __slots__ = ("_key", "public_key")

    def __init__(self, seed: bytes):
        self._key = SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed, for the node's key file only."""
        return bytes(self._key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(bytes(SigningKey.generate()))

    @property
    def node_tag(self) -> bytes:
        return self.public_key[:NODE_TAG_SIZE]

    def sign_digest(self, message: bytes) -> bytes:
        """A detached signature over `message` (a domain-tagged hash: a bundle file's, for example)."""
        return bytes(self._key.sign(message).signature)

    def seal(self, scope: str, head: FeedHead, stamp: Stamp, body: bytes) -> SignedOp:
        """The next op of our feed in `scope`, after `head` (FeedHead(0, GENESIS) for a new feed)."""
        if stamp.node != self.node_tag:
            # the signature does not cover the node tag: the wire form always carries ours, so a
            # foreign tag would make our copy of the op differ from every other replica's
            raise ValueError(
                f"cannot seal a stamp of node {stamp.node.hex()}; this signer's stamps carry {self.node_tag.hex()}"
            )
        unsigned = SignedOp(FeedId(self.public_key, scope), head.seq + 1, head.link, stamp, body, b"")
        signature = self._key.sign(unsigned.content_hash()).signature
        return SignedOp(unsigned.feed, unsigned.seq, unsigned.prev, stamp, body, signature)


def _check_signature(op: SignedOp) -> None:
    try:
        VerifyKey(op.feed.author).verify(op.content_hash(), op.signature)
    except (_NaclBadSignature, ValueError):
        raise BadSignatureError(
            f"op {op.seq} of feed {op.feed.scope!r} does not match its author's signature"
        ) from None


def verify_op(op: SignedOp) -> None:
    """Check one op's signature alone (its place in the feed is checked by check_continues)."""
    _check_signature(op)


def check_continues(head: FeedHead, op: SignedOp) -> None:
    """Check that `op` is the next op after `head`, raising the error that says why not."""
    if op.seq <= head.seq:
        raise ForkError(f"op {op.seq} of feed {op.feed.scope!r} is already held") if op.seq == head.seq else \
            ReorderedError(f"op {op.seq} arrived after op {head.seq} of feed {op.feed.scope!r}")
    if op.seq > head.seq + 1:
        raise GapError(f"feed {op.feed.scope!r} jumps from op {head.seq} to op {op.seq}; ops in between are missing")
    if op.prev != head.link:
        raise BrokenLinkError(f"op {op.seq} of feed {op.feed.scope!r} does not link to op {head.seq}")


def verify_segment(head: FeedHead, ops: Sequence[SignedOp]) -> FeedHead:
    """Verify ops that continue a feed from `head`; return the new head. One signature check in all.

    Checks, in order: one feed; contiguous sequence numbers; hash links; increasing stamps; then
    the signature of the last op, which through the links authenticates all the others.
    """
    if not ops:
        return head
    feed = ops[0].feed
    last_stamp: Stamp | None = None
    for op in ops:
        if op.feed != feed:
            raise WrongFeedError(f"a segment of feed {feed.scope!r} contains an op of feed {op.feed.scope!r}")
        check_continues(head, op)
        if last_stamp is not None and op.stamp <= last_stamp:
            raise ReorderedError(f"op {op.seq} of feed {feed.scope!r} has a stamp that does not increase")
        last_stamp = op.stamp
        head = FeedHead(op.seq, op.link())
    _check_signature(ops[-1])
    return head
