"""Followers, timeline event removal, the status-update and retrospective switches, and /runs/owners."""

from __future__ import annotations

from support.playbooks import PB


async def test_follow_and_unfollow_a_visible_run(api, team, run) -> None:  # type: ignore[no-untyped-def]
    path = f"{PB}/runs/{run['id']}/followers"
    assert (await api.call("PUT", path, team.bob_token)).status_code == 200
    assert (await api.call("GET", path, team.alice_token)).json() == [team.bob["id"]]
    mine = (await api.call("GET", f"{PB}/runs?participant_or_follower_id=me", team.bob_token)).json()
    assert [r["id"] for r in mine["items"]] == [run["id"]]
    meta = (await api.call("GET", f"{PB}/runs/{run['id']}/metadata", team.alice_token)).json()
    assert meta["followers"] == [team.bob["id"]]
    assert (await api.call("DELETE", path, team.bob_token)).status_code == 200
    assert (await api.call("GET", path, team.alice_token)).json() == []


async def test_a_private_run_cannot_be_followed_by_an_outsider(api, team) -> None:  # type: ignore[no-untyped-def]
    from support.playbooks import playbook_body
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(team.id, public=False))
    run = (await api.call("POST", f"{PB}/runs", team.alice_token,
                          json={"name": "s", "team_id": team.id, "playbook_id": created.json()["id"]})).json()
    before = await api.node.store.digest()
    refused = await api.call("PUT", f"{PB}/runs/{run['id']}/followers", team.bob_token)
    assert (refused.status_code, refused.json()) == (403, {"error": "Not authorized"})
    assert await api.node.store.digest() == before


async def test_a_removed_timeline_event_is_no_longer_shown(api, team, run) -> None:  # type: ignore[no-untyped-def]
    await api.call("PUT", f"{PB}/runs/{run['id']}/checklists/0/item/0/state", team.alice_token, json={"new_state": "closed"})
    events = (await api.call("GET", f"{PB}/runs/{run['id']}/timeline", team.alice_token)).json()
    removed = await api.call("DELETE", f"{PB}/runs/{run['id']}/timeline/{events[-1]['id']}", team.alice_token)
    assert removed.status_code == 204
    left = (await api.call("GET", f"{PB}/runs/{run['id']}/timeline", team.alice_token)).json()
    assert [e["event_type"] for e in left] == ["incident_created"]
    again = await api.call("DELETE", f"{PB}/runs/{run['id']}/timeline/{events[-1]['id']}", team.alice_token)
    assert (again.status_code, again.json()) == (404, {"error": "timeline event not found"})
    assert (await api.call("DELETE", f"{PB}/runs/{run['id']}/timeline/{events[0]['id']}", team.bob_token)).status_code == 403


async def test_the_switches_are_recorded_and_need_a_boolean(api, team, run) -> None:  # type: ignore[no-untyped-def]
    off = await api.call("PUT", f"{PB}/runs/{run['id']}/status-update-enabled", team.alice_token,
                         json={"status_enabled": False})
    assert (off.status_code, off.json()) == (200, {"success": True})
    retro = await api.call("PUT", f"{PB}/runs/{run['id']}/retrospective-enabled", team.alice_token,
                           json={"retrospective_enabled": False})
    assert retro.status_code == 200
    got = (await api.call("GET", f"{PB}/runs/{run['id']}", team.alice_token)).json()
    assert (got["status_update_enabled"], got["retrospective_enabled"]) == (False, False)
    assert [e["event_type"] for e in got["timeline_events"]][-2:] == ["status_updates_disabled", "retrospective_disabled"]
    before = await api.node.store.digest()
    bad = await api.call("PUT", f"{PB}/runs/{run['id']}/retrospective-enabled", team.alice_token, json={})
    assert (bad.status_code, bad.json()) == (400, {"error": "retrospective_enabled is required"})
    assert await api.node.store.digest() == before


async def test_owners_lists_the_owners_of_visible_runs(api, team, run) -> None:  # type: ignore[no-untyped-def]
    owners = (await api.call("GET", f"{PB}/runs/owners?team_id={team.id}", team.bob_token)).json()
    assert [(o["user_id"], o["username"]) for o in owners] == [(team.alice["id"], "alice")]
