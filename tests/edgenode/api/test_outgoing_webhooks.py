"""Outgoing webhooks: managing them under /api/v4/hooks/outgoing, and calling real HTTP receivers on posts."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from support.receiver import Receiver

from edgenode.ids import is_valid_id
from edgenode.settings import NodeSettings

HOOK_KEYS = {"id", "token", "create_at", "update_at", "delete_at", "creator_id", "channel_id", "team_id", "trigger_words",
             "trigger_when", "callback_urls", "display_name", "description", "content_type", "username", "icon_url"}


@pytest.fixture
def node_settings() -> NodeSettings:
    """The receivers listen on loopback: the admin allows that internal destination, as Mattermost's
    AllowedUntrustedInternalConnections would have to."""
    return NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("127.0.0.1",))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
async def dispatcher(api) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    outgoing = api.node.services.outgoing
    await outgoing.start()
    yield outgoing
    await outgoing.stop()


async def create_hook(api, team, receiver: Receiver, path: str = "/hook", **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"team_id": team.id, "trigger_words": ["ping"], "callback_urls": [receiver.url(path)],
            "display_name": "Pinger", "content_type": "application/json", **fields}
    response = await api.call("POST", "/api/v4/hooks/outgoing", api.admin_token, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def post(api, token: str, channel_id: str, message: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = await api.call("POST", "/api/v4/posts", token, json={"channel_id": channel_id, "message": message})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def channel_posts(api, channel_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    listed = (await api.call("GET", f"/api/v4/channels/{channel_id}/posts", api.admin_token)).json()
    return [listed["posts"][i] for i in reversed(listed["order"])]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


# -- management --------------------------------------------------------------------------------

async def test_an_admin_creates_a_hook_with_a_fresh_token_and_the_creation_is_audited(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team, receiver, trigger_when=1, description="d", username="pinger", icon_url="http://i")
    assert set(hook) == HOOK_KEYS and is_valid_id(hook["id"]) and is_valid_id(hook["token"])
    assert {k: hook[k] for k in ("creator_id", "team_id", "channel_id", "trigger_words", "trigger_when", "callback_urls")} == {
        "creator_id": api.admin["id"], "team_id": team.id, "channel_id": "", "trigger_words": ["ping"], "trigger_when": 1,
        "callback_urls": [receiver.url("/hook")]}
    actions = [r["action"] for r in await api.node.services.audit.list()]
    assert "createOutgoingHook" in actions


async def test_a_member_without_admin_rights_cannot_create_or_list_hooks(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/hooks/outgoing", team.alice_token,
                             json={"team_id": team.id, "trigger_words": ["x"], "callback_urls": [receiver.url("/")]})
    listed = await api.call("GET", f"/api/v4/hooks/outgoing?team_id={team.id}", team.alice_token)
    assert (created.status_code, listed.status_code) == (403, 403)


async def test_bad_hook_definitions_are_refused_and_nothing_is_written(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    private = (await api.call("POST", "/api/v4/channels", api.admin_token,
                              json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})).json()
    await create_hook(api, team, receiver)
    url = receiver.url("/hook")
    cases = [
        ({"team_id": "0" * 26, "trigger_words": ["a"], "callback_urls": [url]}, 404, "app.team.get.find.app_error"),
        ({"team_id": team.id, "callback_urls": [url]}, 400, "api.webhook.create_outgoing.triggers.app_error"),
        ({"team_id": team.id, "trigger_words": ["a"], "callback_urls": []}, 400, "model.outgoing_hook.is_valid.callback.app_error"),
        ({"team_id": team.id, "trigger_words": ["a"], "callback_urls": ["ftp://x"]}, 400, "model.outgoing_hook.is_valid.url.app_error"),
        ({"team_id": team.id, "trigger_words": ["a", ""], "callback_urls": [url]}, 400,
         "model.outgoing_hook.is_valid.trigger_words.app_error"),
        ({"team_id": team.id, "trigger_words": "a", "callback_urls": [url]}, 400,
         "model.outgoing_hook.is_valid.trigger_words.app_error"),
        ({"team_id": team.id, "trigger_words": ["a"], "callback_urls": [url], "trigger_when": 2}, 400,
         "model.outgoing_hook.is_valid.content_type.app_error"),
        ({"team_id": team.id, "channel_id": private["id"], "callback_urls": [url]}, 403,
         "api.webhook.create_outgoing.not_open.app_error"),
        ({"team_id": team.id, "trigger_words": ["ping", "pong"], "callback_urls": [url]}, 400,
         "api.webhook.create_outgoing.intersect.app_error"),
    ]
    for body, status, error_id in cases:
        response = await api.call("POST", "/api/v4/hooks/outgoing", api.admin_token, json=body)
        assert (response.status_code, response.json()["id"]) == (status, error_id), body
    assert len((await api.call("GET", f"/api/v4/hooks/outgoing?team_id={team.id}", api.admin_token)).json()) == 1


async def test_a_hook_is_read_updated_given_a_new_token_and_deleted_by_admins_only(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team, receiver)
    path = f"/api/v4/hooks/outgoing/{hook['id']}"
    assert (await api.call("GET", path, team.bob_token)).status_code == 403
    assert (await api.call("POST", f"{path}/regen_token", team.bob_token)).status_code == 403
    assert (await api.call("GET", path, api.admin_token)).json() == hook

    updated = (await api.call("PUT", path, api.admin_token,
                              json={"id": hook["id"], "trigger_words": ["deploy"], "trigger_when": 1})).json()
    assert (updated["trigger_words"], updated["trigger_when"], updated["token"]) == (["deploy"], 1, hook["token"])
    regenerated = await api.call("POST", f"{path}/regen_token", api.admin_token)
    assert regenerated.status_code == 200 and is_valid_id(regenerated.json()["token"])
    assert regenerated.json()["token"] != hook["token"]
    by_channel = await api.call("GET", f"/api/v4/hooks/outgoing?channel_id={team.town_square}", api.admin_token)
    assert by_channel.json() == []

    assert (await api.call("DELETE", path, api.admin_token)).json() == {"status": "OK"}
    assert (await api.call("GET", path, api.admin_token)).status_code == 404
    actions = {r["action"] for r in await api.node.services.audit.list()}
    assert {"createOutgoingHook", "updateOutgoingHook", "regenOutgoingHookToken", "deleteOutgoingHook"} <= actions


# -- dispatching -------------------------------------------------------------------------------

async def test_a_trigger_word_posts_mattermosts_json_payload_and_a_comment_reply_lands_in_the_thread(  # type: ignore[no-untyped-def]
        api, team, receiver, dispatcher) -> None:
    hook = await create_hook(api, team, receiver, username="pinger")
    receiver.answer("/hook", {"text": "pong", "response_type": "comment", "props": {"extra": "1"}})
    trigger = await post(api, team.alice_token, team.town_square, "ping the server")
    await dispatcher.drain()

    [request] = receiver.pending()
    assert (request.method, request.path, request.headers["content-type"], request.headers["accept"]) == \
        ("POST", "/hook", "application/json", "application/json")
    assert request.json == {
        "token": hook["token"], "team_id": team.id, "team_domain": "field-ops", "channel_id": team.town_square,
        "channel_name": "town-square", "timestamp": trigger["create_at"], "user_id": team.alice["id"],
        "user_name": "alice", "post_id": trigger["id"], "text": "ping the server", "trigger_word": "ping", "file_ids": ""}
    _, reply = await channel_posts(api, team.town_square)
    assert (reply["message"], reply["root_id"], reply["user_id"]) == ("pong", trigger["id"], api.admin["id"])
    assert reply["props"] == {"extra": "1", "from_webhook": "true", "override_username": "pinger",
                              "webhook_display_name": "Pinger"}


async def test_a_form_hook_gets_the_timestamp_in_seconds_and_starts_with_matches_a_prefix(  # type: ignore[no-untyped-def]
        api, team, receiver, dispatcher) -> None:
    await create_hook(api, team, receiver, trigger_words=["deploy"], trigger_when=1, content_type="")
    receiver.answer("/hook", {"text": "deploying", "username": "shipit", "icon_url": "http://i/ship.png"})
    trigger = await post(api, team.alice_token, team.town_square, "deployment please")
    await dispatcher.drain()
    [request] = receiver.pending()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (request.form["timestamp"], request.form["trigger_word"], request.form["text"]) == \
        (str(trigger["create_at"] // 1000), "deploy", "deployment please")
    _, reply = await channel_posts(api, team.town_square)
    assert (reply["root_id"], reply["props"]["override_username"], reply["props"]["override_icon_url"]) == \
        ("", "shipit", "http://i/ship.png")


async def test_only_the_first_word_can_trigger_and_exact_mode_needs_the_whole_word(  # type: ignore[no-untyped-def]
        api, team, receiver, dispatcher) -> None:
    await create_hook(api, team, receiver)
    for message in ("say ping", "pinging", "PING"):
        await post(api, team.alice_token, team.town_square, message)
    await post(api, team.alice_token, team.town_square, "  ping  with spaces")
    await dispatcher.drain()
    assert [r.json["text"] for r in receiver.pending()] == ["  ping  with spaces"]


async def test_a_channel_hook_without_words_fires_on_every_post_of_its_channel_only(  # type: ignore[no-untyped-def]
        api, team, receiver, dispatcher) -> None:
    await create_hook(api, team, receiver, trigger_words=[], channel_id=team.town_square)
    off_topic = (await api.call("GET", f"/api/v4/teams/{team.id}/channels/name/off-topic", api.admin_token)).json()["id"]
    await post(api, team.bob_token, off_topic, "elsewhere")
    await post(api, team.bob_token, team.town_square, "anything at all")
    await dispatcher.drain()
    assert [(r.json["text"], r.json["trigger_word"]) for r in receiver.pending()] == [("anything at all", "")]


async def test_integration_posts_and_private_channels_never_trigger_hooks(api, team, receiver, dispatcher) -> None:  # type: ignore[no-untyped-def]
    await create_hook(api, team, receiver)
    receiver.answer("/hook", {"text": "ping again"})  # a reply that would trigger the hook itself
    incoming = (await api.call("POST", "/api/v4/hooks/incoming", api.admin_token, json={"channel_id": team.town_square})).json()
    await api.call("POST", f"/hooks/{incoming['id']}", json={"text": "ping from a webhook"})
    private = (await api.call("POST", "/api/v4/channels", team.alice_token,
                              json={"team_id": team.id, "name": "quiet", "display_name": "Quiet", "type": "P"})).json()
    await post(api, team.alice_token, private["id"], "ping in private")
    await post(api, team.alice_token, team.town_square, "ping once")
    await dispatcher.drain()
    assert [r.json["text"] for r in receiver.pending()] == ["ping once"]
    assert [p["message"] for p in await channel_posts(api, team.town_square)] == \
        ["ping from a webhook", "ping once", "ping again"]


async def test_failing_callbacks_are_logged_and_the_dispatcher_keeps_working(  # type: ignore[no-untyped-def]
        api, team, receiver, dispatcher, caplog) -> None:
    await create_hook(api, team, receiver, trigger_words=["broken"], callback_urls=[closed_port_url(), receiver.url("/500")])
    await create_hook(api, team, receiver, path="/junk", trigger_words=["junk"])
    await create_hook(api, team, receiver, path="/fine", trigger_words=["fine"])
    receiver.answer("/500", b"oops", status=500, content_type="text/plain")
    receiver.answer("/junk", b"<html>not json</html>", content_type="text/html")
    receiver.answer("/fine", {"text": "all good"})
    with caplog.at_level(logging.WARNING, logger="edgenode.integrations"):
        for message in ("broken build", "junk reply", "fine now"):
            await post(api, team.alice_token, team.town_square, message)
        await dispatcher.drain()
    assert sorted(r.path for r in receiver.pending()) == ["/500", "/fine", "/junk"]
    assert [p["message"] for p in await channel_posts(api, team.town_square)] == \
        ["broken build", "junk reply", "fine now", "all good"]
    assert any("failed" in r.getMessage() for r in caplog.records)
    assert any("unusable reply" in r.getMessage() for r in caplog.records)


async def test_a_stopped_dispatcher_calls_nothing(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    outgoing = api.node.services.outgoing
    await outgoing.start()
    await create_hook(api, team, receiver)
    await outgoing.stop()
    await post(api, team.alice_token, team.town_square, "ping nobody")
    assert not outgoing.running and receiver.pending() == []
