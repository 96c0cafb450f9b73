"""Issue 12's partition scenario with real processes: two enrolled nodes edit one board while cut off.

The authority A serves with its sync port on loopback; B joined the mesh with an invite and syncs
with `edgenode sync` (two ways) while not serving. Partition: on A card 1 moves to Done and card 5
to the top; on B (served on its own, no sync) card 1 is retitled and card 2 moves to the top. Heal:
one sync. Both nodes then return the same cards, card 1 with both changes, and the same order with
both moves applied.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support.server_process import ServerProcess, edgenode_server, free_port

EDGENODE = [sys.executable, "-m", "edgenode"]
V2 = "/plugins/focalboard/api/v2"
XHR = {"X-Requested-With": "XMLHttpRequest"}

pytestmark = pytest.mark.slow


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGENODE, *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def _sync(data_dir: Path, port: int, env: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        done = _run("sync", f"127.0.0.1:{port}", "--data", str(data_dir), "--timeout", "5", env=env)
        if done.returncode == 0:
            return
        assert "cannot reach" in done.stderr and time.monotonic() < deadline, done.stderr
        time.sleep(0.2)


def _call(server: ServerProcess, method: str, path: str, **kwargs: Any) -> Any:
    with server.client(server.admin_token) as http:
        response = http.request(method, V2 + path, headers=XHR, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _board_state(server: ServerProcess, board: str) -> tuple[list[dict[str, Any]], list[str]]:
    cards = sorted(_call(server, "GET", f"/boards/{board}/cards"), key=lambda c: c["id"])
    view = _call(server, "GET", f"/boards/{board}/blocks?type=view")[0]
    return [{k: c[k] for k in ("id", "title", "properties")} for c in cards], view["fields"]["cardOrder"]


def _move_to_top(server: ServerProcess, board: str, view: str, card: str) -> None:
    order = _board_state(server, board)[1]
    order.remove(card)
    _call(server, "PATCH", f"/boards/{board}/blocks/{view}", json={"updatedFields": {"cardOrder": [card, *order]}})


def test_moves_and_edits_on_both_sides_of_a_partition_all_survive_and_both_nodes_agree(tmp_path: Path) -> None:
    env = {**os.environ, "EDGENODE_MDNS": "0"}
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    assert _run("mesh", "init", "--name", "field", "--data", str(a_dir), env=env).returncode == 0
    invite = _run("mesh", "invite", "--data", str(a_dir), env=env)
    assert invite.returncode == 0, invite.stderr
    assert _run("mesh", "join", invite.stdout.strip(), "--data", str(b_dir), env=env).returncode == 0
    sync_port = free_port()
    listening = {"EDGENODE_SYNC_PORT": str(sync_port), "EDGENODE_SYNC_HOST": "127.0.0.1"}
    with edgenode_server(a_dir, extra_env=listening) as a:
        with a.client(a.admin_token) as http:
            team = http.post("/api/v4/teams", json={"name": "field", "display_name": "Field", "type": "O"})
            assert team.status_code == 201, team.text
        status = {"id": "status", "name": "Status", "type": "select",
                  "options": [{"id": "todo", "value": "To do"}, {"id": "done", "value": "Done"}]}
        board = _call(a, "POST", "/boards", json={"teamId": team.json()["id"], "type": "O", "title": "Ops",
                                                   "cardProperties": [status]})["id"]
        blocks = [{"id": "view", "boardId": board, "type": "view", "createAt": 1, "updateAt": 1,
                   "title": "Board", "fields": {"viewType": "board", "groupById": "status"}}]
        blocks += [{"id": f"card{i}", "boardId": board, "type": "card", "createAt": 1, "updateAt": 1,
                    "title": f"card {i}", "fields": {"properties": {"status": "todo"}}} for i in range(1, 6)]
        created = _call(a, "POST", f"/boards/{board}/blocks", json=blocks)
        view = next(b["id"] for b in created if b["type"] == "view")
        card = {b["title"]: b["id"] for b in created if b["type"] == "card"}
        _sync(b_dir, sync_port, env)

        # partition: A keeps serving but nobody syncs; B serves alone
        _call(a, "PATCH", f"/cards/{card['card 1']}", json={"updatedProperties": {"status": "done"}})
        _move_to_top(a, board, view, card["card 5"])
        with edgenode_server(b_dir, extra_env={"EDGENODE_SYNC_PORT": "0"}) as b:
            assert _board_state(b, board)[1] == [card[f"card {i}"] for i in range(1, 6)]
            _call(b, "PATCH", f"/cards/{card['card 1']}", json={"title": "card 1, renamed"})
            _move_to_top(b, board, view, card["card 2"])

        _sync(b_dir, sync_port, env)  # heal
        on_a = _board_state(a, board)
        with edgenode_server(b_dir, extra_env={"EDGENODE_SYNC_PORT": "0"}) as b:
            on_b = _board_state(b, board)
    assert on_a == on_b
    cards, order = on_a
    first = next(c for c in cards if c["id"] == card["card 1"])
    assert (first["title"], first["properties"]) == ("card 1, renamed", {"status": "done"})
    assert sorted(order[:2]) == sorted([card["card 2"], card["card 5"]])
    assert order[2:] == [card["card 1"], card["card 3"], card["card 4"]]
    assert len(order) == len(set(order)) == 5

