"""PUT /api/v4/users/{user_id}/password, as Mattermost: own change with the current password, admin
reset without it, nobody else; a change ends the user's other sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

import edgenode.services.users as users
from edgenode.services.login_guard import MAX_LOGIN_ATTEMPTS
from support.login_world import PASSWORD, CheapHasher, LoginWorld, login_world

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
