"""Mesh certificates and invite tokens: what the authority issues, what a node accepts, and how a
damaged token is refused."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import msgpack
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import Signer
from sync.errors import CertificateError, InviteError, MeshError
from sync.mesh import (
    INVITE_PREFIX,
    Authority,
    Invite,
    MeshCA,
    certificate_roles,
    create_authority,
    decode_invite,
    encode_invite,
    issue_node_certificate,
    mesh_id,
    verify_peer_certificate,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADMIN = Signer(bytes(range(32)))
JOINER = Signer(bytes(range(1, 33)))
CA_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96)))


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def authority() -> Authority:
    return create_authority("Field team", ADMIN.public_key, now=NOW, key=CA_KEY)


@pytest.fixture(scope="module")
def other_authority() -> Authority:
    return create_authority("Other team", ADMIN.public_key, now=NOW)


@pytest.fixture(scope="module")
def invite(authority: Authority) -> Invite:
    return Invite(authority.ca, JOINER.seed,
                  issue_node_certificate(authority, JOINER.public_key, name="joiner", now=NOW))


@pytest.fixture(scope="module")
def token(invite: Invite) -> str:
    return encode_invite(invite)


# -- the authority ---------------------------------------------------------------------------


def test_a_new_authority_is_a_self_signed_ed25519_ca_that_names_its_mesh_and_its_authority_node(
    authority: Authority,
) -> None:
    cert = authority.ca.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (constraints.critical, constraints.value.ca, constraints.value.path_length) == (True, True, 0)
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Field team"
    assert (authority.ca.name, authority.ca.authority_key) == ("Field team", ADMIN.public_key)
    assert cert.not_valid_before_utc == NOW - timedelta(days=1)
    assert cert.not_valid_after_utc == NOW + timedelta(days=20 * 365)


def test_the_mesh_id_is_the_hash_of_the_ca_public_key(authority: Authority) -> None:
    expected = base64.b32encode(hashlib.sha256(_raw(CA_KEY)).digest()[:16]).decode().rstrip("=").lower()
    assert authority.ca.id == mesh_id(_raw(CA_KEY)) == expected
    assert len(expected) == 26


def test_the_ca_survives_a_round_trip_through_pem_with_its_key(authority: Authority) -> None:
    loaded = Authority.from_pem(authority.ca.pem(), authority.key_pem())
    assert (loaded.ca.id, loaded.ca.name, loaded.ca.authority_key) == (authority.ca.id, "Field team", ADMIN.public_key)


def test_a_ca_key_that_belongs_to_another_ca_is_refused(authority: Authority, other_authority: Authority) -> None:
    with pytest.raises(CertificateError, match="^the CA key does not belong to the CA certificate$"):
        Authority.from_pem(authority.ca.pem(), other_authority.key_pem())


@pytest.mark.parametrize("name", ["", "x" * 65, "line\nbreak"])
def test_a_mesh_name_is_one_to_64_printable_characters(name: str) -> None:
    with pytest.raises(CertificateError, match="^a mesh name is 1 to 64 printable characters$"):
        create_authority(name, ADMIN.public_key, now=NOW)


# -- node certificates -----------------------------------------------------------------------


def test_a_node_certificate_certifies_the_node_key_by_display_id_and_uri_for_ten_years(authority: Authority) -> None:
    cert = issue_node_certificate(authority, JOINER.public_key, name="abcdefgh", now=NOW)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "abcdefgh"
    assert cert.issuer == authority.ca.certificate.subject
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"edgenode://node/{JOINER.public_key.hex()}"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=10 * 365 + 1)
    assert verify_peer_certificate(_der(cert), authority.ca, NOW) == JOINER.public_key


def test_every_certificate_gets_its_own_random_serial(authority: Authority) -> None:
    serials = {issue_node_certificate(authority, JOINER.public_key, name="n", now=NOW).serial_number for _ in range(5)}
    assert len(serials) == 5


def test_a_node_certificate_never_outlives_its_ca(authority: Authority) -> None:
    late = authority.ca.certificate.not_valid_after_utc - timedelta(days=30)
    cert = issue_node_certificate(authority, JOINER.public_key, name="n", now=late)
    assert cert.not_valid_after_utc == authority.ca.certificate.not_valid_after_utc


def _self_signed_node_certificate(signer: Signer) -> x509.Certificate:
    key = Ed25519PrivateKey.from_private_bytes(signer.seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "impostor")])
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(f"edgenode://node/{signer.public_key.hex()}")]), critical=False)
        .sign(key, None)
    )


def _certificate_naming_another_key(authority: Authority) -> x509.Certificate:
    return (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "liar")]))
        .issuer_name(authority.ca.certificate.subject).public_key(Ed25519PrivateKey.from_private_bytes(JOINER.seed).public_key())
        .serial_number(2).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(f"edgenode://node/{ADMIN.public_key.hex()}")]), critical=False)
        .sign(authority.key, None)
    )


def test_verify_peer_certificate_refuses_what_is_not_a_current_node_certificate_of_this_mesh(
    authority: Authority, other_authority: Authority,
) -> None:
    foreign = issue_node_certificate(other_authority, JOINER.public_key, name="n", now=NOW)
    mine = issue_node_certificate(authority, JOINER.public_key, name="n", now=NOW)
    cases = {
        "garbage": (b"not a certificate", "^the peer's certificate is not a valid X.509 certificate$", NOW),
        "other mesh": (_der(foreign), "^the certificate was not issued by the authority of mesh 'Field team'", NOW),
        "self-signed": (_der(_self_signed_node_certificate(JOINER)), "^the certificate was not issued by", NOW),
        "the CA itself": (_der(authority.ca.certificate), "^a CA certificate is not a node certificate$", NOW),
        "lying URI": (_der(_certificate_naming_another_key(authority)),
                      "^the certificate does not name its own key as edgenode://node/<key>$", NOW),
        "expired": (_der(mine), (r"^the peer's certificate is valid from 2026-02-28 to 2036-02-27, not now "
                                 r"\(2040-01-01\); check both clocks$"), datetime(2040, 1, 1, tzinfo=UTC)),
    }
    for label, (der, message, now) in cases.items():
        with pytest.raises(CertificateError, match=message):
            verify_peer_certificate(der, authority.ca, now)
            pytest.fail(label)


def test_a_node_certificate_is_not_a_mesh_ca(authority: Authority, invite: Invite) -> None:
    with pytest.raises(CertificateError, match="^the certificate is not a CA certificate$"):
        MeshCA.from_certificate(invite.node_certificate)


def test_a_hub_certificate_states_its_role_as_a_san_uri_and_a_plain_one_states_none(authority: Authority) -> None:
    hub = issue_node_certificate(authority, JOINER.public_key, name="hub", now=NOW, roles=["hub"])
    plain = issue_node_certificate(authority, JOINER.public_key, name="joiner", now=NOW)
    san = hub.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"edgenode://node/{JOINER.public_key.hex()}", "edgenode:role:hub"]
    assert (certificate_roles(hub), certificate_roles(plain)) == (frozenset({"hub"}), frozenset())
    assert verify_peer_certificate(_der(hub), authority.ca, NOW) == JOINER.public_key  # still a node certificate


def test_a_role_this_version_does_not_know_is_not_issued(authority: Authority) -> None:
    with pytest.raises(CertificateError, match="^unknown node roles root; a node's roles are among: hub$"):
        issue_node_certificate(authority, JOINER.public_key, name="joiner", now=NOW, roles=["root"])


# -- invite tokens ---------------------------------------------------------------------------


def test_an_invite_token_is_one_line_of_base64url_after_its_prefix(token: str) -> None:
    assert token.startswith(INVITE_PREFIX)
    payload = token[len(INVITE_PREFIX):]
    assert set(payload) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(token) < 1500  # pasteable into a chat or a mail


def test_an_invite_token_round_trips_the_ca_the_node_key_and_its_certificate(invite: Invite, token: str) -> None:
    decoded = decode_invite(token, now=NOW)
    assert decoded.ca.id == invite.ca.id
    assert decoded.ca.authority_key == ADMIN.public_key  # the authority's node key travels in the CA certificate
    assert decoded.node_seed == JOINER.seed
    assert decoded.node_key == JOINER.public_key
    assert decoded.node_certificate == invite.node_certificate


def test_line_breaks_and_spaces_picked_up_while_pasting_are_ignored(token: str) -> None:
    wrapped = "  " + "\n".join(token[i:i + 76] for i in range(0, len(token), 76)) + " \r\n"
    assert decode_invite(wrapped, now=NOW).node_key == JOINER.public_key


def test_every_truncation_of_a_token_says_it_is_incomplete(token: str) -> None:
    for cut in range(len(INVITE_PREFIX) + 1, len(token)):
        with pytest.raises(InviteError, match=r"^the invite token is incomplete\b.*copy the whole line$"):
            decode_invite(token[:cut], now=NOW)


def test_a_cut_inside_the_prefix_is_not_a_token(token: str) -> None:
    with pytest.raises(InviteError, match="^this is not an edgenode invite token"):
        decode_invite(token[:10], now=NOW)


def test_a_changed_character_is_caught_by_the_checksum(token: str) -> None:
    for position in range(len(INVITE_PREFIX) + 8, len(token) - 2, 37):
        flipped = "A" if token[position] != "A" else "B"
        with pytest.raises(InviteError, match=r"^the invite token is damaged \(its checksum does not match\)"):
            decode_invite(token[:position] + flipped + token[position + 1:], now=NOW)


def test_characters_outside_base64url_are_refused(token: str) -> None:
    with pytest.raises(InviteError, match="^the invite token contains characters that are not part of a token"):
        decode_invite(token[:40] + "!" + token[41:], now=NOW)


def test_a_token_from_a_newer_format_asks_for_an_upgrade(token: str) -> None:
    raw = bytearray(base64.urlsafe_b64decode(token[len(INVITE_PREFIX):] + "=="))
    raw[0] = 2
    newer = INVITE_PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(InviteError, match=r"^the invite token was made by a newer edgenode \(format 2\): upgrade"):
        decode_invite(newer, now=NOW)


def test_a_token_whose_certificate_is_for_another_key_is_refused(authority: Authority) -> None:
    mismatched = Invite(authority.ca, ADMIN.seed, issue_node_certificate(authority, JOINER.public_key, name="n", now=NOW))
    with pytest.raises(InviteError, match="^the invite token's certificate is for another key than the one it carries$"):
        decode_invite(encode_invite(mismatched), now=NOW)


def test_a_token_whose_certificate_comes_from_another_ca_is_refused(authority: Authority, other_authority: Authority) -> None:
    forged = Invite(authority.ca, JOINER.seed,
                    issue_node_certificate(other_authority, JOINER.public_key, name="n", now=NOW))
    with pytest.raises(InviteError, match="^the invite token's certificate is not valid: the certificate was not issued"):
        decode_invite(encode_invite(forged), now=NOW)


def _framed(body: bytes) -> str:
    """A token around any body, with a correct header and checksum, so the body decoder itself is reached."""
    framed = bytes([1]) + len(body).to_bytes(2, "big") + body
    return INVITE_PREFIX + base64.urlsafe_b64encode(
        framed + hashlib.blake2b(framed, digest_size=8).digest()).decode().rstrip("=")


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=300),
    st.binary(max_size=1200).map(lambda b: INVITE_PREFIX + base64.urlsafe_b64encode(b).decode().rstrip("=")),
    st.binary(max_size=1200).map(_framed),
    st.lists(st.one_of(st.binary(max_size=64), st.text(max_size=8), st.integers(-(2**63), 2**64 - 1)), max_size=5).map(
        lambda items: _framed(msgpack.packb(["invite", *items], use_bin_type=True))),
))
def test_arbitrary_input_gives_only_typed_errors(text: str) -> None:
    with pytest.raises(MeshError):
        decode_invite(text, now=NOW)
