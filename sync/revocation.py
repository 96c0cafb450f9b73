"""Revocation: which ops of a revoked node every replica still accepts, decided the same way everywhere.

A revoked node's clock cannot be trusted (it can stamp new ops with old times), so "later" is not
read from stamps. Instead the authority's revocation names, for each feed of the revoked node, the
last sequence number the authority held when it revoked; every node accepts that node's ops up to
those numbers and refuses the rest, and the ops of its feeds that the revocation does not name at
all. Sequence numbers are fixed by the hash links, so every replica keeps exactly the same ops.

A revocation is a Create of kind "revocation" in the authority node's feed of scope "mesh"; only
that feed counts (any node could write such an op in its own feed). The limits of one revocation
may be split across several ops when the revoked node wrote in very many scopes: a revoked node's
limit in a scope is the smallest one any revocation of it names, and 0 if none names the scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from crdt import Create, Op

from .errors import UnknownAuthorError
from .feed import FeedHead, FeedId, SignedOp

__all__ = [
    "MESH_SCOPE",
    "REVOCATION_KIND",
    "Revocation",
    "Revocations",
    "accepted_prefix",
    "accepts",
    "check_author",
    "retractions",
    "revocation_from_op",
    "revocation_ops",
]

MESH_SCOPE = "mesh"
"""The feed scope of mesh administration ops, replicated to every node; only the authority writes it."""
REVOCATION_KIND = "revocation"
_MAX_SCOPES_PER_OP = 1000  # an op's map holds at most 1024 entries (crdt.MAX_FIELDS * 16)
_HEX_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Revocation:
    """The authority's statement that `node_key` is revoked, with the last op it accepts per scope."""

    node_key: bytes
    revoked_at: int
    """Milliseconds since the epoch on the authority's clock; shown to people, never used to decide."""
    reason: str = ""
    last_seqs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Revocations:
    """Every revocation the authority has issued, indexed by the revoked node's key."""

    by_node: Mapping[bytes, tuple[Revocation, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, revocations: Iterable[Revocation]) -> Revocations:
        by_node: dict[bytes, list[Revocation]] = {}
        for revocation in revocations:
            by_node.setdefault(revocation.node_key, []).append(revocation)
        return cls({key: tuple(found) for key, found in by_node.items()})

    def __contains__(self, node_key: object) -> bool:
        return node_key in self.by_node

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.by_node)

    def __len__(self) -> int:
        return len(self.by_node)

    def limit(self, node_key: bytes, scope: str) -> int | None:
        """The last accepted sequence number of a feed, or None if its author is not revoked."""
        found = self.by_node.get(node_key)
        if found is None:
            return None
        named = [r.last_seqs[scope] for r in found if scope in r.last_seqs]
        return min(named) if named else 0


def check_author(feed: FeedId, authority_key: bytes) -> None:
    """Refuse a feed of scope "mesh" by anyone but the authority node: nobody else administers the mesh."""
    if feed.scope == MESH_SCOPE and feed.author != authority_key:
        raise UnknownAuthorError(
            f"node {feed.author.hex()[:16]} wrote in scope {MESH_SCOPE!r}, which only the mesh authority writes"
        )


def accepts(author: bytes, scope: str, seq: int, revocations: Revocations) -> bool:
    """Whether op `seq` of the feed (author, scope) is accepted: always, unless its author is revoked."""
    limit = revocations.limit(author, scope)
    return limit is None or seq <= limit


def accepted_prefix(ops: Sequence[SignedOp], revocations: Revocations) -> int:
    """How many leading ops of a segment (one feed, increasing seq) the rule accepts."""
    if not ops:
        return 0
    limit = revocations.limit(ops[0].feed.author, ops[0].feed.scope)
    if limit is None:
        return len(ops)
    return sum(1 for op in ops if op.seq <= limit)


def retractions(heads: Mapping[FeedId, FeedHead], revocations: Revocations) -> dict[FeedId, int]:
    """Feeds held beyond what the rule accepts, each with the sequence number to cut it back to.

    These are ops a replica applied before the revocation reached it; they must leave its log and
    its materialized state so that it ends up holding what every other replica holds.
    """
    out: dict[FeedId, int] = {}
    for feed, head in heads.items():
        limit = revocations.limit(feed.author, feed.scope)
        if limit is not None and head.seq > limit:
            out[feed] = limit
    return out


# -- as ops ----------------------------------------------------------------------------------


def revocation_ops(revocation: Revocation, ids: Iterator[str]) -> list[Create]:
    """The Create ops that state `revocation`; several when it names more scopes than one op holds."""
    scopes = sorted(revocation.last_seqs.items())
    chunks = [scopes[i:i + _MAX_SCOPES_PER_OP] for i in range(0, len(scopes), _MAX_SCOPES_PER_OP)] or [[]]
    return [
        Create(REVOCATION_KIND, next(ids), (
            ("last_seqs", dict(chunk)),
            ("node_key", revocation.node_key.hex()),
            ("reason", revocation.reason),
            ("revoked_at", revocation.revoked_at),
        ))
        for chunk in chunks
    ]


def revocation_from_op(op: Op) -> Revocation | None:
    """The revocation an op states, or None if it is not one or does not name a node key.

    Malformed limits count as none named (the strictest reading), so a damaged revocation still
    revokes; every replica reads the same op the same way.
    """
    if not isinstance(op, Create) or op.kind != REVOCATION_KIND:
        return None
    fields = dict(op.fields)
    node_key = fields.get("node_key")
    if not isinstance(node_key, str) or not _HEX_KEY.fullmatch(node_key):
        return None
    revoked_at = fields.get("revoked_at")
    reason = fields.get("reason")
    raw = fields.get("last_seqs")
    last_seqs: dict[str, int] = {}
    if isinstance(raw, Mapping) and all(
        isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 for seq in raw.values()
    ):
        last_seqs = {str(scope): seq for scope, seq in raw.items()}
    return Revocation(
        bytes.fromhex(node_key),
        revoked_at if isinstance(revoked_at, int) and not isinstance(revoked_at, bool) else 0,
        reason if isinstance(reason, str) else "",
        last_seqs,
    )
