"""A node behind its real app for the login and local-data security tests, with clients that come
from chosen client addresses, a clock the test moves, and password hashers that count or hold.

    async with login_world(tmp_path) as world:
        await world.create_user("alice")
        response = await world.login("alice", "wrong", ip="10.0.0.7")
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from edgenode.api.app import build_app
from edgenode.node import Node, open_node

__all__ = ["PASSWORD", "CheapHasher", "CountingHasher", "GatedHasher", "LoginWorld", "ManualClock", "login_world"]

PASSWORD = "password1"


class CheapHasher(PasswordHasher):
    """Argon2 at its lowest cost: the tests log in hundreds of times."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)


class CountingHasher(CheapHasher):
    """Counts the argon2 verifications and hashes it does (thread-safe: they run on the hashing pool)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.verifies = 0
        self.hashes = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verifies += 1
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._lock:
            self.hashes += 1
        return super().hash(password, salt=salt)


class GatedHasher(CheapHasher):
    """Every verification waits until the gate opens; records how many ran at once and on which threads."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.started = 0
        self.threads: set[str] = set()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.running += 1
            self.started += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            self.gate.wait(30)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@dataclass
class ManualClock:
    """Wall-clock milliseconds that move only when the test says so."""

    now: int = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class LoginWorld:
    node: Node
    stack: AsyncExitStack
    admin_token: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def client(self, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        """A client whose requests reach the app from `ip` (the address the node sees)."""
        if ip not in self._clients:
            transport = httpx.ASGITransport(app=self._app, client=(ip, 40000))
            self._clients[ip] = await self.stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://localhost"))
        return self._clients[ip]

    async def call(self, method: str, path: str, token: str | None = None, ip: str = "127.0.0.1",
                   **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await (await self.client(ip)).request(method, path, headers=headers, **kwargs)

    async def login(self, login_id: str, password: str = PASSWORD, ip: str = "127.0.0.1") -> httpx.Response:
        return await self.call("POST", "/api/v4/users/login", json={"login_id": login_id, "password": password}, ip=ip)

    async def token(self, login_id: str, password: str = PASSWORD, ip: str = "127.0.0.1") -> str:
        response = await self.login(login_id, password, ip)
        assert response.status_code == 200, response.text
        return response.headers["Token"]

    async def create_user(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.call("POST", "/api/v4/users", self.admin_token or None,
                                   json={"username": username, "email": f"{username}@example.com", "password": password})
        assert response.status_code == 201, response.text
        self.users[username] = response.json()
        return self.users[username]  # type: ignore[no-any-return]

    async def allow_access_tokens(self, user_id: str) -> None:
        """Give a member the role Mattermost requires to make personal access tokens."""
        response = await self.call("PUT", f"/api/v4/users/{user_id}/roles", self.admin_token,
                                   json={"roles": "system_user system_user_access_token"})
        assert response.status_code == 200, response.text

    @property
    def _app(self) -> Any:
        app = getattr(self, "_built_app", None)
        if app is None:
            app = self._built_app = build_app(self.node.services)
        return app


@asynccontextmanager
async def login_world(data_dir: Path, clock: ManualClock | None = None) -> AsyncIterator[LoginWorld]:
    """A node in `data_dir` with a system admin "admin" (logged in from 127.0.0.1)."""
    async with AsyncExitStack() as stack:
        node = await stack.enter_async_context(open_node(data_dir))
        if clock is not None:
            node.services.ctx.now_ms = clock
        world = LoginWorld(node, stack)
        await world.create_user("admin")
        world.admin_token = await world.token("admin")
        yield world
