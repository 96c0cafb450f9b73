"""An in-process node with a team of three (admin, alice, bob) and a Focalboard client for each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from edgenode.api.app import build_app
from edgenode.node import Node, open_node
from edgenode.settings import NodeSettings

PREFIX = "/plugins/focalboard/api/v2"


@dataclass
class BoardsWorld:
    node: Node
    http: httpx.AsyncClient
    team_id: str = ""
    town_square: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    async def v4(self, method: str, path: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if who:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return await self.http.request(method, "/api/v4" + path, headers=headers, **kwargs)

    async def fb(self, method: str, path: str, who: str | None = "alice", *, xhr: bool = True,
                 **kwargs: Any) -> httpx.Response:
        """A Focalboard API call as `who`, with the X-Requested-With header a browser's script sends."""
        headers = kwargs.pop("headers", {})
        if xhr:
            headers["X-Requested-With"] = "XMLHttpRequest"
        if who:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return await self.http.request(method, PREFIX + path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, who: str = "alice", **kwargs: Any) -> Any:
        response = await self.fb(method, path, who, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    async def add_user(self, name: str, *, join_team: bool = True) -> None:
        created = await self.v4("POST", "/users", "admin" if self.tokens else None,
                                json={"username": name, "email": f"{name}@example.com", "password": "password1"})
        assert created.status_code == 201, created.text
        self.users[name] = created.json()
        login = await self.v4("POST", "/users/login", None, json={"login_id": name, "password": "password1"})
        self.tokens[name] = login.headers["Token"]
        if join_team and self.team_id:
            added = await self.v4("POST", f"/teams/{self.team_id}/members",
                                  json={"team_id": self.team_id, "user_id": self.users[name]["id"]})
            assert added.status_code == 201, added.text

    async def digest(self) -> bytes:
        return await self.node.services.ctx.store.digest()  # type: ignore[no-any-return]


@asynccontextmanager
async def boards_world(folder: Path) -> AsyncIterator[BoardsWorld]:
    async with open_node(folder, NodeSettings(allowed_hosts=("edgenode.test",))) as node:
        transport = httpx.ASGITransport(app=build_app(node.services))
        async with httpx.AsyncClient(transport=transport, base_url="http://edgenode.test") as http:
            world = BoardsWorld(node, http)
            await world.add_user("admin")
            team = await world.v4("POST", "/teams", json={"name": "field-ops", "display_name": "Field Ops", "type": "O"})
            assert team.status_code == 201, team.text
            world.team_id = team.json()["id"]
            for name in ("alice", "bob"):
                await world.add_user(name)
            square = await world.v4("GET", f"/teams/{world.team_id}/channels/name/town-square")
            world.town_square = square.json()["id"]
            yield world
