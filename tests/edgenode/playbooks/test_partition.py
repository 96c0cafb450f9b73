"""Two nodes cut off from each other edit one run through their own APIs; once they sync, both serve
the identical run and timeline, and every change made on either side is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.members_world import Nodes, World, synced_pair
from support.playbooks import PB, playbook_body

from sync.session import reconcile_pair


async def _run(world: World, run_id: str, who: str = "alice") -> dict[str, Any]:
    return await world.ok("GET", f"{PB}/runs/{run_id}", who)  # type: ignore[no-any-return]


async def _do(world: World, method: str, path: str, who: str, status: int = 200, **kwargs: Any) -> None:
    response = await world.call(method, PB + path, who, **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"


async def _started(nodes: Nodes) -> dict[str, Any]:
    a = nodes.a
    playbook = await a.ok("POST", f"{PB}/playbooks", "alice", status=201, json=playbook_body(a.team))
    run = await a.ok("POST", f"{PB}/runs", "alice", status=201,
                     json={"name": "Outage", "team_id": a.team, "playbook_id": playbook["id"]})
    await a.ok("POST", f"{PB}/runs/{run['id']}/participants", "alice", json={"user_ids": [a.ids["bob"]]})
    await reconcile_pair(a.node.store, nodes.b.node.store)
    nodes.b.ids.update(a.ids)
    nodes.b.team = a.team
    for name in ("alice", "bob"):
        await nodes.b.login(name)
    return run  # type: ignore[no-any-return]


async def test_edits_made_apart_all_survive_and_both_nodes_show_the_same_run(tmp_path: Path) -> None:
    async with synced_pair(tmp_path) as nodes:
        a, b = nodes.a, nodes.b
        run = await _started(nodes)
        rid = run["id"]
        # cut off: each side edits the run through its own API
        await _do(a, "PUT", f"/runs/{rid}/checklists/0/item/0/state", "alice", json={"new_state": "closed"})
        await _do(b, "PUT", f"/runs/{rid}/checklists/1/item/1/state", "bob", json={"new_state": "closed"})
        await _do(a, "PUT", f"/runs/{rid}/checklists/0/item/2/assignee", "alice", json={"assignee_id": a.ids["bob"]})
        await _do(b, "PUT", f"/runs/{rid}/checklists/0/item/2/assignee", "bob", json={"assignee_id": a.ids["alice"]})
        await _do(a, "POST", f"/runs/{rid}/status", "alice", json={"message": "from A", "reminder": 600})
        await _do(b, "POST", f"/runs/{rid}/status", "bob", json={"message": "from B", "reminder": 600})
        await _do(b, "POST", f"/runs/{rid}/checklists/move-item", "bob",
                  json={"source_checklist_idx": 0, "source_item_idx": 1, "dest_checklist_idx": 0, "dest_item_idx": 0})
        await _do(a, "POST", f"/runs/{rid}/checklists/0/add", "alice", 201, json={"title": "Added on A"})
        await _do(a, "PUT", f"/runs/{rid}/finish", "alice")
        await _do(b, "POST", f"/runs/{rid}/status", "bob", json={"message": "late from B", "reminder": 600})
        with b.node.services.ctx.events.subscribe(a.ids["alice"]) as heard_on_b:
            await reconcile_pair(a.node.store, b.node.store)  # heal
            await b.node.services.peer_events.drain()
        # a client on B hears of the run's changes made on A (one event per feed that advanced)
        heard = [e for e in (heard_on_b.get_nowait() for _ in range(heard_on_b.qsize()))
                 if e.event == "custom_playbooks_playbook_run_updated"]
        assert heard and all(e.from_peer for e in heard)
        assert json.loads(heard[-1].data["payload"])["current_status"] == "Finished"
        on_a, on_b = await _run(a, rid), await _run(b, rid)
        assert on_a == on_b
        triage, resolve = on_a["checklists"]
        assert [i["title"] for i in triage["items"]] == ["Open a bridge", "Page the on-call", "Assess impact", "Added on A"]
        assert triage["items"][1]["state"] == "closed" and resolve["items"][1]["state"] == "closed"
        assert triage["items"][2]["assignee_id"] == a.ids["alice"]  # bob's later write wins, everywhere
        assert on_a["current_status"] == "Finished"
        updates = await a.ok("GET", f"{PB}/runs/{rid}/status-updates", "alice")
        assert sorted(u["message"] for u in updates) == ["from A", "from B", "late from B"]
        assert updates == await b.ok("GET", f"{PB}/runs/{rid}/status-updates", "alice")
        kinds = [e["event_type"] for e in on_a["timeline_events"]]
        assert kinds.count("task_state_modified") == 2 and kinds.count("status_updated") == 3
        assert kinds.count("run_finished") == 1 and kinds[0] == "incident_created"
