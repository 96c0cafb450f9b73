"""Real processes: two enrolled nodes sync a run over the mesh's TLS; one is stopped (the partition),
both edit the run (different items checked, a reassignment, status updates, a reorder); the stopped
one is edited on its own and brought back; both then serve the identical run and timeline, with
every change kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.playbooks import PB, playbook_body
from support.server_process import ADMIN_PASSWORD, ServerProcess, edgenode_server, free_port

pytestmark = pytest.mark.slow

EDGENODE = [sys.executable, "-m", "edgenode"]
ENV = {**os.environ, "EDGENODE_MDNS": "0"}


def _cli(*args: str) -> str:
    done = subprocess.run([*EDGENODE, *args], capture_output=True, text=True, timeout=60, env=ENV, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)  # polling for a state, not timing anything


def _login(server: ServerProcess) -> httpx.Client:
    def attempt() -> str:
        with server.client() as http:
            response = http.post("/api/v4/users/login", json={"login_id": "admin", "password": ADMIN_PASSWORD})
            return response.headers.get("Token", "") if response.status_code == 200 else ""
    return server.client(_until(attempt, "the directory to reach the node"))


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_a_run_edited_on_both_sides_of_a_partition_converges_with_every_change(tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    _cli("mesh", "init", "--name", "site", "--data", str(a_dir))
    _cli("mesh", "join", _cli("mesh", "invite", "--data", str(a_dir)), "--data", str(b_dir))
    a_sync, b_sync = free_port(), free_port()
    a_env = {"EDGENODE_SYNC_PORT": str(a_sync), "EDGENODE_SYNC_HOST": "127.0.0.1"}
    b_env = {"EDGENODE_SYNC_PORT": str(b_sync), "EDGENODE_SYNC_HOST": "127.0.0.1"}
    peer_a = ("--peer", f"127.0.0.1:{a_sync}")
    with edgenode_server(a_dir, extra_env=a_env) as a, a.client(a.admin_token) as on_a:
        team = _ok(on_a.post("/api/v4/teams", json={"name": "site", "display_name": "Site", "type": "O"}), 201)["id"]
        playbook = _ok(on_a.post(f"{PB}/playbooks", json=playbook_body(team)), 201)["id"]
        run = _ok(on_a.post(f"{PB}/runs", json={"name": "Generator failure", "team_id": team, "playbook_id": playbook}),
                  201)
        rid = run["id"]
        with edgenode_server(b_dir, admin=None, extra_env=b_env, extra_args=peer_a) as b, _login(b) as on_b:
            _until(lambda: on_b.get(f"{PB}/runs/{rid}").status_code == 200, "the run to reach B")
        # partition: B is down; A goes on
        _ok(on_a.put(f"{PB}/runs/{rid}/checklists/0/item/0/state", json={"new_state": "closed"}))
        _ok(on_a.put(f"{PB}/runs/{rid}/checklists/1/item/0/assignee", json={"assignee_id": a.admin["id"]}))
        _ok(on_a.post(f"{PB}/runs/{rid}/status", json={"message": "A: on generator 2", "reminder": 900}))
        # B comes up cut off (no peer, no listener) and is edited on its own
        with edgenode_server(b_dir, admin=None, extra_env={"EDGENODE_SYNC_PORT": "0"}) as b, _login(b) as on_b:
            _ok(on_b.put(f"{PB}/runs/{rid}/checklists/0/item/2/state", json={"new_state": "closed"}))
            _ok(on_b.post(f"{PB}/runs/{rid}/checklists/move-item", json={
                "source_checklist_idx": 1, "source_item_idx": 1, "dest_checklist_idx": 1, "dest_item_idx": 0}))
            _ok(on_b.post(f"{PB}/runs/{rid}/status", json={"message": "B: fuel ordered", "reminder": 900}))
        # heal
        with edgenode_server(b_dir, admin=None, extra_env=b_env, extra_args=peer_a) as b, _login(b) as on_b:
            def same() -> Any:
                here, there = on_a.get(f"{PB}/runs/{rid}").json(), on_b.get(f"{PB}/runs/{rid}").json()
                return here if here == there and len(here["status_posts"]) == 2 else None
            healed = _until(same, "both nodes to serve the same run")
            triage, resolve = healed["checklists"]
            assert [i["state"] for i in triage["items"]] == ["closed", "", "closed"]
            assert [i["title"] for i in resolve["items"]] == ["Confirm recovery", "Mitigate"]
            assert resolve["items"][1]["assignee_id"] == a.admin["id"]
            kinds = [e["event_type"] for e in healed["timeline_events"]]
            assert kinds.count("task_state_modified") == 2 and kinds.count("status_updated") == 2
            assert kinds.count("assignee_changed") == 1
            messages = [u["message"] for u in on_b.get(f"{PB}/runs/{rid}/status-updates").json()]
            assert sorted(messages) == ["A: on generator 2", "B: fuel ordered"]
