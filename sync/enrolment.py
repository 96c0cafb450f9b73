"""Enrolment evidence: each node's certificate travels as an op, so that every node can tell an
author the mesh authority certified from a key it never did, whoever relays the author's ops.

TLS proves only who the direct peer is, and a peer relays the feeds of many authors. So every
enrolled node publishes its certificate from the mesh CA as a Create of kind "node" (id: its key
in hex) in its own feed of scope "node", and a node admits an author's ops only once it knows
that author's certificate (peer sessions send the "mesh" and "node" feeds before the others, so
the evidence arrives first). A record is checked on its own, the same way on every replica: the
certificate was issued by this mesh's CA, certifies exactly the author's key, and the record's
name and roles are the certificate's. Time plays no part, as for revocations: ops written under a
certificate stay valid after it expires.

Nobody else may state a node's record: a record anywhere but in its own node's "node" feed, or an
Update or Delete of one, is refused, so the materialized table holds only checked records.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crdt import Create, Op

from .codec import ops_of_kind
from .errors import CertificateError, EnrolmentRecordError, UnenrolledAuthorError
from .feed import FeedId, SignedOp
from .mesh import MeshCA, certificate_name, certificate_node_key, certificate_roles, check_node_certificate

__all__ = [
    "NODE_KIND",
    "NODE_SCOPE",
    "EnrolledKeys",
    "NodeRecord",
    "node_record_op",
    "record_from_fields",
    "roles_text",
    "segment_records",
]

NODE_SCOPE = "node"
"""The feed scope in which each node states its own enrolment, replicated to every node."""
NODE_KIND = "node"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node's checked enrolment: its key, and the name and roles its certificate gives it."""

    node_key: bytes
    name: str
    roles: frozenset[str]


def roles_text(roles: Iterable[str]) -> str:
    """Roles as the record's "roles" field holds them: sorted, space-separated ("" for none)."""
    return " ".join(sorted(roles))


def node_record_op(certificate: x509.Certificate, *, create_at: int) -> Create:
    """The op by which a node states its enrolment: its certificate (base64 of the DER), name and roles."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    key = certificate_node_key(certificate)
    return Create(NODE_KIND, key.hex(), (
        ("certificate", base64.b64encode(der).decode()),
        ("create_at", create_at),
        ("name", certificate_name(der)),
        ("roles", roles_text(certificate_roles(certificate))),
    ))


def record_from_fields(node_id: str, fields: Mapping[str, object], ca: MeshCA) -> NodeRecord:
    """Check a record (from an op or a table row) against this mesh's CA; raises EnrolmentRecordError."""
    text = fields.get("certificate")
    try:
        der = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise EnrolmentRecordError(f"the record of node {node_id[:16]} does not hold a certificate "
                                   "(base64 of a DER X.509 certificate)") from None
    try:
        key = check_node_certificate(cert, ca)
    except CertificateError as exc:
        raise EnrolmentRecordError(f"the record of node {node_id[:16]} does not hold a certificate of this mesh: "
                                   f"{exc}") from None
    if key.hex() != node_id:
        raise EnrolmentRecordError(f"the record of node {node_id[:16]} holds the certificate of another node "
                                   f"({key.hex()[:16]})")
    roles = certificate_roles(cert)
    if fields.get("roles") != roles_text(roles):
        raise EnrolmentRecordError(f"the record of node {node_id[:16]} states roles {fields.get('roles')!r}, "
                                   f"but its certificate grants {roles_text(roles)!r}")
    name = certificate_name(der)
    if fields.get("name") != name:
        raise EnrolmentRecordError(f"the record of node {node_id[:16]} states name {fields.get('name')!r}, "
                                   f"but its certificate names {name!r}")
    return NodeRecord(key, name, roles)


def _record_of(op: Op, feed: FeedId, ca: MeshCA) -> NodeRecord:
    author = feed.author.hex()
    if feed.scope != NODE_SCOPE:
        raise EnrolmentRecordError(f"node {author[:16]} wrote a node record in scope {feed.scope!r}; a node "
                                   f"states its enrolment only in its own feed of scope {NODE_SCOPE!r}")
    if not isinstance(op, Create):
        raise EnrolmentRecordError(f"node {author[:16]} wrote a {type(op).__name__} of a node record; "
                                   "a record is stated once, by a Create, and never changed")
    if op.id != author:
        raise EnrolmentRecordError(f"node {author[:16]} wrote a node record for node {op.id[:16]}; "
                                   "a node states only its own enrolment")
    return record_from_fields(op.id, dict(op.fields), ca)


def segment_records(ops: Sequence[SignedOp], ca: MeshCA) -> list[NodeRecord]:
    """The node records in a segment (one feed), each checked; raises EnrolmentRecordError for any
    op of kind "node" that is not its author's own true record."""
    return [_record_of(op, signed.feed, ca) for signed, op in ops_of_kind(ops, NODE_KIND)]


class EnrolledKeys:
    """The node keys known to hold a certificate from the mesh CA, and the check of a segment's author.

    An author is admitted if it is the authority, a key already known (a checked record, a peer
    verified by TLS), a node the authority revoked (its revocation's limits then decide), or if
    the segment is the author's own "node" feed carrying its record.
    """

    def __init__(self, ca: MeshCA, keys: Iterable[bytes] = ()):
        self._ca = ca
        self._keys = {ca.authority_key, *keys}

    def __contains__(self, node_key: object) -> bool:
        return node_key in self._keys

    def add(self, node_key: bytes) -> None:
        self._keys.add(node_key)

    def admit(self, ops: Sequence[SignedOp], revoked: Container[bytes] = ()) -> list[NodeRecord]:
        """Check a segment: raise EnrolmentRecordError for a false record, UnenrolledAuthorError for an
        unknown author; return the records it carries (their keys are known from now on)."""
        if not ops:
            return []
        records = segment_records(ops, self._ca)
        for record in records:  # each names the segment's author (checked above)
            self._keys.add(record.node_key)
        feed = ops[0].feed
        if feed.author not in self._keys and feed.author not in revoked:
            raise UnenrolledAuthorError(
                f"node {feed.author.hex()[:16]} is not enrolled in mesh {self._ca.name!r}: no certificate from "
                f"its authority is known for that key, so its ops in scope {feed.scope!r} are refused "
                f"(they are accepted once its {NODE_SCOPE!r} feed, which carries its certificate, has arrived)"
            )
        return records
