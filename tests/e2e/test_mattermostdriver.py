"""The real third-party client, mattermostdriver 7.3.2, unchanged, against a real `edgenode serve`.

Each test is one thing a bot written for Mattermost does, so a missing feature fails only its own
test. The server is one subprocess for the whole module; every test makes its own Driver.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from mattermostdriver import Driver
from support.server_process import ServerProcess, edgenode_server

BOT_PASSWORD = "bot-password-1"
WEBSOCKET_TIMEOUT_S = 15.0  # only bounds a failing test; a passing one returns as soon as the event arrives


@dataclass(frozen=True)
class World:
    server: ServerProcess
    team_id: str
    bot_id: str
    town_square: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with edgenode_server(tmp_path_factory.mktemp("e2e") / "node") as server, server.client(server.admin_token) as admin:
        team = admin.post("/api/v4/teams", json={"name": "field-ops", "display_name": "Field Ops", "type": "O"})
        assert team.status_code == 201, team.text
        bot = admin.post("/api/v4/users", json={"username": "relaybot", "email": "relaybot@example.com",
                                                 "password": BOT_PASSWORD})
        assert bot.status_code == 201, bot.text
        team_id, bot_id = team.json()["id"], bot.json()["id"]
        joined = admin.post(f"/api/v4/teams/{team_id}/members", json={"team_id": team_id, "user_id": bot_id})
        assert joined.status_code == 201, joined.text
        # as on a Mattermost server, a user makes personal access tokens once an admin allows it
        allowed = admin.put(f"/api/v4/users/{bot_id}/roles", json={"roles": "system_user system_user_access_token"})
        assert allowed.status_code == 200, allowed.text
        square = admin.get(f"/api/v4/teams/{team_id}/channels/name/town-square").json()["id"]
        yield World(server, team_id, bot_id, square)


def driver_for(world: World, **options: Any) -> Driver:
    driver = Driver({"url": "127.0.0.1", "port": world.server.port, "scheme": "http", "request_timeout": 30,
                     **options})
    driver.login()
    return driver


@pytest.fixture
def bot(world: World) -> Driver:
    return driver_for(world, login_id="relaybot", password=BOT_PASSWORD)


def post(bot: Driver, world: World, message: str, **fields: Any) -> dict[str, Any]:
    return bot.posts.create_post({"channel_id": world.town_square, "message": message, **fields})  # type: ignore[no-any-return]


def test_the_bot_logs_in_and_finds_its_team_and_channel_by_name(bot: Driver, world: World) -> None:
    me = bot.users.get_user("me")
    team = bot.teams.get_team_by_name("field-ops")
    channel = bot.channels.get_channel_by_name(team["id"], "town-square")
    by_names = bot.channels.get_channel_by_name_and_team_name("field-ops", "town-square")
    assert (me["id"], me["username"]) == (world.bot_id, "relaybot")
    assert (team["id"], channel["id"], by_names["id"]) == (world.team_id, world.town_square, world.town_square)
    assert bot.client.userid == world.bot_id


def test_the_bot_posts_and_reads_the_channel_back(bot: Driver, world: World) -> None:
    created = post(bot, world, "status: all green #incident")
    listed = bot.posts.get_posts_for_channel(world.town_square, params={"per_page": 10})
    assert listed["order"][0] == created["id"]
    assert listed["posts"][created["id"]]["message"] == "status: all green #incident"
    assert created["user_id"] == world.bot_id and created["hashtags"] == "#incident"


def test_the_bot_replies_in_a_thread(bot: Driver, world: World) -> None:
    root = post(bot, world, "deploy 42 starting")
    reply = post(bot, world, "deploy 42 done", root_id=root["id"])
    thread = bot.posts.get_thread(root["id"])
    assert reply["root_id"] == root["id"]
    assert set(thread["order"]) == {root["id"], reply["id"]}


def test_the_bot_reacts_and_reads_the_reactions_through_the_double_slash_path(bot: Driver, world: World) -> None:
    target = post(bot, world, "react to me")
    reaction = bot.reactions.create_reaction({"user_id": world.bot_id, "post_id": target["id"], "emoji_name": "thumbsup"})
    reactions = bot.reactions.get_reactions_of_post(target["id"])  # GET /posts/{id}//reactions
    assert (reaction["post_id"], reaction["emoji_name"]) == (target["id"], "thumbsup")
    assert [(r["user_id"], r["emoji_name"]) for r in reactions] == [(world.bot_id, "thumbsup")]


def test_the_bot_pins_a_post(bot: Driver, world: World) -> None:
    target = post(bot, world, "runbook: https://example.com/runbook")
    assert bot.posts.pin_post_to_channel(target["id"])["status"] == "OK"
    assert bot.posts.get_post(target["id"])["is_pinned"] is True
    assert target["id"] in bot.channels.get_channel_pinned_posts(world.town_square)["order"]


def test_the_bot_uploads_a_file_and_attaches_it_to_a_post(bot: Driver, world: World) -> None:
    uploaded = bot.files.upload_file(world.town_square, {"files": ("report.txt", b"disk usage 91%\n", "text/plain")})
    info = uploaded["file_infos"][0]
    attached = post(bot, world, "today's report", file_ids=[info["id"]])
    content = bot.files.get_file(info["id"])  # a raw requests.Response: the body is the file
    assert (info["name"], info["size"], info["extension"]) == ("report.txt", 15, "txt")
    assert attached["file_ids"] == [info["id"]]
    assert content.content == b"disk usage 91%\n"


def test_the_bot_searches_the_teams_posts(bot: Driver, world: World) -> None:
    wanted = post(bot, world, "the generator fuel level is low")
    post(bot, world, "the coffee machine is fixed")
    found = bot.posts.search_for_team_posts(world.team_id, {"terms": "generator fuel", "is_or_search": False})
    assert found["order"] == [wanted["id"]]


def test_a_personal_access_token_logs_the_bot_in(bot: Driver, world: World) -> None:
    token = bot.users.create_user_access_token(world.bot_id, {"description": "relay"})
    with_token = driver_for(world, token=token["token"])
    assert with_token.users.get_user("me")["id"] == world.bot_id
    assert post(with_token, world, "posted with a token")["user_id"] == world.bot_id


def test_the_bot_receives_a_posted_event_over_the_websocket(bot: Driver, world: World) -> None:
    events: list[dict[str, Any]] = []
    hello, posted = threading.Event(), threading.Event()
    loop = asyncio.new_event_loop()

    async def on_event(raw: str) -> None:
        event = json.loads(raw)
        events.append(event)
        if event.get("event") == "hello":
            hello.set()
        if event.get("event") == "posted" and json.loads(event["data"]["post"])["message"] == "websocket ping":
            posted.set()
            bot.websocket.disconnect()  # ends the driver's receive loop after this event

    def listen() -> None:
        asyncio.set_event_loop(loop)  # init_websocket runs its coroutine on the thread's current loop
        try:
            bot.init_websocket(on_event)
        except RuntimeError:
            pass  # the loop was stopped from outside, after a failure
        finally:
            # The driver never closes its connection; end what it left running (the keepalive pinger).
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.close()

    listener = threading.Thread(target=listen, daemon=True)
    bot.options["keepalive_delay"] = 3600  # on a failed connect the driver sleeps instead of spinning
    listener.start()
    try:
        assert hello.wait(WEBSOCKET_TIMEOUT_S), f"no hello event; got {events}"
        sent = post(driver_for(world, login_id="relaybot", password=BOT_PASSWORD), world, "websocket ping")
        assert posted.wait(WEBSOCKET_TIMEOUT_S), f"no posted event; got {events}"
        event = next(e for e in events if e.get("event") == "posted")
        assert json.loads(event["data"]["post"])["id"] == sent["id"]
        assert event["broadcast"]["channel_id"] == world.town_square
        listener.join(WEBSOCKET_TIMEOUT_S)
        assert not listener.is_alive()
    finally:
        if listener.is_alive():
            bot.websocket.disconnect()
            loop.call_soon_threadsafe(loop.stop)
            listener.join(5)


def test_a_slack_format_webhook_payload_becomes_a_post(bot: Driver, world: World) -> None:
    admin = driver_for(world, token=world.server.admin_token)  # managing webhooks is for admins
    hook = admin.webhooks.create_incoming_hook({"channel_id": world.town_square, "display_name": "alerts"})
    attachment = {"fallback": "CPU high", "color": "#ff0000", "title": "CPU high on db-1",
                  "fields": [{"title": "value", "value": "97%", "short": True}]}
    with httpx.Client(base_url=world.server.base_url) as http:
        as_json = http.post(f"/hooks/{hook['id']}", json={"text": "alert fired", "username": "monitor",
                                                          "attachments": [attachment]})
        as_form = http.post(f"/hooks/{hook['id']}", data={"payload": json.dumps({"text": "alert resolved"})})
    assert (as_json.status_code, as_json.text) == (200, "ok")
    assert (as_form.status_code, as_form.text) == (200, "ok")
    listed = bot.posts.get_posts_for_channel(world.town_square, params={"per_page": 2})
    newest, previous = (listed["posts"][i] for i in listed["order"][:2])
    assert (newest["message"], previous["message"]) == ("alert resolved", "alert fired")
    assert previous["props"]["from_webhook"] == "true" and previous["props"]["override_username"] == "monitor"
    assert previous["props"]["attachments"][0]["title"] == "CPU high on db-1"
