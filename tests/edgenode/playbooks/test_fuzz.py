"""Hostile JSON at the Playbooks write routes: never a 5xx; every refusal is the plugin's error body
and leaves the store's digest unchanged."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.playbooks import PB, playbook_body

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=40), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
FIELDS = st.sampled_from(["title", "team_id", "public", "checklists", "metrics", "members", "items", "name",
                          "summary", "message", "reminder", "finish_run", "new_state", "assignee_id", "due_date",
                          "owner_id", "retrospective", "source_checklist_idx", "source_item_idx",
                          "dest_checklist_idx", "dest_item_idx", "reminder_timer_default_seconds", "playbook_id",
                          "channel_id", "user_ids", "status_enabled", "command", "description"])
BODIES = st.one_of(JSON, st.dictionaries(FIELDS, JSON, max_size=6))
ROUTES = [("POST", "/playbooks"), ("PUT", "/playbooks/{pb}"), ("POST", "/runs"), ("PATCH", "/runs/{run}"),
          ("POST", "/runs/{run}/status"), ("POST", "/runs/{run}/owner"), ("POST", "/runs/{run}/retrospective"),
          ("POST", "/runs/{run}/checklists"), ("POST", "/runs/{run}/checklists/move-item"),
          ("POST", "/runs/{run}/checklists/move"), ("POST", "/runs/{run}/checklists/0/add"),
          ("PUT", "/runs/{run}/checklists/0/item/1"), ("PUT", "/runs/{run}/checklists/0/item/1/state"),
          ("PUT", "/runs/{run}/checklists/0/item/1/assignee"), ("PUT", "/runs/{run}/checklists/0/item/1/duedate"),
          ("POST", "/runs/{run}/participants"), ("PUT", "/runs/{run}/status-update-enabled"),
          ("POST", "/playbooks/import?team_id={team}")]


async def test_random_bodies_never_break_a_route_nor_half_apply(api, team, playbook, run) -> None:  # type: ignore[no-untyped-def]
    ids = {"pb": playbook, "run": run["id"], "team": team.id}

    @settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(route=st.sampled_from(ROUTES), body=BODIES, with_team=st.booleans())
    def check(route: tuple[str, str], body: Any, with_team: bool) -> None:
        if with_team and isinstance(body, dict) and route[1] == "/playbooks":
            body = {**playbook_body(team.id), **body}
        cases.append((route, body))

    cases: list[tuple[tuple[str, str], Any]] = []
    check()
    for (method, path), body in cases:
        before = await api.node.store.digest()
        response = await api.call(method, PB + path.format(**ids), team.alice_token, json=body)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, response.text
            assert await api.node.store.digest() == before, (method, path, body)
