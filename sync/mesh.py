"""Mesh trust material: the authority's CA certificate, node certificates, and invite tokens.

A mesh is one deployment. Its authority is a self-signed Ed25519 X.509 CA kept by one admin node.
Every node holds a certificate from it whose key is the node's own ed25519 key, the one that signs
its ops, so the identity authenticated on a TLS link is the identity that authors ops.

Enrolment is one one-way transfer: an invite token carries a freshly generated node key and that
key's certificate, so the authority never has to hear from the joiner. The token is therefore a
secret bearer credential: whoever holds it can join as that node.

Only standard X.509 through `cryptography`; the clock and the keys are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import encoding
from .errors import CertificateError, DecodeError, InviteError

__all__ = [
    "AUTHORITY_URI_PREFIX",
    "CA_VALIDITY",
    "HUB_ROLE",
    "INVITE_PREFIX",
    "MAX_NAME_LEN",
    "NODE_ROLES",
    "NODE_URI_PREFIX",
    "NODE_VALIDITY",
    "ROLE_URI_PREFIX",
    "Authority",
    "Invite",
    "MeshCA",
    "certificate_name",
    "certificate_node_key",
    "certificate_roles",
    "check_node_certificate",
    "create_authority",
    "decode_invite",
    "encode_invite",
    "issue_node_certificate",
    "mesh_id",
    "node_key_pem",
    "verify_peer_certificate",
]

NODE_URI_PREFIX = "edgenode://node/"
"""A node certificate names its key as this URI (subject alternative name) followed by the key in hex."""
AUTHORITY_URI_PREFIX = "edgenode://authority/"
"""The CA certificate names the authority node's key (which signs revocations) the same way."""
ROLE_URI_PREFIX = "edgenode:role:"
"""A node certificate states each of its roles as one more SAN URI: this prefix, then the role."""
HUB_ROLE = "hub"
"""A node entitled to every feed (a datacenter node), not only to those its users need."""
NODE_ROLES = frozenset({HUB_ROLE})
# Field deployments: a laptop may stay offline for years and must still connect when it returns.
CA_VALIDITY = timedelta(days=20 * 365)
NODE_VALIDITY = timedelta(days=10 * 365)
# Laptop clocks disagree; a certificate that is "not yet valid" on a peer would fail every handshake.
_CLOCK_SLACK = timedelta(days=1)
MAX_NAME_LEN = 64  # the X.509 upper bound of a common name

INVITE_PREFIX = "edgenode-invite:"
_INVITE_VERSION = 1
_INVITE_TAG = "invite"
_CHECKSUM_SIZE = 8
_HEADER_SIZE = 3  # version byte, then the body length on two bytes
_MAX_INVITE_CHARS = 8192
_KEY_SIZE = 32
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def mesh_id(ca_public_key: bytes) -> str:
    """A mesh's id: base32 of the first 16 bytes of the SHA-256 of its CA public key (26 characters)."""
    return base64.b32encode(hashlib.sha256(ca_public_key).digest()[:16]).decode().rstrip("=").lower()


def _uri_key(cert: x509.Certificate, prefix: str) -> bytes | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(prefix):
            try:
                key = bytes.fromhex(uri[len(prefix):])
            except ValueError:
                return None
            return key if len(key) == _KEY_SIZE else None
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class MeshCA:
    """What every node knows of its mesh: the authority's self-signed CA certificate."""

    certificate: x509.Certificate
    id: str
    name: str
    authority_key: bytes
    """The ed25519 key of the authority's node, the only author whose revocations count."""

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> MeshCA:
        """Check that `cert` is an edgenode mesh CA and read what it says."""
        key = cert.public_key()
        if not isinstance(key, Ed25519PublicKey):
            raise CertificateError("a mesh CA certificate must have an Ed25519 key")
        if not _is_ca(cert):
            raise CertificateError("the certificate is not a CA certificate")
        try:
            cert.verify_directly_issued_by(cert)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError("a mesh CA certificate must be self-signed") from None
        authority = _uri_key(cert, AUTHORITY_URI_PREFIX)
        if authority is None:
            raise CertificateError(f"the CA certificate does not name its authority node ({AUTHORITY_URI_PREFIX}<key>)")
        return cls(cert, mesh_id(_raw(key)), _common_name(cert.subject), authority)

    @classmethod
    def from_pem(cls, data: bytes) -> MeshCA:
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise CertificateError("not a PEM certificate") from None
        return cls.from_certificate(cert)

    @classmethod
    def from_der(cls, data: bytes) -> MeshCA:
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            raise CertificateError("not a DER certificate") from None
        return cls.from_certificate(cert)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class Authority:
    """The mesh CA with its private key: held by the authority node only."""

    ca: MeshCA
    key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def from_pem(cls, ca_pem: bytes, key_pem: bytes) -> Authority:
        ca = MeshCA.from_pem(ca_pem)
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise CertificateError("the CA key is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey) or _raw(key.public_key()) != _raw(ca.certificate.public_key()):  # type: ignore[arg-type]
            raise CertificateError("the CA key does not belong to the CA certificate")
        return cls(ca, key)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def create_authority(name: str, authority_key: bytes, *, now: datetime,
                     key: Ed25519PrivateKey | None = None) -> Authority:
    """A new mesh: a self-signed CA named `name` that names `authority_key` (the admin node's key)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LEN or not name.isprintable():
        raise CertificateError(f"a mesh name is 1 to {MAX_NAME_LEN} printable characters")
    if len(authority_key) != _KEY_SIZE:
        raise CertificateError("the authority node key must be a 32-byte ed25519 public key")
    key = key if key is not None else Ed25519PrivateKey.generate()
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgenode mesh"),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SLACK)
        .not_valid_after(now + CA_VALIDITY)
        # path length 0: node certificates can never act as CAs themselves
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(AUTHORITY_URI_PREFIX + authority_key.hex()),
        ]), critical=False)
        .sign(key, None)  # Ed25519 signs without a separate hash
    )
    return Authority(MeshCA.from_certificate(cert), key)


def issue_node_certificate(authority: Authority, node_key: bytes, *, name: str, now: datetime,
                           roles: Iterable[str] = ()) -> x509.Certificate:
    """Certify `node_key` (a node's ed25519 public key) as a node of the mesh; `name` is its display id,
    `roles` a subset of NODE_ROLES."""
    if len(node_key) != _KEY_SIZE:
        raise CertificateError("a node key is a 32-byte ed25519 public key")
    granted = frozenset(roles)
    if not granted <= NODE_ROLES:
        raise CertificateError(f"unknown node roles {', '.join(sorted(granted - NODE_ROLES))}; "
                               f"a node's roles are among: {', '.join(sorted(NODE_ROLES))}")
    san: list[x509.GeneralName] = [x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_key.hex())]
    san += [x509.UniformResourceIdentifier(ROLE_URI_PREFIX + role) for role in sorted(granted)]
    ca = authority.ca.certificate
    not_after = min(now + NODE_VALIDITY, ca.not_valid_after_utc)  # never outlive the CA
    ca_public = authority.key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(Ed25519PublicKey.from_public_bytes(node_key))
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SLACK)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        ), critical=True)
        # every node is both a TLS client and a TLS server
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
        .sign(authority.key, None)
    )


def certificate_node_key(cert: x509.Certificate) -> bytes:
    """The node key a node certificate certifies; its TLS key and its SAN URI must agree."""
    public = cert.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise CertificateError("a node certificate must have an Ed25519 key")
    key = _raw(public)
    if _uri_key(cert, NODE_URI_PREFIX) != key:
        raise CertificateError(f"the certificate does not name its own key as {NODE_URI_PREFIX}<key>")
    return key


def certificate_roles(cert: x509.Certificate) -> frozenset[str]:
    """The roles a node certificate grants (SAN URIs `edgenode:role:<role>`), also those a newer version
    may define; a role is one printable word, so a space-separated list of them reads back the same."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    stated = (uri[len(ROLE_URI_PREFIX):] for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
              if uri.startswith(ROLE_URI_PREFIX))
    return frozenset(role for role in stated if role.isprintable() and role.split() == [role])


def verify_peer_certificate(cert_der: bytes, ca: MeshCA, now: datetime) -> bytes:
    """Check that `cert_der` is a current node certificate issued by this mesh's CA; return the node key.

    The TLS handshake has already checked the chain; this check stands on its own so that a
    certificate obtained any other way (a bundle, a test) gets the same answer.
    """
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError:
        raise CertificateError("the peer's certificate is not a valid X.509 certificate") from None
    key = check_node_certificate(cert, ca)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateError(
            f"the peer's certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}, not now ({now:%Y-%m-%d}); check both clocks"
        )
    return key


def check_node_certificate(cert: x509.Certificate, ca: MeshCA) -> bytes:
    """Check that `cert` is a node certificate issued by this mesh's CA, whatever the time; return its key."""
    try:
        cert.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(
            f"the certificate was not issued by the authority of mesh {ca.name!r} ({ca.id})"
        ) from None
    if _is_ca(cert):
        raise CertificateError("a CA certificate is not a node certificate")
    return certificate_node_key(cert)


def certificate_name(cert_der: bytes) -> str:
    """The common name of a certificate (a node's display id), for messages; "?" if unreadable."""
    try:
        return _common_name(x509.load_der_x509_certificate(cert_der).subject) or "?"
    except ValueError:
        return "?"


def node_key_pem(seed: bytes) -> bytes:
    """The node's ed25519 seed as an unencrypted PKCS#8 PEM key, the form TLS libraries load."""
    return Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- invite tokens ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invite:
    """Everything a new node needs to join: the mesh CA, and a node key with its certificate."""

    ca: MeshCA
    node_seed: bytes = field(repr=False)
    node_certificate: x509.Certificate

    @property
    def node_key(self) -> bytes:
        return _raw(Ed25519PrivateKey.from_private_bytes(self.node_seed).public_key())


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_CHECKSUM_SIZE).digest()


def encode_invite(invite: Invite) -> str:
    """The one-line token: prefix, then base64url of (version, length, msgpack body, checksum)."""
    body = encoding.pack([
        _INVITE_TAG,
        invite.ca.certificate.public_bytes(serialization.Encoding.DER),
        invite.node_seed,
        invite.node_certificate.public_bytes(serialization.Encoding.DER),
    ])
    framed = bytes([_INVITE_VERSION]) + len(body).to_bytes(2, "big") + body
    return INVITE_PREFIX + base64.urlsafe_b64encode(framed + _checksum(framed)).decode().rstrip("=")


def _unframe(text: str) -> bytes:
    # Pasted tokens pick up line breaks and spaces from mail clients and terminals.
    text = "".join(text.split())
    if not text:
        raise InviteError("the invite token is empty")
    if len(text) > _MAX_INVITE_CHARS:
        raise InviteError(f"the invite token is {len(text)} characters; a token is at most {_MAX_INVITE_CHARS}")
    if not text.startswith(INVITE_PREFIX):
        raise InviteError(f"this is not an edgenode invite token (a token starts with {INVITE_PREFIX!r})")
    payload = text[len(INVITE_PREFIX):]
    if not _BASE64URL.fullmatch(payload):
        raise InviteError("the invite token contains characters that are not part of a token: copy it again")
    if len(payload) % 4 == 1:
        payload = payload[:-1]  # cut off mid-character: no base64 text has this length
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise InviteError("the invite token is damaged: copy it again") from None
    if len(raw) < _HEADER_SIZE:
        raise InviteError("the invite token is incomplete: copy the whole line")
    version = raw[0]
    if version > _INVITE_VERSION:
        raise InviteError(f"the invite token was made by a newer edgenode (format {version}): upgrade this node")
    if version < 1:
        raise InviteError("this is not an edgenode invite token (unknown format 0)")
    expected = _HEADER_SIZE + int.from_bytes(raw[1:3], "big") + _CHECKSUM_SIZE
    if len(raw) < expected:
        raise InviteError(f"the invite token is incomplete ({len(raw)} of {expected} bytes): copy the whole line")
    if len(raw) > expected or _checksum(raw[:-_CHECKSUM_SIZE]) != raw[-_CHECKSUM_SIZE:]:
        raise InviteError("the invite token is damaged (its checksum does not match): copy it again")
    return raw[_HEADER_SIZE:-_CHECKSUM_SIZE]


def decode_invite(text: str, *, now: datetime) -> Invite:
    """Parse and check a token: intact, from a mesh CA, with a current certificate for the key it carries."""
    body = _unframe(text)
    try:
        wire = encoding.unpack(body)
    except DecodeError as exc:
        raise InviteError(f"the invite token's content is malformed: {exc}") from None
    if not isinstance(wire, list) or len(wire) != 4 or wire[0] != _INVITE_TAG:
        raise InviteError("the invite token's content is not an invite")
    _, ca_der, seed, cert_der = wire
    if not isinstance(ca_der, bytes) or not isinstance(cert_der, bytes):
        raise InviteError("the invite token's certificates are not bytes")
    if not isinstance(seed, bytes) or len(seed) != _KEY_SIZE:
        raise InviteError("the invite token's node key is not a 32-byte ed25519 seed")
    try:
        ca = MeshCA.from_der(ca_der)
        key = verify_peer_certificate(cert_der, ca, now)
    except CertificateError as exc:
        raise InviteError(f"the invite token's certificate is not valid: {exc}") from None
    invite = Invite(ca, seed, x509.load_der_x509_certificate(cert_der))
    if invite.node_key != key:
        raise InviteError("the invite token's certificate is for another key than the one it carries")
    return invite
