"""Checklists and items of a run, addressed by 0-based positions: state, assignee, due date, add, edit,
delete, move, skip, restore, run the slash command; out-of-range and bad input change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from support.playbooks import PB


async def _run(api: Any, team: Any, run_id: str) -> dict[str, Any]:
    response = await api.call("GET", f"{PB}/runs/{run_id}", team.alice_token)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _titles(run: dict[str, Any]) -> list[list[str]]:
    return [[i["title"] for i in c["items"]] for c in run["checklists"]]


async def test_item_state_records_who_and_when_and_a_timeline_event(api, team, run) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("PUT", f"{PB}/runs/{run['id']}/checklists/0/item/1/state", team.alice_token,
                              json={"new_state": "closed"})
    assert (response.status_code, response.json()) == (200, {})
    got = await _run(api, team, run["id"])
    item = got["checklists"][0]["items"][1]
    assert item["state"] == "closed" and item["state_modified"] > 0
    assert got["task_completed"] == 1
    event = got["timeline_events"][-1]
    assert (event["event_type"], event["creator_user_id"], event["summary"]) == (
        "task_state_modified", team.alice["id"], 'checked off checklist item "Open a bridge"')
    also = await api.call("PUT", f"{PB}/runs/{run['id']}/checklists/0/items/2/state", team.alice_token,
                          json={"new_state": "in_progress"})
    assert also.status_code == 200
    assert (await _run(api, team, run["id"]))["checklists"][0]["items"][2]["state"] == "in_progress"


@pytest.mark.parametrize("path, body, status, message", [
    ("/checklists/0/item/0/state", {"new_state": "done"}, 400, "bad parameter new state"),
    ("/checklists/0/item/3/state", {"new_state": "closed"}, 400, "invalid item: out of range"),
    ("/checklists/2/item/0/state", {"new_state": "closed"}, 400, "invalid checklist: out of range"),
    ("/checklists/0/item/0/assignee", {"assignee_id": "q" * 26}, 400, "the assignee must be a member of the run's team"),
    ("/checklists/0/item/0/duedate", {"due_date": "tomorrow"}, 400,
     "failed to unmarshal: due_date must be milliseconds since the epoch, or 0"),
    ("/checklists/0/add", {"title": "  "}, 400, "missing title"),
    ("/checklists/0/add", {"title": "x" * 1025}, 400, "invalid title: a string of at most 1024 characters"),
    ("/checklists/0/item/0", {"description": "x" * 16_384}, 400, "invalid description: a string of at most 16383 characters"),
    ("/checklists/move-item", {"source_checklist_idx": 0, "source_item_idx": 9, "dest_checklist_idx": 1,
                               "dest_item_idx": 0}, 400, "invalid source_item_idx: out of range"),
    ("/checklists/move-item", {"source_checklist_idx": 0, "source_item_idx": 0, "dest_checklist_idx": 1,
                               "dest_item_idx": 3}, 400, "invalid dest_item_idx: out of range"),
    ("/checklists/move", {"source_checklist_idx": 0, "dest_checklist_idx": 2}, 400,
     "invalid dest_checklist_idx: out of range"),
])
async def test_bad_checklist_input_gets_the_plugins_error_and_writes_nothing(api, team, run, path: str, body: Any,
                                                                            status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    method = "POST" if path.endswith(("add", "move-item", "move")) else "PUT"
    before = await api.node.store.digest()
    response = await api.call(method, f"{PB}/runs/{run['id']}{path}", team.alice_token, json=body)
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert await api.node.store.digest() == before


async def test_assignee_is_set_cleared_and_joins_the_run(api, team, run) -> None:  # type: ignore[no-untyped-def]
    path = f"{PB}/runs/{run['id']}/checklists/1/item/0/assignee"
    response = await api.call("PUT", path, team.alice_token, json={"assignee_id": team.bob["id"]})
    assert (response.status_code, response.json()) == (200, {})
    got = await _run(api, team, run["id"])
    assert got["checklists"][1]["items"][0]["assignee_id"] == team.bob["id"]
    assert team.bob["id"] in got["participant_ids"]
    assert got["timeline_events"][-1]["event_type"] == "assignee_changed"
    cleared = await api.call("PUT", path, team.alice_token, json={"assignee_id": ""})
    assert cleared.status_code == 200
    assert (await _run(api, team, run["id"]))["checklists"][1]["items"][0]["assignee_id"] == ""


async def test_due_date_command_and_edit(api, team, run) -> None:  # type: ignore[no-untyped-def]
    base = f"{PB}/runs/{run['id']}/checklists/0/item/0"
    assert (await api.call("PUT", base + "/duedate", team.alice_token, json={"due_date": 1_900_000_000_000})).status_code == 200
    assert (await api.call("PUT", base + "/command", team.alice_token, json={"command": "/echo hi"})).status_code == 200
    edited = await api.call("PUT", base, team.alice_token, json={"title": "Page on-call", "description": "via phone"})
    assert edited.status_code == 200
    item = (await _run(api, team, run["id"]))["checklists"][0]["items"][0]
    assert (item["due_date"], item["command"], item["title"], item["description"]) == (
        1_900_000_000_000, "/echo hi", "Page on-call", "via phone")


async def test_add_delete_skip_and_restore_items(api, team, run) -> None:  # type: ignore[no-untyped-def]
    base = f"{PB}/runs/{run['id']}/checklists"
    added = await api.call("POST", f"{base}/1/add", team.alice_token, json={"title": "Write the summary"})
    assert added.status_code == 201
    assert _titles(await _run(api, team, run["id"]))[1] == ["Mitigate", "Confirm recovery", "Write the summary"]
    assert (await api.call("DELETE", f"{base}/1/item/0", team.alice_token)).status_code == 204
    assert (await api.call("PUT", f"{base}/0/item/0/skip", team.alice_token)).status_code == 204
    got = await _run(api, team, run["id"])
    assert _titles(got)[1] == ["Confirm recovery", "Write the summary"]
    skipped = got["checklists"][0]["items"][0]
    assert skipped["state"] == "skipped" and skipped["delete_at"] > 0 and got["task_total"] == 4
    assert (await api.call("PUT", f"{base}/0/item/0/restore", team.alice_token)).status_code == 204
    restored = (await _run(api, team, run["id"]))["checklists"][0]["items"][0]
    assert (restored["state"], restored["delete_at"]) == ("", 0)


async def test_checklists_are_added_renamed_moved_and_removed(api, team, run) -> None:  # type: ignore[no-untyped-def]
    base = f"{PB}/runs/{run['id']}/checklists"
    added = await api.call("POST", base, team.alice_token, json={"title": "Follow-up", "items": [{"title": "Postmortem"}]})
    assert added.status_code == 201
    assert (await api.call("PUT", f"{base}/2/rename", team.alice_token, json={"title": "After"})).status_code == 200
    moved = await api.call("POST", f"{base}/move", team.alice_token, json={"source_checklist_idx": 2, "dest_checklist_idx": 0})
    assert moved.status_code == 200
    got = await _run(api, team, run["id"])
    assert [c["title"] for c in got["checklists"]] == ["After", "Triage", "Resolve"]
    assert _titles(got)[0] == ["Postmortem"]
    assert (await api.call("DELETE", f"{base}/1", team.alice_token)).status_code == 201
    assert [c["title"] for c in (await _run(api, team, run["id"]))["checklists"]] == ["After", "Resolve"]


async def test_an_item_moves_within_and_across_checklists(api, team, run) -> None:  # type: ignore[no-untyped-def]
    path = f"{PB}/runs/{run['id']}/checklists/move-item"
    within = await api.call("POST", path, team.alice_token, json={"source_checklist_idx": 0, "source_item_idx": 2,
                                                                  "dest_checklist_idx": 0, "dest_item_idx": 0})
    assert within.status_code == 200
    assert _titles(await _run(api, team, run["id"]))[0] == ["Assess impact", "Page the on-call", "Open a bridge"]
    across = await api.call("POST", path, team.alice_token, json={"source_checklist_idx": 0, "source_item_idx": 0,
                                                                  "dest_checklist_idx": 1, "dest_item_idx": 1})
    assert across.status_code == 200
    assert _titles(await _run(api, team, run["id"])) == [["Page the on-call", "Open a bridge"],
                                                         ["Mitigate", "Assess impact", "Confirm recovery"]]
    to_end = await api.call("POST", path, team.alice_token, json={"source_checklist_idx": 1, "source_item_idx": 0,
                                                                  "dest_checklist_idx": 1, "dest_item_idx": 2})
    assert to_end.status_code == 200
    assert _titles(await _run(api, team, run["id"]))[1] == ["Assess impact", "Confirm recovery", "Mitigate"]


async def test_running_an_items_slash_command_executes_it_in_the_run_channel(api, team, run) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", f"{PB}/runs/{run['id']}/checklists/0/item/1/run", team.alice_token)
    assert response.status_code == 200, response.text
    got = await _run(api, team, run["id"])
    assert got["checklists"][0]["items"][1]["command_last_run"] > 0
    assert got["timeline_events"][-1]["event_type"] == "ran_slash_command"
    posts = (await api.call("GET", f"/api/v4/channels/{run['channel_id']}/posts", team.alice_token)).json()
    assert any(p["message"] == "bridge" for p in posts["posts"].values())
    none = await api.call("POST", f"{PB}/runs/{run['id']}/checklists/0/item/0/run", team.alice_token)
    assert (none.status_code, none.json()) == (400, {"error": "the item has no slash command"})


async def test_duplicates_and_a_whole_checklist_skipped_then_restored(api, team, run) -> None:  # type: ignore[no-untyped-def]
    base = f"{PB}/runs/{run['id']}/checklists"
    await api.call("PUT", f"{base}/0/item/1/state", team.alice_token, json={"new_state": "closed"})
    assert (await api.call("POST", f"{base}/0/item/1/duplicate", team.alice_token)).status_code == 201
    got = await _run(api, team, run["id"])
    assert _titles(got)[0] == ["Page the on-call", "Open a bridge", "Open a bridge", "Assess impact"]
    assert got["checklists"][0]["items"][2]["state"] == "closed"  # copied as it is, as the plugin
    assert (await api.call("POST", f"{base}/1/duplicate", team.alice_token)).status_code == 201
    assert [c["title"] for c in (await _run(api, team, run["id"]))["checklists"]] == ["Triage", "Resolve", "Resolve"]
    assert (await api.call("PUT", f"{base}/2/skip", team.alice_token)).status_code == 204
    skipped = (await _run(api, team, run["id"]))["checklists"][2]["items"]
    assert {i["state"] for i in skipped} == {"skipped"}
    assert (await api.call("PUT", f"{base}/2/restore", team.alice_token)).status_code == 204
    assert {i["state"] for i in (await _run(api, team, run["id"]))["checklists"][2]["items"]} == {""}
    before = await api.node.store.digest()
    assert (await api.call("PUT", f"{base}/5/skip", team.alice_token)).status_code == 400
    assert (await api.call("POST", f"{base}/0/item/9/duplicate", team.alice_token)).status_code == 400
    assert await api.node.store.digest() == before
