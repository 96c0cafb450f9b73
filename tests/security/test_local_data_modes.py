"""The data folder is private: the folder and every folder in it 0700, every file 0600, whatever
the umask, and an existing folder that was too open is tightened (edgenode/private_files.py)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import edgenode.services.users as users
from edgenode.identity import KEY_FILE, IdentityError
from edgenode.mesh import CA_KEY, MESH_DIR, MeshStateError, create_invite, init_mesh, join_mesh
from edgenode.node import open_node
from edgenode.private_files import REFUSED_IF_OPEN
from support.login_world import CheapHasher, LoginWorld, login_world
from support.served_nodes import served, settings, until
from support.server_process import edgenode_server


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", CheapHasher())


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """Every folder and file under `root` (and root itself, as "."), with its permission bits."""
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def too_open(root: Path) -> dict[str, str]:
    """Paths whose mode is not 0700 (folders) or 0600 (files), with their mode, in octal."""
    wrong = {}
    for name, mode in modes(root).items():
        path = root / name
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            wrong[name] = oct(mode)
    return wrong


async def _use_everything(world: LoginWorld) -> None:
    """Users, a session, an access token, a team, a post and an uploaded file: what makes files."""
    await world.allow_access_tokens((await world.create_user("alice"))["id"])
    alice = await world.token("alice")
    made = await world.call("POST", f"/api/v4/users/{world.users['alice']['id']}/tokens", alice,
                            json={"description": "ci"})
    assert made.status_code == 200, made.text
    team = await world.call("POST", "/api/v4/teams", world.admin_token,
                            json={"name": "field-ops", "display_name": "Field Ops", "type": "O"})
    assert team.status_code == 201, team.text
    square = await world.call("GET", f"/api/v4/teams/{team.json()['id']}/channels/name/town-square", world.admin_token)
    channel = square.json()["id"]
    upload = await world.call("POST", "/api/v4/files", world.admin_token, data={"channel_id": channel},
                              files={"files": ("notes.txt", b"field notes")})
    assert upload.status_code == 201, upload.text
    post = await world.call("POST", "/api/v4/posts", world.admin_token,
                            json={"channel_id": channel, "message": "hello", "file_ids": [upload.json()["file_infos"][0]["id"]]})
    assert post.status_code == 201, post.text


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_a_new_nodes_folder_and_files_are_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    data = tmp_path / "node"
    with umask(mask):
        async with login_world(data) as world:
            await _use_everything(world)
            names = set(modes(data))
            assert {".", KEY_FILE, "edgenode.db", "edgenode.db-wal", "edgenode.db-shm"} <= names
            assert any(name.startswith("files/") for name in names), names  # the uploaded blob and its folder
            assert too_open(data) == {}
        assert too_open(data) == {}


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_mesh_files_and_the_invite_log_are_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        mesh = init_mesh(tmp_path / "authority")
        token, _ = create_invite(mesh)
        join_mesh(tmp_path / "member", token)
        for folder in ("authority", "member"):
            assert (tmp_path / folder / "mesh").is_dir()
            assert too_open(tmp_path / folder) == {}, folder
        assert (tmp_path / "authority" / "mesh" / "invites.log").exists()


async def test_the_sync_status_file_is_private(tmp_path: Path) -> None:
    data = tmp_path / "node"
    with umask(0o000):
        async with served(data, settings(port=0)) as node:
            async def written() -> bool:
                return (data / "sync-status.json").exists()
            await until(written)
            del node
            assert too_open(data) == {}


async def test_an_existing_folder_that_was_too_open_is_tightened_on_open(tmp_path: Path) -> None:
    data = tmp_path / "node"
    async with login_world(data) as world:
        await _use_everything(world)
    for name in modes(data):
        path = data / name
        if name != KEY_FILE:  # a readable key is refused, not fixed: see the next test
            os.chmod(path, 0o777 if path.is_dir() else 0o666)
    (data / "left-behind.tmp").write_bytes(b"")
    os.chmod(data / "left-behind.tmp", 0o644)
    assert len(too_open(data)) > 5
    async with open_node(data):
        assert too_open(data) == {}


async def test_a_node_key_others_could_read_is_refused_and_left_for_the_owner_to_fix(tmp_path: Path) -> None:
    data = tmp_path / "node"
    async with open_node(data):
        pass
    os.chmod(data / KEY_FILE, 0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        async with open_node(data):
            pass
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o644


def test_a_served_node_keeps_its_folder_private_with_umask_000(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir(mode=0o777)
    os.chmod(data, 0o777)
    with umask(0o000), edgenode_server(data) as server:
        with server.client(server.admin_token) as http:
            made = http.post(f"/api/v4/users/{server.admin['id']}/tokens", json={"description": "ci"})
            assert made.status_code == 200, made.text
        assert too_open(data) == {}
    assert too_open(data) == {}


async def test_a_mesh_ca_key_others_could_read_is_refused_and_left_for_the_owner_to_fix(tmp_path: Path) -> None:
    data = tmp_path / "authority"
    init_mesh(data)
    key = data / MESH_DIR / CA_KEY
    os.chmod(key, 0o640)
    with pytest.raises(MeshStateError, match="chmod 600"):
        async with open_node(data):
            pass
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert {KEY_FILE, f"{MESH_DIR}/{CA_KEY}"} == set(REFUSED_IF_OPEN)
