"""A real `edgenode serve` in a subprocess, for tests and benchmarks that talk to it as clients do.

    with edgenode_server(tmp_path / "node") as server:
        server.base_url, server.port, server.admin_token

The server runs `python -m edgenode serve --data DIR --port PORT` from this checkout; it is ready
once GET /api/v4/system/ping answers. On an empty data folder the first user (the system admin)
is created over HTTP, as an operator would. The server's stderr goes to a log file next to the
data folder and is quoted when the server fails to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ADMIN_PASSWORD", "ServerProcess", "edgenode_server", "free_port"]

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-password-1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A loopback port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    log: Path
    admin: dict[str, Any] = field(default_factory=dict)
    admin_token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str = "") -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_until_ready(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=server.base_url, timeout=2.0) as http:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"edgenode serve exited with {server.process.returncode}:\n{server.log_tail()}")
            try:
                if http.get("/api/v4/system/ping").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"edgenode serve did not answer ping within {START_TIMEOUT_S} s:\n{server.log_tail()}")
            time.sleep(0.05)  # polling for readiness, not timing anything


def _ensure_admin(server: ServerProcess, username: str) -> None:
    with server.client() as http:
        created = http.post("/api/v4/users", json={"username": username, "email": f"{username}@example.com",
                                                   "password": ADMIN_PASSWORD})
        if created.status_code not in (201, 403):  # 403: the node already has users (a restart)
            raise RuntimeError(f"creating the admin failed: {created.status_code} {created.text}")
        login = http.post("/api/v4/users/login", json={"login_id": username, "password": ADMIN_PASSWORD})
        if login.status_code != 200:
            raise RuntimeError(f"admin login failed: {login.status_code} {login.text}")
        server.admin = login.json()
        server.admin_token = login.headers["Token"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: uvicorn shuts down and the store closes cleanly
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def edgenode_server(data_dir: Path, *, port: int | None = None, admin: str | None = "admin",
                    extra_env: dict[str, str] | None = None,
                    extra_args: tuple[str, ...] = (), command: tuple[str, ...] | None = None,
                    env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Start `edgenode serve` on `data_dir` (and `extra_args`); stop it (SIGTERM, then SIGKILL) when the block ends.

    `command` runs another edgenode (the built binary) instead of this checkout's; `env` replaces the
    whole environment (the binary runs with no Python on PATH)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}.serve.log"
    if env is None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               **(extra_env or {})}
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*(command or (sys.executable, "-m", "edgenode")), "serve", "--data", str(data_dir), "--port", str(port),
             *extra_args],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, data_dir, port, log)
    try:
        _wait_until_ready(server)
        if admin:
            _ensure_admin(server, admin)
        yield server
    finally:
        _stop(process)
