"""The in-process node of tests/edgenode/api (same fixtures: api, team), plus a playbook and a run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from support.playbooks import PB, playbook_body

_spec = importlib.util.spec_from_file_location("_api_conftest", Path(__file__).parents[1] / "api" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api = importlib.util.module_from_spec(_spec)
sys.modules["_api_conftest"] = _api  # dataclasses look their module up
_spec.loader.exec_module(_api)
api, team, node_settings, cheap_password_hashing = _api.api, _api.team, _api.node_settings, _api.cheap_password_hashing

@pytest.fixture
async def playbook(api: Any, team: Any) -> str:
    response = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(team.id))
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


@pytest.fixture
async def run(api: Any, team: Any, playbook: str) -> dict[str, Any]:
    response = await api.call("POST", f"{PB}/runs", team.alice_token,
                              json={"name": "Database down", "team_id": team.id, "playbook_id": playbook,
                                    "owner_user_id": team.alice["id"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
