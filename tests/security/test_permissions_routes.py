"""One test per row of the permission table (docs/security.md) where a member must be refused.

Each test shows the refusal with Mattermost's status and error id, that nothing was written, and
(where it exists) the role that is allowed, so that the check cannot pass by refusing everyone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.members_world import World, world_at

PERMISSIONS_ERROR = "api.context.permissions.app_error"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def _refused(world: World, who: str, method: str, path: str, status: int = 403, error_id: str = PERMISSIONS_ERROR,
                   **kwargs: object) -> None:
    response = await world.call(method, path, who, **kwargs)
    assert (response.status_code, response.json()["id"]) == (status, error_id), response.text


async def _user_count(world: World) -> int:
    row = await world.node.store.fetchone("SELECT count(*) FROM users")
    return int(row[0])


# -- bots: create_bot, read_bots, read_others_bots are system admins' -----------------------------

async def test_a_member_cannot_create_a_bot(world: World) -> None:
    before = await _user_count(world)
    await _refused(world, "alice", "POST", "/api/v4/bots", json={"username": "sneaky-bot"})
    assert await _user_count(world) == before
    created = await world.ok("POST", "/api/v4/bots", "admin", status=201, json={"username": "relay-bot"})
    assert created["owner_id"] == world.ids["admin"]


async def test_a_member_can_neither_list_bots_nor_see_one(world: World) -> None:
    bot = await world.ok("POST", "/api/v4/bots", "admin", status=201, json={"username": "relay-bot"})
    await _refused(world, "alice", "GET", "/api/v4/bots")
    await _refused(world, "alice", "GET", f"/api/v4/bots/{bot['user_id']}", 404, "store.sql_bot.get.missing.app_error")
    assert [b["user_id"] for b in await world.ok("GET", "/api/v4/bots", "admin")] == [bot["user_id"]]


# -- channels -------------------------------------------------------------------------------------

async def test_a_member_cannot_restore_an_archived_channel(world: World) -> None:
    channel = await world.channel("retro", "O", by="alice")
    await world.ok("DELETE", f"/api/v4/channels/{channel}", "alice")  # members may archive (delete_public_channel)
    await _refused(world, "alice", "POST", f"/api/v4/channels/{channel}/restore")
    row = await world.node.store.fetchone("SELECT delete_at FROM channels WHERE id = ?", (channel,))
    assert row[0] > 0
    restored = await world.ok("POST", f"/api/v4/channels/{channel}/restore", "admin")
    assert restored["delete_at"] == 0


async def test_a_member_cannot_change_channel_roles_but_a_team_admin_can(world: World) -> None:
    channel = await world.channel("crew", "O", by="alice")
    await world.ok("POST", f"/api/v4/channels/{channel}/members", "alice", status=201, json={"user_id": world.ids["bob"]})
    await _refused(world, "bob", "PUT", f"/api/v4/channels/{channel}/members/{world.ids['bob']}/roles",
                   json={"roles": "channel_user channel_admin"})
    # the admin created the team: team admin, and not a member of the channel
    await world.ok("PUT", f"/api/v4/channels/{channel}/members/{world.ids['bob']}/roles", "admin",
                   json={"roles": "channel_user channel_admin"})


# -- posts ----------------------------------------------------------------------------------------

async def test_nobody_posts_a_system_message(world: World) -> None:
    for who in ("alice", "admin"):
        await _refused(world, who, "POST", "/api/v4/posts", 400, "api.context.invalid_param.app_error",
                       json={"channel_id": world.town_square, "message": "bob left the channel",
                             "type": "system_leave_channel"})
    row = await world.node.store.fetchone("SELECT count(*) FROM posts WHERE type LIKE 'system_%'")
    assert row[0] == 0
    custom = await world.ok("POST", "/api/v4/posts", "alice", status=201,
                            json={"channel_id": world.town_square, "message": "poll", "type": "custom_poll"})
    assert custom["type"] == "custom_poll"


async def test_a_channel_admin_cannot_edit_or_delete_others_posts_but_a_team_admin_can(world: World) -> None:
    channel = await world.channel("crew", "O", by="alice")  # alice: channel admin
    await world.ok("POST", f"/api/v4/channels/{channel}/members", "alice", status=201, json={"user_id": world.ids["bob"]})
    post = await world.post(channel, "bob's words", by="bob")
    await _refused(world, "alice", "PUT", f"/api/v4/posts/{post}/patch", json={"message": "alice's words"})
    await _refused(world, "alice", "DELETE", f"/api/v4/posts/{post}")
    assert (await world.ok("GET", f"/api/v4/posts/{post}", "bob"))["message"] == "bob's words"
    await world.ok("DELETE", f"/api/v4/posts/{post}", "admin")


# -- who is in a channel or team ----------------------------------------------------------------------

async def test_users_in_a_private_channel_are_not_listed_to_non_members(world: World) -> None:
    plans = await world.channel("plans", "P", by="alice")
    await _refused(world, "bob", "GET", f"/api/v4/users?in_channel={plans}")
    listed = await world.ok("GET", f"/api/v4/users?in_channel={plans}", "alice")
    assert [u["id"] for u in listed] == [world.ids["alice"]]


async def test_user_search_in_a_private_channel_is_refused_to_non_members(world: World) -> None:
    plans = await world.channel("plans", "P", by="alice")
    for field in ("in_channel_id", "not_in_channel_id"):
        await _refused(world, "bob", "POST", "/api/v4/users/search", json={"term": "a", field: plans})
    found = await world.ok("POST", "/api/v4/users/search", "alice", json={"term": "a", "in_channel_id": plans})
    assert [u["username"] for u in found] == ["alice"]
    outside = await world.ok("POST", "/api/v4/users/search", "alice", json={"term": "", "not_in_channel_id": plans})
    assert world.ids["alice"] not in {u["id"] for u in outside} and world.ids["bob"] in {u["id"] for u in outside}


async def _invite_only_team(world: World) -> str:
    team = await world.ok("POST", "/api/v4/teams", "alice", status=201,
                          json={"name": "hush", "display_name": "Hush", "type": "I"})
    return str(team["id"])


async def test_an_invite_only_teams_members_are_not_listable_by_non_members(world: World) -> None:
    hush = await _invite_only_team(world)
    await _refused(world, "bob", "GET", f"/api/v4/teams/{hush}")
    await _refused(world, "bob", "GET", f"/api/v4/teams/{hush}/members")
    await _refused(world, "bob", "GET", f"/api/v4/teams/{hush}/members/{world.ids['alice']}")
    await _refused(world, "bob", "GET", f"/api/v4/users?in_team={hush}")
    await _refused(world, "bob", "POST", "/api/v4/users/search", json={"term": "a", "team_id": hush})
    members = await world.ok("GET", f"/api/v4/teams/{hush}/members", "alice")
    assert [m["user_id"] for m in members] == [world.ids["alice"]]
    assert hush not in {t["id"] for t in await world.ok("GET", "/api/v4/teams", "bob")}


async def test_an_open_teams_members_are_for_its_members_only(world: World) -> None:
    await world.create_user("carol")
    await world.login("carol")  # on the node, in no team
    assert (await world.ok("GET", f"/api/v4/teams/{world.team}", "carol"))["id"] == world.team  # the team is open
    await _refused(world, "carol", "GET", f"/api/v4/teams/{world.team}/members")
    await _refused(world, "carol", "GET", f"/api/v4/users?in_team={world.team}")


# -- personal access tokens -------------------------------------------------------------------------

async def test_a_member_makes_personal_access_tokens_only_with_the_token_role(world: World) -> None:
    await _refused(world, "bob", "POST", "/api/v4/users/me/tokens", json={"description": "cli"})
    await _refused(world, "bob", "POST", f"/api/v4/users/{world.ids['alice']}/tokens", json={"description": "cli"})
    await world.ok("PUT", f"/api/v4/users/{world.ids['bob']}/roles", "admin",
                   json={"roles": "system_user system_user_access_token"})
    await world.ok("POST", "/api/v4/users/me/tokens", "bob", json={"description": "cli"})
    await _refused(world, "bob", "POST", f"/api/v4/users/{world.ids['alice']}/tokens", json={"description": "cli"})
