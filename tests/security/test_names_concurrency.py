"""On one node, a name is taken once: concurrent sign-ups, creates and renames over real HTTP.

Every request of a burst goes out at once (asyncio.gather) to the node's real app served by uvicorn
on loopback; the store checks each name inside the writer's transaction, so exactly one wins and
the others get Mattermost's error for a taken name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.live_server import live_server

from edgenode.node import open_node

N = 8


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes ~0.1 s a hash; these tests hash dozens of times."""
    from argon2 import PasswordHasher

    import edgenode.services.users as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class Site:
    client: httpx.AsyncClient

    async def post(self, path: str, body: dict[str, Any], token: str = "") -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(f"/api/v4{path}", json=body, headers=headers)

    async def sign_up(self, username: str, email: str | None = None, token: str = "") -> httpx.Response:
        return await self.post("/users", {"username": username, "email": email or f"{username}@example.com",
                                          "password": "password1"}, token)

    async def login(self, username: str) -> str:
        response = await self.post("/users/login", {"login_id": username, "password": "password1"})
        assert response.status_code == 200, response.text
        return response.headers["Token"]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with open_node(tmp_path / "node") as node, live_server(node) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Site(client)


async def _admin(site: Site) -> str:
    assert (await site.sign_up("admin")).status_code == 201
    return await site.login("admin")


def _outcomes(responses: list[httpx.Response]) -> tuple[list[httpx.Response], list[str]]:
    created = [r for r in responses if r.status_code == 201]
    refused = [f"{r.status_code} {r.json()['id']}" for r in responses if r.status_code != 201]
    return created, refused


async def test_concurrent_sign_ups_with_one_username_make_exactly_one_user(site: Site) -> None:
    token = await _admin(site)
    responses = await asyncio.gather(*(site.sign_up("sam", f"sam{i}@example.com", token) for i in range(N)))
    created, refused = _outcomes(list(responses))
    assert len(created) == 1
    assert refused == ["400 app.user.save.username_exists.app_error"] * (N - 1)
    found = await site.client.get("/api/v4/users/username/sam", headers={"Authorization": f"Bearer {token}"})
    assert found.json()["id"] == created[0].json()["id"]


async def test_concurrent_sign_ups_with_one_email_in_any_case_make_exactly_one_user(site: Site) -> None:
    token = await _admin(site)
    responses = await asyncio.gather(*(site.sign_up(f"user{i}", f"Same@Example.com" if i % 2 else "same@example.com",
                                                    token) for i in range(N)))
    created, refused = _outcomes(list(responses))
    assert len(created) == 1
    assert created[0].json()["email"] == "same@example.com"
    assert refused == ["400 app.user.save.email_exists.app_error"] * (N - 1)


async def test_concurrent_open_first_sign_ups_make_exactly_one_user_the_system_admin(site: Site) -> None:
    responses = await asyncio.gather(*(site.sign_up(f"first{i}") for i in range(N)))
    created, refused = _outcomes(list(responses))
    assert len(created) == 1
    assert created[0].json()["roles"] == "system_admin system_user"
    # once there is a user, an open sign-up is closed: the others were refused, not made users
    assert refused == ["403 api.user.create_user.signup_email_disabled.app_error"] * (N - 1)
    token = await site.login(created[0].json()["username"])
    users = (await site.client.get("/api/v4/users", headers={"Authorization": f"Bearer {token}"})).json()
    assert [u["username"] for u in users] == [created[0].json()["username"]]


async def test_concurrent_team_creates_with_one_name_make_exactly_one_team(site: Site) -> None:
    token = await _admin(site)
    responses = await asyncio.gather(*(site.post("/teams", {"name": "rescue", "display_name": f"Rescue {i}", "type": "O"},
                                                 token) for i in range(N)))
    created, refused = _outcomes(list(responses))
    assert len(created) == 1
    assert refused == ["400 app.team.save.existing.app_error"] * (N - 1)


async def test_concurrent_channel_creates_with_one_name_in_a_team_make_exactly_one_channel(site: Site) -> None:
    token = await _admin(site)
    team = (await site.post("/teams", {"name": "rescue", "display_name": "Rescue", "type": "O"}, token)).json()
    responses = await asyncio.gather(*(site.post("/channels", {"team_id": team["id"], "name": "logistics",
                                                               "display_name": f"Logistics {i}", "type": "O"}, token)
                                       for i in range(N)))
    created, refused = _outcomes(list(responses))
    assert len(created) == 1
    assert refused == ["400 store.sql_channel.save_channel.exists.app_error"] * (N - 1)


async def test_concurrent_renames_to_one_username_let_exactly_one_through(site: Site) -> None:
    token = await _admin(site)
    users = [(await site.sign_up(f"user{i}", token=token)).json() for i in range(N)]
    responses = await asyncio.gather(*(site.client.put(f"/api/v4/users/{u['id']}/patch", json={"username": "chief"},
                                                       headers={"Authorization": f"Bearer {token}"}) for u in users))
    assert sorted(r.status_code for r in responses) == [200] + [400] * (N - 1)
    assert {r.json()["id"] for r in responses if r.status_code == 400} == {"app.user.save.username_exists.app_error"}
    holders = [u for u in users if (await site.client.get(f"/api/v4/users/{u['id']}",
                                                          headers={"Authorization": f"Bearer {token}"})).json()["username"] == "chief"]
    assert len(holders) == 1


async def test_a_rename_to_a_taken_username_is_refused_and_changes_nothing(site: Site) -> None:
    token = await _admin(site)
    bob = (await site.sign_up("bob", token=token)).json()
    response = await site.client.put(f"/api/v4/users/{bob['id']}/patch", json={"username": "Admin", "nickname": "B"},
                                     headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["id"]) == (400, "app.user.save.username_exists.app_error")
    again = (await site.client.get(f"/api/v4/users/{bob['id']}", headers={"Authorization": f"Bearer {token}"})).json()
    assert (again["username"], again["nickname"]) == ("bob", "")


async def test_renaming_a_user_to_its_own_name_is_accepted(site: Site) -> None:
    token = await _admin(site)
    bob = (await site.sign_up("bob", token=token)).json()
    response = await site.client.put(f"/api/v4/users/{bob['id']}/patch", json={"username": "bob", "nickname": "B"},
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert (response.json()["username"], response.json()["nickname"]) == ("bob", "B")


async def test_concurrent_channel_renames_to_one_name_let_exactly_one_through(site: Site) -> None:
    token = await _admin(site)
    team = (await site.post("/teams", {"name": "rescue", "display_name": "Rescue", "type": "O"}, token)).json()
    channels = [(await site.post("/channels", {"team_id": team["id"], "name": f"room{i}", "display_name": f"Room {i}",
                                               "type": "O"}, token)).json() for i in range(N)]
    responses = await asyncio.gather(*(site.client.put(f"/api/v4/channels/{c['id']}/patch", json={"name": "ops-room"},
                                                       headers={"Authorization": f"Bearer {token}"}) for c in channels))
    assert sorted(r.status_code for r in responses) == [200] + [400] * (N - 1)
    assert {r.json()["id"] for r in responses if r.status_code == 400} == {"store.sql_channel.save_channel.exists.app_error"}
    found = await site.client.get(f"/api/v4/teams/{team['id']}/channels/name/ops-room",
                                  headers={"Authorization": f"Bearer {token}"})
    assert found.json()["id"] == next(r.json()["id"] for r in responses if r.status_code == 200)
