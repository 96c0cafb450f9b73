"""The node's settings file and `edgenode serve` options, against a real `edgenode serve` process.

settings.toml and the command line together decide which internal destinations integrations may
reach, which Host names the API answers, and how long a request head may take; a malformed file
stops the server with one line and a non-zero exit, before anything is served.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.receiver import Receiver
from support.server_process import REPO, edgenode_server, free_port

from edgenode.settings import Limits, NodeSettings, SettingsError, load_settings, parse_settings

SETTINGS = """
allowed_untrusted_internal_connections = "hooks.lan"
allowed_hosts = ["chat.lan"]

[limits]
header_timeout = 1.0
"""


def test_settings_are_read_from_the_file_and_command_line_options_add_to_them(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == NodeSettings()  # no file: the safe defaults
    (tmp_path / "settings.toml").write_text(SETTINGS)
    settings = load_settings(tmp_path).with_options(allow_internal=["127.0.0.1, 10.0.0.0/8"], allowed_hosts=["b.lan"])
    assert settings == NodeSettings(allowed_untrusted_internal_connections=("hooks.lan", "127.0.0.1", "10.0.0.0/8"),
                                    allowed_hosts=("chat.lan", "b.lan"), limits=Limits(header_timeout=1.0))


@pytest.mark.parametrize(("document", "complaint"), [
    ({"allowed_host": ["typo"]}, "unknown setting 'allowed_host'"),
    ({"allowed_hosts": 3}, "allowed_hosts must be a string or a list of strings"),
    ({"limits": {"header_timeout": 0}}, "limits.header_timeout must be more than 0"),
    ({"limits": {"max_connections": 1.5}}, "limits.max_connections must be a whole number"),
    ({"limits": {"keep_alive_timeout": True}}, "limits.keep_alive_timeout must be a whole number"),
    ({"limits": {"slow": 1}}, "unknown setting limits.slow"),
])
def test_malformed_settings_are_refused_naming_the_key(document: dict[str, object], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        parse_settings(document)


def test_serve_with_a_malformed_settings_file_says_so_in_one_line_and_exits(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir()
    (data / "settings.toml").write_text("allowed_hosts = [\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "edgenode", "serve", "--data", str(data), "--port", str(free_port())],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert result.stderr.startswith("Error: ") and "settings.toml is not valid TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (data / "edgenode.db").exists()  # refused before the store was created


def _wait_closed(port: int, head: bytes) -> float:
    """Send part of a request head and nothing more; seconds until the server hangs up."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        sock.settimeout(30)
        started = time.monotonic()
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        return time.monotonic() - started


@pytest.mark.slow
def test_a_served_node_applies_its_file_and_options(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir()
    (data / "settings.toml").write_text(SETTINGS)
    with Receiver() as receiver, edgenode_server(data, extra_args=("--allow-internal-host", "127.0.0.1",
                                                                   "--allowed-host", "other.lan")) as server:
        receiver.answer("/cmd", {"text": "allowed by the operator"})
        with server.client(server.admin_token) as http:
            hosts = {name: http.get("/api/v4/system/ping", headers={"Host": name}).status_code
                     for name in ("chat.lan", "other.lan:8065", "evil.example")}
            team = http.post("/api/v4/teams", json={"name": "ops", "display_name": "Ops", "type": "O"}).json()
            channel = http.get(f"/api/v4/teams/{team['id']}/channels/name/town-square").json()
            created = http.post("/api/v4/commands", json={"team_id": team["id"], "trigger": "ask", "method": "P",
                                                           "url": receiver.url("/cmd")})
            assert created.status_code == 201, created.text
            ran = http.post("/api/v4/commands/execute", json={"channel_id": channel["id"], "command": "/ask"})
        # header_timeout = 1 s from the file: a dribbled head is cut off well before the client's 30 s
        waited = _wait_closed(server.port, b"GET /api/v4/system/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert hosts == {"chat.lan": 200, "other.lan:8065": 200, "evil.example": 400}
    assert (ran.status_code, ran.json()["text"]) == (200, "allowed by the operator")
    assert waited < 20
