"""TLS 1.3 between mesh nodes: both sides present a certificate from the mesh CA, the only trust anchor.

Peers are found by mDNS or by address, so there is no host name to check. What authenticates a
peer is that its certificate chains to the mesh CA (checked by OpenSSL during the handshake) and
certifies an ed25519 node key (checked by `verify_peer` right after it, before any sync message).
The node key is also the TLS key, so the peer proved in the handshake that it holds the key that
signs its ops. Python's ssl module has no verification callback, which is why revocation, a
fact of the op log, is checked in `verify_peer` and not inside the handshake.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .errors import CertificateError, MeshError, RevokedError
from .mesh import MeshCA, certificate_name, verify_peer_certificate
from .revocation import Revocations

__all__ = ["TLS_VERSION", "client_context", "handshake_error", "peer_certificate", "server_context", "verify_peer"]

TLS_VERSION = "TLSv1.3"


def server_context(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """The context a node accepts peers with: TLS 1.3 only, a client certificate from the mesh CA required."""
    context = _context(ssl.PROTOCOL_TLS_SERVER, ca_pem, cert_pem, key_pem)
    # No session tickets: every connection is a full handshake in which the peer's certificate is checked.
    context.num_tickets = 0
    return context


def client_context(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """The context a node connects to peers with: TLS 1.3 only, the server's certificate from the mesh CA."""
    return _context(ssl.PROTOCOL_TLS_CLIENT, ca_pem, cert_pem, key_pem)


def _context(protocol: ssl._SSLMethod, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)  # unlike create_default_context(), trusts nothing until told
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # peers are found by mDNS or address; the certificate names a key, not a host
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    try:
        context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise CertificateError("the mesh CA certificate is not a PEM certificate") from None
    _load_chain(context, cert_pem, key_pem)
    return context


def _load_chain(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CertificateError("the node key is not an unencrypted PEM private key") from None
    # The ssl module loads keys from files only. The file holds the key encrypted under a one-time
    # password, in a private directory, for the duration of this call.
    password = secrets.token_bytes(32)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory(prefix="edgenode-tls-") as folder:
        path = Path(folder) / "chain.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(cert_pem + b"\n" + encrypted)
        try:
            context.load_cert_chain(path, password=password)
        except ssl.SSLError as exc:
            raise CertificateError(f"the node certificate and key do not load together: {exc.reason}") from None


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes:
    """The DER certificate the peer presented in the handshake."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise CertificateError("the peer presented no certificate")
    return der


def verify_peer(ssl_object: ssl.SSLObject | ssl.SSLSocket, ca: MeshCA, revocations: Revocations,
                now: datetime | None = None) -> bytes:
    """Check an established link: TLS 1.3, a node certificate of this mesh, not revoked. Returns the
    peer's node key, the author key of the ops it signs. Raises a MeshError subclass saying why not."""
    version = ssl_object.version()
    if version != TLS_VERSION:
        raise CertificateError(f"the link uses {version}; mesh links use {TLS_VERSION}")
    der = peer_certificate(ssl_object)
    key = verify_peer_certificate(der, ca, now if now is not None else datetime.now(UTC))
    if key in revocations:
        raise RevokedError(f"node {certificate_name(der)} was revoked by the mesh authority; refusing the link")
    return key


# OpenSSL verification codes (X509_V_ERR_*) that mean "not from our mesh authority": self-signed
# leaf, self-signed root, unknown issuer, unverifiable leaf, path length exceeded. A chain through a
# certificate that is not a CA (a node certifying another node) has a code that changed in OpenSSL 3
# (24 -> 79), so it is recognised by its message.
_FOREIGN_ISSUER = {18, 19, 20, 21, 25}
_NOT_A_CA = "invalid CA certificate"
_NOT_YET_VALID, _EXPIRED = 9, 10
_NO_TLS13 = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE",
             "WRONG_SSL_VERSION", "UNKNOWN_PROTOCOL"}


def handshake_error(exc: ssl.SSLError) -> MeshError:
    """A failed handshake as a MeshError that says, in words, why the peer was refused or refused us.

    asyncio drops connections whose handshake fails on a server started with ssl=...; a transport
    that wants to log why should accept plain TCP and call StreamWriter.start_tls() in its handler.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, detail = exc.verify_code, exc.verify_message
        if code in _FOREIGN_ISSUER or detail == _NOT_A_CA:
            return CertificateError(f"the peer's certificate was not issued by this mesh's authority ({detail})")
        if code in (_NOT_YET_VALID, _EXPIRED):
            return CertificateError(f"the peer's certificate is not valid now ({detail}); check both clocks")
        return CertificateError(f"the peer's certificate was refused ({detail})")
    reason = exc.reason or ""
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return CertificateError("the peer presented no certificate: it is not enrolled in a mesh")
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return CertificateError("the peer requires a certificate from its mesh authority, and we sent none")
    if reason in ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_DECRYPT_ERROR"):
        return CertificateError("the peer refused our certificate: we are not enrolled in its mesh")
    if reason in _NO_TLS13:
        return CertificateError(f"the peer does not speak {TLS_VERSION} ({reason})")
    return MeshError(f"TLS handshake failed: {reason or exc}")
