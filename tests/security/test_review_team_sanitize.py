"""Review: a team's invite id (which lets whoever holds it join) and its contact email are for those who
manage the team, as Mattermost's Team.Sanitize keeps them from everyone else; a team's email is checked
when the team is made, not only when it is patched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.members_world import World, world_at


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


def _secrets(team: dict[str, Any]) -> tuple[str, str]:
    return team["invite_id"], team["email"]


async def test_a_plain_member_sees_the_team_without_its_invite_id_and_email(world: World) -> None:
    await world.ok("PUT", f"/api/v4/teams/{world.team}/patch", "admin", json={"email": "ops@example.com"})
    seen = [
        await world.ok("GET", f"/api/v4/teams/{world.team}", "alice"),
        *[t for t in await world.ok("GET", "/api/v4/teams", "alice") if t["id"] == world.team],
        *[t for t in await world.ok("GET", "/api/v4/users/me/teams", "alice") if t["id"] == world.team],
    ]
    assert len(seen) == 3
    assert all(_secrets(team) == ("", "") for team in seen), seen
    managed = await world.ok("GET", f"/api/v4/teams/{world.team}", "admin")
    assert managed["invite_id"] != "" and managed["email"] == "ops@example.com"


async def test_the_creator_of_a_team_manages_it_and_sees_its_invite_id(world: World) -> None:
    made = await world.ok("POST", "/api/v4/teams", "bob", status=201,
                          json={"name": "bobs", "display_name": "Bobs", "type": "O", "email": "bob@example.com"})
    assert made["invite_id"] != "" and made["email"] == "bob@example.com"
    assert _secrets(await world.ok("GET", f"/api/v4/teams/{made['id']}", "bob")) == (made["invite_id"], "bob@example.com")


async def test_a_team_email_with_control_characters_is_refused_at_creation(world: World) -> None:
    response = await world.call("POST", "/api/v4/teams", "bob",
                                json={"name": "evil", "display_name": "Evil", "type": "O", "email": "a\x00@example.com"})
    assert response.status_code == 400
    assert response.json()["id"] == "model.team.is_valid.email.app_error"
    assert all(t["name"] != "evil" for t in await world.ok("GET", "/api/v4/teams", "admin"))
