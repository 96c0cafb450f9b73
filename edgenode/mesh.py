"""This node's place in its mesh: the files in the data folder, and init, invite, join, revoke.

    mesh/ca.crt     the mesh CA certificate (every node)
    mesh/ca.key     the CA's private key (the authority node only; 0600)
    mesh/node.crt   this node's certificate, for the key in node.key
    mesh/mesh.json  mesh id, name and the authority node's key, for people and scripts
    mesh/invites.log  one JSON line per invite issued (the authority node only)

Enrolment writes the folder as `mesh.partial` and renames it into place, so a node is either in
a mesh with every file, or not in one. What a running node does with it (who may connect, which
ops are admitted, its enrolment record) is edgenode/peering/trust.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import ssl
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from edgenode.config import STORE_FILE
from edgenode.identity import KEY_FILE, load_or_create_identity, node_display_id
from edgenode.ids import new_id
from edgenode.private_files import make_private_dir
from edgenode.store import Store
from sync import Signer, decode_op
from sync.errors import CertificateError, DecodeError, MeshError
from sync.mesh import (
    HUB_ROLE,
    INVITE_PREFIX,
    Authority,
    Invite,
    MeshCA,
    certificate_roles,
    check_node_certificate,
    create_authority,
    decode_invite,
    encode_invite,
    issue_node_certificate,
    node_key_pem,
)
from sync.revocation import (
    MESH_SCOPE,
    Revocation,
    Revocations,
    revocation_from_op,
    revocation_ops,
)
from sync.tls import client_context, server_context

__all__ = [
    "DEFAULT_MESH_NAME",
    "MESH_DIR",
    "Mesh",
    "MeshStateError",
    "create_invite",
    "init_mesh",
    "join_mesh",
    "known_nodes",
    "load_mesh",
    "read_invite",
    "read_revocations",
    "require_mesh",
    "resolve_node",
    "revoke",
    "write_private_file",
]

MESH_DIR = "mesh"
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
NODE_CERT = "node.crt"
MESH_JSON = "mesh.json"
INVITES_LOG = "invites.log"
DEFAULT_MESH_NAME = "edgenode mesh"
_log = logging.getLogger(__name__)
_MESH_JSON_VERSION = 1
_MAX_INVITE_FILE = 64 * 1024


class MeshStateError(MeshError):
    """This node's mesh files do not allow the operation: not enrolled, already enrolled, not the authority, ..."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- files -----------------------------------------------------------------------------------


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write `data` to a file only its owner can read (mode 0600): atomically replacing any old one,
    or, if `exclusive`, only as a new file."""
    if exclusive:
        # Straight to the final name: a temporary file plus link() would fail on FAT/exFAT (USB
        # sticks), and a token cut short by a crash is caught by its length and checksum.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise MeshStateError(f"{path} already exists; choose another file name") from None
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    # A crash mid-write can leave tmp behind with any mode; reusing it would keep that mode.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_private(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise MeshStateError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    return path.read_bytes()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class Mesh:
    """This node's enrolment: the mesh CA, its own certificate and key, and the CA key if it is the authority."""

    data_dir: Path
    ca: MeshCA
    node_certificate: x509.Certificate
    signer: Signer = field(repr=False)
    authority: Authority | None = field(default=None, repr=False)

    @property
    def node_key(self) -> bytes:
        return self.signer.public_key

    @property
    def is_authority(self) -> bool:
        return self.authority is not None

    @property
    def roles(self) -> frozenset[str]:
        """The roles this node's certificate grants ("hub", or none)."""
        return certificate_roles(self.node_certificate)

    def server_context(self) -> ssl.SSLContext:
        """The TLS context to accept peers with (TLS 1.3, client certificate from the mesh CA required)."""
        return server_context(self.ca.pem(), _pem(self.node_certificate), node_key_pem(self.signer.seed))

    def client_context(self) -> ssl.SSLContext:
        """The TLS context to connect to peers with."""
        return client_context(self.ca.pem(), _pem(self.node_certificate), node_key_pem(self.signer.seed))

    def require_authority(self) -> Authority:
        if self.authority is None:
            raise MeshStateError(
                f"this node does not hold the authority of mesh {self.ca.name!r} ({self.ca.id}): run this on "
                f"the node where `edgenode mesh init` ran (authority node {node_display_id(self.ca.authority_key)})"
            )
        return self.authority


def load_mesh(data_dir: Path) -> Mesh | None:
    """This node's mesh, or None if it has not joined one; refuses files that contradict each other."""
    folder = data_dir / MESH_DIR
    if not (folder / CA_CERT).exists():
        return None
    try:
        ca = MeshCA.from_pem((folder / CA_CERT).read_bytes())
        cert = x509.load_pem_x509_certificate((folder / NODE_CERT).read_bytes())
        node_key = check_node_certificate(cert, ca)
    except (CertificateError, ValueError) as exc:
        raise MeshStateError(f"{folder} holds an unusable certificate: {exc}") from None
    except FileNotFoundError as exc:
        raise MeshStateError(f"{folder} is incomplete ({exc.filename} is missing)") from None
    if not (data_dir / KEY_FILE).exists():
        raise MeshStateError(f"{data_dir / KEY_FILE} is missing: this node cannot act as {node_display_id(node_key)}")
    signer = load_or_create_identity(data_dir)
    if signer.public_key != node_key:
        raise MeshStateError(f"{folder / NODE_CERT} certifies node {node_display_id(node_key)}, "
                             f"but {KEY_FILE} is node {node_display_id(signer.public_key)}")
    try:
        info = json.loads((folder / MESH_JSON).read_text())
    except (OSError, ValueError) as exc:
        raise MeshStateError(f"{folder / MESH_JSON} is unreadable: {exc}") from None
    if not isinstance(info, dict) or info.get("mesh_id") != ca.id or info.get("authority_key") != ca.authority_key.hex():
        raise MeshStateError(f"{folder / MESH_JSON} does not match {folder / CA_CERT}")
    authority = None
    if (folder / CA_KEY).exists():
        try:
            authority = Authority.from_pem((folder / CA_CERT).read_bytes(), _read_private(folder / CA_KEY))
        except CertificateError as exc:
            raise MeshStateError(f"{folder / CA_KEY}: {exc}") from None
    return Mesh(data_dir, ca, cert, signer, authority)


def require_mesh(data_dir: Path) -> Mesh:
    mesh = load_mesh(data_dir)
    if mesh is None:
        raise MeshStateError(
            "this node is not in a mesh: run `edgenode mesh join TOKEN` with an invite from the mesh's "
            "authority node, or `edgenode mesh init` to start a new mesh"
        )
    return mesh


def _refuse_second_enrolment(data_dir: Path) -> None:
    mesh = load_mesh(data_dir)
    if mesh is not None:
        raise MeshStateError(
            f"this node already belongs to mesh {mesh.ca.name!r} ({mesh.ca.id}); a node joins one mesh, once: "
            "use a new data folder for another"
        )


def _enrol(data_dir: Path, ca: MeshCA, cert: x509.Certificate, *, ca_key: bytes | None = None,
           node_seed: bytes | None = None) -> None:
    """Write the mesh folder next to its final place, then rename it in: enrolment happens whole or not at all."""
    folder = data_dir / MESH_DIR
    partial = data_dir / f"{MESH_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # left by a crash; it never counted
    partial.mkdir(mode=0o700, parents=True)
    # Certificates are public, but the data folder keeps every file 0600 (edgenode/private_files.py).
    write_private_file(partial / CA_CERT, ca.pem())
    write_private_file(partial / NODE_CERT, _pem(cert))
    write_private_file(partial / MESH_JSON, (json.dumps({
        "version": _MESH_JSON_VERSION, "mesh_id": ca.id, "name": ca.name,
        "authority_key": ca.authority_key.hex(), "authority_node": node_display_id(ca.authority_key),
    }, indent=2) + "\n").encode())
    if ca_key is not None:
        write_private_file(partial / CA_KEY, ca_key)
    if node_seed is not None:
        # Before the rename: after a crash here the node has the new key but no mesh, and joining
        # again with the same token finds it fresh (the new key has written nothing).
        write_private_file(data_dir / KEY_FILE, node_seed)
    if folder.exists():
        if any(folder.iterdir()):
            raise MeshStateError(f"{folder} exists but holds no mesh (no {CA_CERT}); move it away and try again")
        folder.rmdir()
    os.replace(partial, folder)


# -- init, invite, join ----------------------------------------------------------------------


def init_mesh(data_dir: Path, name: str = DEFAULT_MESH_NAME, *, now: datetime | None = None) -> Mesh:
    """Create a mesh whose authority is this node: a new CA, and a certificate for this node's key."""
    now = now or _utcnow()
    make_private_dir(data_dir)
    _refuse_second_enrolment(data_dir)
    signer = load_or_create_identity(data_dir)
    try:
        authority = create_authority(name, signer.public_key, now=now)
    except CertificateError as exc:
        raise MeshStateError(str(exc)) from None
    cert = issue_node_certificate(authority, signer.public_key, name=node_display_id(signer.public_key), now=now)
    _enrol(data_dir, authority.ca, cert, ca_key=authority.key_pem())
    return require_mesh(data_dir)


def create_invite(mesh: Mesh, *, hub: bool = False, now: datetime | None = None) -> tuple[str, Invite]:
    """A token for one new node: a fresh node key and its certificate, marked as a hub's if `hub`
    (entitled to every feed). Recorded in mesh/invites.log."""
    now = now or _utcnow()
    authority = mesh.require_authority()
    signer = Signer.generate()
    display = node_display_id(signer.public_key)
    roles = [HUB_ROLE] if hub else []
    certificate = issue_node_certificate(authority, signer.public_key, name=display, now=now, roles=roles)
    invite = Invite(mesh.ca, signer.seed, certificate)
    record = {"node": display, "key": signer.public_key.hex(), "issued_at": now.isoformat(timespec="seconds"),
              "serial": format(invite.node_certificate.serial_number, "x"), "roles": roles}
    fd = os.open(mesh.data_dir / MESH_DIR / INVITES_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(fd, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    return encode_invite(invite), invite


def read_invite(argument: str) -> str:
    """The token text from a `mesh join` argument: the token itself, `@FILE`, or the path of a file holding it."""
    path: Path | None = None
    if argument.startswith("@"):
        path = Path(argument[1:]).expanduser()
    elif not argument.strip().startswith(INVITE_PREFIX) and Path(argument).expanduser().is_file():
        path = Path(argument).expanduser()
    if path is None:
        return argument
    try:
        with open(path, "rb") as file:
            data = file.read(_MAX_INVITE_FILE + 1)
    except OSError as exc:
        raise MeshStateError(f"cannot read the invite file {path}: {exc.strerror}") from None
    if len(data) > _MAX_INVITE_FILE:
        raise MeshStateError(f"{path} is too large to be an invite token")
    return data.decode("utf-8", errors="replace")


def _authored_ops(data_dir: Path, key: bytes) -> int:
    """How many ops `key` has written in this folder's store (sequence numbers count from 1 in each feed)."""
    path = data_dir / STORE_FILE
    if not path.exists():
        return 0
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        conn.execute("PRAGMA query_only = 1")
        row = conn.execute("SELECT coalesce(sum(seq), 0) FROM feeds WHERE author = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # a store that never finished its first migration holds nothing
        return 0
    finally:
        conn.close()
    return int(row[0])


def _holds_record_of(data_dir: Path, key: bytes) -> bool:
    """Whether this folder's store holds the enrolment record of node `key` (it learned of it by sync)."""
    path = data_dir / STORE_FILE
    if not path.exists():
        return False
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        conn.execute("PRAGMA query_only = 1")
        return conn.execute("SELECT 1 FROM mesh_nodes WHERE id = ? AND _deleted = 0", (key.hex(),)).fetchone() is not None
    except sqlite3.OperationalError:  # no such table yet: a store that never finished its first migration
        return False
    finally:
        conn.close()


def join_mesh(data_dir: Path, token: str, *, now: datetime | None = None) -> Mesh:
    """Enrol this node with an invite token; its node key becomes the invite's.

    Only a fresh node may join: ops already written were signed by the old key, which the mesh
    never certified, so the node would have a history no peer accepts as enrolled.
    """
    now = now or _utcnow()
    _refuse_second_enrolment(data_dir)
    invite = decode_invite(token, now=now)
    # An invite is for one node. A token that enrolled a node before cannot be recalled (it works
    # offline); what can be seen here is a node of that key already stating its enrolment.
    if _holds_record_of(data_dir, invite.node_key):
        raise MeshStateError(
            f"node {node_display_id(invite.node_key)} of this invite is already enrolled in the mesh (this node holds "
            "its enrolment record): an invite enrols one node, once; ask the authority for a new one"
        )
    if (data_dir / KEY_FILE).exists():
        current = load_or_create_identity(data_dir)
        written = _authored_ops(data_dir, current.public_key)
        if written and current.public_key != invite.node_key:
            raise MeshStateError(
                f"this node has already written {written} ops as node {node_display_id(current.public_key)}; "
                "only a fresh node can join (its key is replaced by the invite's): join from a new data folder"
            )
    make_private_dir(data_dir)
    _enrol(data_dir, invite.ca, invite.node_certificate, node_seed=invite.node_seed)
    return require_mesh(data_dir)


# -- revocation ------------------------------------------------------------------------------

# Only the authority's own feed of scope "mesh" is read: any node could write a "revocation" row
# in its own feed, so the materialized table is not evidence of who wrote it.
_AUTHORITY_OPS = (
    "SELECT o.body FROM ops o JOIN feeds f ON f.id = o.feed WHERE f.author = ? AND f.scope = ? ORDER BY o.seq"
)


def _revocations_of(bodies: Iterable[bytes]) -> Revocations:
    found = []
    for body in bodies:
        try:
            revocation = revocation_from_op(decode_op(body))
        except DecodeError:  # an op of a newer version; whatever it says, it is not a revocation we know
            continue
        if revocation is not None:
            found.append(revocation)
    return Revocations.of(found)


async def read_revocations(store: Store, authority_key: bytes) -> Revocations:
    """Every revocation the mesh authority has issued that this node holds."""
    rows = await store.fetchall(_AUTHORITY_OPS, (authority_key, MESH_SCOPE))
    return _revocations_of(row[0] for row in rows)


async def known_nodes(store: Store, mesh: Mesh) -> set[bytes]:
    """Node keys this node knows: authors of ops it holds, invites it issued, and itself."""
    keys = {row[0] for row in await store.fetchall("SELECT DISTINCT author FROM feeds")}
    keys.update({mesh.node_key, mesh.ca.authority_key})
    log = mesh.data_dir / MESH_DIR / INVITES_LOG
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                keys.add(bytes.fromhex(json.loads(line)["key"]))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged line names nobody
    return keys


def resolve_node(text: str, known: Iterable[bytes]) -> bytes:
    """A node key from its 64-character hex key or its display id (which must be one of `known`)."""
    wanted = text.strip().lower()
    if len(wanted) == 64:
        try:
            return bytes.fromhex(wanted)
        except ValueError:
            pass
    matches = {key for key in known if node_display_id(key) == wanted}
    if len(matches) != 1:
        raise MeshStateError(
            f"no node known here has id {text!r}; give its 64-character key instead "
            "(`edgenode mesh show` on that node prints it)"
        )
    return matches.pop()


async def revoke(store: Store, mesh: Mesh, node_key: bytes, reason: str = "", *, now_ms: int) -> Revocation:
    """Revoke a node: an op of the authority's "mesh" feed naming, per feed of that node, the last op it holds."""
    mesh.require_authority()
    if store.node_id != mesh.ca.authority_key:
        raise MeshStateError("this node's key is not the mesh authority's node key; revocations would not count")
    display = node_display_id(node_key)
    if node_key == mesh.ca.authority_key:
        raise MeshStateError("the mesh authority cannot revoke its own node")
    if node_key in await read_revocations(store, mesh.ca.authority_key):
        raise MeshStateError(f"node {display} is already revoked")
    last_seqs = {feed.scope: head.seq for feed, head in (await store.heads()).items() if feed.author == node_key}
    revocation = Revocation(node_key, now_ms, reason, last_seqs)
    await store.write(MESH_SCOPE, revocation_ops(revocation, iter(new_id, "")))
    return revocation
