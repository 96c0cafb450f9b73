"""The `edgenode` command, run as users run it: info, serve, where the data lives, and its errors."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner
from support.builders import team_and_channel

from edgenode.cli import cli
from edgenode.config import DATA_ENV, STORE_FILE
from edgenode.identity import KEY_FILE, load_or_create_identity, node_display_id
from edgenode.schema import SCHEMA
from edgenode.store import Store

CONSOLE_SCRIPT = shutil.which("edgenode", path=str(Path(sys.executable).parent)) or shutil.which("edgenode")
ENTRY_POINTS = {
    "console-script": [CONSOLE_SCRIPT or "edgenode"],
    "python-m": [sys.executable, "-m", "edgenode"],
}
EDGENODE = ENTRY_POINTS["console-script"] if CONSOLE_SCRIPT else ENTRY_POINTS["python-m"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for a subprocess: no inherited EDGENODE_DATA, and a private default data folder."""
    environ = {k: v for k, v in os.environ.items() if k != DATA_ENV}
    environ["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    environ["HOME"] = str(tmp_path / "home")
    return environ


def _run(args: list[str], env: dict[str, str], command: list[str] = EDGENODE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=30, check=False)


def _populate(data_dir: Path) -> str:
    """Write a team and a channel as the node of `data_dir`; return the digest."""

    async def write() -> str:
        async with Store(data_dir / STORE_FILE, SCHEMA, load_or_create_identity(data_dir)) as store:
            await store.write("directory", team_and_channel())
            return await store.digest()

    return asyncio.run(write())


def _node_id(data_dir: Path) -> str:
    return node_display_id(load_or_create_identity(data_dir).public_key)


# -- info ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
def test_info_prints_the_node_its_folders_its_op_count_and_its_digest(
    tmp_path: Path, env: dict[str, str], command: list[str]
) -> None:
    if command[0] == "edgenode":
        pytest.fail("the edgenode console script is not installed next to this Python")
    data_dir = tmp_path / "node"
    digest = _populate(data_dir)
    done = _run(["info", "--data", str(data_dir)], env, command)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"node: {_node_id(data_dir)}\n"
        f"data: {data_dir}\n"
        f"store: {data_dir / STORE_FILE}\n"
        "ops: 2\n"
        f"digest: {digest}\n"
    )


def test_info_on_a_node_without_ops_shows_an_empty_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "node"
    load_or_create_identity(data_dir)  # a node: its key (what `serve` creates first)
    result = CliRunner().invoke(cli, ["info", "--data", str(data_dir)], env={DATA_ENV: None})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [f"node: {_node_id(data_dir)}", f"data: {data_dir}", f"store: {data_dir / STORE_FILE}", "ops: 0"]
    assert lines[4].startswith("digest: ") and len(lines[4]) == len("digest: ") + 64
    assert (data_dir / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_info_uses_EDGENODE_DATA_when_no_data_option_is_given(tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"
    load_or_create_identity(data_dir)
    result = CliRunner().invoke(cli, ["info"], env={DATA_ENV: str(data_dir)})
    assert result.exit_code == 0, result.output
    assert f"data: {data_dir}\n" in result.output


def test_the_data_option_wins_over_EDGENODE_DATA(tmp_path: Path) -> None:
    chosen, ignored = tmp_path / "chosen", tmp_path / "ignored"
    load_or_create_identity(chosen)
    result = CliRunner().invoke(cli, ["info", "--data", str(chosen)], env={DATA_ENV: str(ignored)})
    assert result.exit_code == 0, result.output
    assert f"data: {chosen}\n" in result.output
    assert not ignored.exists()


def test_EDGENODE_DATA_is_honoured_by_the_installed_command(tmp_path: Path, env: dict[str, str]) -> None:
    data_dir = tmp_path / "from-env"
    load_or_create_identity(data_dir)
    done = _run(["info"], {**env, DATA_ENV: str(data_dir)})
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1:3] == [f"data: {data_dir}", f"store: {data_dir / STORE_FILE}"]


# -- errors ----------------------------------------------------------------------------------


def _group_readable_key(data_dir: Path) -> str:
    load_or_create_identity(data_dir)
    key = data_dir / KEY_FILE
    key.chmod(0o644)
    return f"{key} is readable by other users (mode 644); run: chmod 600 {key}"


def _short_key(data_dir: Path) -> str:
    data_dir.mkdir(parents=True)
    key = data_dir / KEY_FILE
    key.write_bytes(b"short")
    key.chmod(0o600)
    return f"{key} is not a node key (5 bytes, expected 32)"


def _newer_database(data_dir: Path) -> str:
    _populate(data_dir)
    with sqlite3.connect(data_dir / STORE_FILE) as conn:
        conn.execute("INSERT INTO _migrations VALUES ('9999_from_the_future', 0)")
    conn.close()
    return "this database has migrations 9999_from_the_future from a newer edgenode; upgrade edgenode to open it"


@pytest.mark.parametrize("command", ["info", "serve"])
@pytest.mark.parametrize("break_it", [_group_readable_key, _short_key, _newer_database],
                         ids=["group-readable-key", "short-key", "newer-database"])
def test_a_node_that_cannot_start_exits_1_with_one_error_line(
    tmp_path: Path, env: dict[str, str], command: str, break_it: object
) -> None:
    data_dir = tmp_path / "node"
    message = break_it(data_dir)  # type: ignore[operator]
    done = _run([command, "--data", str(data_dir)], env)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"Error: {message}\n")


# -- serve -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lines(stream: IO[str]) -> queue.Queue[str | None]:
    """The lines of a child's output as they come, then None at its end (read by a thread)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_until_listening(port: int, proc: subprocess.Popen[str], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited with {proc.returncode} before its API listened"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"nothing listened on port {port} within {timeout_s} s")


@contextmanager
def _serving(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], int, queue.Queue[str | None]]]:
    port = _free_port()
    proc = subprocess.Popen([*EDGENODE, "serve", "--data", str(data_dir), "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        yield proc, port, _lines(proc.stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_serve_says_where_its_data_is_and_stops_cleanly_on_a_signal(
    tmp_path: Path, env: dict[str, str], sig: signal.Signals
) -> None:
    data_dir = tmp_path / "node"
    with _serving(data_dir, env) as (proc, port, stderr):
        try:
            first = stderr.get(timeout=15)
        except queue.Empty:
            pytest.fail("serve printed nothing within 15 s")
        assert first == f"edgenode node {_node_id(data_dir)}: data in {data_dir}; API on http://127.0.0.1:{port}\n"
        _wait_until_listening(port, proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=5) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""
        assert [stderr.get(timeout=5), stderr.get(timeout=5)] == ["edgenode: stopped\n", None]
    # closed, not abandoned: the last connection to close folds the WAL back into the database
    assert not (data_dir / f"{STORE_FILE}-wal").exists()
    with sqlite3.connect(data_dir / STORE_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.slow
def test_serve_stops_on_a_signal_sent_as_soon_as_it_says_it_is_up(tmp_path: Path, env: dict[str, str]) -> None:
    with _serving(tmp_path / "node", env) as (proc, _, stderr):
        assert stderr.get(timeout=15) is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=3) == 0
