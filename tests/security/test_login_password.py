"""PUT /api/v4/users/{user_id}/password, as Mattermost: own change with the current password, admin
reset without it, nobody else; a change ends the user's other sessions."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import edgenode.services.users as users
from edgenode.services.login_guard import MAX_LOGIN_ATTEMPTS
from support.login_world import PASSWORD, CheapHasher, LoginWorld, login_world
from support.served_nodes import memory_discovery, served, settings, until
from sync.discovery import MemoryLan

NEW = "new-password-2"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", CheapHasher())


async def _change(world: LoginWorld, user_id: str, token: str, body: dict[str, object], ip: str = "127.0.0.1") -> tuple[int, str]:
    response = await world.call("PUT", f"/api/v4/users/{user_id}/password", token, json=body, ip=ip)
    return response.status_code, response.json().get("id", response.json().get("status", ""))


async def _me(world: LoginWorld, token: str) -> int:
    return (await world.call("GET", "/api/v4/users/me", token)).status_code


async def test_a_user_changes_their_own_password_with_the_current_one(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        token = await world.token("alice")
        assert await _change(world, alice["id"], token, {"current_password": "not-it", "new_password": NEW}) == (
            400, "api.user.update_password.incorrect.app_error")
        assert await _change(world, alice["id"], token, {"new_password": NEW}) == (
            400, "api.context.invalid_body_param.app_error")
        assert await _change(world, "me", token, {"current_password": PASSWORD, "new_password": NEW}) == (200, "OK")
        assert (await world.login("alice", PASSWORD)).status_code == 401
        assert (await world.login("alice", NEW)).status_code == 200


async def test_a_new_password_must_be_valid(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        token = await world.token("alice")
        for bad in ("abc", "x" * 73, 12345, None):
            assert await _change(world, alice["id"], token, {"current_password": PASSWORD, "new_password": bad}) == (
                400, "model.user.is_valid.pwd_length.app_error")
        assert (await world.login("alice", PASSWORD)).status_code == 200


async def test_a_system_admin_resets_anyones_password_without_the_current_one(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        assert await _change(world, alice["id"], world.admin_token, {"new_password": NEW}) == (200, "OK")
        assert (await world.login("alice", NEW)).status_code == 200


async def test_other_users_may_not_change_someone_elses_password(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        await world.create_user("bob")
        bob = await world.token("bob")
        assert await _change(world, alice["id"], bob, {"current_password": PASSWORD, "new_password": NEW}) == (
            403, "api.user.update_password.context.app_error")
        assert await _change(world, world.users["admin"]["id"], bob, {"new_password": NEW}) == (
            403, "api.user.update_password.context.app_error")
        assert (await world.login("alice", PASSWORD)).status_code == 200
        anonymous = await world.call("PUT", f"/api/v4/users/{alice['id']}/password", json={"new_password": NEW})
        assert anonymous.status_code == 401


async def test_an_own_change_ends_the_users_other_sessions_but_keeps_the_current_one(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        phone, laptop = await world.token("alice"), await world.token("alice")
        await world.create_user("bob")
        bob_token = await world.token("bob")
        assert await _me(world, phone) == 200  # cached before the change: the cache must not outlive it
        assert await _change(world, alice["id"], laptop, {"current_password": PASSWORD, "new_password": NEW}) == (200, "OK")
        assert await _me(world, phone) == 401
        assert await _me(world, laptop) == 200
        assert await _me(world, bob_token) == 200


async def test_an_admin_reset_ends_every_session_of_the_user(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        phone, laptop = await world.token("alice"), await world.token("alice")
        assert await _change(world, alice["id"], world.admin_token, {"new_password": NEW}) == (200, "OK")
        assert (await _me(world, phone), await _me(world, laptop)) == (401, 401)
        assert await _me(world, world.admin_token) == 200


async def test_wrong_current_passwords_count_towards_the_login_lockout(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        token = await world.token("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            assert (await _change(world, alice["id"], token, {"current_password": f"guess{n}", "new_password": NEW},
                                  ip=f"10.2.0.{n + 1}"))[0] == 400
        assert await _change(world, alice["id"], token, {"current_password": PASSWORD, "new_password": NEW},
                             ip="10.2.1.1") == (401, "api.user.check_user_login_attempts.too_many.app_error")
        assert (await world.login("alice", PASSWORD, ip="10.2.1.2")).json()["id"] == (
            "api.user.check_user_login_attempts.too_many.app_error")


async def test_the_change_is_audited(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        await _change(world, alice["id"], world.admin_token, {"new_password": NEW})
        audits = await world.node.services.audit.list(user_id=world.users["admin"]["id"])
        assert any(a["action"] == "updatePassword" and f"user={alice['id']} method=admin_reset" in a["extra_info"]
                   for a in audits)


async def test_a_password_change_on_one_node_ends_the_users_sessions_on_the_others(tmp_path: Path) -> None:
    lan = MemoryLan()
    async with AsyncExitStack() as stack:
        a, b = [await stack.enter_async_context(served(tmp_path / name, settings(mdns=True), discovery=memory_discovery(lan)))
                for name in "ab"]
        created = await a.call("POST", "/api/v4/users", json={"username": "alice", "email": "alice@example.com",
                                                               "password": PASSWORD})
        assert created.status_code == 201, created.text
        alice = created.json()["id"]

        async def b_knows_alice() -> bool:
            return await b.node.store.fetchone("SELECT 1 FROM users WHERE id = ?", (alice,)) is not None
        await until(b_knows_alice)
        on_a, on_b = await a.login("alice"), await b.login("alice")
        assert (await b.call("GET", "/api/v4/users/me", on_b)).status_code == 200

        changed = await a.call("PUT", "/api/v4/users/me/password", on_a,
                               json={"current_password": PASSWORD, "new_password": NEW})
        assert changed.status_code == 200, changed.text
        assert (await a.call("GET", "/api/v4/users/me", on_a)).status_code == 200  # the caller's own session stays

        async def b_refuses_the_old_session() -> bool:
            return (await b.call("GET", "/api/v4/users/me", on_b)).status_code == 401
        await until(b_refuses_the_old_session)  # once the change has arrived (and B's 5 s cache has lapsed)
        new_on_b = await b.call("POST", "/api/v4/users/login", json={"login_id": "alice", "password": NEW})
        assert new_on_b.status_code == 200, new_on_b.text
        assert (await b.call("GET", "/api/v4/users/me", new_on_b.headers["Token"])).status_code == 200
