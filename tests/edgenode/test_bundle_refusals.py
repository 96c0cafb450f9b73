"""A bundle that is not whole, authentic, for this mesh and this node, within limits, and from
authors the mesh accepts is refused with a one-line reason and a non-zero exit: nothing applied."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives.serialization import Encoding
from support.bundle_mesh import BundleMesh, bundle_mesh, cli_run, digest, holds_post, on_node

from edgenode.identity import load_or_create_identity, node_display_id
from edgenode.mesh import Mesh, require_mesh, revoke
from edgenode.node import Node
from edgenode.store import wall_clock_ms
from sync.bundle_crypto import seal_plain
from sync.bundle_format import BundleHeader, BundleWriter


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> BundleMesh:
    return bundle_mesh(tmp_path_factory.mktemp("refusals"))


@pytest.fixture(scope="module")
def public(mesh: BundleMesh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    stick = tmp_path_factory.mktemp("stick") / "public.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("a"), "--out", stick).exit_code == 0
    return stick


def _node_id(data_dir: Path) -> str:
    return node_display_id(load_or_create_identity(data_dir).public_key)


def _refused(mesh: BundleMesh, stick: Path, reason: str, into: str = "b", *extra: str) -> None:
    before = digest(mesh.dir(into))
    result = cli_run("bundle", "import", "--data", mesh.dir(into), stick, *extra)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and reason in lines[0], result.output
    assert digest(mesh.dir(into)) == before


def test_a_tampered_bundle_is_refused(mesh: BundleMesh, public: Path, tmp_path: Path) -> None:
    data = bytearray(public.read_bytes())
    data[len(data) // 2] ^= 0x40
    stick = tmp_path / "tampered.bundle"
    stick.write_bytes(bytes(data))
    before = digest(mesh.dir("b"))
    result = cli_run("bundle", "import", "--data", mesh.dir("b"), stick)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert digest(mesh.dir("b")) == before
    assert not holds_post(mesh.dir("b"), mesh.posts["public"])


def test_a_tampered_signature_is_refused(mesh: BundleMesh, public: Path, tmp_path: Path) -> None:
    data = public.read_bytes()
    stick = tmp_path / "resigned.bundle"
    stick.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    _refused(mesh, stick, "does not match its exporter's signature")


def test_a_truncated_bundle_is_refused(mesh: BundleMesh, public: Path, tmp_path: Path) -> None:
    stick = tmp_path / "cut.bundle"
    stick.write_bytes(public.read_bytes()[:-1000])
    _refused(mesh, stick, "the copy is incomplete")


def test_the_command_as_users_run_it_says_why_in_one_line_on_stderr_and_exits_1(
        mesh: BundleMesh, public: Path, tmp_path: Path) -> None:
    stick = tmp_path / "cut.bundle"
    stick.write_bytes(public.read_bytes()[: len(public.read_bytes()) // 2])
    before = digest(mesh.dir("b"))
    done = subprocess.run([sys.executable, "-m", "edgenode", "bundle", "import", "--data", str(mesh.dir("b")),
                           str(stick)], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: the bundle ends inside"), done.stderr
    assert digest(mesh.dir("b")) == before


def test_an_oversized_bundle_is_refused_before_it_is_read(mesh: BundleMesh, public: Path) -> None:
    _refused(mesh, public, "limit", "b", "--max-size", str(public.stat().st_size - 1))


def test_another_meshs_bundle_is_refused(mesh: BundleMesh, tmp_path: Path) -> None:
    stick = tmp_path / "foreign.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("f"), "--out", stick).exit_code == 0
    _refused(mesh, stick, "is from mesh")


def test_a_bundle_for_another_node_is_refused(mesh: BundleMesh, tmp_path: Path) -> None:
    stick = tmp_path / "for-d.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("a"), "--for", _node_id(mesh.dir("d")), "--out", stick).exit_code == 0
    _refused(mesh, stick, f"is for node {_node_id(mesh.dir('d'))}, not this node")


def test_a_decompression_bomb_is_refused(mesh: BundleMesh, tmp_path: Path) -> None:
    authority = require_mesh(mesh.dir("a"))
    stick = tmp_path / "bomb.bundle"
    wrap, sealer = seal_plain()
    header = BundleHeader(authority.ca.id, authority.node_key, authority.node_certificate.public_bytes(Encoding.DER),
                          None, wall_clock_ms(), wrap)
    with open(stick, "wb") as out:
        writer = BundleWriter(out, header, sealer, authority.signer)
        bomb = bytes([5]) + zstandard.ZstdCompressor().compress(bytes(300 * 1024 * 1024))  # a blob chunk of zeros
        writer._emit(len(bomb).to_bytes(4, "big") + bomb)
        writer.finish()
    assert stick.stat().st_size < 100_000
    _refused(mesh, stick, "decompression bomb")


def test_a_bundle_carrying_a_revoked_authors_ops_is_refused(mesh: BundleMesh, tmp_path: Path) -> None:
    # E holds D's ops (from D's bundle); the authority then revokes D, having seen none of them, and
    # B learns of it; E's next bundle still carries D's ops, which B must refuse
    from_d = tmp_path / "from-d.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("d"), "--out", from_d).exit_code == 0
    assert cli_run("bundle", "import", "--data", mesh.dir("e"), from_d).exit_code == 0
    d_key = load_or_create_identity(mesh.dir("d")).public_key
    authority: Mesh = require_mesh(mesh.dir("a"))

    async def revoke_d(node: Node) -> None:
        await revoke(node.store, authority, d_key, "lost laptop", now_ms=wall_clock_ms())
    on_node(mesh.dir("a"), revoke_d)
    news = tmp_path / "revocation.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("a"), "--out", news).exit_code == 0
    into_b = cli_run("bundle", "import", "--data", mesh.dir("b"), news)
    assert into_b.exit_code == 0, into_b.output

    from_e = tmp_path / "from-e.bundle"
    assert cli_run("bundle", "export", "--data", mesh.dir("e"), "--out", from_e).exit_code == 0
    _refused(mesh, from_e, "was revoked by the mesh authority")
    _refused(mesh, from_d, "was revoked by the mesh authority")  # and D's own, by its exporter
