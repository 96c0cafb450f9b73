"""An in-process node behind its real Starlette app, driven over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgenode.api.app import build_app
from edgenode.node import Node, open_node
from edgenode.settings import NodeSettings


@dataclass
class Api:
    """A client plus the ids of a ready-made world: admin, a second user, a team and its town-square."""

    node: Node
    client: httpx.AsyncClient
    admin_token: str = ""
    admin: dict[str, Any] | None = None

    async def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def create_user(self, username: str, password: str = "password1") -> dict[str, Any]:
        response = await self.call("POST", "/api/v4/users", self.admin_token or None,
                                   json={"username": username, "email": f"{username}@example.com", "password": password})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def login(self, username: str, password: str = "password1") -> str:
        response = await self.call("POST", "/api/v4/users/login", json={"login_id": username, "password": password})
        assert response.status_code == 200, response.text
        return response.headers["Token"]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its real cost takes ~0.1 s a hash; the fixtures hash a dozen times per test."""
    from argon2 import PasswordHasher

    import edgenode.services.users as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def node_settings() -> NodeSettings:
    """The node's settings: its API answers under the client's base URL, http://edgenode.test.
    Modules whose integrations listen on loopback override this to allow them, as an admin would."""
    return NodeSettings(allowed_hosts=("edgenode.test",))


@pytest.fixture
async def api(tmp_path: Path, node_settings: NodeSettings) -> AsyncIterator[Api]:
    async with open_node(tmp_path / "node", node_settings) as node:
        transport = httpx.ASGITransport(app=build_app(node.services))
        async with httpx.AsyncClient(transport=transport, base_url="http://edgenode.test") as client:
            world = Api(node, client)
            world.admin = await world.create_user("admin")
            world.admin_token = await world.login("admin")
            yield world


@dataclass
class Team:
    """A team with two members besides the admin, and its channels."""

    id: str
    town_square: str
    alice: dict[str, Any]
    alice_token: str
    bob: dict[str, Any]
    bob_token: str


@pytest.fixture
async def team(api: Api) -> Team:
    response = await api.call("POST", "/api/v4/teams", api.admin_token,
                              json={"name": "field-ops", "display_name": "Field Ops", "type": "O"})
    assert response.status_code == 201, response.text
    team_id = response.json()["id"]
    members = []
    for name in ("alice", "bob"):
        user = await api.create_user(name)
        added = await api.call("POST", f"/api/v4/teams/{team_id}/members", api.admin_token,
                               json={"team_id": team_id, "user_id": user["id"]})
        assert added.status_code == 201, added.text
        members.append((user, await api.login(name)))
    square = await api.call("GET", f"/api/v4/teams/{team_id}/channels/name/town-square", api.admin_token)
    assert square.status_code == 200, square.text
    (alice, alice_token), (bob, bob_token) = members
    return Team(team_id, square.json()["id"], alice, alice_token, bob, bob_token)
