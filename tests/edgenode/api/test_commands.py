"""Slash commands: custom commands against a real HTTP receiver, built-ins, and their management."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from support.receiver import Receiver

from edgenode.ids import is_valid_id
from edgenode.settings import NodeSettings

COMMAND_KEYS = {"id", "token", "create_at", "update_at", "delete_at", "creator_id", "team_id", "trigger", "method",
                "username", "icon_url", "auto_complete", "auto_complete_desc", "auto_complete_hint", "display_name",
                "description", "url", "plugin_id"}
SITE = "http://edgenode.test"


@pytest.fixture
def node_settings() -> NodeSettings:
    """The receivers listen on loopback: the admin allows that internal destination, as Mattermost's
    AllowedUntrustedInternalConnections would have to."""
    return NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("127.0.0.1",))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def create_command(api, team, receiver: Receiver, **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"team_id": team.id, "trigger": "deploy", "method": "P", "url": receiver.url("/cmd"), "username": "deploybot",
            "auto_complete": True, "auto_complete_desc": "Deploy things", "display_name": "Deploy", **fields}
    response = await api.call("POST", "/api/v4/commands", api.admin_token, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def run(api, token: str, channel_id: str, command: str, **extra: Any):  # type: ignore[no-untyped-def]
    return await api.call("POST", "/api/v4/commands/execute", token, json={"channel_id": channel_id, "command": command, **extra})


async def ok(api, token: str, channel_id: str, command: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await run(api, token, channel_id, command)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def channel_posts(api, channel_id: str, token: str = "") -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    listed = (await api.call("GET", f"/api/v4/channels/{channel_id}/posts", token or api.admin_token)).json()
    return [listed["posts"][i] for i in reversed(listed["order"])]


async def new_channel(api, team, token: str, name: str, kind: str = "O") -> str:  # type: ignore[no-untyped-def]
    response = await api.call("POST", "/api/v4/channels", token,
                              json={"team_id": team.id, "name": name, "display_name": name.title(), "type": kind})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def members_of(api, channel_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    listed = await api.call("GET", f"/api/v4/channels/{channel_id}/members", api.admin_token)
    return {m["user_id"] for m in listed.json()}


def ephemeral(text: str, **fields: Any) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text, "username": "", "channel_id": "", "icon_url": "", "type": "",
            "props": None, "goto_location": "", "trigger_id": "", "skip_slack_parsing": False, "attachments": None,
            "extra_responses": None, **fields}


# -- management --------------------------------------------------------------------------------

async def test_an_admin_creates_a_command_with_a_token_and_a_lowercase_trigger(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    command = await create_command(api, team, receiver, trigger="Deploy")
    assert set(command) == COMMAND_KEYS and is_valid_id(command["id"]) and is_valid_id(command["token"])
    assert (command["trigger"], command["creator_id"], command["team_id"], command["method"]) == \
        ("deploy", api.admin["id"], team.id, "P")
    assert "createCommand" in [r["action"] for r in await api.node.services.audit.list()]


async def test_bad_command_definitions_and_members_are_refused(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    await create_command(api, team, receiver)
    url = receiver.url("/cmd")
    base = {"team_id": team.id, "trigger": "other", "method": "P", "url": url}
    cases = [
        ({**base, "team_id": "nope"}, api.admin_token, 400, "model.command.is_valid.team_id.app_error"),
        (base, team.alice_token, 403, "api.context.permissions.app_error"),
        ({**base, "trigger": "/slash"}, api.admin_token, 400, "model.command.is_valid.trigger.app_error"),
        ({**base, "trigger": "two words"}, api.admin_token, 400, "model.command.is_valid.trigger.app_error"),
        ({**base, "trigger": ""}, api.admin_token, 400, "model.command.is_valid.trigger.app_error"),
        ({**base, "url": ""}, api.admin_token, 400, "model.command.is_valid.url.app_error"),
        ({**base, "url": "file:///etc/passwd"}, api.admin_token, 400, "model.command.is_valid.url_http.app_error"),
        ({**base, "method": "X"}, api.admin_token, 400, "model.command.is_valid.method.app_error"),
        ({**base, "description": "d" * 129}, api.admin_token, 400, "model.command.is_valid.description.app_error"),
        ({**base, "trigger": "shrug"}, api.admin_token, 400, "api.command.duplicate_trigger.app_error"),
        ({**base, "trigger": "DEPLOY"}, api.admin_token, 400, "api.command.duplicate_trigger.app_error"),
    ]
    for body, token, status, error_id in cases:
        response = await api.call("POST", "/api/v4/commands", token, json=body)
        assert (response.status_code, response.json()["id"]) == (status, error_id), body
    listed = await api.call("GET", f"/api/v4/commands?team_id={team.id}&custom_only=true", api.admin_token)
    assert [c["trigger"] for c in listed.json()] == ["deploy"]


async def test_listing_shows_admins_everything_and_members_only_what_they_may_type(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    command = await create_command(api, team, receiver)
    await create_command(api, team, receiver, trigger="hidden", auto_complete=False)
    admin = (await api.call("GET", f"/api/v4/commands?team_id={team.id}", api.admin_token)).json()
    member = (await api.call("GET", f"/api/v4/commands?team_id={team.id}", team.alice_token)).json()
    custom_only = await api.call("GET", f"/api/v4/commands?team_id={team.id}&custom_only=true", team.alice_token)
    no_team = await api.call("GET", "/api/v4/commands", team.alice_token)
    assert [c["trigger"] for c in admin if c["id"]] == ["deploy", "hidden"]
    assert {"me", "shrug", "join", "echo", "msg", "invite", "kick", "leave"} <= {c["trigger"] for c in admin if not c["id"]}
    [visible] = [c for c in member if c["id"]]
    assert (visible["trigger"], visible["token"], visible["url"], visible["creator_id"]) == ("deploy", "", "", "")
    assert visible["id"] == command["id"]
    assert (custom_only.status_code, no_team.status_code) == (403, 400)
    autocomplete = (await api.call("GET", f"/api/v4/teams/{team.id}/commands/autocomplete", team.alice_token)).json()
    assert [c["trigger"] for c in autocomplete if c["id"]] == ["deploy"]


async def test_only_admins_and_the_creator_manage_a_command_and_others_see_it_as_missing(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    command = await create_command(api, team, receiver)
    path = f"/api/v4/commands/{command['id']}"
    for method, suffix in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("PUT", "/regen_token")):
        response = await api.call(method, path + suffix, team.alice_token, json={"id": command["id"]})
        assert (response.status_code, response.json()["id"]) == (404, "store.sql_command.save.get.app_error"), method
    assert (await api.call("GET", path, api.admin_token)).json() == command

    updated = await api.call("PUT", path, api.admin_token, json={"id": command["id"], "team_id": team.id, "method": "G",
                                                                 "trigger": "ship"})
    assert (updated.json()["method"], updated.json()["trigger"], updated.json()["token"]) == ("G", "ship", command["token"])
    mismatch = await api.call("PUT", path, api.admin_token, json={"id": command["id"], "team_id": team.alice["id"]})
    assert (mismatch.status_code, mismatch.json()["id"]) == (400, "api.command.team_mismatch.app_error")
    regen = await api.call("PUT", f"{path}/regen_token", api.admin_token)
    assert set(regen.json()) == {"token"} and regen.json()["token"] not in ("", command["token"])

    assert (await api.call("DELETE", path, api.admin_token)).json() == {"status": "OK"}
    gone = await run(api, team.alice_token, team.town_square, "/ship now")
    assert (gone.status_code, gone.json()["id"]) == (404, "api.command.execute_command.not_found.app_error")
    actions = {r["action"] for r in await api.node.services.audit.list()}
    assert {"createCommand", "updateCommand", "regenCommandToken", "deleteCommand"} <= actions


# -- custom commands ---------------------------------------------------------------------------

async def test_a_post_command_sends_mattermosts_form_and_posts_an_in_channel_answer_as_the_user(  # type: ignore[no-untyped-def]
        api, team, receiver) -> None:
    command = await create_command(api, team, receiver)
    receiver.answer("/cmd", {"response_type": "in_channel", "text": "Deploying <https://ci.example|prod>"})
    response = await ok(api, team.alice_token, team.town_square, "/deploy prod  now")

    request = receiver.take()
    assert (request.method, request.headers["authorization"], request.headers["accept"], request.headers["content-type"]) == \
        ("POST", f"Token {command['token']}", "application/json", "application/x-www-form-urlencoded")
    form = request.form
    assert is_valid_id(form.pop("trigger_id"))
    assert form.pop("response_url").startswith(f"{SITE}/hooks/commands/")
    assert form == {"token": command["token"], "team_id": team.id, "team_domain": "field-ops",
                    "channel_id": team.town_square, "channel_name": "town-square", "user_id": team.alice["id"],
                    "user_name": "alice", "command": "/deploy", "text": "prod  now", "root_id": ""}
    assert (response["response_type"], response["text"]) == ("in_channel", "Deploying <https://ci.example|prod>")
    [post] = await channel_posts(api, team.town_square)
    assert (post["message"], post["user_id"]) == ("Deploying [prod](https://ci.example)", team.alice["id"])
    assert post["props"] == {"from_webhook": "true", "override_username": "deploybot"}


async def test_a_get_command_sends_the_fields_in_the_query_and_a_plain_reply_is_ephemeral(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    await create_command(api, team, receiver, method="G", url=receiver.url("/cmd?fixed=1"))
    receiver.answer("/cmd", b"only you can see this", content_type="text/plain")
    with api.node.services.ctx.events.subscribe() as events:
        response = await ok(api, team.alice_token, team.town_square, "/deploy staging")
    request = receiver.take()
    assert (request.method, request.body, request.query["fixed"], request.query["text"]) == ("GET", b"", "1", "staging")
    assert response == ephemeral("only you can see this", response_type="")  # a plain reply has no type
    assert await channel_posts(api, team.town_square) == []
    sent = [e for e in (events.get_nowait() for _ in range(events.qsize())) if e.event == "ephemeral_message"]
    assert len(sent) == 1 and sent[0].broadcast.user_id == team.alice["id"]
    assert json.loads(sent[0].data["post"])["message"] == "only you can see this"


async def test_extra_responses_are_handled_after_the_main_one(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    await create_command(api, team, receiver, username="")
    receiver.answer("/cmd", {"response_type": "in_channel", "text": "first", "username": "Custom Name",
                             "extra_responses": [{"response_type": "in_channel", "text": "second"}]})
    await ok(api, team.alice_token, team.town_square, "/deploy")
    first, second = await channel_posts(api, team.town_square)
    assert (first["message"], first["props"]["override_username"]) == ("first", "Custom Name")
    assert (second["message"], second["props"]) == ("second", {"from_webhook": "true"})


async def test_a_failing_command_integration_answers_mattermosts_500_errors(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/gone"
    await create_command(api, team, receiver, trigger="down", url=closed)
    await create_command(api, team, receiver, trigger="error", url=receiver.url("/error"))
    await create_command(api, team, receiver, trigger="junk", url=receiver.url("/junk"))
    receiver.answer("/error", b"broken", status=503, content_type="text/plain")
    receiver.answer("/junk", b"{not json", content_type="application/json")
    for command, error_id in (("/down", "api.command.execute_command.failed.app_error"),
                              ("/error", "api.command.execute_command.failed_resp.app_error"),
                              ("/junk", "api.command.execute_command.failed.app_error")):
        response = await run(api, team.alice_token, team.town_square, command)
        assert (response.status_code, response.json()["id"]) == (500, error_id), command
    assert await channel_posts(api, team.town_square) == []


async def test_a_command_answers_later_through_its_response_url_at_most_five_times(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    await create_command(api, team, receiver)
    receiver.answer("/cmd", {"text": "working on it"})
    assert (await ok(api, team.alice_token, team.town_square, "/deploy"))["text"] == "working on it"
    response_url = receiver.take().form["response_url"]
    path = response_url.removeprefix(SITE)
    answers = [await api.call("POST", path, json={"response_type": "in_channel", "text": f"update {i}"}) for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [400]
    assert (answers[0].text, answers[5].json()["id"]) == ("ok", "app.command_webhook.try_use.invalid")
    assert [p["message"] for p in await channel_posts(api, team.town_square)] == [f"update {i}" for i in range(5)]
    unknown = await api.call("POST", "/hooks/commands/" + "y" * 26, json={"text": "x"})
    assert (unknown.status_code, unknown.json()["id"]) == (404, "app.command_webhook.get.missing")


# -- execution rules ---------------------------------------------------------------------------

async def test_bad_executions_are_refused_with_mattermosts_errors(api, team) -> None:  # type: ignore[no-untyped-def]
    private = await new_channel(api, team, team.alice_token, "inner", "P")
    archived = await new_channel(api, team, team.bob_token, "old")
    await api.call("DELETE", f"/api/v4/channels/{archived}", team.bob_token)
    cases = [
        (await run(api, team.alice_token, team.town_square, "shrug"), 400, "api.command.execute_command.start.app_error"),
        (await run(api, team.alice_token, team.town_square, "/"), 400, "api.command.execute_command.start.app_error"),
        (await run(api, team.alice_token, "bad", "/shrug"), 400, "api.command.execute_command.start.app_error"),
        (await run(api, team.bob_token, private, "/shrug"), 403, "api.context.permissions.app_error"),
        (await run(api, team.bob_token, archived, "/shrug"), 400, "api.command.execute_command.deleted.error"),
        (await run(api, team.alice_token, team.town_square, "/nosuch thing"), 404,
         "api.command.execute_command.not_found.app_error"),
    ]
    for response, status, error_id in cases:
        assert (response.status_code, response.json()["id"]) == (status, error_id), response.text
    assert "'nosuch'" in cases[-1][0].json()["message"]


# -- built-ins ---------------------------------------------------------------------------------

async def test_me_shrug_and_echo_post_as_the_user(api, team) -> None:  # type: ignore[no-untyped-def]
    assert await ok(api, team.alice_token, team.town_square, "/me waves") == \
        {**ephemeral("*waves*"), "response_type": "in_channel", "type": "me"}
    await ok(api, team.alice_token, team.town_square, "/shrug")
    await ok(api, team.alice_token, team.town_square, "/SHRUG oh well")
    assert await ok(api, team.alice_token, team.town_square, "/echo hello there") == ephemeral("", response_type="")
    posts = await channel_posts(api, team.town_square)
    assert [(p["message"], p["type"], p["user_id"]) for p in posts] == [
        ("*waves*", "me", team.alice["id"]), ("¯\\\\\\_(ツ)\\_/¯", "", team.alice["id"]),
        ("oh well ¯\\\\\\_(ツ)\\_/¯", "", team.alice["id"]), ("hello there", "", team.alice["id"])]
    assert all(p["props"] == {} for p in posts)


async def test_echo_with_a_delay_waits_through_the_injected_clock(api, team) -> None:  # type: ignore[no-untyped-def]
    commands = api.node.services.commands
    waited: list[float] = []

    async def no_wait(seconds: float) -> None:
        waited.append(seconds)

    commands.sleep = no_wait
    await ok(api, team.alice_token, team.town_square, '/echo "later, friends" 3')
    await ok(api, team.alice_token, team.town_square, "/echo soon 2")
    too_long = await ok(api, team.alice_token, team.town_square, "/echo never 10001")
    empty = await ok(api, team.alice_token, team.town_square, "/echo")
    await commands.drain()
    assert sorted(waited) == [2, 3]
    assert sorted(p["message"] for p in await channel_posts(api, team.town_square)) == ["later, friends", "soon"]
    assert too_long == ephemeral("Delays must be under 10000 seconds.")
    assert empty == ephemeral("A message must be provided with the /echo command.")


async def test_join_and_leave_change_membership_and_point_the_client_at_the_channel(api, team) -> None:  # type: ignore[no-untyped-def]
    news = await new_channel(api, team, team.alice_token, "news")
    hidden = await new_channel(api, team, team.alice_token, "hidden", "P")
    joined = await ok(api, team.bob_token, team.town_square, "/join ~news")
    assert joined == ephemeral("", response_type="", goto_location=f"{SITE}/field-ops/channels/news")
    assert team.bob["id"] in await members_of(api, news)
    assert (await ok(api, team.bob_token, team.town_square, "/join ~hidden"))["text"] == \
        "An error occurred while joining the channel."
    assert (await ok(api, team.bob_token, team.town_square, "/join nowhere"))["text"] == "Unable to find the channel."
    assert team.bob["id"] not in await members_of(api, hidden)

    left = await ok(api, team.bob_token, news, "/leave")
    assert left["goto_location"] == f"{SITE}/field-ops/channels/town-square"
    assert team.bob["id"] not in await members_of(api, news)
    assert await ok(api, team.bob_token, team.town_square, "/leave") == \
        ephemeral("Unable to leave the default channel town-square.")


async def test_header_and_purpose_edit_the_channel(api, team) -> None:  # type: ignore[no-untyped-def]
    assert await ok(api, team.alice_token, team.town_square, "/header Release **Friday**") == ephemeral("", response_type="")
    await ok(api, team.alice_token, team.town_square, "/purpose Talk about everything")
    channel = (await api.call("GET", f"/api/v4/channels/{team.town_square}", team.alice_token)).json()
    assert (channel["header"], channel["purpose"]) == ("Release **Friday**", "Talk about everything")
    assert (await ok(api, team.alice_token, team.town_square, "/header"))["text"] == \
        "Text must be provided with the /header command."
    assert (await ok(api, team.alice_token, team.town_square, "/purpose " + "p" * 251))["text"] == \
        "The channel purpose is limited to 250 characters."


async def test_msg_sends_a_direct_message_and_invite_and_kick_manage_members(api, team) -> None:  # type: ignore[no-untyped-def]
    sent = await ok(api, team.alice_token, team.town_square, "/msg @bob see you at 5")
    direct = (await api.call("POST", "/api/v4/channels/direct", team.bob_token, json=[team.alice["id"], team.bob["id"]])).json()
    assert sent["goto_location"] == f"{SITE}/field-ops/channels/{direct['name']}"
    assert [(p["message"], p["user_id"]) for p in await channel_posts(api, direct["id"], team.bob_token)] == \
        [("see you at 5", team.alice["id"])]
    assert (await ok(api, team.alice_token, team.town_square, "/msg @nobody hi"))["text"] == "We couldn't find the user."

    news = await new_channel(api, team, team.alice_token, "news")
    invited = await ok(api, team.alice_token, team.town_square, "/invite @bob ~news")
    assert invited == ephemeral("@bob added to ~news channel.")
    assert team.bob["id"] in await members_of(api, news)
    assert (await ok(api, team.alice_token, news, "/invite @bob"))["text"] == "@bob is already in the channel."
    assert (await ok(api, team.alice_token, news, "/invite @ghost"))["text"].startswith("We couldn't find the user ghost.")

    assert await ok(api, team.alice_token, news, "/kick @bob") == ephemeral("", response_type="")
    assert team.bob["id"] not in await members_of(api, news)
    assert (await ok(api, team.alice_token, news, "/remove @bob"))["text"] == "bob is not a member of this channel."
    assert (await ok(api, team.alice_token, news, "/remove"))["text"] == \
        "A message must be provided with the /remove or /kick command."


async def test_search_answers_ephemerally_and_degrades_without_a_search_service(api, team) -> None:  # type: ignore[no-untyped-def]
    await api.call("POST", "/api/v4/posts", team.alice_token, json={"channel_id": team.town_square, "message": "the blue needle"})
    found = await ok(api, team.bob_token, team.town_square, "/search needle")
    assert found == ephemeral('1 result for "needle":\n> the blue needle')
    assert (await ok(api, team.bob_token, team.town_square, "/search haystack"))["text"] == 'No results for "haystack".'
    api.node.services.commands.search = None
    assert await ok(api, team.bob_token, team.town_square, "/search needle") == \
        ephemeral("Search is unavailable on this node.")


async def test_status_commands_only_acknowledge(api, team) -> None:  # type: ignore[no-untyped-def]
    assert (await ok(api, team.alice_token, team.town_square, "/away"))["text"] == "You are now away"
    assert (await ok(api, team.alice_token, team.town_square, "/online"))["text"] == "You are now online"
    assert await channel_posts(api, team.town_square) == []
