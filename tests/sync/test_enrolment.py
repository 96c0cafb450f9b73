"""A node's enrolment record (kind "node") states its certificate truly, and only its own; a segment's
records are found whatever the encoding of their kind, and an author with no known certificate is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import msgpack
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crdt import Create, HybridClock
from sync import GENESIS, FeedHead, SignedOp, Signer, encode_op
from sync.enrolment import (
    NODE_SCOPE,
    EnrolledKeys,
    NodeRecord,
    node_record_op,
    record_from_fields,
    roles_text,
    segment_records,
)
from sync.errors import EnrolmentRecordError, UnenrolledAuthorError
from sync.mesh import Authority, create_authority, issue_node_certificate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_MS = 1_772_366_400_000
ADMIN = Signer(bytes(range(32)))
NODE = Signer(bytes(range(1, 33)))
STRANGER = Signer(bytes(range(2, 34)))


@pytest.fixture(scope="module")
def authority() -> Authority:
    return create_authority("Field team", ADMIN.public_key, now=NOW,
                            key=Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96))))


def _feed(signer: Signer, scope: str, bodies: list[bytes]) -> list[SignedOp]:
    clock, head, ops = HybridClock(signer.node_tag), FeedHead(0, GENESIS), []
    for body in bodies:
        op = signer.seal(scope, head, clock.tick(T0_MS), body)
        ops.append(op)
        head = FeedHead(op.seq, op.link())
    return ops


def test_a_record_states_the_certificate_its_name_and_roles_and_reads_back_checked(authority: Authority) -> None:
    cert = issue_node_certificate(authority, NODE.public_key, name="laptop-1", now=NOW, roles=["hub"])
    op = node_record_op(cert, create_at=T0_MS)
    fields = dict(op.fields)
    assert (op.kind, op.id, fields["name"], fields["roles"], fields["create_at"]) == (
        "node", NODE.public_key.hex(), "laptop-1", "hub", T0_MS)
    assert base64.b64decode(fields["certificate"]) == cert.public_bytes(serialization.Encoding.DER)
    assert record_from_fields(op.id, fields, authority.ca) == NodeRecord(NODE.public_key, "laptop-1",
                                                                         frozenset({"hub"}))
    assert roles_text(["hub"]) == "hub" and roles_text([]) == ""


def test_a_record_whose_certificate_is_not_base64_der_is_refused(authority: Authority) -> None:
    with pytest.raises(EnrolmentRecordError, match="does not hold a certificate \\(base64 of a DER X.509"):
        record_from_fields(NODE.public_key.hex(), {"certificate": "not base64!", "name": "x", "roles": ""},
                           authority.ca)


def test_a_record_is_found_whatever_the_encoding_of_its_kind(authority: Authority) -> None:
    cert = issue_node_certificate(authority, NODE.public_key, name="laptop-1", now=NOW)
    record = node_record_op(cert, create_at=T0_MS)
    # the kind as a str8 instead of the canonical fixstr: still a valid msgpack encoding of "node"
    lying = Create("node", NODE.public_key.hex(), {**dict(record.fields), "roles": "hub"})
    canonical = encode_op(lying)
    body = canonical[:2] + b"\xd9\x04node" + canonical[7:]
    assert msgpack.unpackb(body) == msgpack.unpackb(canonical)
    with pytest.raises(EnrolmentRecordError, match="states roles 'hub', but its certificate grants ''"):
        segment_records(_feed(NODE, NODE_SCOPE, [body]), authority.ca)


def test_a_segment_without_records_is_passed_without_decoding_and_posts_that_say_node_are_not_records(
    authority: Authority,
) -> None:
    bodies = [encode_op(Create("post", f"p{i}", {"message": "the node is down"})) for i in range(3)]
    assert segment_records(_feed(NODE, "channel:x", bodies), authority.ca) == []


def test_an_unknown_author_is_refused_until_its_own_node_feed_brings_its_record(authority: Authority) -> None:
    keys = EnrolledKeys(authority.ca)
    posts = _feed(NODE, "channel:x", [encode_op(Create("post", "p", {"message": "hi"}))])
    with pytest.raises(UnenrolledAuthorError, match=f"^node {NODE.public_key.hex()[:16]} is not enrolled in mesh"):
        keys.admit(posts)
    cert = issue_node_certificate(authority, NODE.public_key, name="laptop-1", now=NOW)
    record = _feed(NODE, NODE_SCOPE, [encode_op(node_record_op(cert, create_at=T0_MS))])
    assert keys.admit(record) == [NodeRecord(NODE.public_key, "laptop-1", frozenset())]
    assert keys.admit(posts) == []
    assert NODE.public_key in keys and STRANGER.public_key not in keys


def test_the_authority_and_revoked_nodes_need_no_record(authority: Authority) -> None:
    keys = EnrolledKeys(authority.ca)
    body = [encode_op(Create("post", "p", {"message": "hi"}))]
    keys.admit(_feed(ADMIN, "channel:x", body))
    keys.admit(_feed(STRANGER, "channel:x", body), revoked={STRANGER.public_key})  # its limits decide
    with pytest.raises(UnenrolledAuthorError):
        keys.admit(_feed(STRANGER, "channel:x", body))
