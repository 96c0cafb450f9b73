"""Runs: POST/GET/PATCH /runs, listing filters and paging, owner, status updates, finish, restore,
retrospective and metrics, timeline; permissions and bad input (the plugin's error body, nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
from support.playbooks import PB, playbook_body


async def _private_run(api: Any, team: Any) -> dict[str, Any]:
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(team.id, public=False))
    response = await api.call("POST", f"{PB}/runs", team.alice_token,
                              json={"name": "Secret", "team_id": team.id, "playbook_id": created.json()["id"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_run_copies_the_playbook_opens_its_channel_and_announces_itself(api, team, playbook, run) -> None:  # type: ignore[no-untyped-def]
    assert (run["name"], run["playbook_id"], run["team_id"], run["type"], run["current_status"]) == (
        "Database down", playbook, team.id, "playbook", "InProgress")
    assert (run["owner_user_id"], run["reporter_user_id"], run["participant_ids"]) == (
        team.alice["id"], team.alice["id"], [team.alice["id"]])
    assert [c["title"] for c in run["checklists"]] == ["Triage", "Resolve"]
    assert run["items_order"] == [c["id"] for c in run["checklists"]]
    triage = run["checklists"][0]
    assert [i["title"] for i in triage["items"]] == ["Page the on-call", "Open a bridge", "Assess impact"]
    assert triage["items_order"] == [i["id"] for i in triage["items"]]
    assert triage["items"][2]["due_date"] == run["create_at"] + 3_600_000  # relative in the playbook, absolute here
    assert triage["items"][1]["command"] == "/echo bridge" and triage["items"][0]["state"] == ""
    assert (run["task_total"], run["task_completed"], run["reminder_timer_default_seconds"]) == (5, 0, 3600)
    assert [e["event_type"] for e in run["timeline_events"]] == ["incident_created"]
    channel = (await api.call("GET", f"/api/v4/channels/{run['channel_id']}", team.alice_token)).json()
    assert channel["type"] == "P" and channel["display_name"] == "Database down"
    posts = (await api.call("GET", f"/api/v4/channels/{run['channel_id']}/posts", team.alice_token)).json()
    assert any("started the run **Database down**" in p["message"] for p in posts["posts"].values())
    again = await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)
    assert again.json() == run
    by_channel = await api.call("GET", f"{PB}/runs/channel/{run['channel_id']}", team.alice_token)
    assert by_channel.json()["id"] == run["id"]
    pb = (await api.call("GET", f"{PB}/playbooks/{playbook}", team.alice_token)).json()
    assert (pb["num_runs"], pb["active_runs"]) == (1, 1)


async def test_a_run_without_a_playbook_in_an_existing_channel(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", f"{PB}/runs", team.alice_token,
                              json={"name": "Checklist", "channel_id": team.town_square})
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["type"], run["channel_id"], run["team_id"], run["checklists"]) == (
        "channelChecklist", team.town_square, team.id, [])
    assert response.headers["Location"] == f"/api/v0/runs/{run['id']}"


@pytest.mark.parametrize("body, status, message", [
    ({"name": ""}, 400, "missing name"),
    ({"name": "x" * 1025}, 400, "invalid name: a string of at most 1024 characters"),
    ({"team_id": ""}, 400, "must provide team_id or channel_id to create a playbook run"),
    ({"owner_user_id": "q" * 26}, 400, "owner_user_id must be a member of the run's team"),
    ({"playbook_id": "q" * 26}, 403, "Not authorized"),
    ({"create_public_run": "yes"}, 400, "invalid create_public_run"),
])
async def test_bad_run_input_is_refused_and_nothing_is_written(api, team, playbook, body: dict[str, Any], status: int,
                                                               message: str) -> None:  # type: ignore[no-untyped-def]
    before = await api.node.store.digest()
    response = await api.call("POST", f"{PB}/runs", team.alice_token,
                              json={"name": "r", "team_id": team.id, "playbook_id": playbook, **body})
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert await api.node.store.digest() == before


async def test_a_run_of_another_teams_playbook_is_refused(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    other = await api.call("POST", "/api/v4/teams", api.admin_token, json={"name": "other", "display_name": "O", "type": "O"})
    before = await api.node.store.digest()
    response = await api.call("POST", f"{PB}/runs", api.admin_token,
                              json={"name": "r", "team_id": other.json()["id"], "playbook_id": playbook})
    assert (response.status_code, response.json()) == (400, {"error": "the playbook belongs to another team"})
    assert await api.node.store.digest() == before


async def test_a_private_run_is_hidden_from_non_participants_on_every_route(api, team) -> None:  # type: ignore[no-untyped-def]
    run = await _private_run(api, team)
    rid = run["id"]
    for method, path in (("GET", f"/runs/{rid}"), ("GET", f"/runs/{rid}/metadata"), ("GET", f"/runs/{rid}/status-updates"),
                         ("GET", f"/runs/{rid}/timeline"), ("GET", f"/runs/channel/{run['channel_id']}")):
        response = await api.call(method, PB + path, team.bob_token)
        assert (path, response.status_code, response.json()) == (path, 403, {"error": "Not authorized"})
    listed = (await api.call("GET", f"{PB}/runs?team_id={team.id}", team.bob_token)).json()
    assert (listed["total_count"], listed["items"]) == (0, [])
    assert (await api.call("GET", f"/api/v4/channels/{run['channel_id']}/posts", team.bob_token)).status_code == 403
    before = await api.node.store.digest()
    for method, path, body in (("PATCH", f"/runs/{rid}", {"name": "x"}), ("POST", f"/runs/{rid}/owner", {"owner_id": team.bob["id"]}),
                               ("POST", f"/runs/{rid}/status", {"message": "m", "reminder": 60}),
                               ("PUT", f"/runs/{rid}/finish", None),
                               ("PUT", f"/runs/{rid}/checklists/0/item/0/state", {"new_state": "closed"})):
        response = await api.call(method, PB + path, team.bob_token, json=body)
        assert (path, response.status_code) == (path, 403)
    assert await api.node.store.digest() == before


async def test_a_public_playbooks_run_is_visible_to_the_team_but_changed_only_by_participants(api, team, run) -> None:  # type: ignore[no-untyped-def]
    assert (await api.call("GET", f"{PB}/runs/{run['id']}", team.bob_token)).status_code == 200
    denied = await api.call("PATCH", f"{PB}/runs/{run['id']}", team.bob_token, json={"name": "mine"})
    assert (denied.status_code, denied.json()) == (403, {"error": "Not authorized"})
    added = await api.call("POST", f"{PB}/runs/{run['id']}/participants", team.alice_token,
                           json={"user_ids": [team.bob["id"]]})
    assert added.status_code == 200
    patched = await api.call("PATCH", f"{PB}/runs/{run['id']}", team.bob_token, json={"name": "mine", "summary": "s"})
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["summary"]) == ("mine", "s")
    assert patched.json()["summary_modified_at"] > 0


async def test_listing_filters_and_pages(api, team, playbook, run) -> None:  # type: ignore[no-untyped-def]
    second = (await api.call("POST", f"{PB}/runs", team.bob_token,
                             json={"name": "Network flap", "team_id": team.id, "playbook_id": playbook})).json()
    await api.call("PUT", f"{PB}/runs/{second['id']}/finish", team.bob_token)

    async def ids(query: str, token: str = team.alice_token) -> list[str]:
        response = await api.call("GET", f"{PB}/runs?team_id={team.id}&{query}", token)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert await ids("") == [second["id"], run["id"]]  # newest first
    assert await ids("statuses=InProgress") == [run["id"]]
    assert await ids("statuses=Finished&statuses=InProgress&direction=asc") == [run["id"], second["id"]]
    assert await ids(f"owner_user_id={team.bob['id']}") == [second["id"]]
    assert await ids("participant_id=me", team.bob_token) == [second["id"]]
    assert await ids("search_term=flap") == [second["id"]]
    assert await ids(f"playbook_id={playbook}&per_page=1&page=1") == [run["id"]]
    page = (await api.call("GET", f"{PB}/runs?team_id={team.id}&per_page=1", team.alice_token)).json()
    assert (page["total_count"], page["page_count"], page["per_page"], page["has_more"]) == (2, 2, 1, True)
    bad = await api.call("GET", f"{PB}/runs?statuses=Sleeping", team.alice_token)
    assert (bad.status_code, bad.json()) == (400, {"error": "bad parameter 'statuses'"})


async def test_owner_change_is_recorded_and_the_new_owner_takes_part(api, team, run) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", f"{PB}/runs/{run['id']}/owner", team.alice_token, json={"owner_id": team.bob["id"]})
    assert (response.status_code, response.json()) == (200, {})
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.bob_token)).json()
    assert got["owner_user_id"] == team.bob["id"] and team.bob["id"] in got["participant_ids"]
    assert got["timeline_events"][-1]["event_type"] == "owner_changed"
    assert got["timeline_events"][-1]["subject_user_id"] == team.bob["id"]
    before = await api.node.store.digest()
    bad = await api.call("POST", f"{PB}/runs/{run['id']}/owner", team.bob_token, json={"owner_id": "nobody"})
    assert (bad.status_code, bad.json()) == (400, {"error": "owner_id must be a member of the run's team"})
    assert await api.node.store.digest() == before


async def test_a_status_update_is_a_post_in_the_run_channel_and_listed_newest_first(api, team, run) -> None:  # type: ignore[no-untyped-def]
    for message in ("Investigating", "Mitigated"):
        response = await api.call("POST", f"{PB}/runs/{run['id']}/status", team.alice_token,
                                  json={"message": message, "reminder": 900})
        assert (response.status_code, response.json()) == (200, {"status": "OK"})
    updates = (await api.call("GET", f"{PB}/runs/{run['id']}/status-updates", team.alice_token)).json()
    assert [(u["message"], u["author_user_name"]) for u in updates] == [("Mitigated", "alice"), ("Investigating", "alice")]
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert [p["id"] for p in got["status_posts"]] == [u["id"] for u in reversed(updates)]
    assert got["reminder_timer_default_seconds"] == 900 and got["last_status_update_at"] > 0
    post = (await api.call("GET", f"/api/v4/posts/{updates[0]['id']}", team.alice_token)).json()
    assert (post["type"], post["message"], post["channel_id"]) == ("custom_run_update", "Mitigated", run["channel_id"])
    assert post["props"] == {"playbook_run_id": run["id"]}


@pytest.mark.parametrize("body, message", [
    ({"message": "", "reminder": 60}, "message must not be empty"),
    ({"message": "m", "reminder": 0}, "the reminder must be set and not 0"),
    ({"message": "x" * 16_384, "reminder": 60}, "invalid message: a string of at most 16383 characters"),
])
async def test_bad_status_updates_are_refused(api, team, run, body: dict[str, Any], message: str) -> None:  # type: ignore[no-untyped-def]
    before = await api.node.store.digest()
    response = await api.call("POST", f"{PB}/runs/{run['id']}/status", team.alice_token, json=body)
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert await api.node.store.digest() == before


async def test_finish_with_a_last_update_then_restore(api, team, run) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", f"{PB}/runs/{run['id']}/status", team.alice_token,
                              json={"message": "All clear", "finish_run": True})
    assert response.status_code == 200
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert got["current_status"] == "Finished" and got["end_at"] > 0
    item = await api.call("PUT", f"{PB}/runs/{run['id']}/checklists/0/item/0/state", team.alice_token,
                          json={"new_state": "closed"})
    assert (item.status_code, item.json()) == (400, {"error": "cannot modify a finished run"})
    restored = await api.call("PUT", f"{PB}/runs/{run['id']}/restore", team.alice_token)
    assert (restored.status_code, restored.json()) == (200, {"status": "OK"})
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert (got["current_status"], got["end_at"]) == ("InProgress", 0)
    assert [e["event_type"] for e in got["timeline_events"]] == [
        "incident_created", "status_updated", "run_finished", "run_restored"]


async def test_retrospective_saved_then_published_with_metrics(api, team, playbook, run) -> None:  # type: ignore[no-untyped-def]
    metric = (await api.call("GET", f"{PB}/playbooks/{playbook}", team.alice_token)).json()["metrics"][0]["id"]
    saved = await api.call("POST", f"{PB}/runs/{run['id']}/retrospective", team.alice_token,
                           json={"retrospective": "draft", "metrics": [{"metric_config_id": metric, "value": 1000}]})
    assert saved.status_code == 200 and saved.content == b""
    published = await api.call("POST", f"{PB}/runs/{run['id']}/retrospective/publish", team.alice_token,
                               json={"retrospective": "final", "metrics": [{"metric_config_id": metric, "value": 2000}]})
    assert published.status_code == 200
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert (got["retrospective"], got["metrics_data"]) == ("final", [{"metric_config_id": metric, "value": 2000}])
    assert got["retrospective_published_at"] > 0 and got["timeline_events"][-1]["event_type"] == "published_retrospective"
    before = await api.node.store.digest()
    again = await api.call("POST", f"{PB}/runs/{run['id']}/retrospective/publish", team.alice_token, json={"retrospective": "x"})
    assert (again.status_code, again.json()) == (400, {"error": "retrospective is already published"})
    unknown = await api.call("POST", f"{PB}/runs/{run['id']}/retrospective", team.alice_token,
                             json={"retrospective": "x", "metrics": [{"metric_config_id": "nope", "value": 1}]})
    assert unknown.status_code == 400
    too_many = await api.call("POST", f"{PB}/runs/{run['id']}/retrospective", team.alice_token,
                              json={"retrospective": "x", "metrics": [{"metric_config_id": metric, "value": 1}] * 5})
    assert (too_many.status_code, too_many.json()) == (400, {"error": "invalid metrics: at most 4 values"})
    assert await api.node.store.digest() == before


async def test_a_playbook_that_links_an_existing_channel_runs_there(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(
        team.id, channel_mode="link_existing_channel", channel_id=team.town_square))
    assert created.status_code == 201, created.text
    run = await api.call("POST", f"{PB}/runs", team.alice_token,
                         json={"name": "In the square", "team_id": team.id, "playbook_id": created.json()["id"]})
    assert run.status_code == 201 and run.json()["channel_id"] == team.town_square
    before = await api.node.store.digest()
    bad = await api.call("POST", f"{PB}/playbooks", team.alice_token,
                         json=playbook_body(team.id, channel_mode="somewhere"))
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid channel_mode: create_new_channel or link_existing_channel"})
    assert await api.node.store.digest() == before
