"""Password checks cost the same for every login id, and run in a small pool of their own so a
flood of logins cannot hold up posts, uploads or sync (edgenode/services/passwords.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

import edgenode.services.users as users
from edgenode.services.login_guard import MAX_LOGIN_ATTEMPTS
from edgenode.services.passwords import HASHING_THREADS, MAX_WAITING, PasswordPool
from edgenode.schema import SCHEMA
from edgenode.store import Store
from support.builders import team_and_channel
from support.login_world import PASSWORD, CheapHasher, CountingHasher, GatedHasher, LoginWorld, login_world
from sync import Signer


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "_hasher", CheapHasher())


def ip(n: int) -> str:
    return f"10.1.{n // 250}.{n % 250 + 1}"


async def test_known_and_unknown_login_ids_each_cost_exactly_one_verification(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.create_user("alice")
        counting = CountingHasher()
        monkeypatch.setattr(users, "_hasher", counting)
        cases = [("alice", "wrong-password"), ("nobody", "wrong-password"), ("nobody@example.com", PASSWORD),
                 ("alice", PASSWORD)]
        for n, (login_id, password) in enumerate(cases):
            before = counting.verifies
            await world.login(login_id, password, ip=ip(n))
            assert counting.verifies - before == 1, login_id
        # The stand-in hash for unknown ids is made once, with the hasher's own parameters.
        assert counting.hashes == 1


async def test_a_bot_login_id_costs_one_verification_like_an_unknown_one(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async with login_world(tmp_path / "node") as world:
        bot = await world.call("POST", "/api/v4/bots", world.admin_token, json={"username": "deploybot"})
        assert bot.status_code == 201, bot.text
        counting = CountingHasher()
        monkeypatch.setattr(users, "_hasher", counting)
        refused = await world.login("deploybot", "anything")
        assert refused.status_code == 401 and counting.verifies == 1


async def test_a_locked_account_is_refused_before_any_verification(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.create_user("alice")
        for n in range(MAX_LOGIN_ATTEMPTS):
            await world.login("alice", "wrong-password", ip=ip(n))
        counting = CountingHasher()
        monkeypatch.setattr(users, "_hasher", counting)
        assert (await world.login("alice", PASSWORD, ip=ip(50))).status_code == 401
        assert counting.verifies == 0


async def _team_channel(world: LoginWorld) -> str:
    team = await world.call("POST", "/api/v4/teams", world.admin_token,
                            json={"name": "field-ops", "display_name": "Field Ops", "type": "O"})
    assert team.status_code == 201, team.text
    square = await world.call("GET", f"/api/v4/teams/{team.json()['id']}/channels/name/town-square", world.admin_token)
    assert square.status_code == 200, square.text
    return square.json()["id"]  # type: ignore[no-any-return]


async def test_fifty_logins_in_flight_do_not_hold_up_a_post_an_upload_or_sync(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    async with Store(tmp_path / "peer.db", SCHEMA, Signer.generate()) as peer:
        await peer.write("directory", team_and_channel())
        (feed,) = list(await peer.heads())
        peer_segment = await peer.segment(feed)
    async with login_world(tmp_path / "node") as world:
        channel = await _team_channel(world)
        await world.login("warm-up", "x", ip="10.9.9.9")  # the stand-in hash for unknown ids exists
        gated = GatedHasher()
        monkeypatch.setattr(users, "_hasher", gated)
        # Fifty logins (distinct ids and addresses: neither limit applies) hold the hashing threads.
        flood = [asyncio.create_task(world.login(f"flood{n}", "guess", ip=ip(n))) for n in range(50)]
        await _until(lambda: gated.started >= HASHING_THREADS)

        post = await asyncio.wait_for(world.call("POST", "/api/v4/posts", world.admin_token,
                                                 json={"channel_id": channel, "message": "still moving"}), 10)
        assert post.status_code == 201, post.text
        upload = await asyncio.wait_for(world.call("POST", "/api/v4/files", world.admin_token,
                                                   data={"channel_id": channel},
                                                   files={"files": ("notes.txt", b"field notes")}), 10)
        assert upload.status_code == 201, upload.text
        # Sync: a peer's signed segment is verified off the event loop (asyncio.to_thread) and applied.
        applied = await asyncio.wait_for(world.node.store.apply(peer_segment), 10)
        assert applied.applied == len(peer_segment)
        assert not any(task.done() for task in flood)  # the logins really were in flight meanwhile

        gated.gate.set()
        replies = await asyncio.gather(*flood)
        assert [reply.status_code for reply in replies] == [401] * 50
        assert gated.started == 50
        assert gated.most_at_once <= HASHING_THREADS == max(1, (os.cpu_count() or 1) - 1)  # a core stays free
        assert all(name.startswith("edgenode-password") for name in gated.threads)


async def test_logins_beyond_the_waiting_bound_are_refused_at_once(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async with login_world(tmp_path / "node") as world:
        await world.login("warm-up", "x", ip="10.9.9.9")
        gated = GatedHasher()
        monkeypatch.setattr(users, "_hasher", gated)
        flood = [asyncio.create_task(world.login(f"flood{n}", "guess", ip=ip(n))) for n in range(MAX_WAITING)]
        await _until(lambda: PasswordPool._waiting >= MAX_WAITING)
        busy = await world.login("one-more", "guess", ip=ip(500))
        assert (busy.status_code, busy.json()["id"]) == (503, "api.user.login.hashing_busy.app_error")
        gated.gate.set()
        assert {reply.status_code for reply in await asyncio.gather(*flood)} == {401}
        # Refused logins were not counted as wrong passwords.
        assert await world.node.services.users._guard.failures("login:one-more") == 0


async def _until(condition: Any, timeout: float = 10) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)
