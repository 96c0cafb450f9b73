# mypy: disable-error-code="no-untyped-def"
# (the api and team fixtures are defined in conftest.py, which tests cannot import by name)
"""The WebSocket /api/v4/websocket, driven over a real socket against the app served by uvicorn.

Absence is shown without waiting: events reach one connection in the order they were published,
so when a connection's next frame is a later marker event, the earlier event was not delivered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from mattermostdriver import Driver  # type: ignore[import-untyped]
from mattermostdriver.websocket import Websocket  # type: ignore[import-untyped]
from support.live_server import live_server, websocket_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from edgenode.api.middleware import VERSION_ID
from edgenode.api.routes import websocket as websocket_route
from edgenode.api.routes.websocket import BadFrame, ClientAction, parse_action
from edgenode.ids import is_valid_id
from edgenode.services import Broadcast, Event

FRAME_TIMEOUT_S = 5.0  # only bounds a failing test; passing ones never wait for it


@pytest.fixture
async def ws_url(api) -> AsyncIterator[str]:
    async with live_server(api.node) as base_url:
        yield websocket_url(base_url)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(FRAME_TIMEOUT_S):
        return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def send(ws: ClientConnection, seq: int, action: str, data: dict[str, Any] | None = None) -> None:
    await ws.send(json.dumps({"seq": seq, "action": action, "data": data or {}}))


async def closed_code(ws: ClientConnection) -> int:
    """Reads until the server closes the connection; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(FRAME_TIMEOUT_S):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@asynccontextmanager
async def logged_in(url: str, token: str) -> AsyncIterator[ClientConnection]:
    """A connection authenticated by challenge, past its hello and the challenge's reply."""
    async with connect(url) as ws:
        await send(ws, 1, "authentication_challenge", {"token": token})
        assert (await receive(ws))["event"] == "hello"
        assert await receive(ws) == {"status": "OK", "seq_reply": 1}
        yield ws


async def post(api, token: str, channel_id: str, message: str) -> dict[str, Any]:
    response = await api.call("POST", "/api/v4/posts", token, json={"channel_id": channel_id, "message": message})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def private_channel(api, team, token: str, name: str = "secret") -> str:
    response = await api.call("POST", "/api/v4/channels", token,
                              json={"team_id": team.id, "name": name, "display_name": name.title(), "type": "P"})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def channel_broadcast(channel_id: str, omit: dict[str, bool] | None = None) -> dict[str, Any]:
    return {"omit_users": omit, "user_id": "", "channel_id": channel_id, "team_id": ""}


def message_of(frame: dict[str, Any]) -> str:
    return json.loads(frame["data"]["post"])["message"]  # type: ignore[no-any-return]


# -- authentication --------------------------------------------------------------------------------

async def test_a_challenge_is_answered_by_hello_with_seq_0_then_an_ok_reply(ws_url, team) -> None:
    async with connect(ws_url) as ws:
        await send(ws, 1, "authentication_challenge", {"token": team.alice_token})
        hello, reply = await receive(ws), await receive(ws)
    assert set(hello) == {"event", "data", "broadcast", "seq"}
    assert (hello["event"], hello["seq"]) == ("hello", 0)
    assert hello["data"]["server_version"] == VERSION_ID
    assert is_valid_id(hello["data"]["connection_id"]) and hello["data"]["server_hostname"]
    assert hello["broadcast"] == {"omit_users": None, "user_id": team.alice["id"], "channel_id": "", "team_id": ""}
    assert reply == {"status": "OK", "seq_reply": 1}


@pytest.mark.parametrize("credential", ["authorization", "cookie", "query"])
async def test_a_credential_at_the_upgrade_gets_hello_without_a_challenge(ws_url, team, credential) -> None:
    headers = {"authorization": {"Authorization": f"Bearer {team.alice_token}"},
               "cookie": {"Cookie": f"MMAUTHTOKEN={team.alice_token}"}, "query": {}}[credential]
    url = f"{ws_url}?access_token={team.alice_token}" if credential == "query" else ws_url
    async with connect(url, additional_headers=headers) as ws:
        hello = await receive(ws)
        # mattermostdriver always sends a challenge anyway: it is acknowledged, with no second hello
        await send(ws, 1, "authentication_challenge", {"token": team.alice_token})
        reply = await receive(ws)
    assert (hello["event"], hello["seq"], hello["broadcast"]["user_id"]) == ("hello", 0, team.alice["id"])
    assert reply == {"status": "OK", "seq_reply": 1}


async def test_a_stale_credential_at_the_upgrade_still_allows_a_challenge(ws_url, team) -> None:
    async with connect(ws_url, additional_headers={"Authorization": "Bearer " + "x" * 26}) as ws:
        await send(ws, 1, "authentication_challenge", {"token": team.bob_token})
        hello = await receive(ws)
    assert (hello["event"], hello["broadcast"]["user_id"]) == ("hello", team.bob["id"])


async def test_a_bad_token_in_the_challenge_is_refused_and_the_connection_closed(ws_url) -> None:
    async with connect(ws_url) as ws:
        await send(ws, 1, "authentication_challenge", {"token": "x" * 26})
        reply = await receive(ws)
        code = await closed_code(ws)
    assert reply["status"] == "FAIL" and reply["seq_reply"] == 1
    assert (reply["error"]["id"], reply["error"]["status_code"]) == ("api.web_socket_router.not_authenticated.app_error", 401)
    assert code == 1008


async def test_a_connection_that_never_authenticates_is_closed(ws_url, monkeypatch) -> None:
    monkeypatch.setattr(websocket_route, "AUTH_TIMEOUT_S", 0.05)
    async with connect(ws_url) as ws:
        code = await closed_code(ws)
    assert code == 1008


async def test_actions_before_authentication_are_refused_but_the_challenge_stays_open(ws_url, team) -> None:
    async with connect(ws_url) as ws:
        await send(ws, 1, "ping")
        refused = await receive(ws)
        await send(ws, 2, "authentication_challenge", {"token": team.alice_token})
        hello, reply = await receive(ws), await receive(ws)
    assert (refused["status"], refused["seq_reply"], refused["error"]["id"]) == (
        "FAIL", 1, "api.web_socket_router.not_authenticated.app_error")
    assert (hello["event"], hello["seq"]) == ("hello", 0)
    assert reply == {"status": "OK", "seq_reply": 2}


async def test_a_logged_out_session_is_closed_at_its_next_delivery(api, ws_url, team) -> None:
    async with logged_in(ws_url, team.alice_token) as alice:
        logout = await api.call("POST", "/api/v4/users/logout", team.alice_token)
        assert logout.status_code == 200, logout.text
        await post(api, team.bob_token, team.town_square, "anyone there?")
        code = await closed_code(alice)
    assert code == 1008


# -- events ----------------------------------------------------------------------------------------

async def test_a_post_in_a_private_channel_reaches_members_and_not_other_team_members(api, ws_url, team) -> None:
    secret = await private_channel(api, team, team.alice_token)
    async with logged_in(ws_url, team.alice_token) as alice, logged_in(ws_url, team.bob_token) as bob:
        created = await post(api, team.alice_token, secret, "classified")
        await post(api, team.alice_token, team.town_square, "marker")
        alice_first, alice_second = await receive(alice), await receive(alice)
        bob_first = await receive(bob)
    assert set(alice_first) == {"event", "data", "broadcast", "seq"}
    assert (alice_first["event"], alice_first["seq"], alice_first["broadcast"]) == ("posted", 1, channel_broadcast(secret))
    assert json.loads(alice_first["data"]["post"]) == created
    assert (alice_first["data"]["channel_type"], alice_first["data"]["channel_name"],
            alice_first["data"]["sender_name"], alice_first["data"]["team_id"]) == ("P", "secret", "@alice", team.id)
    assert (alice_second["seq"], message_of(alice_second)) == (2, "marker")
    assert (bob_first["event"], bob_first["seq"], message_of(bob_first)) == ("posted", 1, "marker")


async def test_event_seq_counts_up_from_1_after_hello_on_each_connection(api, ws_url, team) -> None:
    async with logged_in(ws_url, team.alice_token) as alice:
        for n in range(3):
            await post(api, team.bob_token, team.town_square, f"message {n}")
        frames = [await receive(alice) for _ in range(3)]
        async with logged_in(ws_url, team.alice_token) as second:
            await post(api, team.bob_token, team.town_square, "again")
            assert (await receive(second))["seq"] == 1
    assert [(f["seq"], message_of(f)) for f in frames] == [(1, "message 0"), (2, "message 1"), (3, "message 2")]


async def test_edits_and_deletes_reach_channel_members_with_the_post_as_a_json_string(api, ws_url, team) -> None:
    created = await post(api, team.alice_token, team.town_square, "first draft")
    async with logged_in(ws_url, team.bob_token) as bob:
        patched = await api.call("PUT", f"/api/v4/posts/{created['id']}/patch", team.alice_token,
                                 json={"message": "final"})
        assert patched.status_code == 200, patched.text
        deleted = await api.call("DELETE", f"/api/v4/posts/{created['id']}", team.alice_token)
        assert deleted.status_code == 200, deleted.text
        edited, removed = await receive(bob), await receive(bob)
    assert (edited["event"], edited["seq"], edited["broadcast"]) == ("post_edited", 1, channel_broadcast(team.town_square))
    assert json.loads(edited["data"]["post"]) == patched.json()
    assert (removed["event"], removed["seq"], removed["data"]["delete_by"]) == ("post_deleted", 2, team.alice["id"])
    assert json.loads(removed["data"]["post"])["id"] == created["id"]


async def test_whatever_services_publish_is_delivered_such_as_reactions(api, ws_url, team) -> None:
    secret = await private_channel(api, team, team.alice_token)
    reaction = {"user_id": team.alice["id"], "post_id": "p" * 26, "emoji_name": "tada", "create_at": 1}
    bus = api.node.services.ctx.events
    async with logged_in(ws_url, team.alice_token) as alice, logged_in(ws_url, team.bob_token) as bob:
        bus.publish(Event("reaction_added", {"reaction": json.dumps(reaction)}, Broadcast(channel_id=secret)))
        bus.publish(Event("reaction_removed", {"reaction": json.dumps(reaction)}, Broadcast(channel_id=team.town_square)))
        added, removed = await receive(alice), await receive(alice)
        bob_first = await receive(bob)
    assert (added["event"], added["seq"], json.loads(added["data"]["reaction"])) == ("reaction_added", 1, reaction)
    assert (removed["event"], removed["seq"]) == ("reaction_removed", 2)
    assert (bob_first["event"], bob_first["seq"]) == ("reaction_removed", 1)


async def test_a_user_removed_from_a_channel_stops_receiving_it_at_once(api, ws_url, team) -> None:
    secret = await private_channel(api, team, team.alice_token)
    added = await api.call("POST", f"/api/v4/channels/{secret}/members", team.alice_token,
                           json={"user_id": team.bob["id"]})
    assert added.status_code == 201, added.text
    async with logged_in(ws_url, team.bob_token) as bob:
        await post(api, team.alice_token, secret, "before")
        removed = await api.call("DELETE", f"/api/v4/channels/{secret}/members/{team.bob['id']}", team.alice_token)
        assert removed.status_code == 200, removed.text
        await post(api, team.alice_token, secret, "after")
        await post(api, team.alice_token, team.town_square, "marker")
        frames = [await receive(bob) for _ in range(3)]
    assert [(f["seq"], f["event"]) for f in frames] == [(1, "posted"), (2, "user_removed"), (3, "posted")]
    assert message_of(frames[0]) == "before" and message_of(frames[2]) == "marker"
    assert frames[1]["broadcast"]["user_id"] == team.bob["id"] and frames[1]["data"]["channel_id"] == secret


async def test_team_user_and_everyone_broadcasts_reach_exactly_their_audience(api, ws_url, team) -> None:
    await api.create_user("carol")  # on the node but in no team
    carol_token = await api.login("carol")
    bus = api.node.services.ctx.events
    async with (logged_in(ws_url, team.alice_token) as alice, logged_in(ws_url, team.bob_token) as bob,
                logged_in(ws_url, carol_token) as carol):
        bus.publish(Event("update_team", {"team": "{}"}, Broadcast(team_id=team.id)))
        bus.publish(Event("preferences_changed", {}, Broadcast(user_id=team.bob["id"])))
        bus.publish(Event("config_changed", {}, Broadcast(omit_users=frozenset({team.alice["id"]}))))
        bus.publish(Event("license_changed", {}, Broadcast()))
        seen = {name: [(await receive(ws))["event"] for _ in range(count)]
                for name, ws, count in (("alice", alice, 2), ("bob", bob, 4), ("carol", carol, 2))}
    assert seen == {"alice": ["update_team", "license_changed"],
                    "bob": ["update_team", "preferences_changed", "config_changed", "license_changed"],
                    "carol": ["config_changed", "license_changed"]}


async def test_a_connection_that_falls_behind_is_closed_so_its_client_resyncs(api, ws_url, team) -> None:
    bus = api.node.services.ctx.events
    async with logged_in(ws_url, team.alice_token) as alice:
        # Published without yielding to the loop, so the connection cannot drain its queue meanwhile;
        # a probe subscription of the same size shows when the queue has overflowed.
        with bus.subscribe() as probe:
            while not probe.overflowed:
                bus.publish(Event("license_changed", {}))
        code = await closed_code(alice)
    assert code == 1013


# -- client actions --------------------------------------------------------------------------------

async def test_typing_reaches_the_other_channel_members_but_not_the_typist(api, ws_url, team) -> None:
    async with logged_in(ws_url, team.alice_token) as alice, logged_in(ws_url, team.bob_token) as bob:
        await send(alice, 2, "user_typing", {"channel_id": team.town_square, "parent_id": ""})
        reply = await receive(alice)
        typing = await receive(bob)
        await post(api, team.bob_token, team.town_square, "marker")
        alice_next = await receive(alice)
    assert reply == {"status": "OK", "seq_reply": 2}
    assert typing == {"event": "typing", "data": {"parent_id": "", "user_id": team.alice["id"]},
                      "broadcast": channel_broadcast(team.town_square, {team.alice["id"]: True}), "seq": 1}
    assert (alice_next["event"], alice_next["seq"], message_of(alice_next)) == ("posted", 1, "marker")


async def test_typing_in_a_channel_one_is_not_a_member_of_is_refused_and_not_broadcast(api, ws_url, team) -> None:
    secret = await private_channel(api, team, team.alice_token)
    async with logged_in(ws_url, team.alice_token) as alice, logged_in(ws_url, team.bob_token) as bob:
        await send(bob, 2, "user_typing", {"channel_id": secret})
        await send(bob, 3, "user_typing", {"channel_id": "not-an-id"})
        refusals = [await receive(bob), await receive(bob)]
        await post(api, team.bob_token, team.town_square, "marker")
        alice_next = await receive(alice)
    assert [(r["status"], r["seq_reply"], r["error"]["id"], r["error"]["status_code"]) for r in refusals] == [
        ("FAIL", 2, "api.websocket_handler.invalid_param.app_error", 400),
        ("FAIL", 3, "api.websocket_handler.invalid_param.app_error", 400)]
    assert (alice_next["event"], message_of(alice_next)) == ("posted", "marker")


async def test_ping_is_answered_with_pong(ws_url, team) -> None:
    async with logged_in(ws_url, team.alice_token) as alice:
        await send(alice, 2, "ping")
        reply = await receive(alice)
        pong_waiter = await alice.ping()  # a protocol-level ping is answered too
        async with asyncio.timeout(FRAME_TIMEOUT_S):
            await pong_waiter
    assert (reply["status"], reply["seq_reply"]) == ("OK", 2)
    assert set(reply["data"]) == {"text", "version", "server_time", "node_id"}
    assert (reply["data"]["text"], reply["data"]["version"]) == ("pong", VERSION_ID)
    assert isinstance(reply["data"]["server_time"], int)


async def test_statuses_report_connected_users_online(ws_url, team) -> None:
    async with logged_in(ws_url, team.alice_token) as alice:
        await send(alice, 2, "get_statuses")
        await send(alice, 3, "get_statuses_by_ids", {"user_ids": [team.alice["id"], team.bob["id"]]})
        everyone, by_ids = await receive(alice), await receive(alice)
    assert everyone == {"status": "OK", "seq_reply": 2, "data": {team.alice["id"]: "online"}}
    assert by_ids == {"status": "OK", "seq_reply": 3, "data": {team.alice["id"]: "online", team.bob["id"]: "offline"}}


async def test_unknown_actions_and_malformed_messages_get_error_replies_and_the_connection_lives(ws_url, team) -> None:
    async with logged_in(ws_url, team.alice_token) as alice:
        await alice.send("{not json")
        await send(alice, 2, "dance")
        await alice.send(json.dumps({"seq": 3}))
        errors = [await receive(alice) for _ in range(3)]
        await send(alice, 4, "ping")
        alive = await receive(alice)
    assert [(e["status"], e["seq_reply"], e["error"]["id"], e["error"]["status_code"]) for e in errors] == [
        ("FAIL", 0, "api.web_socket_router.bad_json.app_error", 400),
        ("FAIL", 2, "api.web_socket_router.bad_action.app_error", 501),
        ("FAIL", 3, "api.web_socket_router.no_action.app_error", 400)]
    assert (alive["status"], alive["seq_reply"]) == ("OK", 4)


@pytest.mark.parametrize(("raw", "error_id"), [
    (b"\xff\xfe", "api.web_socket_router.bad_json.app_error"),
    ("[1, 2]", "api.web_socket_router.bad_json.app_error"),
    ('{"seq": 0, "action": "ping"}', "api.web_socket_router.bad_seq.app_error"),
    ('{"seq": true, "action": "ping"}', "api.web_socket_router.bad_seq.app_error"),
    ('{"seq": 1, "action": ""}', "api.web_socket_router.no_action.app_error"),
    ('{"seq": 1, "action": "ping", "data": [1]}', "api.websocket_handler.invalid_param.app_error"),
    ('{"seq": 1, "action": "' + "x" * 70_000 + '"}', "api.web_socket_router.too_large.app_error"),
])
def test_undecodable_client_messages_become_typed_refusals(raw: str | bytes, error_id: str) -> None:
    parsed = parse_action(raw)
    assert isinstance(parsed, BadFrame) and parsed.error.error_id == error_id


def test_a_client_message_without_data_decodes_with_empty_data() -> None:
    assert parse_action('{"seq": 7, "action": "ping"}') == ClientAction(7, "ping", {})


# -- the real client -------------------------------------------------------------------------------

async def test_mattermostdriver_websocket_logs_in_and_receives_posts_unchanged(api, ws_url, team) -> None:
    address = urlsplit(ws_url)
    options = {**Driver.default_options, "scheme": "http", "url": address.hostname, "port": address.port}
    client = Websocket(options, team.bob_token)
    frames: list[dict[str, Any]] = []

    async def on_message(message: str) -> None:
        frame = json.loads(message)
        frames.append(frame)
        if frame.get("event") == "hello":
            await post(api, team.alice_token, team.town_square, "hi bob")
        elif frame.get("event") == "posted":
            client.disconnect()

    await asyncio.wait_for(client.connect(on_message), FRAME_TIMEOUT_S)
    assert [f.get("event", f.get("status")) for f in frames] == ["hello", "OK", "posted"]
    assert (frames[2]["seq"], message_of(frames[2])) == (1, "hi bob")
