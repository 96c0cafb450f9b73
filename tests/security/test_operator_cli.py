"""The operator's `edgenode` command, run as real processes: one owner per data folder, one-line errors,
commands that create nothing where there is no node, and a status that tells the truth."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from support.server_process import REPO, edgenode_server, free_port

from edgenode.config import DATA_ENV, STORE_FILE
from edgenode.data_lock import LOCK_FILE
from edgenode.identity import load_or_create_identity, node_display_id

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment with no inherited data folder and a private default one."""
    environ = {k: v for k, v in os.environ.items() if k != DATA_ENV}
    environ.update(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return environ


def edgenode(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgenode", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed; fails unless it printed exactly one line to stderr, none to stdout."""
    assert done.returncode != 0, done
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)  # polling a separate process, not timing anything


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# -- one server per data folder ----------------------------------------------------------------


def test_a_second_serve_on_the_same_folder_exits_with_one_line_and_the_first_keeps_serving(
        tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "node"
    with edgenode_server(data) as first:
        with first.client(first.admin_token) as http:
            team = http.post("/api/v4/teams", json={"name": "ops", "display_name": "Ops", "type": "O"})
            assert team.status_code == 201, team.text
        second = edgenode(env, "serve", "--data", str(data), "--port", str(free_port()))
        line = one_error_line(second)
        assert line == (f"Error: the node in {data} is already in use: serving (pid {first.process.pid}); "
                        "one process at a time may own a data folder")
        assert first.process.poll() is None
        with first.client(first.admin_token) as http:
            assert http.get("/api/v4/system/ping").status_code == 200
            assert http.get(f"/api/v4/teams/{team.json()['id']}").json()["name"] == "ops"
            made = http.post("/api/v4/teams", json={"name": "ops2", "display_name": "Ops 2", "type": "O"})
            assert made.status_code == 201, made.text


def test_of_three_serves_started_at_once_on_one_folder_exactly_one_serves(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "node"
    ports = [free_port() for _ in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "edgenode", "serve", "--data", str(data), "--port", str(port)],
                              env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for port in ports]
    try:
        until(lambda: sum(proc.poll() is not None for proc in procs) == 2)
        (serving,) = [(proc, port) for proc, port in zip(procs, ports) if proc.poll() is None]
        until(lambda: _listening(serving[1]))
        assert httpx.get(f"http://127.0.0.1:{serving[1]}/api/v4/system/ping", timeout=5).status_code == 200
        for proc in procs:
            if proc is not serving[0]:
                _, err = proc.communicate(timeout=5)
                assert proc.returncode == 1
                (line,) = err.splitlines()
                assert line.startswith(f"Error: the node in {data} is already in use: serving (pid ")
        assert serving[0].poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.communicate(timeout=15)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_a_one_shot_sync_and_a_mesh_join_are_refused_while_the_node_is_served(tmp_path: Path,
                                                                              env: dict[str, str]) -> None:
    data = tmp_path / "node"
    with edgenode_server(data, admin=None) as server:
        sync = one_error_line(edgenode(env, "sync", "--data", str(data), "127.0.0.1:9"))
        assert f"is being served (pid {server.process.pid})" in sync
        assert edgenode(env, "mesh", "init", "--data", str(tmp_path / "authority")).returncode == 0
        token = edgenode(env, "mesh", "invite", "--data", str(tmp_path / "authority")).stdout.strip()
        join = one_error_line(edgenode(env, "mesh", "join", "--data", str(data), token))
        assert f"is being served (pid {server.process.pid}): stop it" in join
        assert not (data / "mesh").exists()


def test_a_node_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "node"
    with edgenode_server(data, admin=None) as server:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    assert (data / LOCK_FILE).exists()  # the file stays; the kernel dropped the lock with the process
    with edgenode_server(data, admin=None) as again:
        assert again.process.poll() is None
    status = edgenode(env, "status", "--data", str(data))
    assert status.returncode == 0 and "served: no" in status.stdout


# -- commands on a folder without a node --------------------------------------------------------


@pytest.mark.parametrize("command", [["info"], ["status"], ["status", "--json"], ["sync", "127.0.0.1:9"],
                                     ["mesh", "show"], ["mesh", "invite"]])
@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_command_on_a_folder_without_a_node_says_so_in_one_line_and_creates_nothing(
        tmp_path: Path, env: dict[str, str], command: list[str], folder: str) -> None:
    data = tmp_path / "data" / "node"
    if folder == "empty":
        data.mkdir(parents=True)
    before = tree(tmp_path / "data")
    done = edgenode(env, *command[:2 if command[0] == "mesh" else 1], "--data", str(data),
                    *command[2 if command[0] == "mesh" else 1:])
    line = one_error_line(done)
    assert str(data) in line or "not in a mesh" in line
    assert tree(tmp_path / "data") == before


def test_mesh_join_with_a_bad_token_says_so_in_one_line_and_creates_nothing(tmp_path: Path,
                                                                           env: dict[str, str]) -> None:
    line = one_error_line(edgenode(env, "mesh", "join", "--data", str(tmp_path / "node"), "edgenode-invite:AAAA"))
    assert "invite" in line
    assert tree(tmp_path) == []


# -- one line for what an operator gets wrong ----------------------------------------------------


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(edgenode(env, "serve", "--data", str(tmp_path / "node"), "--port", str(port)))
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert line.endswith("(another edgenode or program listens there: choose another with --port)")


def test_serve_on_a_sync_port_in_use_says_so_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(edgenode(env, "serve", "--data", str(tmp_path / "node"), "--port", str(free_port()),
                                       "--sync-host", "127.0.0.1", "--sync-port", str(port)))
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert line.endswith("(another edgenode or program listens there: choose another with --sync-port)")


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """`folder` exists and nobody may write in it, root included (an immutable directory when running as root)."""
    folder.mkdir(parents=True)
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode != 0:
            pytest.skip("running as root on a file system without immutable directories")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


@pytest.mark.parametrize("where", ["the-folder", "inside-it"])
def test_serve_on_an_unwritable_data_folder_says_so_in_one_line(tmp_path: Path, env: dict[str, str],
                                                                  where: str) -> None:
    folder = tmp_path / "locked"
    data = folder if where == "the-folder" else folder / "node"
    with unwritable(folder):
        line = one_error_line(edgenode(env, "serve", "--data", str(data), "--port", str(free_port())))
        assert line.startswith(f"Error: cannot write to the data folder {data}: ")
        assert tree(folder) == []


@pytest.mark.parametrize("peer", ["host:99999", "host:abc", "[::1", ":8066"])
def test_serve_with_a_malformed_peer_says_so_in_one_line_and_creates_nothing(tmp_path: Path, env: dict[str, str],
                                                                              peer: str) -> None:
    data = tmp_path / "node"
    line = one_error_line(edgenode(env, "serve", "--data", str(data), "--peer", peer))
    assert line.startswith(f"Error: bad peer address: {peer!r} is not HOST:PORT")
    assert not data.exists()


# -- status ------------------------------------------------------------------------------------


def test_status_of_a_running_standalone_node_says_it_is_served_without_sync(tmp_path: Path,
                                                                            env: dict[str, str]) -> None:
    data = tmp_path / "node"
    with edgenode_server(data, admin=None) as server:
        done = edgenode(env, "status", "--data", str(data))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[:4] == [
            f"node: {node_display_id(load_or_create_identity(data).public_key)}",
            "mesh: unenrolled (not enrolled in a mesh)",
            f"served: yes (pid {server.process.pid})",
            "sync: off: the node is served without peer sync: it starts once the node is in a mesh "
            "(edgenode mesh init | join)",
        ]
    stopped = edgenode(env, "status", "--data", str(data))
    assert stopped.stdout.splitlines()[2:4] == ["served: no", "sync: not running: the node is not being served"]


def test_status_of_a_running_mesh_authority_names_its_mesh_and_role(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "authority"
    init = edgenode(env, "mesh", "init", "--data", str(data), "--name", "field")
    assert init.returncode == 0, init.stderr
    mesh_id = init.stdout.strip().removeprefix("mesh: ")
    with edgenode_server(data, admin=None) as server:  # tests serve with no sync port and no mDNS: sync is off
        done = edgenode(env, "status", "--data", str(data))
        assert done.stdout.splitlines()[1:4] == [f"mesh: {mesh_id} (authority)", f"served: yes (pid {server.process.pid})",
                                                 "sync: off: the node is served without peer sync"]
        with server.client() as http:
            http.post("/api/v4/users", json={"username": "admin", "email": "a@example.com",
                                             "password": "admin-password-1"})
            token = http.post("/api/v4/users/login", json={"login_id": "admin", "password": "admin-password-1"})
            api = http.get("/api/v4/edgenode/status", headers={"Authorization": f"Bearer {token.headers['Token']}"})
        assert api.status_code == 200
        assert api.json()["mesh"] | {"tag": ""} == {"id": mesh_id, "name": "field", "enrolled": True, "role": "authority",
                                                    "tag": ""}
        assert api.json()["served"] == {"running": True, "pid": server.process.pid, "doing": "serving"}


# -- enrolment while served ----------------------------------------------------------------------


def test_a_served_node_starts_syncing_once_mesh_init_enrols_it_without_a_restart(tmp_path: Path,
                                                                                  env: dict[str, str]) -> None:
    data = tmp_path / "node"
    sync_port = free_port()
    with edgenode_server(data, admin=None, extra_env={"EDGENODE_SYNC_PORT": str(sync_port)}) as server:
        before = edgenode(env, "status", "--data", str(data))
        assert "sync: off: the node is served without peer sync: it starts once" in before.stdout
        init = edgenode(env, "mesh", "init", "--data", str(data))
        assert init.returncode == 0, init.stderr
        mesh_id = init.stdout.strip().removeprefix("mesh: ")

        def syncing() -> bool:
            return "sync: running; " in edgenode(env, "status", "--data", str(data)).stdout

        until(syncing)
        lines = edgenode(env, "status", "--data", str(data)).stdout.splitlines()
        assert lines[1] == f"mesh: {mesh_id} (authority)"
        assert lines[3] == f"sync: running; 0.0.0.0:{sync_port} over tls; mDNS off"
        with socket.create_connection(("127.0.0.1", sync_port), timeout=5):
            pass  # the mesh's TLS listener is up
        assert server.process.poll() is None
    assert "peer sync started: this node is now in mesh " + mesh_id in server.log.read_text()


def test_status_of_a_node_with_a_damaged_mesh_folder_says_what_is_wrong(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "node"
    load_or_create_identity(data)
    (data / "mesh").mkdir()
    (data / "mesh" / "ca.crt").write_text("not a certificate")
    done = edgenode(env, "status", "--data", str(data))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "mesh: unenrolled (not enrolled in a mesh)"
    assert lines[2].startswith(f"mesh error: {data / 'mesh'} holds an unusable certificate: ")


@contextmanager
def _serving_with_sync(data: Path, env: dict[str, str], sync_port: int, peer_port: int,
                       log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgenode", "serve", "--data", str(data), "--port", str(free_port()),
             "--sync-host", "127.0.0.1", "--sync-port", str(sync_port), "--peer", f"127.0.0.1:{peer_port}",
             "--unenrolled-sync", "--no-mdns"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)


def test_a_served_node_logs_a_peer_connected_lost_and_back(tmp_path: Path, env: dict[str, str]) -> None:
    port_a, port_b = free_port(), free_port()
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    b_id = node_display_id(load_or_create_identity(tmp_path / "b").public_key)
    with _serving_with_sync(tmp_path / "a", env, port_a, port_b, log_a):
        with _serving_with_sync(tmp_path / "b", env, port_b, port_a, log_b):
            until(lambda: f"edgenode: sync: connected to node {b_id} at " in log_a.read_text())
        until(lambda: f"edgenode: sync: lost node {b_id} at " in log_a.read_text())
        with _serving_with_sync(tmp_path / "b", env, port_b, port_a, log_b):
            until(lambda: f"edgenode: sync: node {b_id} is back at " in log_a.read_text(), timeout=90)
