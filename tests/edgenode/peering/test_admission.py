"""Only enrolled authors write in a mesh: each node states its certificate in its own "node" feed,
and a node admits an author's ops only once it knows that author's certificate from the mesh CA,
whoever relays them. Real stores, real certificates; peers over the in-memory link."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from support.builders import CHANNEL, post, team_and_channel

from crdt import Create, Delete
from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.mesh import (
    Mesh,
    create_invite,
    init_mesh,
    join_mesh,
    revoke,
)
from edgenode.node import open_node
from edgenode.peering.admission import AdmittingStore, secure_settings
from edgenode.peering.settings import SyncSettings
from edgenode.peering.trust import MeshTrust, node_roles, publish_enrolment
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import FeedId, SignedOp
from sync.enrolment import NODE_SCOPE, node_record_op
from sync.errors import EnrolmentRecordError, UnenrolledAuthorError
from sync.framing import memory_link_pair
from sync.mesh import certificate_roles, create_authority, issue_node_certificate
from sync.peer import PeerSession, SessionConfig, mesh_tag

T0_MS = 1_800_000_000_000
CHANNEL_SCOPE = f"channel:{CHANNEL}"


@pytest.fixture
def authority(tmp_path: Path) -> Mesh:
    return init_mesh(tmp_path / "admin", "Field team")


def _join(authority: Mesh, data_dir: Path, *, hub: bool = False) -> Mesh:
    token, _ = create_invite(authority, hub=hub)
    return join_mesh(data_dir, token)


@asynccontextmanager
async def _store(data_dir: Path) -> AsyncIterator[Store]:
    async with Store(data_dir / STORE_FILE, SCHEMA, load_or_create_identity(data_dir)) as store:
        yield store


@asynccontextmanager
async def _admitting(mesh: Mesh) -> AsyncIterator[AdmittingStore]:
    """A node's store as peer sync sees it: behind the mesh's admission."""
    async with _store(mesh.data_dir) as store:
        yield AdmittingStore(store, await MeshTrust.load(mesh, store))


async def _write_posts(store: Store, n: int = 2) -> tuple[list[SignedOp], list[SignedOp]]:
    directory = await store.write("directory", team_and_channel())
    channel = await store.write(CHANNEL_SCOPE, [post(f"{store.node_id.hex()[:10]}{i:016d}", f"message {i}")
                                                for i in range(n)])
    return directory, channel


async def _record_feed(mesh: Mesh) -> list[SignedOp]:
    """The node's "node" feed, written by its own store as sync does when it starts."""
    async with _store(mesh.data_dir) as store:
        await publish_enrolment(store, mesh, now_ms=T0_MS)
        return await store.segment(FeedId(mesh.node_key, NODE_SCOPE))


async def _authors(store: AdmittingStore | Store) -> set[bytes]:
    return {feed.author for feed in await store.heads()}


async def _one_shot(left: Store | AdmittingStore, right: Store | AdmittingStore) -> None:
    links = memory_link_pair()
    config = SessionConfig(live=False)
    await asyncio.wait_for(asyncio.gather(*(
        PeerSession(store, link, node=store.node_id, mesh=mesh_tag("field"), initiator=initiator, config=config).run()
        for store, link, initiator in ((left, links[0], True), (right, links[1], False))
    )), 30)


# -- unenrolled authors ------------------------------------------------------------------------


async def test_a_never_enrolled_keys_feeds_relayed_by_an_enrolled_peer_are_rejected_and_nothing_of_them_applied(
    authority: Mesh, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    relay = _join(authority, tmp_path / "relay")
    async with _store(tmp_path / "outsider") as outsider:  # a key of its own, never certified
        directory, channel = await _write_posts(outsider)
        outsider_key = outsider.node_id
    relayed = await _record_feed(relay)
    async with _store(relay.data_dir) as relay_store:
        await relay_store.apply(directory)  # the relay holds them: an old version, or a hostile node
        await relay_store.apply(channel)
        async with _admitting(authority) as admin:
            with caplog.at_level(logging.WARNING, logger="sync.peer"):
                await _one_shot(relay_store, admin)
            assert await _authors(admin) == {relay.node_key}
            assert await admin.store.fetchall("SELECT id FROM teams") == []
            assert await admin.store.fetchall("SELECT id FROM posts") == []
            assert await node_roles(admin.store, relay.node_key) == frozenset()  # the relay's own record got through
            assert await admin.segment(FeedId(relay.node_key, NODE_SCOPE)) == relayed
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rejected segment")]
    assert len(refusals) == 2, refusals
    assert all(f"node {outsider_key.hex()[:16]} is not enrolled in mesh 'Field team': no certificate from its "
               "authority is known for that key" in message for message in refusals)
    assert all(message.endswith("nothing of it was applied") for message in refusals)


async def test_admission_refuses_an_unenrolled_author_with_a_typed_error_naming_the_key_and_the_scope(
    authority: Mesh, tmp_path: Path,
) -> None:
    async with _store(tmp_path / "outsider") as outsider:
        directory, _ = await _write_posts(outsider)
    async with _admitting(authority) as admin:
        with pytest.raises(UnenrolledAuthorError) as refused:
            await admin.apply(directory)
        assert await _authors(admin) == set()
    assert str(refused.value) == (
        f"node {directory[0].feed.author.hex()[:16]} is not enrolled in mesh 'Field team': no certificate from its "
        "authority is known for that key, so its ops in scope 'directory' are refused (they are accepted once its "
        "'node' feed, which carries its certificate, has arrived)"
    )


async def test_an_author_is_admitted_once_its_node_record_has_been_applied_and_after_a_restart(
    authority: Mesh, tmp_path: Path,
) -> None:
    author = _join(authority, tmp_path / "author")
    record = await _record_feed(author)
    async with _store(author.data_dir) as store:
        directory, channel = await _write_posts(store)
    async with _admitting(authority) as admin:
        with pytest.raises(UnenrolledAuthorError):
            await admin.apply(channel)
        await admin.apply(record)
        await admin.apply(directory)
        await admin.apply(channel)
        assert tuple(await admin.store.fetchone("SELECT count(*) FROM posts")) == (2,)  # type: ignore[arg-type]
        assert await node_roles(admin.store, author.node_key) == frozenset()
    async with _store(authority.data_dir) as admin_store:
        reloaded = await MeshTrust.load(authority, admin_store)
        assert await reloaded.admit(channel) == channel  # the records are read back
        with pytest.raises(UnenrolledAuthorError):
            await MeshTrust(authority, admin_store).admit(channel)  # ... by load(), not by chance


async def test_an_enrolled_authors_posts_relayed_by_another_node_are_admitted_in_the_same_session(
    authority: Mesh, tmp_path: Path,
) -> None:
    relay = _join(authority, tmp_path / "relay")
    author = _join(authority, tmp_path / "author")
    for mesh in (relay, author):
        await _record_feed(mesh)
    async with _store(author.data_dir) as store:
        await _write_posts(store)
    async with _admitting(author) as author_store, _admitting(relay) as relay_store:
        await _one_shot(author_store, relay_store)  # the author's record travels first (sessions send "node" early)
    async with _admitting(relay) as relay_store, _admitting(authority) as admin:
        await _one_shot(relay_store, admin)  # the authority never meets the author
        assert await _authors(admin) == {relay.node_key, author.node_key}
        assert tuple(await admin.store.fetchone("SELECT count(*) FROM posts")) == (2,)  # type: ignore[arg-type]
        assert await admin.store.digest() == await relay_store.store.digest()


async def test_a_peer_verified_by_tls_counts_as_enrolled(authority: Mesh, tmp_path: Path) -> None:
    member = _join(authority, tmp_path / "member")
    async with _store(member.data_dir) as store:
        _, channel = await _write_posts(store)
    async with _store(authority.data_dir) as admin:
        trust = await MeshTrust.load(authority, admin)
        with pytest.raises(UnenrolledAuthorError):
            await trust.admit(channel)
        verified: list[bytes] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            verified.append(trust.verify_peer(writer.get_extra_info("ssl_object")))
            writer.write(b"welcome\n")
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=authority.server_context())
        async with server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.sockets[0].getsockname()[1], ssl=member.client_context())
            assert await reader.read(100) == b"welcome\n"
            writer.close()
        assert verified == [member.node_key]
        assert await trust.admit(channel) == channel


async def test_a_revoked_node_writing_under_a_fresh_key_is_refused_while_its_old_key_keeps_its_limits(
    authority: Mesh, tmp_path: Path,
) -> None:
    revoked = _join(authority, tmp_path / "revoked")
    async with _store(revoked.data_dir) as store:
        held, later = await _write_posts(store)
    async with _store(tmp_path / "fresh") as fresh:  # the revoked node's owner makes a new key
        fresh_ops, _ = await _write_posts(fresh)
    async with _store(authority.data_dir) as admin:
        await admin.apply(held)
        await revoke(admin, authority, revoked.node_key, "lost laptop", now_ms=T0_MS)
    async with _join_and_load(authority, tmp_path / "other") as trust:
        # the revocation names the old key: its limits decide, even where its record never arrived
        assert await trust.admit(held) == held
        assert await trust.admit(later) == []
        with pytest.raises(UnenrolledAuthorError):
            await trust.admit(fresh_ops)


@asynccontextmanager
async def _join_and_load(authority: Mesh, data_dir: Path) -> AsyncIterator[MeshTrust]:
    """A new member that has synced the authority's "mesh" feed, with its trust loaded."""
    member = _join(authority, data_dir)
    async with _store(authority.data_dir) as admin:
        mesh_feed = await admin.segment(FeedId(authority.node_key, "mesh"))
    async with _store(data_dir) as store:
        await store.apply(mesh_feed)
        yield await MeshTrust.load(member, store)


# -- false records -----------------------------------------------------------------------------


def _fields(mesh: Mesh, **changes: str) -> dict[str, object]:
    fields: dict[str, object] = dict(node_record_op(mesh.node_certificate, create_at=T0_MS).fields)
    fields.update(changes)
    return fields


def _b64(cert: object) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()  # type: ignore[attr-defined]


@pytest.mark.parametrize("lie", ["another CA", "another key", "roles", "name", "another node", "another scope",
                                 "a delete"])
async def test_a_node_record_that_is_not_its_authors_own_true_certificate_is_refused_and_not_applied(
    authority: Mesh, tmp_path: Path, lie: str,
) -> None:
    liar = _join(authority, tmp_path / "liar")
    other = _join(authority, tmp_path / "other")
    key_hex = liar.node_key.hex()
    stranger_ca = create_authority("Field team", authority.node_key, now=datetime.now(UTC))
    forged = issue_node_certificate(stranger_ca, liar.node_key, name=node_display_id(liar.node_key),
                                    now=datetime.now(UTC), roles=["hub"])
    scope, ops = NODE_SCOPE, {
        "another CA": [Create("node", key_hex, _fields(liar, certificate=_b64(forged), roles="hub"))],
        "another key": [Create("node", key_hex, _fields(liar, certificate=_b64(other.node_certificate)))],
        "roles": [Create("node", key_hex, _fields(liar, roles="hub"))],
        "name": [Create("node", key_hex, _fields(liar, name="datacenter"))],
        "another node": [Create("node", other.node_key.hex(), _fields(other))],  # even a true record of another
        "another scope": [Create("node", key_hex, _fields(liar))],
        "a delete": [Create("node", key_hex, _fields(liar)), Delete("node", key_hex)],
    }[lie]
    if lie == "another scope":
        scope = "directory"
    async with _store(liar.data_dir) as store:
        written = await store.write(scope, ops)
    async with _admitting(authority) as admin:
        with pytest.raises(EnrolmentRecordError) as refused:
            await admin.apply(written)
        assert await _authors(admin) == set()
        assert await admin.store.fetchall("SELECT id FROM mesh_nodes") == []
    expected = {
        "another CA": "does not hold a certificate of this mesh: the certificate was not issued by the authority",
        "another key": f"holds the certificate of another node ({other.node_key.hex()[:16]})",
        "roles": "states roles 'hub', but its certificate grants ''",
        "name": "states name 'datacenter', but its certificate names",
        "another node": f"wrote a node record for node {other.node_key.hex()[:16]}; a node states only its own",
        "another scope": "wrote a node record in scope 'directory'; a node states its enrolment only in its own feed",
        "a delete": "wrote a Delete of a node record; a record is stated once, by a Create, and never changed",
    }[lie]
    assert expected in str(refused.value)


# -- roles and the record itself ---------------------------------------------------------------


async def test_an_invite_for_a_hub_gives_a_hub_certificate_and_node_roles_reports_it(
    authority: Mesh, tmp_path: Path,
) -> None:
    hub = _join(authority, tmp_path / "hub", hub=True)
    member = _join(authority, tmp_path / "member")
    assert (certificate_roles(hub.node_certificate), hub.roles, member.roles) == (
        frozenset({"hub"}), frozenset({"hub"}), frozenset())
    async with _admitting(authority) as admin:
        await admin.apply(await _record_feed(hub))
        await admin.apply(await _record_feed(member))
        assert await node_roles(admin.store, hub.node_key) == frozenset({"hub"})
        assert await node_roles(admin.store, member.node_key) == frozenset()
        assert await node_roles(admin.store, bytes(32)) is None
        row = await admin.store.fetchone("SELECT name, roles FROM mesh_nodes WHERE id = ?", (hub.node_key.hex(),))
    assert tuple(row) == (node_display_id(hub.node_key), "hub")  # type: ignore[arg-type]


async def test_publishing_the_record_is_idempotent_and_states_the_nodes_certificate(authority: Mesh) -> None:
    async with _store(authority.data_dir) as store:
        assert await publish_enrolment(store, authority, now_ms=T0_MS) is True
        assert await publish_enrolment(store, authority, now_ms=T0_MS + 1) is False
        assert len(await store.segment(FeedId(authority.node_key, NODE_SCOPE))) == 1
        row = await store.fetchone("SELECT name, certificate, roles, create_at FROM mesh_nodes")
    assert tuple(row) == (  # type: ignore[arg-type]
        node_display_id(authority.node_key), _b64(authority.node_certificate), "", T0_MS)


async def test_sync_settings_of_an_enrolled_node_publish_its_record_first(authority: Mesh, tmp_path: Path) -> None:
    member = _join(authority, tmp_path / "member")
    async with open_node(member.data_dir) as node:
        settings, store = await secure_settings(node.store, node.data_dir, SyncSettings(port=0, mdns=False),
                                                 allow_unenrolled=False)
        assert isinstance(store, AdmittingStore) and settings.verify_peer is not None
        assert await node_roles(node.store, member.node_key) == frozenset()
        heads = await node.store.heads()
    assert list(heads) == [FeedId(member.node_key, NODE_SCOPE)]


async def test_the_authority_and_a_member_sync_both_records_and_the_members_posts(
    authority: Mesh, tmp_path: Path,
) -> None:
    member = _join(authority, tmp_path / "member")
    authority_record = await _record_feed(authority)
    member_record = await _record_feed(member)
    async with _store(member.data_dir) as store:
        await _write_posts(store)
    async with _admitting(authority) as admin, _admitting(member) as member_store:
        await admin.apply(member_record)  # what the lead's ordering does: records before the rest
        await member_store.apply(authority_record)
        await _one_shot(member_store, admin)
        assert tuple(await admin.store.fetchone("SELECT count(*) FROM posts")) == (2,)  # type: ignore[arg-type]
        assert {row[0] for row in await admin.store.fetchall("SELECT id FROM mesh_nodes")} == {
            authority.node_key.hex(), member.node_key.hex()}
        assert await admin.store.digest() == await member_store.store.digest()
