"""A node with a hostile member, for the SSRF, browser-boundary and limits tests (tests/security).

Mallory is an ordinary user: she creates her own team, which makes her its admin, and so may register
slash commands and outgoing webhooks there, as any member of a Mattermost server could.

    async with hostile_world(tmp_path, NodeSettings(...)) as world:
        await world.call("POST", "/api/v4/commands", world.mallory_token, json={...})
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

import edgenode.services.users as users
from edgenode.api.app import build_app
from edgenode.node import Node, open_node
from edgenode.settings import NodeSettings

__all__ = ["BASE_URL", "World", "hostile_world"]

BASE_URL = "http://edgenode.test"


@dataclass
class World:
    node: Node
    client: httpx.AsyncClient
    admin_token: str = ""
    mallory_token: str = ""
    team_id: str = ""
    channel_id: str = ""

    async def call(self, method: str, path: str, token: str = "", **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def user(self, name: str) -> str:
        """Create a user and log in; their token."""
        created = await self.call("POST", "/api/v4/users", self.admin_token,
                                  json={"username": name, "email": f"{name}@example.com", "password": "password1"})
        assert created.status_code == 201, created.text
        login = await self.call("POST", "/api/v4/users/login", json={"login_id": name, "password": "password1"})
        assert login.status_code == 200, login.text
        return login.headers["Token"]

    async def command(self, url: str, trigger: str = "probe", method: str = "P") -> dict[str, Any]:
        """Mallory's slash command pointing at `url`; its execution's response body and status."""
        created = await self.call("POST", "/api/v4/commands", self.mallory_token,
                                  json={"team_id": self.team_id, "trigger": trigger, "method": method, "url": url})
        assert created.status_code == 201, created.text
        run = await self.call("POST", "/api/v4/commands/execute", self.mallory_token,
                              json={"channel_id": self.channel_id, "command": f"/{trigger} hello"})
        body: dict[str, Any] = run.json()
        body["_status"] = run.status_code
        return body


@asynccontextmanager
async def hostile_world(tmp_path: Path, settings: NodeSettings | None = None) -> AsyncIterator[World]:
    """The node (cheap password hashing), its admin, and Mallory with her own team and town-square."""
    original = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        settings = settings or NodeSettings(allowed_hosts=("edgenode.test",))
        async with open_node(tmp_path / "node", settings) as node:
            transport = httpx.ASGITransport(app=build_app(node.services))
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                world = World(node, client)
                world.admin_token = await world.user("admin")
                world.mallory_token = await world.user("mallory")
                team = await world.call("POST", "/api/v4/teams", world.mallory_token,
                                        json={"name": "mallory-team", "display_name": "Mallory", "type": "O"})
                assert team.status_code == 201, team.text
                world.team_id = team.json()["id"]
                square = await world.call("GET", f"/api/v4/teams/{world.team_id}/channels/name/town-square",
                                          world.mallory_token)
                assert square.status_code == 200, square.text
                world.channel_id = square.json()["id"]
                yield world
    finally:
        users._hasher = original
