"""Playbooks: POST/GET/PUT/PATCH/DELETE /playbooks, restore, duplicate, export/import, permissions and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from support.playbooks import PB, playbook_body


async def test_a_playbook_is_created_read_and_listed_in_the_plugins_shape(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    got = await api.call("GET", f"{PB}/playbooks/{playbook}", team.alice_token)
    assert got.status_code == 200
    body = got.json()
    assert (body["id"], body["title"], body["team_id"], body["public"], body["delete_at"]) == (
        playbook, "Incident response", team.id, True, 0)
    assert (body["num_stages"], body["num_steps"], body["num_runs"]) == (2, 5, 0)
    assert [c["title"] for c in body["checklists"]] == ["Triage", "Resolve"]
    assert body["members"] == [{"user_id": team.alice["id"], "roles": ["playbook_member", "playbook_admin"],
                                "scheme_roles": ["playbook_member", "playbook_admin"]}]
    assert body["metrics"][0]["type"] == "metric_duration" and body["metrics"][0]["playbook_id"] == playbook
    assert body["reminder_timer_default_seconds"] == 3600 and body["channel_mode"] == "create_new_channel"
    listed = await api.call("GET", f"{PB}/playbooks?team_id={team.id}", team.bob_token)
    assert listed.status_code == 200
    page = listed.json()
    assert (page["total_count"], page["page_count"], page["has_more"]) == (1, 1, False)
    assert [p["id"] for p in page["items"]] == [playbook]


async def test_creating_answers_201_with_the_id_and_its_location(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", f"{PB}/playbooks", team.bob_token, json=playbook_body(team.id))
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v0/playbooks/{response.json()['id']}"


@pytest.mark.parametrize("change, message", [
    ({"reminder_timer_default_seconds": 0}, "playbook ReminderTimerDefaultSeconds must be > 0"),
    ({"title": ""}, "missing title"),
    ({"title": "x" * 1025}, "invalid title: a string of at most 1024 characters"),
    ({"metrics": [{"title": f"m{i}", "type": "metric_integer"} for i in range(5)]},
     "playbook cannot have more than 4 key metrics"),
    ({"metrics": [{"title": "m", "type": "metric_weight"}]},
     "invalid metric: type must be one of metric_duration, metric_currency, metric_integer"),
    ({"checklists": [{"title": "a", "items": [{"title": ""}]}]}, "missing title"),
    ({"id": "a" * 26}, "Playbook given already has ID"),
    ({"webhook_on_creation_urls": ["ftp://x"]}, "invalid webhook_on_creation_urls: http or https URLs"),
])
async def test_bad_input_gets_the_plugins_error_body_and_writes_nothing(api, team, change: dict[str, Any],
                                                                       message: str) -> None:  # type: ignore[no-untyped-def]
    before = await api.node.store.digest()
    response = await api.call("POST", f"{PB}/playbooks", team.alice_token, json={**playbook_body(team.id), **change})
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert await api.node.store.digest() == before


async def test_another_teams_channel_is_no_broadcast_target(api, team) -> None:  # type: ignore[no-untyped-def]
    other = await api.call("POST", "/api/v4/teams", api.admin_token, json={"name": "other", "display_name": "O", "type": "O"})
    square = await api.call("GET", f"/api/v4/teams/{other.json()['id']}/channels/name/town-square", api.admin_token)
    before = await api.node.store.digest()
    response = await api.call("POST", f"{PB}/playbooks", team.alice_token,
                              json=playbook_body(team.id, broadcast_channel_ids=[square.json()["id"]]))
    assert response.status_code == 400 and "broadcast_channel_ids" in response.json()["error"]
    assert await api.node.store.digest() == before


async def test_a_private_playbook_is_seen_only_by_its_members(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(team.id, public=False))
    playbook = created.json()["id"]
    denied = await api.call("GET", f"{PB}/playbooks/{playbook}", team.bob_token)
    assert (denied.status_code, denied.json()) == (403, {"error": "Not authorized"})
    listed = (await api.call("GET", f"{PB}/playbooks?team_id={team.id}", team.bob_token)).json()
    assert listed["total_count"] == 0 and listed["items"] == []
    assert (await api.call("GET", f"{PB}/playbooks/{playbook}/export", team.bob_token)).status_code == 403
    assert (await api.call("POST", f"{PB}/playbooks/{playbook}/duplicate", team.bob_token)).status_code == 403
    assert (await api.call("GET", f"{PB}/playbooks/{playbook}", api.admin_token)).status_code == 200


async def test_only_a_playbook_admin_makes_it_private(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    before = await api.node.store.digest()
    denied = await api.call("PUT", f"{PB}/playbooks/{playbook}", team.bob_token, json=playbook_body(team.id, public=False))
    assert (denied.status_code, denied.json()) == (403, {"error": "Not authorized"})
    assert await api.node.store.digest() == before
    allowed = await api.call("PUT", f"{PB}/playbooks/{playbook}", team.alice_token,
                             json=playbook_body(team.id, public=False, title="Renamed"))
    assert allowed.status_code == 200 and allowed.content == b""
    got = (await api.call("GET", f"{PB}/playbooks/{playbook}", team.alice_token)).json()
    assert (got["title"], got["public"]) == ("Renamed", False)


async def test_a_non_member_of_the_team_sees_nothing_and_an_unknown_id_is_not_authorized(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    await api.create_user("outsider")
    token = await api.login("outsider")
    assert (await api.call("GET", f"{PB}/playbooks/{playbook}", token)).status_code == 403
    assert (await api.call("POST", f"{PB}/playbooks", token, json=playbook_body(team.id))).status_code == 403
    assert (await api.call("GET", f"{PB}/playbooks/{'z' * 26}", team.alice_token)).status_code == 403
    assert (await api.call("GET", f"{PB}/playbooks/{playbook}")).status_code == 401


async def test_archive_restore_and_an_archived_playbook_cannot_be_edited(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    assert (await api.call("DELETE", f"{PB}/playbooks/{playbook}", team.alice_token)).status_code == 204
    assert (await api.call("GET", f"{PB}/playbooks?team_id={team.id}", team.alice_token)).json()["total_count"] == 0
    archived = await api.call("GET", f"{PB}/playbooks?team_id={team.id}&with_archived=true", team.alice_token)
    assert archived.json()["items"][0]["delete_at"] > 0
    edit = await api.call("PUT", f"{PB}/playbooks/{playbook}", team.alice_token, json=playbook_body(team.id))
    assert edit.status_code == 400
    run = await api.call("POST", f"{PB}/runs", team.alice_token, json={"name": "r", "team_id": team.id,
                                                                        "playbook_id": playbook})
    assert run.status_code == 400
    assert (await api.call("PUT", f"{PB}/playbooks/{playbook}/restore", team.alice_token)).status_code == 204
    assert (await api.call("GET", f"{PB}/playbooks/{playbook}", team.alice_token)).json()["delete_at"] == 0


async def test_patch_sets_the_channel_name_template(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    patched = await api.call("PATCH", f"{PB}/playbooks/{playbook}", team.bob_token,
                             json={"channel_name_template": "inc {{.Name}}", "run_number_prefix": "INC"})
    assert patched.status_code == 204
    got = (await api.call("GET", f"{PB}/playbooks/{playbook}", team.bob_token)).json()
    assert (got["channel_name_template"], got["run_number_prefix"]) == ("inc {{.Name}}", "INC")


async def test_duplicate_and_export_then_import_copy_the_template(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    dup = await api.call("POST", f"{PB}/playbooks/{playbook}/duplicate", team.bob_token)
    assert dup.status_code == 201
    copy = (await api.call("GET", f"{PB}/playbooks/{dup.json()['id']}", team.bob_token)).json()
    assert copy["title"] == "Copy of Incident response" and copy["num_steps"] == 5
    assert [m["user_id"] for m in copy["members"]] == [team.bob["id"]]
    exported = await api.call("GET", f"{PB}/playbooks/{playbook}/export", team.alice_token)
    assert exported.status_code == 200
    body = exported.json()
    assert "id" not in body and "team_id" not in body and body["version"] == 1
    imported = await api.call("POST", f"{PB}/playbooks/import?team_id={team.id}", team.bob_token, json=body)
    assert imported.status_code == 201, imported.text
    again = (await api.call("GET", f"{PB}/playbooks/{imported.json()['id']}", team.bob_token)).json()
    assert [c["title"] for c in again["checklists"]] == ["Triage", "Resolve"]
    assert [i["title"] for i in again["checklists"][0]["items"]] == ["Page the on-call", "Open a bridge", "Assess impact"]
    assert again["metrics"][0]["title"] == "Time to mitigate"


async def test_listing_pages_and_searches(api, team) -> None:  # type: ignore[no-untyped-def]
    for title in ("alpha", "beta", "gamma"):
        await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(team.id, title=title))
    page = (await api.call("GET", f"{PB}/playbooks?team_id={team.id}&page=1&per_page=2", team.alice_token)).json()
    assert ([p["title"] for p in page["items"]], page["total_count"], page["page_count"], page["has_more"]) == (
        ["gamma"], 3, 2, False)
    found = (await api.call("GET", f"{PB}/playbooks?team_id={team.id}&search_term=ET", team.alice_token)).json()
    assert [p["title"] for p in found["items"]] == ["beta"]
