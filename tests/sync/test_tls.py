"""Mesh links over real TLS on 127.0.0.1: enrolled nodes connect over TLS 1.3 and learn each other's
node key; anything else is refused with an error that says why."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from sync import Signer
from sync.errors import CertificateError, MeshError, RevokedError
from sync.mesh import Authority, create_authority, issue_node_certificate, node_key_pem
from sync.revocation import Revocation, Revocations
from sync.tls import client_context, handshake_error, server_context, verify_peer

# The handshake checks validity against the real clock, so these certificates are issued now.
NOW = datetime.now(UTC)
ADMIN = Signer(bytes(range(32)))
SERVER = Signer(bytes(range(1, 33)))
CLIENT = Signer(bytes(range(2, 34)))
WELCOME = b"welcome\n"


@dataclass(frozen=True, slots=True)
class Credentials:
    signer: Signer
    cert_pem: bytes

    @property
    def key_pem(self) -> bytes:
        return node_key_pem(self.signer.seed)


def _enrol(authority: Authority, signer: Signer) -> Credentials:
    cert = issue_node_certificate(authority, signer.public_key, name=signer.public_key.hex()[:8], now=NOW)
    return Credentials(signer, cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def mesh() -> Authority:
    return create_authority("Field team", ADMIN.public_key, now=NOW)


@pytest.fixture(scope="module")
def other_mesh() -> Authority:
    return create_authority("Other team", ADMIN.public_key, now=NOW)


@pytest.fixture(scope="module")
def server_ctx(mesh: Authority) -> ssl.SSLContext:
    server = _enrol(mesh, SERVER)
    return server_context(mesh.ca.pem(), server.cert_pem, server.key_pem)


def _client(ca: Authority, credentials: Credentials) -> ssl.SSLContext:
    return client_context(ca.ca.pem(), credentials.cert_pem, credentials.key_pem)


@dataclass(slots=True)
class Server:
    """A node accepting links the way a transport should: TCP first, then the TLS handshake in the
    handler (so a refused handshake is seen and explained), then verify_peer before anything else."""

    port: int = 0
    peers: list[bytes] = field(default_factory=list)
    refused: list[MeshError] = field(default_factory=list)
    versions: list[str | None] = field(default_factory=list)


@asynccontextmanager
async def serving(context: ssl.SSLContext, mesh: Authority, revocations: Revocations | None = None
                  ) -> AsyncIterator[Server]:
    revocations = revocations if revocations is not None else Revocations()
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(context)
            ssl_object = writer.get_extra_info("ssl_object")
            state.versions.append(ssl_object.version())
            state.peers.append(verify_peer(ssl_object, mesh.ca, revocations))
            writer.write(WELCOME)
            await writer.drain()
        except ssl.SSLError as exc:
            state.refused.append(handshake_error(exc))
        except MeshError as exc:
            state.refused.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def _connect(port: int, context: ssl.SSLContext) -> tuple[bytes, ssl.SSLObject]:
    """Connect, and read what the server says before it closes: WELCOME if it accepted us, else b""."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        try:
            said = await reader.read(100)
        except (ConnectionError, ssl.SSLError):  # a refused link may also end in a reset
            said = b""
        return said, writer.get_extra_info("ssl_object")
    finally:
        writer.close()


async def _wait_for_verdict(server: Server) -> None:
    for _ in range(200):
        if server.peers or server.refused:
            return
        await asyncio.sleep(0.005)


# -- accepted --------------------------------------------------------------------------------


async def test_an_enrolled_node_connects_over_tls_13_and_each_side_learns_the_others_node_key(
    mesh: Authority, server_ctx: ssl.SSLContext,
) -> None:
    async with serving(server_ctx, mesh) as server:
        said, ssl_object = await _connect(server.port, _client(mesh, _enrol(mesh, CLIENT)))
        assert said == WELCOME
        assert ssl_object.version() == "TLSv1.3"
        assert verify_peer(ssl_object, mesh.ca, Revocations()) == SERVER.public_key
    assert (server.peers, server.refused, server.versions) == ([CLIENT.public_key], [], ["TLSv1.3"])


async def test_the_server_context_works_as_the_ssl_argument_of_start_server(
    mesh: Authority, server_ctx: ssl.SSLContext,
) -> None:
    peers: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(verify_peer(writer.get_extra_info("ssl_object"), mesh.ca, Revocations()))
        writer.write(WELCOME)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    async with server:
        said, ssl_object = await _connect(server.sockets[0].getsockname()[1], _client(mesh, _enrol(mesh, CLIENT)))
    assert (said, ssl_object.version(), peers) == (WELCOME, "TLSv1.3", [CLIENT.public_key])
    assert ssl_object.cipher()[1] == "TLSv1.3"  # type: ignore[index]


def test_contexts_require_tls_13_and_a_peer_certificate_and_trust_only_the_mesh_ca(
    mesh: Authority, server_ctx: ssl.SSLContext,
) -> None:
    client = _client(mesh, _enrol(mesh, CLIENT))
    for context in (server_ctx, client):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is False
        assert [cert["subject"] for cert in context.get_ca_certs()] == [
            ((("organizationName", "edgenode mesh"),), (("commonName", "Field team"),))
        ]


# -- refused ---------------------------------------------------------------------------------


async def _refused_client(server_ctx: ssl.SSLContext, mesh: Authority, client: ssl.SSLContext) -> str:
    async with serving(server_ctx, mesh) as server:
        said, _ = await _connect(server.port, client)
        await _wait_for_verdict(server)
    assert (said, server.peers) == (b"", [])
    [error] = server.refused
    assert isinstance(error, CertificateError)
    return str(error)


async def test_a_node_with_a_certificate_from_another_mesh_is_refused(
    mesh: Authority, other_mesh: Authority, server_ctx: ssl.SSLContext,
) -> None:
    client = client_context(mesh.ca.pem(), *_pems(_enrol(other_mesh, CLIENT)))
    assert await _refused_client(server_ctx, mesh, client) == (
        "the peer's certificate was not issued by this mesh's authority (unable to get local issuer certificate)"
    )


async def test_a_node_with_a_self_signed_certificate_is_refused(mesh: Authority, server_ctx: ssl.SSLContext) -> None:
    client = client_context(mesh.ca.pem(), _self_signed(CLIENT), node_key_pem(CLIENT.seed))
    assert await _refused_client(server_ctx, mesh, client) == (
        "the peer's certificate was not issued by this mesh's authority (self-signed certificate)"
    )


async def test_a_node_without_a_certificate_is_refused(mesh: Authority, server_ctx: ssl.SSLContext) -> None:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(cadata=mesh.ca.pem().decode())
    assert await _refused_client(server_ctx, mesh, client) == (
        "the peer presented no certificate: it is not enrolled in a mesh"
    )


async def test_a_certificate_issued_by_a_node_instead_of_the_authority_is_refused(
    mesh: Authority, server_ctx: ssl.SSLContext,
) -> None:
    # a node certificate is not a CA (and the CA allows no intermediates), so a node cannot enrol others
    issuer = _enrol(mesh, SERVER)
    client = client_context(mesh.ca.pem(), _issued_by_node(issuer, CLIENT) + issuer.cert_pem, node_key_pem(CLIENT.seed))
    assert await _refused_client(server_ctx, mesh, client) == (
        "the peer's certificate was not issued by this mesh's authority (invalid CA certificate)"
    )


async def test_a_revoked_node_completes_no_link(mesh: Authority, server_ctx: ssl.SSLContext) -> None:
    revoked = Revocations.of([Revocation(CLIENT.public_key, 0, "lost laptop", {})])
    async with serving(server_ctx, mesh, revoked) as server:
        said, _ = await _connect(server.port, _client(mesh, _enrol(mesh, CLIENT)))
        await _wait_for_verdict(server)
    assert (said, server.peers) == (b"", [])
    [error] = server.refused
    assert isinstance(error, RevokedError)
    assert str(error) == f"node {CLIENT.public_key.hex()[:8]} was revoked by the mesh authority; refusing the link"


async def test_a_client_refuses_a_server_from_another_mesh(mesh: Authority, other_mesh: Authority) -> None:
    foreign = server_context(other_mesh.ca.pem(), *_pems(_enrol(other_mesh, SERVER)))
    async with serving(foreign, other_mesh) as server:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            await asyncio.open_connection("127.0.0.1", server.port, ssl=_client(mesh, _enrol(mesh, CLIENT)))
    assert str(handshake_error(refused.value)) == (
        "the peer's certificate was not issued by this mesh's authority (self-signed certificate in certificate chain)"
    )


async def test_a_client_that_offers_only_tls_12_is_refused(mesh: Authority, server_ctx: ssl.SSLContext) -> None:
    client = _client(mesh, _enrol(mesh, CLIENT))
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serving(server_ctx, mesh) as server:
        # asyncio aborts a refused handshake without flushing the alert: the client sees a reset
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection("127.0.0.1", server.port, ssl=client)
        await _wait_for_verdict(server)
    assert [str(e) for e in server.refused] == ["the peer does not speak TLSv1.3 (UNSUPPORTED_PROTOCOL)"]


def test_a_certificate_and_key_that_do_not_belong_together_are_refused_when_building_a_context(mesh: Authority) -> None:
    with pytest.raises(CertificateError, match="^the node certificate and key do not load together: KEY_VALUES_MISMATCH$"):
        server_context(mesh.ca.pem(), _enrol(mesh, SERVER).cert_pem, node_key_pem(CLIENT.seed))


# -- helpers ---------------------------------------------------------------------------------

def _pems(credentials: Credentials) -> tuple[bytes, bytes]:
    return credentials.cert_pem, credentials.key_pem


def _self_signed(signer: Signer) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(signer.seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(f"edgenode://node/{signer.public_key.hex()}")]), critical=False)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _issued_by_node(issuer: Credentials, subject: Signer) -> bytes:
    issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem)
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sub")]))
        .issuer_name(issuer_cert.subject).public_key(Ed25519PrivateKey.from_private_bytes(subject.seed).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(f"edgenode://node/{subject.public_key.hex()}")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            Ed25519PrivateKey.from_private_bytes(issuer.signer.seed).public_key()), critical=False)
        .sign(Ed25519PrivateKey.from_private_bytes(issuer.signer.seed), None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)
