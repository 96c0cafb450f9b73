"""Routes the official clients call on start answer in Mattermost's shapes, and reveal nothing the caller may not see.

Shapes as in mattermost/server/channels/api4 (user.go autocompleteUsers, getUserStatusesByIds,
getSessions, revokeSession; emoji.go getEmojiList; license.go getClientLicense) and model/
(UserAutocomplete, Status, Session). A real node on a real SQLite file, driven over its ASGI app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgenode.api.app import build_app
from edgenode.node import open_node


@dataclass
class World:
    """An admin; a team "field-ops" with alice and bob; carol in another team "hq"; dave in no team; a private
    channel of alice's. The admin created both teams, so is a member of both."""

    client: httpx.AsyncClient
    tokens: dict[str, str]
    ids: dict[str, str]

    async def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, who: str | None = None, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, who, **kwargs)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    import edgenode.services.users as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


async def _login(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/api/v4/users/login", json={"login_id": name, "password": "password1"})
    assert response.status_code == 200, response.text
    return response.headers["Token"]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_node(tmp_path / "node") as node:
        transport = httpx.ASGITransport(app=build_app(node.services))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            w = World(client, {}, {})
            for name in ("admin", "alice", "bob", "carol", "dave"):
                user = await w.ok("POST", "/api/v4/users", "admin" if w.tokens else None, status=201,
                                  json={"username": name, "email": f"{name}@example.com", "password": "password1"})
                w.ids[name], w.tokens[name] = user["id"], await _login(client, name)
            for team, members in (("field-ops", ("alice", "bob")), ("hq", ("carol",))):
                created = await w.ok("POST", "/api/v4/teams", "admin", status=201,
                                     json={"name": team, "display_name": team, "type": "O"})
                w.ids[team] = created["id"]
                for member in members:
                    await w.ok("POST", f"/api/v4/teams/{created['id']}/members", "admin", status=201,
                               json={"team_id": created["id"], "user_id": w.ids[member]})
            secret = await w.ok("POST", "/api/v4/channels", "alice", status=201,
                                json={"team_id": w.ids["field-ops"], "name": "secret", "display_name": "Secret",
                                      "type": "P"})
            w.ids["secret"] = secret["id"]
            square = await w.ok("GET", f"/api/v4/teams/{w.ids['field-ops']}/channels/name/town-square", "admin")
            w.ids["town-square"] = square["id"]
            yield w


def _names(users: list[dict[str, Any]]) -> list[str]:
    return [u["username"] for u in users]


# -- /users/autocomplete ---------------------------------------------------------------------


async def test_autocomplete_in_a_channel_lists_its_members_and_the_teams_others_out_of_channel(world: World) -> None:
    found = await world.ok("GET", "/api/v4/users/autocomplete", "alice",
                           params={"in_team": world.ids["field-ops"], "in_channel": world.ids["secret"], "name": ""})
    assert set(found) == {"users", "out_of_channel"}
    assert _names(found["users"]) == ["alice"]
    assert _names(found["out_of_channel"]) == ["admin", "bob"]  # the admin created the team: a member
    assert "password_hash" not in found["users"][0] and found["users"][0]["id"] == world.ids["alice"]


async def test_autocomplete_matches_a_prefix_of_the_username_with_or_without_an_at_sign(world: World) -> None:
    for name in ("bo", "@bo", "BO"):
        found = await world.ok("GET", "/api/v4/users/autocomplete", "alice",
                               params={"in_team": world.ids["field-ops"], "name": name})
        assert found == {"users": found["users"]} and _names(found["users"]) == ["bob"], name


async def test_autocomplete_of_a_private_channel_is_refused_to_a_non_member(world: World) -> None:
    refused = await world.call("GET", "/api/v4/users/autocomplete", "bob",
                               params={"in_channel": world.ids["secret"], "name": "a"})
    assert refused.status_code == 403
    assert refused.json()["id"] == "api.context.permissions.app_error"


async def test_autocomplete_of_a_team_is_refused_to_a_non_member(world: World) -> None:
    refused = await world.call("GET", "/api/v4/users/autocomplete", "carol",
                               params={"in_team": world.ids["field-ops"], "name": ""})
    assert refused.status_code == 403


async def test_autocomplete_without_a_team_shows_only_users_who_share_a_team_or_channel(world: World) -> None:
    alone = await world.ok("GET", "/api/v4/users/autocomplete", "dave", params={"name": ""})
    assert _names(alone["users"]) == ["dave"]  # in no team: sees only themself
    alice = await world.ok("GET", "/api/v4/users/autocomplete", "alice", params={"name": ""})
    assert _names(alice["users"]) == ["admin", "alice", "bob"]  # not carol (other team), not dave
    admin = await world.ok("GET", "/api/v4/users/autocomplete", "admin", params={"name": ""})
    assert _names(admin["users"]) == ["admin", "alice", "bob", "carol", "dave"]


async def test_autocomplete_rejects_malformed_ids_and_limits_and_needs_a_session(world: World) -> None:
    assert (await world.call("GET", "/api/v4/users/autocomplete", "alice", params={"in_team": "nope"})).status_code == 400
    assert (await world.call("GET", "/api/v4/users/autocomplete", "alice", params={"limit": "x"})).status_code == 400
    assert (await world.call("GET", "/api/v4/users/autocomplete", params={"name": "a"})).status_code == 401
    limited = await world.ok("GET", "/api/v4/users/autocomplete", "admin", params={"name": "", "limit": "2"})
    assert _names(limited["users"]) == ["admin", "alice"]


# -- /users/status/ids -----------------------------------------------------------------------


async def test_statuses_by_ids_answer_one_status_per_user_in_mattermosts_shape(world: World) -> None:
    statuses = await world.ok("POST", "/api/v4/users/status/ids", "alice", json=[world.ids["bob"], world.ids["carol"]])
    assert statuses == [
        {"user_id": world.ids["bob"], "status": "offline", "manual": False, "last_activity_at": 0, "dnd_end_time": 0},
        {"user_id": world.ids["carol"], "status": "offline", "manual": False, "last_activity_at": 0, "dnd_end_time": 0},
    ]


async def test_statuses_by_ids_refuse_a_body_that_is_not_a_list_of_ids(world: World) -> None:
    for body in ([], ["not-an-id"], {"ids": []}, [1]):
        refused = await world.call("POST", "/api/v4/users/status/ids", "alice", json=body)
        assert refused.status_code == 400, body
        assert refused.json()["status_code"] == 400


# -- /emoji and /license/client --------------------------------------------------------------


async def test_custom_emoji_is_an_empty_list_that_honours_paging_and_sort(world: World) -> None:
    assert await world.ok("GET", "/api/v4/emoji", "alice", params={"page": "0", "per_page": "50", "sort": "name"}) == []
    assert (await world.call("GET", "/api/v4/emoji", "alice", params={"page": "-1"})).status_code == 400
    assert (await world.call("GET", "/api/v4/emoji", "alice", params={"sort": "size"})).status_code == 400
    assert (await world.call("GET", "/api/v4/emoji")).status_code == 401


async def test_the_client_license_in_the_old_format_says_unlicensed_without_a_session(world: World) -> None:
    assert await world.ok("GET", "/api/v4/license/client", params={"format": "old"}) == {"IsLicensed": "false"}
    assert (await world.call("GET", "/api/v4/license/client")).status_code == 400


# -- /users/{id}/sessions --------------------------------------------------------------------


async def test_a_user_lists_their_own_sessions_without_tokens(world: World) -> None:
    second = await _login(world.client, "bob")
    sessions = await world.ok("GET", "/api/v4/users/me/sessions", "bob")
    assert len(sessions) == 2
    for session in sessions:
        assert session["token"] == "" and session["user_id"] == world.ids["bob"]
        assert {"id", "create_at", "expires_at", "last_activity_at", "device_id", "roles", "is_oauth", "props"} <= set(session)
    assert world.tokens["bob"] not in str(sessions) and second not in str(sessions)
    assert await world.ok("GET", f"/api/v4/users/{world.ids['bob']}/sessions", "bob") == sessions


async def test_only_the_user_and_system_admins_see_a_users_sessions(world: World) -> None:
    refused = await world.call("GET", f"/api/v4/users/{world.ids['bob']}/sessions", "alice")
    assert refused.status_code == 403
    assert len(await world.ok("GET", f"/api/v4/users/{world.ids['bob']}/sessions", "admin")) == 1


async def test_revoking_a_session_ends_it_at_once_and_only_the_owner_or_an_admin_may(world: World) -> None:
    (session,) = await world.ok("GET", "/api/v4/users/me/sessions", "bob")
    path = f"/api/v4/users/{world.ids['bob']}/sessions/revoke"
    assert (await world.call("POST", path, "alice", json={"session_id": session["id"]})).status_code == 403
    assert (await world.call("GET", "/api/v4/users/me", "bob")).status_code == 200
    assert await world.ok("POST", path, "bob", json={"session_id": session["id"]}) == {"status": "OK"}
    assert (await world.call("GET", "/api/v4/users/me", "bob")).status_code == 401
    again = await world.call("POST", path, "admin", json={"session_id": session["id"]})
    assert again.status_code == 400  # no longer one of bob's sessions


async def test_a_session_of_another_user_cannot_be_revoked_through_ones_own_path(world: World) -> None:
    (alices,) = await world.ok("GET", "/api/v4/users/me/sessions", "alice")
    refused = await world.call("POST", "/api/v4/users/me/sessions/revoke", "bob", json={"session_id": alices["id"]})
    assert refused.status_code == 400
    assert (await world.call("GET", "/api/v4/users/me", "alice")).status_code == 200
