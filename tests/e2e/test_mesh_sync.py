"""Enrolled nodes sync over the mesh's mutual TLS; a node outside the mesh cannot connect.

Real processes: the authority serves with its sync port on loopback; `edgenode sync` runs from
a node that joined with an invite, and from one that did not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.server_process import free_port

EDGENODE = [sys.executable, "-m", "edgenode"]


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGENODE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_a_joined_node_syncs_over_mesh_tls_and_an_outsider_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "EDGENODE_MDNS": "0"}
    authority, joiner, outsider = (str(tmp_path / n) for n in ("authority", "joiner", "outsider"))
    assert _run("mesh", "init", "--name", "field", "--data", authority, env=env).returncode == 0
    invite = _run("mesh", "invite", "--data", authority, env=env)
    assert invite.returncode == 0, invite.stderr
    joined = _run("mesh", "join", invite.stdout.strip(), "--data", joiner, env=env)
    assert joined.returncode == 0, joined.stderr
    sync_port, api_port = free_port(), free_port()
    server = subprocess.Popen([*EDGENODE, "serve", "--data", authority, "--port", str(api_port), "--sync-host",
                               "127.0.0.1", "--sync-port", str(sync_port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        done = None
        while time.monotonic() < deadline:
            done = _run("sync", f"127.0.0.1:{sync_port}", "--data", joiner, "--timeout", "5", env=env)
            if done.returncode == 0 or "cannot reach" not in done.stderr:
                break
            time.sleep(0.2)
        assert done is not None and done.returncode == 0, done.stderr if done else "no attempt"
        assert done.stdout.startswith("synced with node ")
        refused = _run("sync", f"127.0.0.1:{sync_port}", "--data", outsider, "--unenrolled-sync", "--timeout", "5",
                       env=env)
        assert refused.returncode == 1
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
