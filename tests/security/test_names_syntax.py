"""Name syntax follows Mattermost's server rules, error ids included; display text has no control characters.

Each case goes through the real app (POST /users, /teams, /channels and the patch routes) and
checks the status and Mattermost's error id, or what was stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgenode.api.app import build_app
from edgenode.node import open_node
from edgenode.services.name_rules import check_channel_name, check_email, check_team_name, check_username
from edgenode.services.errors import BadRequest


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    import edgenode.services.users as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class Site:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.token = ""
        self.team_id = ""

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.client.request(method, f"/api/v4{path}", json=body,
                                         headers={"Authorization": f"Bearer {self.token}"} if self.token else {})


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with open_node(tmp_path / "node") as node:
        transport = httpx.ASGITransport(app=build_app(node.services))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            site = Site(client)
            assert (await site.call("POST", "/users", {"username": "admin", "email": "admin@example.com",
                                                       "password": "password1"})).status_code == 201
            login = await site.call("POST", "/users/login", {"login_id": "admin", "password": "password1"})
            site.token = login.headers["Token"]
            team = await site.call("POST", "/teams", {"name": "rescue", "display_name": "Rescue", "type": "O"})
            site.team_id = team.json()["id"]
            yield site


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("id", "")


BAD_USERNAME = (400, "model.user.is_valid.username.app_error")


@pytest.mark.parametrize(("username", "expected"), [
    ("alice", (201, "alice")),
    ("Alice", (201, "alice")),  # lowercased, as Mattermost's PreSave does
    ("a", (201, "a")),  # 1 to 64 characters (model.UserNameMinLength / MaxLength)
    ("x" * 64, (201, "x" * 64)),
    ("1st.responder_-", (201, "1st.responder_-")),
    ("x" * 65, BAD_USERNAME),
    ("", BAD_USERNAME),
    (" alice", BAD_USERNAME),
    ("alice ", BAD_USERNAME),
    ("al ice", BAD_USERNAME),
    ("ali\tce", BAD_USERNAME),
    ("alice\u200b", BAD_USERNAME),
    ("al@ice", BAD_USERNAME),
    ("élise", BAD_USERNAME),
    ("all", BAD_USERNAME),  # restricted: all, channel, matterbot, system
    ("Channel", BAD_USERNAME),
    ("matterbot", BAD_USERNAME),
    ("system", BAD_USERNAME),
    (None, BAD_USERNAME),
])
async def test_usernames_follow_mattermosts_rules(site: Site, username: Any, expected: tuple[int, str]) -> None:
    response = await site.call("POST", "/users", {"username": username, "email": "u@example.com", "password": "password1"})
    if expected[0] == 201:
        assert (response.status_code, response.json()["username"]) == expected
    else:
        assert _error(response) == expected


BAD_EMAIL = (400, "model.user.is_valid.email.app_error")


@pytest.mark.parametrize(("email", "expected"), [
    ("sam@example.com", (201, "sam@example.com")),
    ("  Sam@Example.COM ", (201, "sam@example.com")),  # trimmed and lowercased (SanitizeInput, NormalizeEmail)
    ("sam+ops@example.com", (201, "sam+ops@example.com")),
    ("sam@localhost", (201, "sam@localhost")),
    ("sam", BAD_EMAIL),
    ("sam@", BAD_EMAIL),
    ("@example.com", BAD_EMAIL),
    ("sam@@example.com", BAD_EMAIL),
    ("sam@a@example.com", BAD_EMAIL),
    ("sam smith@example.com", BAD_EMAIL),
    ("Sam <sam@example.com>", BAD_EMAIL),
    ("sam@example.com (work)", BAD_EMAIL),
    ("sam\n@example.com", BAD_EMAIL),
    ("sam..x@example.com", BAD_EMAIL),
    ("s" * 120 + "@example.com", BAD_EMAIL),  # at most 128 characters
    ("", BAD_EMAIL),
])
async def test_emails_follow_mattermosts_rules(site: Site, email: str, expected: tuple[int, str]) -> None:
    response = await site.call("POST", "/users", {"username": "sam", "email": email, "password": "password1"})
    if expected[0] == 201:
        assert (response.status_code, response.json()["email"]) == expected
    else:
        assert _error(response) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("relief", 201),
    ("relief-2", 201),
    ("r2", 201),
    ("a__b", 201),  # validAlphaNum admits one "__" in the middle
    ("x" * 64, 201),
    ("x" * 65, "model.team.is_valid.url.app_error"),
    ("r", "model.team.is_valid.characters.app_error"),
    ("Relief", "model.team.is_valid.characters.app_error"),
    ("-relief", "model.team.is_valid.characters.app_error"),
    ("relief-", "model.team.is_valid.characters.app_error"),
    ("re_lief", "model.team.is_valid.characters.app_error"),
    (" relief", "model.team.is_valid.characters.app_error"),
    ("relief\n", "model.team.is_valid.characters.app_error"),
    ("admin", "model.team.is_valid.reserved.app_error"),
    ("apiary", "model.team.is_valid.reserved.app_error"),  # reserved words are prefixes
    ("helpdesk", "model.team.is_valid.reserved.app_error"),
    ("", "model.team.is_valid.characters.app_error"),
])
async def test_team_names_follow_mattermosts_rules(site: Site, name: str, expected: int | str) -> None:
    response = await site.call("POST", "/teams", {"name": name, "display_name": "Relief", "type": "O"})
    if expected == 201:
        assert (response.status_code, response.json()["name"]) == (201, name)
    else:
        assert _error(response) == (400, expected)


@pytest.mark.parametrize(("name", "expected"), [
    ("logistics", 201),
    ("l", 201),
    ("log_istics-2", 201),
    ("logistics-", 201),  # validSimpleAlphaNum: only the start must be a letter or digit
    ("x" * 64, 201),
    ("x" * 65, "model.channel.is_valid.name.app_error"),
    ("Logistics", "model.channel.is_valid.1_or_more.app_error"),
    ("-logistics", "model.channel.is_valid.1_or_more.app_error"),
    ("_logistics", "model.channel.is_valid.1_or_more.app_error"),
    (" logistics", "model.channel.is_valid.1_or_more.app_error"),
    ("logistics ", "model.channel.is_valid.1_or_more.app_error"),
    ("log\u0000istics", "model.channel.is_valid.1_or_more.app_error"),
    ("", "model.channel.is_valid.1_or_more.app_error"),
    ("g" * 40, 201),  # 40 characters, but not hexadecimal
    ("0123456789abcdef0123456789abcdef01234567", "model.channel.is_valid.name.app_error"),  # a group message's shape
    ("a" * 26 + "__" + "b" * 26, "model.channel.is_valid.name.app_error"),  # a direct message's shape
])
async def test_channel_names_follow_mattermosts_rules(site: Site, name: str, expected: int | str) -> None:
    response = await site.call("POST", "/channels", {"team_id": site.team_id, "name": name, "display_name": "Logistics"})
    if expected == 201:
        assert (response.status_code, response.json()["name"]) == (201, name)
    else:
        assert _error(response) == (400, expected)


@pytest.mark.parametrize("display_name", [" Relief", "Relief ", "Re\u0007lief", "Re\nlief", "Re\u202elief", "", "x" * 65])
async def test_display_names_without_control_characters_or_surrounding_spaces(site: Site, display_name: str) -> None:
    team = await site.call("POST", "/teams", {"name": "relief", "display_name": display_name, "type": "O"})
    assert _error(team) == (400, "model.team.is_valid.name.app_error")
    channel = await site.call("POST", "/channels", {"team_id": site.team_id, "name": "logistics", "display_name": display_name})
    assert _error(channel) == (400, "model.channel.is_valid.display_name.app_error")


async def test_renames_follow_the_same_rules_and_a_refused_one_changes_nothing(site: Site) -> None:
    sam = (await site.call("POST", "/users", {"username": "sam", "email": "sam@example.com", "password": "password1"})).json()
    refused = await site.call("PUT", f"/users/{sam['id']}/patch", {"username": "sam smith", "nickname": "S"})
    assert _error(refused) == BAD_USERNAME
    upper = await site.call("PUT", f"/users/{sam['id']}/patch", {"username": "SamS"})
    assert (upper.status_code, upper.json()["username"]) == (200, "sams")
    bad_nick = await site.call("PUT", f"/users/{sam['id']}/patch", {"nickname": "S\u0000"})
    assert _error(bad_nick) == (400, "model.user.is_valid.nickname.app_error")
    channel = (await site.call("POST", "/channels", {"team_id": site.team_id, "name": "logistics",
                                                     "display_name": "Logistics"})).json()
    bad = await site.call("PUT", f"/channels/{channel['id']}/patch", {"name": "Log istics", "header": "new"})
    assert _error(bad) == (400, "model.channel.is_valid.1_or_more.app_error")
    header = await site.call("PUT", f"/channels/{channel['id']}/patch", {"header": "line one\nline two"})
    assert (header.status_code, header.json()["header"], header.json()["name"]) == (200, "line one\nline two", "logistics")
    control = await site.call("PUT", f"/channels/{channel['id']}/patch", {"purpose": "bell\u0007"})
    assert _error(control) == (400, "model.channel.is_valid.purpose.app_error")


@pytest.mark.parametrize(("check", "value"), [
    (check_username, "a" * 64), (check_email, "a@b"), (check_team_name, "ab"), (check_channel_name, "a"),
])
def test_the_shortest_and_longest_valid_names_pass_the_rules_unchanged(check: Any, value: str) -> None:
    assert check(value) == value


@pytest.mark.parametrize(("check", "value"), [
    (check_username, 42), (check_email, ["a@b"]), (check_team_name, None), (check_channel_name, b"ops"),
])
def test_names_that_are_not_strings_are_refused(check: Any, value: object) -> None:
    with pytest.raises(BadRequest):
        check(value)
