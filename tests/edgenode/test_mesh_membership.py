"""A node's mesh membership in its data folder, and the mesh checks it makes over its store:
enrolment with one one-way token, revocation by the authority only, and links refused to revoked nodes."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from support.builders import post, team_and_channel

from crdt import Create
from edgenode.config import STORE_FILE
from edgenode.identity import KEY_FILE, load_or_create_identity, node_display_id
from edgenode.mesh import (
    Mesh,
    MeshStateError,
    create_invite,
    init_mesh,
    join_mesh,
    known_nodes,
    load_mesh,
    read_invite,
    read_revocations,
    require_mesh,
    resolve_node,
    revoke,
    write_private_file,
)
from edgenode.peering.trust import MeshTrust
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import GENESIS, FeedHead, FeedId, SignedOp, UnknownAuthorError
from sync.errors import RevokedError
from sync.mesh import decode_invite
from sync.revocation import MESH_SCOPE, Revocation, Revocations

T0_MS = 1_800_000_000_000


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def authority(tmp_path: Path) -> Mesh:
    return init_mesh(tmp_path / "admin", "Field team")


def _join(authority: Mesh, data_dir: Path) -> Mesh:
    token, _ = create_invite(authority)
    return join_mesh(data_dir, token)


@asynccontextmanager
async def _store(data_dir: Path) -> AsyncIterator[Store]:
    async with Store(data_dir / STORE_FILE, SCHEMA, load_or_create_identity(data_dir)) as store:
        yield store


async def _feed(store: Store, author: bytes, scope: str) -> list[SignedOp]:
    return await store.segment(FeedId(author, scope))


# -- init, invite, join ----------------------------------------------------------------------


def test_init_makes_this_node_the_authority_with_a_private_ca_key(authority: Mesh) -> None:
    folder = authority.data_dir / "mesh"
    node_key = load_or_create_identity(authority.data_dir).public_key
    assert sorted(p.name for p in folder.iterdir()) == ["ca.crt", "ca.key", "mesh.json", "node.crt"]
    assert (_mode(folder), _mode(folder / "ca.key")) == (0o700, 0o600)
    assert json.loads((folder / "mesh.json").read_text()) == {
        "version": 1, "mesh_id": authority.ca.id, "name": "Field team",
        "authority_key": node_key.hex(), "authority_node": node_display_id(node_key),
    }
    assert (authority.is_authority, authority.node_key, authority.ca.authority_key) == (True, node_key, node_key)


def test_join_adopts_the_invites_node_key_and_holds_no_ca_key(authority: Mesh, tmp_path: Path) -> None:
    token, invite = create_invite(authority)
    member = join_mesh(tmp_path / "member", token)
    assert sorted(p.name for p in (tmp_path / "member" / "mesh").iterdir()) == ["ca.crt", "mesh.json", "node.crt"]
    assert (tmp_path / "member" / KEY_FILE).read_bytes() == invite.node_seed
    assert _mode(tmp_path / "member" / KEY_FILE) == 0o600
    assert (member.is_authority, member.node_key, member.ca.id) == (False, invite.node_key, authority.ca.id)
    assert member.ca.authority_key == authority.node_key


def test_every_invite_is_a_new_node_and_is_logged_on_the_authority(authority: Mesh) -> None:
    _, first = create_invite(authority)
    _, second = create_invite(authority)
    lines = [json.loads(line) for line in (authority.data_dir / "mesh" / "invites.log").read_text().splitlines()]
    assert [(r["node"], r["key"]) for r in lines] == [
        (node_display_id(first.node_key), first.node_key.hex()), (node_display_id(second.node_key), second.node_key.hex()),
    ]


async def test_a_node_that_has_written_ops_cannot_join(authority: Mesh, tmp_path: Path) -> None:
    old = tmp_path / "old"
    async with _store(old) as store:
        await store.write("directory", team_and_channel())
    key_before = (old / KEY_FILE).read_bytes()
    token, _ = create_invite(authority)
    with pytest.raises(MeshStateError) as refused:
        join_mesh(old, token)
    assert str(refused.value) == (
        f"this node has already written 2 ops as node {node_display_id(load_or_create_identity(old).public_key)}; "
        "only a fresh node can join (its key is replaced by the invite's): join from a new data folder"
    )
    assert ((old / KEY_FILE).read_bytes(), load_mesh(old)) == (key_before, None)


async def test_a_node_that_has_only_received_ops_is_still_fresh_and_may_join(authority: Mesh, tmp_path: Path) -> None:
    async with _store(authority.data_dir) as admin:
        written = await admin.write("directory", team_and_channel())
    async with _store(tmp_path / "new") as store:
        await store.apply(written)
    assert _join(authority, tmp_path / "new").ca.id == authority.ca.id


def test_a_node_joins_one_mesh_once(authority: Mesh, tmp_path: Path) -> None:
    member = _join(authority, tmp_path / "member")
    message = (f"this node already belongs to mesh 'Field team' ({authority.ca.id}); a node joins one mesh, once: "
               "use a new data folder for another")
    with pytest.raises(MeshStateError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        _join(authority, member.data_dir)
    with pytest.raises(MeshStateError, match="^this node already belongs to mesh 'Field team'"):
        init_mesh(member.data_dir)


def test_a_member_cannot_invite(authority: Mesh, tmp_path: Path) -> None:
    member = _join(authority, tmp_path / "member")
    with pytest.raises(MeshStateError) as refused:
        create_invite(member)
    assert str(refused.value) == (
        f"this node does not hold the authority of mesh 'Field team' ({authority.ca.id}): run this on the node "
        f"where `edgenode mesh init` ran (authority node {node_display_id(authority.node_key)})"
    )


def test_a_folder_left_half_written_by_a_crash_does_not_count(authority: Mesh, tmp_path: Path) -> None:
    data_dir = tmp_path / "member"
    (data_dir / "mesh.partial").mkdir(parents=True)
    (data_dir / "mesh.partial" / "ca.crt").write_bytes(authority.ca.pem())
    assert load_mesh(data_dir) is None
    assert _join(authority, data_dir).ca.id == authority.ca.id
    assert not (data_dir / "mesh.partial").exists()


def test_mesh_files_that_contradict_each_other_are_refused(authority: Mesh, tmp_path: Path) -> None:
    member = _join(authority, tmp_path / "member")
    (member.data_dir / KEY_FILE).unlink()
    replaced = load_or_create_identity(member.data_dir).public_key
    with pytest.raises(MeshStateError, match=(
        f"^{member.data_dir / 'mesh' / 'node.crt'} certifies node {node_display_id(member.node_key)}, "
        f"but node.key is node {node_display_id(replaced)}$"
    )):
        load_mesh(member.data_dir)


def test_a_ca_key_readable_by_others_is_refused(authority: Mesh) -> None:
    ca_key = authority.data_dir / "mesh" / "ca.key"
    ca_key.chmod(0o644)
    with pytest.raises(MeshStateError, match=r"ca\.key is readable by other users \(mode 644\); run: chmod 600 "):
        load_mesh(authority.data_dir)


def test_a_node_outside_any_mesh_is_told_how_to_join(tmp_path: Path) -> None:
    with pytest.raises(MeshStateError, match=r"^this node is not in a mesh: run `edgenode mesh join TOKEN`"):
        require_mesh(tmp_path)


def test_the_join_argument_is_the_token_a_file_or_an_at_file(authority: Mesh, tmp_path: Path) -> None:
    token, _ = create_invite(authority)
    file = tmp_path / "invite.txt"
    file.write_text(token + "\n")
    assert read_invite(token) == token
    assert read_invite(f"@{file}") == token + "\n"
    assert read_invite(str(file)) == token + "\n"
    assert read_invite("not-a-file-or-token") == "not-a-file-or-token"  # decode_invite will say why
    with pytest.raises(MeshStateError, match=f"^cannot read the invite file {tmp_path / 'missing'}: No such file"):
        read_invite(f"@{tmp_path / 'missing'}")


def test_the_token_printed_by_invite_decodes_to_a_certificate_of_this_mesh(authority: Mesh) -> None:
    token, invite = create_invite(authority)
    assert decode_invite(token, now=invite.node_certificate.not_valid_before_utc).node_key == invite.node_key


# -- revocation ------------------------------------------------------------------------------


async def test_revocation_names_the_last_op_the_authority_holds_per_feed_and_limits_every_replica(
    authority: Mesh, tmp_path: Path,
) -> None:
    revoked = _join(authority, tmp_path / "revoked")
    other = _join(authority, tmp_path / "other")
    async with _store(revoked.data_dir) as store:
        early = await store.write("directory", team_and_channel())
        late = await store.write("directory", [post("p" * 26, "written after the authority last synced")])
        elsewhere = await store.write("channel:x", [Create("team", "u" * 26, {"name": "elsewhere"})])
    async with _store(authority.data_dir) as admin:
        await admin.apply(early)  # the authority has seen ops 1 and 2 of one feed, nothing else
        revocation = await revoke(admin, authority, revoked.node_key, "lost laptop", now_ms=T0_MS)
        mesh_ops = await _feed(admin, authority.node_key, MESH_SCOPE)
    assert revocation == Revocation(revoked.node_key, T0_MS, "lost laptop", {"directory": 2})

    async with _store(other.data_dir) as store:
        await store.apply(early + late)  # applied before the revocation arrived
        await store.apply(elsewhere)
        trust = MeshTrust(other, store)
        assert await trust.is_revoked(revoked.node_key) is False
        await store.apply(mesh_ops)
        assert await trust.is_revoked(revoked.node_key) is True
        assert await trust.admit(early + late) == early
        assert await trust.admit(elsewhere) == []
        assert await trust.retractions() == {
            FeedId(revoked.node_key, "directory"): 2, FeedId(revoked.node_key, "channel:x"): 0,
        }
        row = await store.fetchone("SELECT node_key, reason, last_seqs FROM revocations")
    assert tuple(row) == (revoked.node_key.hex(), "lost laptop", '{"directory":2}')  # type: ignore[arg-type]


async def test_only_the_authoritys_revocations_count(authority: Mesh, tmp_path: Path) -> None:
    forger = _join(authority, tmp_path / "forger")
    victim = _join(authority, tmp_path / "victim")
    forged_revocation = Create("revocation", "f" * 26, {"node_key": victim.node_key.hex(), "last_seqs": {}})
    async with _store(forger.data_dir) as store:
        in_mesh_scope = await store.write(MESH_SCOPE, [forged_revocation])
        elsewhere = await store.write("directory", [Create("revocation", "g" * 26, {"node_key": victim.node_key.hex()})])
    async with _store(victim.data_dir) as store:
        trust = MeshTrust(victim, store)
        with pytest.raises(UnknownAuthorError, match="^node [0-9a-f]{16} wrote in scope 'mesh', which only the mesh"):
            await trust.admit(in_mesh_scope)
        await store.apply(in_mesh_scope)  # even when applied without the check, as today's store does
        await store.apply(elsewhere)
        assert await read_revocations(store, authority.node_key) == Revocations()
        assert await trust.is_revoked(victim.node_key) is False


async def test_revoke_is_refused_off_the_authority_for_the_authority_itself_and_twice(
    authority: Mesh, tmp_path: Path,
) -> None:
    member = _join(authority, tmp_path / "member")
    async with _store(member.data_dir) as store:
        with pytest.raises(MeshStateError, match="^this node does not hold the authority of mesh"):
            await revoke(store, member, authority.node_key, now_ms=T0_MS)
    async with _store(authority.data_dir) as admin:
        with pytest.raises(MeshStateError, match="^the mesh authority cannot revoke its own node$"):
            await revoke(admin, authority, authority.node_key, now_ms=T0_MS)
        await revoke(admin, authority, member.node_key, now_ms=T0_MS)
        with pytest.raises(MeshStateError, match=f"^node {node_display_id(member.node_key)} is already revoked$"):
            await revoke(admin, authority, member.node_key, now_ms=T0_MS)


async def test_a_node_to_revoke_is_named_by_display_id_or_hex_key(authority: Mesh, tmp_path: Path) -> None:
    _, invite = create_invite(authority)  # invited, never seen since: known from the invites log
    async with _store(authority.data_dir) as admin:
        known = await known_nodes(admin, authority)
    assert resolve_node(node_display_id(invite.node_key), known) == invite.node_key
    assert resolve_node(invite.node_key.hex().upper(), ()) == invite.node_key
    with pytest.raises(MeshStateError, match="^no node known here has id 'nobody'; give its 64-character key"):
        resolve_node("nobody", known)


# -- links -----------------------------------------------------------------------------------


async def test_a_link_between_enrolled_nodes_verifies_and_a_revoked_node_is_refused(
    authority: Mesh, tmp_path: Path,
) -> None:
    member = _join(authority, tmp_path / "member")
    async with _store(authority.data_dir) as admin:
        trust = await MeshTrust.load(authority, admin)
        verdicts: list[bytes | Exception] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                verdicts.append(trust.verify_peer(writer.get_extra_info("ssl_object")))
                writer.write(b"welcome\n")
            except RevokedError as exc:
                verdicts.append(exc)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=authority.server_context())
        port = server.sockets[0].getsockname()[1]

        async def greeting() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=member.client_context())
            try:
                return await reader.read(100)
            finally:
                writer.close()

        async with server:
            before = await greeting()
            await revoke(admin, authority, member.node_key, now_ms=T0_MS)
            trust.on_heads(await admin.heads())  # what store.subscribe(trust.on_heads) does after the commit
            assert trust.refreshing is not None
            await trust.refreshing
            after = await greeting()
    assert (before, after) == (b"welcome\n", b"")
    assert verdicts[0] == member.node_key
    assert isinstance(verdicts[1], RevokedError)
    assert str(verdicts[1]) == (
        f"node {node_display_id(member.node_key)} was revoked by the mesh authority; refusing the link"
    )


async def test_only_the_authoritys_mesh_feed_advancing_reloads_the_revocations(authority: Mesh, tmp_path: Path) -> None:
    async with _store(authority.data_dir) as admin:
        trust = MeshTrust(authority, admin)
        trust.on_heads({FeedId(authority.node_key, "directory"): FeedHead(1, GENESIS)})
        assert trust.refreshing is None
        trust.on_heads({FeedId(authority.node_key, MESH_SCOPE): FeedHead(1, GENESIS)})
        assert await trust.refreshing == Revocations()


def test_an_invite_file_is_private_and_never_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "invite.token"
    write_private_file(target, b"edgenode-invite:abc\n", exclusive=True)
    assert (target.read_bytes(), _mode(target)) == (b"edgenode-invite:abc\n", 0o600)
    with pytest.raises(MeshStateError, match=f"^{target} already exists; choose another file name$"):
        write_private_file(target, b"other", exclusive=True)
    assert target.read_bytes() == b"edgenode-invite:abc\n"
