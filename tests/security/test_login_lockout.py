"""Password guessing is limited: a lockout per account (Mattermost's MaximumLoginAttempts) and a
back-off per client address (edgenode/services/login_guard.py)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import edgenode.services.users as users
from edgenode.services.login_guard import (
    ADDRESS_CONCURRENT,
    ADDRESS_FREE_FAILURES,
    LOCKOUT_MS,
    MAX_LOGIN_ATTEMPTS,
    unknown_account,
)
from edgenode.node import open_node
from support.login_world import PASSWORD, CheapHasher, GatedHasher, LoginWorld, ManualClock, login_world
from support.server_process import ADMIN_PASSWORD, edgenode_server

TOO_MANY = "api.user.check_user_login_attempts.too_many.app_error"
INVALID = "api.user.login.invalid_credentials_email_username"
THROTTLED = "api.user.login.too_many_from_address.app_error"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", CheapHasher())


def ip(n: int) -> str:
    """A distinct client address per attempt, so only the per-account rule is in play."""
    return f"10.0.{n // 250}.{n % 250 + 1}"


async def test_ten_wrong_passwords_lock_the_account_even_against_the_right_password(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            wrong = await world.login("alice", "wrong-password", ip=ip(n))
            assert (wrong.status_code, wrong.json()["id"]) == (401, INVALID)
        right = await world.login("alice", PASSWORD, ip=ip(99))
        assert (right.status_code, right.json()["id"]) == (401, TOO_MANY)
        by_email = await world.login("alice@example.com", PASSWORD, ip=ip(98))
        assert (by_email.status_code, by_email.json()["id"]) == (401, TOO_MANY)
        assert MAX_LOGIN_ATTEMPTS == 10  # Mattermost's default


async def test_a_successful_login_clears_the_failures(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS - 1):
            assert (await world.login("alice", "wrong-password", ip=ip(n))).status_code == 401
        assert (await world.login("alice", PASSWORD, ip=ip(50))).status_code == 200
        for n in range(MAX_LOGIN_ATTEMPTS - 1):
            assert (await world.login("alice", "wrong-password", ip=ip(100 + n))).json()["id"] == INVALID
        assert (await world.login("alice", PASSWORD, ip=ip(200))).status_code == 200


async def test_an_admin_password_reset_unlocks_the_account(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            await world.login("alice", "wrong-password", ip=ip(n))
        assert (await world.login("alice", PASSWORD, ip=ip(50))).json()["id"] == TOO_MANY
        reset = await world.call("PUT", f"/api/v4/users/{alice['id']}/password", world.admin_token,
                                 json={"new_password": "new-password-2"})
        assert reset.status_code == 200, reset.text
        assert (await world.login("alice", "new-password-2", ip=ip(51))).status_code == 200


async def test_a_lockout_ends_fifteen_minutes_after_the_last_failure(tmp_path: Path) -> None:
    clock = ManualClock()
    async with login_world(tmp_path / "node", clock) as world:
        await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            await world.login("alice", "wrong-password", ip=ip(n))
            clock.advance(60_000)
        clock.advance(LOCKOUT_MS - 60_000 - 1)
        assert (await world.login("alice", PASSWORD, ip=ip(50))).json()["id"] == TOO_MANY
        clock.advance(1)
        assert (await world.login("alice", PASSWORD, ip=ip(51))).status_code == 200
        assert LOCKOUT_MS == 15 * 60 * 1000


async def test_attempts_refused_by_the_lockout_do_not_extend_it(tmp_path: Path) -> None:
    clock = ManualClock()
    async with login_world(tmp_path / "node", clock) as world:
        await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            await world.login("alice", "wrong-password", ip=ip(n))
        for n in range(5):
            clock.advance(LOCKOUT_MS // 10)
            assert (await world.login("alice", "wrong-password", ip=ip(20 + n))).json()["id"] == TOO_MANY
        clock.advance(LOCKOUT_MS - 5 * (LOCKOUT_MS // 10))
        assert (await world.login("alice", PASSWORD, ip=ip(30))).status_code == 200


async def test_concurrent_guesses_get_exactly_the_allowed_number_of_checks(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        alice = await world.create_user("alice")
        replies = await asyncio.gather(*(world.login("alice", f"guess-{n}", ip=ip(n)) for n in range(30)))
        ids = sorted(reply.json()["id"] for reply in replies)
        assert ids.count(INVALID) == MAX_LOGIN_ATTEMPTS
        assert ids.count(TOO_MANY) == 30 - MAX_LOGIN_ATTEMPTS
        assert await world.node.services.users._guard.failures(alice["id"]) == MAX_LOGIN_ATTEMPTS


async def test_an_unknown_login_id_is_locked_out_like_a_real_account(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        for n in range(MAX_LOGIN_ATTEMPTS):
            assert (await world.login("nobody", "wrong-password", ip=ip(n))).json()["id"] == INVALID
        locked = await world.login("NOBODY", "wrong-password", ip=ip(50))
        assert (locked.status_code, locked.json()["id"]) == (401, TOO_MANY)
        assert await world.node.services.users._guard.failures(unknown_account("nobody")) == MAX_LOGIN_ATTEMPTS


async def test_the_lockout_survives_a_restart(tmp_path: Path) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            await world.login("alice", "wrong-password", ip=ip(n))
    async with open_node(tmp_path / "node") as node, AsyncExitStack() as stack:
        restarted = LoginWorld(node, stack)
        assert (await restarted.login("alice", PASSWORD, ip=ip(60))).json()["id"] == TOO_MANY


async def test_an_address_backs_off_after_five_failures_whichever_accounts_they_were_for(tmp_path: Path) -> None:
    clock = ManualClock()
    async with login_world(tmp_path / "node", clock) as world:
        await world.create_user("alice")
        for n in range(ADDRESS_FREE_FAILURES):  # password spraying: one guess per account
            assert (await world.login(f"user{n}", "Summer2026", ip="192.0.2.9")).json()["id"] == INVALID
        refused = await world.login("alice", PASSWORD, ip="192.0.2.9")
        assert (refused.status_code, refused.json()["id"]) == (429, THROTTLED)
        assert (await world.login("alice", PASSWORD, ip="192.0.2.10")).status_code == 200  # others are not held up
        clock.advance(1000)
        assert (await world.login("user9", "Summer2026", ip="192.0.2.9")).json()["id"] == INVALID
        clock.advance(1999)  # the wait doubles: 2 s after the sixth failure
        assert (await world.login("alice", PASSWORD, ip="192.0.2.9")).status_code == 429
        clock.advance(1)
        assert (await world.login("alice", PASSWORD, ip="192.0.2.9")).status_code == 200


async def test_an_address_is_forgotten_fifteen_minutes_after_its_last_failure(tmp_path: Path) -> None:
    clock = ManualClock()
    async with login_world(tmp_path / "node", clock) as world:
        await world.create_user("alice")
        for n in range(ADDRESS_FREE_FAILURES + 8):
            await world.login(f"user{n}", "guess", ip="192.0.2.9")
            clock.advance(10 ** 9)  # never throttled between: every wait has passed
        # the 13th failure asked for 256 s; after the window the address starts afresh
        clock.advance(LOCKOUT_MS)
        for n in range(ADDRESS_FREE_FAILURES):
            assert (await world.login(f"again{n}", "guess", ip="192.0.2.9")).json()["id"] == INVALID
        assert (await world.login("alice", PASSWORD, ip="192.0.2.9")).status_code == 429


async def test_an_address_gets_only_a_few_password_checks_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.create_user("alice")
        gated = GatedHasher()
        monkeypatch.setattr(users, "_hasher", gated)
        held = [asyncio.create_task(world.login("alice", PASSWORD, ip="192.0.2.50")) for _ in range(ADDRESS_CONCURRENT)]
        guard = world.node.services.users._guard
        while guard.checking_from("192.0.2.50") < ADDRESS_CONCURRENT:  # all admitted, held at the hasher
            await asyncio.sleep(0.01)
        extra = await world.login("alice", PASSWORD, ip="192.0.2.50")
        assert (extra.status_code, extra.json()["id"]) == (429, THROTTLED)
        gated.gate.set()
        assert [reply.status_code for reply in await asyncio.gather(*held)] == [200] * ADDRESS_CONCURRENT


def test_a_served_node_counts_the_connecting_address_not_x_forwarded_for(tmp_path: Path) -> None:
    # Clients reach the API over loopback, which uvicorn trusts as a proxy by default; were that
    # trust kept, any client could pick a new address per attempt and never be held back.
    with edgenode_server(tmp_path / "node") as server, server.client() as http:
        for n in range(ADDRESS_FREE_FAILURES):
            wrong = http.post("/api/v4/users/login", json={"login_id": f"user{n}", "password": "guess"},
                              headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
            assert wrong.status_code == 401, wrong.text
        held = http.post("/api/v4/users/login", json={"login_id": "admin", "password": ADMIN_PASSWORD},
                         headers={"X-Forwarded-For": "203.0.113.200"})
        assert (held.status_code, held.json()["id"]) == (429, THROTTLED)
