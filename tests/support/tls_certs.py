"""Throwaway mutual-TLS material for sync tests: a CA and Ed25519 node certificates, TLS 1.3 only.

A node's certificate key is its node (signing) key, so the key a verifier reads from the peer's
certificate is the node id the peer must announce in its handshake.

    ca = TestCA.create("mesh")
    server, client = ca.contexts(node_seed, tmp_path)
    verify = peer_node_key   # ssl.SSLObject -> the peer's 32-byte node key
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

__all__ = ["TestCA", "peer_node_key"]

_DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class TestCA:
    __test__ = False  # not a pytest test class

    name: str
    key: Ed25519PrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str) -> TestCA:
        key = Ed25519PrivateKey.generate()
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, None)
        )
        return cls(name, key, cert)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, node_seed: bytes, name: str = "node") -> tuple[bytes, bytes]:
        """A certificate for the node whose signing seed is `node_seed`: (cert PEM, key PEM)."""
        key = Ed25519PrivateKey.from_private_bytes(node_seed)
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + _DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, None)
        )
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    def contexts(self, node_seed: bytes, folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """(server, client) contexts for the node: TLS 1.3, each side requires a certificate from this CA."""
        cert_pem, key_pem = self.issue(node_seed)
        folder.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = folder / "node.crt", folder / "node.key.pem"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False  # peers are named by their certificate's key, not by host names
        for context in (server, client):
            context.minimum_version = ssl.TLSVersion.TLSv1_3
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=self.pem.decode())
            context.load_cert_chain(cert_file, key_file)
        return server, client


def peer_node_key(ssl_object: ssl.SSLObject) -> bytes:
    """The peer's node key: the raw Ed25519 public key of the certificate it presented."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the peer presented no certificate")
    key = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ssl.SSLError("the peer's certificate key is not Ed25519")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
