"""Helpers for the membership and permission tests: real nodes (SQLite files, the real Starlette app
over httpx's ASGI transport) with an admin, a team and two members, alice and bob."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

import edgenode.services.users as users_service
from edgenode.api.app import build_app
from edgenode.node import Node, open_node

PASSWORD = "password1"


def cheap_hashing() -> None:
    """Argon2 with its real cost takes ~0.1 s a hash; these tests hash a dozen times each."""
    users_service._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class World:
    node: Node
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    team: str = ""
    town_square: str = ""

    async def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if who:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, who: str | None = None, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, who, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def login(self, name: str) -> str:
        response = await self.call("POST", "/api/v4/users/login", json={"login_id": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.tokens[name] = response.headers["Token"]
        return self.tokens[name]

    async def create_user(self, name: str) -> str:
        user = await self.ok("POST", "/api/v4/users", "admin" if "admin" in self.tokens else None, status=201,
                             json={"username": name, "email": f"{name}@example.com", "password": PASSWORD})
        self.ids[name] = user["id"]
        return str(user["id"])

    async def add_to_team(self, name: str, team: str | None = None, by: str = "admin") -> None:
        team = team or self.team
        await self.ok("POST", f"/api/v4/teams/{team}/members", by, status=201, json={"team_id": team, "user_id": self.ids[name]})

    async def channel(self, name: str, kind: str = "P", by: str = "alice", team: str | None = None) -> str:
        created = await self.ok("POST", "/api/v4/channels", by, status=201, json={
            "team_id": team or self.team, "name": name, "display_name": name.title(), "type": kind})
        return str(created["id"])

    async def post(self, channel_id: str, message: str, by: str = "alice") -> str:
        created = await self.ok("POST", "/api/v4/posts", by, status=201, json={"channel_id": channel_id, "message": message})
        return str(created["id"])


@asynccontextmanager
async def world_at(data_dir: Path) -> AsyncIterator[World]:
    """A node with the admin, team "ops" (open) and members alice and bob, each logged in."""
    cheap_hashing()
    async with open_node(data_dir) as node, serve(node) as world:
        await world.create_user("admin")
        await world.login("admin")
        world.team = (await world.ok("POST", "/api/v4/teams", "admin", status=201,
                                     json={"name": "ops", "display_name": "Ops", "type": "O"}))["id"]
        for name in ("alice", "bob"):
            await world.create_user(name)
            await world.login(name)
            await world.add_to_team(name)
        square = await world.ok("GET", f"/api/v4/teams/{world.team}/channels/name/town-square", "admin")
        world.town_square = square["id"]
        yield world


@asynccontextmanager
async def serve(node: Node) -> AsyncIterator[World]:
    transport = httpx.ASGITransport(app=build_app(node.services))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield World(node, client)


@dataclass
class Nodes:
    """Two nodes: `a`, the world of world_at, and `b`, a fresh node synced with it once."""

    a: World
    b: World


@asynccontextmanager
async def synced_pair(root: Path) -> AsyncIterator[Nodes]:
    from sync.session import reconcile_pair

    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(world_at(root / "a"))
        b = await stack.enter_async_context(serve(await stack.enter_async_context(open_node(root / "b"))))
        await reconcile_pair(a.node.store, b.node.store)
        yield Nodes(a, b)
