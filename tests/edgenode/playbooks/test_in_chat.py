"""Playbooks in chat: /playbook run|check|update|finish|owner|list, keyword suggestions, and the incident
flow end to end (an alert through an incoming webhook starts the run; a slash command checks an item;
a status update; finish; the retrospective published)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from support.playbooks import PB, playbook_body


async def _command(api: Any, token: str, channel_id: str, command: str) -> dict[str, Any]:
    response = await api.call("POST", "/api/v4/commands/execute", token, json={"channel_id": channel_id, "command": command})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _runs(api: Any, team: Any, token: str) -> list[dict[str, Any]]:
    return (await api.call("GET", f"{PB}/runs?team_id={team.id}", token)).json()["items"]  # type: ignore[no-any-return]


async def _until_a_run(api: Any, team: Any, token: str) -> dict[str, Any]:
    for _ in range(200):
        runs = await _runs(api, team, token)
        if runs:
            return runs[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no run started")


async def test_slash_commands_drive_a_run_from_its_channel(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    started = await _command(api, team.alice_token, team.town_square, "/playbook run Incident response Disk full")
    assert started["text"].startswith("Playbook run Disk full started in ~disk-full-")
    (run,) = await _runs(api, team, team.alice_token)
    channel = run["channel_id"]
    checked = await _command(api, team.alice_token, channel, "/playbook check 0 1")
    assert checked["text"] == 'Checked "Open a bridge".'
    assert (await _command(api, team.alice_token, channel, "/playbook update Disk cleaned"))["text"] == "Status update posted."
    assert (await _command(api, team.alice_token, channel, "/playbook owner @bob"))["text"] == "The owner is now @bob."
    assert (await _command(api, team.alice_token, channel, "/playbook owner"))["text"] == "The owner of this run is @bob."
    listed = await _command(api, team.alice_token, channel, "/playbook list")
    assert listed["text"] == "Your runs in progress:\n- Disk full"
    assert (await _command(api, team.alice_token, channel, "/playbook finish"))["text"] == "Run Disk full finished."
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert got["checklists"][0]["items"][1]["state"] == "closed"
    assert (got["current_status"], got["owner_user_id"]) == ("Finished", team.bob["id"])
    assert [u["message"] for u in (await api.call("GET", f"{PB}/runs/{run['id']}/status-updates", team.alice_token)).json()] == [
        "Disk cleaned"]


async def test_slash_command_mistakes_answer_ephemerally_and_change_nothing(api, team, playbook) -> None:  # type: ignore[no-untyped-def]
    before = await api.node.store.digest()
    unknown = await _command(api, team.alice_token, team.town_square, "/playbook run Nonexistent")
    assert unknown["text"].startswith("Name a playbook to run") and "`Incident response`" in unknown["text"]
    outside = await _command(api, team.alice_token, team.town_square, "/playbook check 0 0")
    assert outside["text"] == "Could not check: Not authorized"  # town square has no run
    assert (await _command(api, team.alice_token, team.town_square, "/playbook"))["text"].startswith("Available commands")
    assert await api.node.store.digest() == before


async def test_a_post_with_a_keyword_suggests_the_playbook_to_its_author(api, team) -> None:  # type: ignore[no-untyped-def]
    await api.call("POST", f"{PB}/playbooks", team.alice_token,
                   json=playbook_body(team.id, signal_any_keywords=["outage"], signal_any_keywords_enabled=True))
    with api.node.services.ctx.events.subscribe() as events:
        await api.call("POST", "/api/v4/posts", team.bob_token, json={"channel_id": team.town_square,
                                                                      "message": "Is there an OUTAGE?"})
        for _ in range(200):
            sent = [e for e in (events.get_nowait() for _ in range(events.qsize())) if e.event == "ephemeral_message"]
            if sent:
                break
            await asyncio.sleep(0.02)
    assert len(sent) == 1 and sent[0].broadcast.user_id == team.bob["id"]
    assert "**Incident response**" in json.loads(sent[0].data["post"])["message"]
    assert await _runs(api, team, team.bob_token) == []  # a person's post only suggests


async def test_the_incident_flow_end_to_end(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(
        team.id, signal_any_keywords=["CRITICAL"], signal_any_keywords_enabled=True, default_owner_id=team.alice["id"],
        default_owner_enabled=True, create_public_playbook_run=True))
    playbook = created.json()["id"]
    hook = await api.call("POST", "/api/v4/hooks/incoming", api.admin_token,
                          json={"channel_id": team.town_square, "display_name": "monitoring"})
    assert hook.status_code == 201, hook.text
    alert = await api.call("POST", f"/hooks/{hook.json()['id']}", json={"text": "CRITICAL: db-1 unreachable\nsince 03:12"})
    assert alert.status_code == 200
    run = await _until_a_run(api, team, team.alice_token)
    assert (run["name"], run["playbook_id"], run["owner_user_id"], run["reporter_user_id"]) == (
        "CRITICAL: db-1 unreachable", playbook, team.alice["id"], api.admin["id"])
    assert run["summary"] == "CRITICAL: db-1 unreachable\nsince 03:12" and run["post_id"]
    checked = await _command(api, team.alice_token, run["channel_id"], "/playbook check 0 0")
    assert checked["text"] == 'Checked "Page the on-call".'
    update = await api.call("POST", f"{PB}/runs/{run['id']}/status", team.alice_token,
                            json={"message": "Failed over to db-2", "reminder": 1800})
    assert update.status_code == 200
    assert (await api.call("PUT", f"{PB}/runs/{run['id']}/finish", team.alice_token)).status_code == 200
    published = await api.call("POST", f"{PB}/runs/{run['id']}/retrospective/publish", team.alice_token,
                               json={"retrospective": "Add a replica health check."})
    assert published.status_code == 200
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert got["current_status"] == "Finished" and got["retrospective_published_at"] > 0
    assert got["checklists"][0]["items"][0]["state"] == "closed"
    assert [e["event_type"] for e in got["timeline_events"]] == [
        "incident_created", "task_state_modified", "status_updated", "run_finished", "published_retrospective"]
    posts = (await api.call("GET", f"/api/v4/channels/{run['channel_id']}/posts", team.alice_token)).json()["posts"]
    assert {p["type"] for p in posts.values()} >= {"custom_run_start", "custom_run_update", "custom_run_finished",
                                                    "custom_retro"}
    assert len(await _runs(api, team, team.alice_token)) == 1  # the run's own posts start nothing more


async def test_playbook_is_autocompleted_and_its_trigger_is_taken(api, team) -> None:  # type: ignore[no-untyped-def]
    listed = (await api.call("GET", f"/api/v4/teams/{team.id}/commands/autocomplete", team.alice_token)).json()
    (entry,) = [c for c in listed if c["trigger"] == "playbook"]
    assert (entry["plugin_id"], entry["auto_complete"], entry["token"]) == ("playbooks", True, "")
    taken = await api.call("POST", "/api/v4/commands", api.admin_token, json={
        "team_id": team.id, "trigger": "playbook", "url": "http://example.com/cmd", "method": "P"})
    assert (taken.status_code, taken.json()["id"]) == (400, "api.command.duplicate_trigger.app_error")
