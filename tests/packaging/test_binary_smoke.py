"""The built binary runs with no Python on PATH (`env -i PATH=/usr/bin:/bin`): an operator's laptop.

Two real nodes, both the binary: one starts a mesh and is served, a post is made through its API;
the second joins with an invite token, is served, and receives the post by peer sync."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from support.server_process import ADMIN_PASSWORD, edgenode_server, free_port

from support.binary import BARE_ENV, Build

pytestmark = pytest.mark.slow


def _post_through_the_api(http: httpx.Client) -> tuple[str, str]:
    team = http.post("/api/v4/teams", json={"name": "field", "display_name": "Field", "type": "O"})
    assert team.status_code == 201, team.text
    channel = http.post("/api/v4/channels", json={"team_id": team.json()["id"], "name": "ops",
                                                   "display_name": "Ops", "type": "O"})
    assert channel.status_code == 201, channel.text
    post = http.post("/api/v4/posts", json={"channel_id": channel.json()["id"], "message": "made by the binary"})
    assert post.status_code == 201, post.text
    return channel.json()["id"], post.json()["id"]


def _info(build: Build, data: Path) -> dict[str, str]:
    lines = build.run("info", "--data", str(data)).stdout.splitlines()
    return dict(line.split(": ", 1) for line in lines)


def test_two_binary_nodes_set_up_by_token_sync_a_post(build: Build, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert "(commit " in build.run("--version").stdout
    mesh = build.run("mesh", "init", "--data", str(first)).stdout.strip()
    assert mesh.startswith("mesh: ")
    sync_port = free_port()
    sync = ("--sync-host", "127.0.0.1", "--no-mdns")
    with edgenode_server(first, command=(str(build.onefile),), env=BARE_ENV,
                         extra_args=(*sync, "--sync-port", str(sync_port))) as served:
        with served.client(served.admin_token) as http:
            channel_id, post_id = _post_through_the_api(http)
        info = _info(build, first)
        assert info["node"] and int(info["ops"]) > 0 and info["data"] == str(first)

        token = tmp_path / "second.token"
        build.run("mesh", "invite", "--data", str(first), "--out", str(token))
        assert build.run("mesh", "join", "--data", str(second), f"@{token}").stdout.strip() == mesh
        with edgenode_server(second, command=(str(build.onefile),), env=BARE_ENV, admin=None,
                             extra_args=(*sync, "--sync-port", str(free_port()), "--peer", f"127.0.0.1:{sync_port}"),
                             ) as joined:
            with joined.client() as http:
                deadline = time.monotonic() + 30
                while True:  # the admin's account arrives with the directory feed, the post with the channel's
                    login = http.post("/api/v4/users/login", json={"login_id": "admin", "password": ADMIN_PASSWORD})
                    if login.status_code == 200:
                        got = http.get(f"/api/v4/posts/{post_id}", headers={"Authorization": f"Bearer {login.headers['Token']}"})
                        if got.status_code == 200:
                            break
                    assert time.monotonic() < deadline, f"the post did not reach the second node:\n{joined.log_tail()}"
                    time.sleep(0.2)  # polling for the sync, not timing it
            assert got.json()["message"] == "made by the binary" and got.json()["channel_id"] == channel_id
    assert "ops" in _info(build, second)


def test_the_one_folder_build_runs_too(build: Build, tmp_path: Path) -> None:
    done = build.run("mesh", "init", "--data", str(tmp_path / "node"), executable=build.onedir)
    assert done.stdout.startswith("mesh: ")


def test_a_bad_command_is_one_line_and_a_non_zero_exit(build: Build, tmp_path: Path) -> None:
    done = build.run("info", "--data", str(tmp_path / "nothing-here"), check=False)
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_build_carries_every_data_file_of_our_packages_and_edgenodes_metadata(build: Build) -> None:
    """The web UI (edgenode/web/, static files) and any other package data must be inside the binary:
    the one-folder build shows what both builds carry."""
    inside = build.onedir.parent / "_internal"
    root = Path(__file__).resolve().parents[2]
    for package in ("edgenode", "sync", "crdt"):
        for path in (root / package).rglob("*"):
            if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts:
                assert (inside / path.relative_to(root)).is_file(), f"{path.relative_to(root)} is not in the build"
    assert list(inside.glob("edgenode*-info")), "edgenode's metadata (importlib.metadata.version) is missing"
    assert (inside / "edgenode" / "_build.json").is_file()
