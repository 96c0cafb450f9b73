"""Mentions and read state: ChannelMember counts, /users/{uid}/channels/{cid}/unread, /users/{uid}/teams/unread.

The node's clock ticks one millisecond per reading here, so "viewed, then posted" is always ordered.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from crdt import Update
from edgenode.services.context import channel_scope

UNKNOWN_ID = "a" * 26


@pytest.fixture(autouse=True)
def ticking_clock(api) -> None:  # type: ignore[no-untyped-def]
    ticks = itertools.count(api.node.services.ctx.now_ms())
    api.node.services.ctx.now_ms = lambda: next(ticks)


async def _post(api: Any, token: str, channel_id: str, message: str, root_id: str = "") -> dict[str, Any]:
    response = await api.call("POST", "/api/v4/posts", token,
                              json={"channel_id": channel_id, "message": message, "root_id": root_id})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _unread(api: Any, token: str, channel_id: str) -> dict[str, Any]:
    response = await api.call("GET", f"/api/v4/users/me/channels/{channel_id}/unread", token)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _counts(api: Any, token: str, channel_id: str) -> tuple[int, int]:
    unread = await _unread(api, token, channel_id)
    return unread["msg_count"], unread["mention_count"]


async def _view(api: Any, token: str, channel_id: str) -> None:
    response = await api.call("POST", "/api/v4/channels/members/me/view", token, json={"channel_id": channel_id})
    assert response.status_code == 200, response.text


async def _set_notify_props(api: Any, token: str, props: dict[str, str]) -> None:
    me = (await api.call("GET", "/api/v4/users/me", token)).json()
    response = await api.call("PUT", "/api/v4/users/me/patch", token,
                              json={"notify_props": {**me["notify_props"], **props}})
    assert response.status_code == 200, response.text


async def test_a_mention_counts_for_the_member_until_they_view_the_channel(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "morning @bob")
    await _post(api, team.alice_token, team.town_square, "plain words")
    unread = await _unread(api, team.bob_token, team.town_square)
    assert unread == {
        "team_id": team.id, "channel_id": team.town_square, "msg_count": 2, "msg_count_root": 2,
        "mention_count": 1, "mention_count_root": 1, "urgent_mention_count": 0,
        "notify_props": {"desktop": "default", "email": "default", "ignore_channel_mentions": "default",
                         "mark_unread": "all", "push": "default"},
    }
    member = (await api.call("GET", f"/api/v4/channels/{team.town_square}/members/me", team.bob_token)).json()
    assert (member["msg_count"], member["mention_count"], member["mention_count_root"]) == (0, 1, 1)
    await _view(api, team.bob_token, team.town_square)
    assert await _counts(api, team.bob_token, team.town_square) == (0, 0)
    member = (await api.call("GET", f"/api/v4/channels/{team.town_square}/members/me", team.bob_token)).json()
    assert (member["msg_count"], member["mention_count"]) == (2, 0)


async def test_your_own_posts_are_never_unread_for_you(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "note to self @alice")
    assert await _counts(api, team.alice_token, team.town_square) == (0, 0)
    assert await _counts(api, team.bob_token, team.town_square) == (1, 0)


async def test_channel_wide_mentions_count_for_every_member_but_the_author(api, team) -> None:  # type: ignore[no-untyped-def]
    for word in ("@channel", "@all", "@here"):
        await _post(api, team.alice_token, team.town_square, f"{word} standup")
    assert await _counts(api, team.bob_token, team.town_square) == (3, 3)
    assert await _counts(api, api.admin_token, team.town_square) == (3, 3)
    assert await _counts(api, team.alice_token, team.town_square) == (0, 0)


async def test_members_who_ignore_channel_mentions_do_not_count_them(api, team) -> None:  # type: ignore[no-untyped-def]
    await _set_notify_props(api, team.bob_token, {"channel": "false"})
    member_id = f"{team.town_square}:{api.admin['id']}"
    await api.node.store.write(channel_scope(team.town_square), [Update(
        "channel_member", member_id, {"notify_props": {"ignore_channel_mentions": "on", "mark_unread": "all"}})])
    await _post(api, team.alice_token, team.town_square, "@channel fire drill")
    await _post(api, team.alice_token, team.town_square, "@channel and @bob")
    assert await _counts(api, team.bob_token, team.town_square) == (2, 1)
    assert await _counts(api, api.admin_token, team.town_square) == (2, 0)


async def test_mention_keys_and_first_name_count_as_whole_words(api, team) -> None:  # type: ignore[no-untyped-def]
    await _set_notify_props(api, team.bob_token, {"mention_keys": "deploy, Night Shift", "first_name": "true"})
    await api.call("PUT", "/api/v4/users/me/patch", team.bob_token, json={"first_name": "Robert"})
    for message in ("Deploy tonight", "who has night shift?", "ask Robert", "redeploy later", "robert is lowercase"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _counts(api, team.bob_token, team.town_square) == (5, 3)


async def test_what_is_and_is_not_an_at_mention(api, team) -> None:  # type: ignore[no-untyped-def]
    counted = ["@bob.", "(@BOB)", "hey @bob, look", "@bob's turn"]
    ignored = ["bob@example.com", "`@bob`", "```\n@bob\n```", "@bobby", "@bo"]
    for message in counted + ignored:
        await _post(api, team.alice_token, team.town_square, message)
    assert await _counts(api, team.bob_token, team.town_square) == (len(counted) + len(ignored), len(counted))


async def test_mentions_of_non_members_are_not_recorded(api, team) -> None:  # type: ignore[no-untyped-def]
    carol = await api.create_user("carol")
    post = await _post(api, team.alice_token, team.town_square, "@carol @bob")
    row = await api.node.store.fetchone("SELECT mentions FROM posts WHERE id = ?", (post["id"],))
    assert json.loads(row[0]) == [team.bob["id"]] and carol["id"] not in row[0]


async def test_replies_count_as_mentions_but_not_as_root_mentions(api, team) -> None:  # type: ignore[no-untyped-def]
    root = await _post(api, team.bob_token, team.town_square, "question")
    await _view(api, team.bob_token, team.town_square)
    await _post(api, team.alice_token, team.town_square, "answer for @bob", root_id=root["id"])
    unread = await _unread(api, team.bob_token, team.town_square)
    assert (unread["msg_count"], unread["msg_count_root"], unread["mention_count"], unread["mention_count_root"]) == (
        1, 0, 1, 0)


async def test_every_direct_message_is_a_mention_of_the_other_user(api, team) -> None:  # type: ignore[no-untyped-def]
    dm = (await api.call("POST", "/api/v4/channels/direct", team.alice_token,
                         json=[team.alice["id"], team.bob["id"]])).json()
    await _post(api, team.alice_token, dm["id"], "got a minute?")
    await _post(api, team.alice_token, dm["id"], "never mind")
    unread = await _unread(api, team.bob_token, dm["id"])
    assert (unread["team_id"], unread["msg_count"], unread["mention_count"]) == ("", 2, 2)


async def test_a_deleted_post_no_longer_counts(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square, "@bob oops")
    await api.call("DELETE", f"/api/v4/posts/{post['id']}", team.alice_token)
    assert await _counts(api, team.bob_token, team.town_square) == (0, 0)
    assert await api.node.store.fetchall("SELECT * FROM post_mentions") == []


async def test_the_posted_event_names_who_is_mentioned(api, team) -> None:  # type: ignore[no-untyped-def]
    with api.node.services.ctx.events.subscribe() as events:
        await _post(api, team.alice_token, team.town_square, "@bob ping")
        await _post(api, team.alice_token, team.town_square, "@channel ping")
        await _post(api, team.alice_token, team.town_square, "no one")
        named, everyone, nobody = (events.get_nowait() for _ in range(3))
    assert json.loads(named.data["mentions"]) == [team.bob["id"]]
    assert json.loads(everyone.data["mentions"]) == sorted([team.bob["id"], api.admin["id"]])
    assert "mentions" not in nobody.data


async def test_team_unreads_add_up_the_users_channels_except_muted_messages(api, team) -> None:  # type: ignore[no-untyped-def]
    off_topic = (await api.call("GET", f"/api/v4/teams/{team.id}/channels/name/off-topic", team.bob_token)).json()["id"]
    await _post(api, team.alice_token, team.town_square, "@bob one")
    await _post(api, team.alice_token, team.town_square, "two")
    await _post(api, team.alice_token, off_topic, "@bob three")
    await api.node.store.write(channel_scope(off_topic), [Update(
        "channel_member", f"{off_topic}:{team.bob['id']}", {"notify_props": {"mark_unread": "mention"}})])
    response = await api.call("GET", "/api/v4/users/me/teams/unread", team.bob_token)
    assert response.json() == [{
        "team_id": team.id, "msg_count": 2, "mention_count": 2, "msg_count_root": 2, "mention_count_root": 2,
        "thread_count": 0, "thread_mention_count": 0, "thread_urgent_mention_count": 0,
    }]
    one = await api.call("GET", f"/api/v4/users/me/teams/{team.id}/unread", team.bob_token)
    assert one.json() == response.json()[0]
    excluded = await api.call("GET", f"/api/v4/users/me/teams/unread?exclude_team={team.id}", team.bob_token)
    assert excluded.json() == []


async def test_unread_counts_are_the_users_own_business(api, team) -> None:  # type: ignore[no-untyped-def]
    alice = team.alice["id"]
    for path in (f"/api/v4/users/{alice}/channels/{team.town_square}/unread", f"/api/v4/users/{alice}/teams/unread",
                 f"/api/v4/users/{alice}/teams/{team.id}/unread"):
        response = await api.call("GET", path, team.bob_token)
        assert (response.status_code, response.json()["id"]) == (403, "api.context.permissions.app_error"), path
    admin = await api.call("GET", f"/api/v4/users/{alice}/channels/{team.town_square}/unread", api.admin_token)
    assert admin.status_code == 200


async def test_unread_counts_of_unknown_or_foreign_things_are_4xx(api, team) -> None:  # type: ignore[no-untyped-def]
    private = (await api.call("POST", "/api/v4/channels", team.alice_token,
                              json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})).json()
    cases = [
        (f"/api/v4/users/me/channels/{private['id']}/unread", 404, "app.channel.get_member.missing.app_error"),
        (f"/api/v4/users/me/channels/{UNKNOWN_ID}/unread", 404, "app.channel.get_member.missing.app_error"),
        ("/api/v4/users/me/channels/nope/unread", 400, "api.context.invalid_url_param.app_error"),
        (f"/api/v4/users/me/teams/{UNKNOWN_ID}/unread", 404, "app.team.get_member.missing.app_error"),
        ("/api/v4/users/nope/teams/unread", 400, "api.context.invalid_url_param.app_error"),
    ]
    for path, status, error_id in cases:
        response = await api.call("GET", path, team.bob_token)
        assert (response.status_code, response.json()["id"]) == (status, error_id), path


async def test_marking_unread_from_a_post_makes_it_and_everything_after_unread(api, team) -> None:  # type: ignore[no-untyped-def]
    first = await _post(api, team.alice_token, team.town_square, "first")
    second = await _post(api, team.alice_token, team.town_square, "@bob second")
    await _post(api, team.alice_token, team.town_square, "third")
    await _view(api, team.bob_token, team.town_square)
    with api.node.services.ctx.events.subscribe() as events:
        response = await api.call("POST", f"/api/v4/users/me/posts/{second['id']}/set_unread", team.bob_token)
        event = events.get_nowait()
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["msg_count"], body["mention_count"], body["last_viewed_at"]) == (1, 1, second["create_at"] - 1)
    assert (event.event, event.data["post_id"], event.broadcast.user_id) == ("post_unread", second["id"], team.bob["id"])
    assert await _counts(api, team.bob_token, team.town_square) == (2, 1)
    assert first["id"] not in (await api.call("GET", "/api/v4/users/me/channels/" + team.town_square
                                              + "/posts/unread?limit_before=0", team.bob_token)).json()["order"]


async def test_marking_unread_needs_your_own_membership_of_a_real_post(api, team) -> None:  # type: ignore[no-untyped-def]
    private = (await api.call("POST", "/api/v4/channels", team.alice_token,
                              json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})).json()
    secret = await _post(api, team.alice_token, private["id"], "secret")
    mine = await _post(api, team.alice_token, team.town_square, "hello")
    before = await api.node.store.digest()
    cases = [
        (f"/api/v4/users/me/posts/{secret['id']}/set_unread", team.bob_token, 403),
        (f"/api/v4/users/{team.alice['id']}/posts/{mine['id']}/set_unread", team.bob_token, 403),
        (f"/api/v4/users/me/posts/{UNKNOWN_ID}/set_unread", team.bob_token, 404),
        ("/api/v4/users/me/posts/nope/set_unread", team.bob_token, 400),
    ]
    for path, token, status in cases:
        assert (await api.call("POST", path, token)).status_code == status, path
    assert await api.node.store.digest() == before


async def test_posts_around_the_last_unread_one_page_both_ways(api, team) -> None:  # type: ignore[no-untyped-def]
    seen = [await _post(api, team.alice_token, team.town_square, f"seen {i}") for i in range(3)]
    await _view(api, team.bob_token, team.town_square)
    unread = [await _post(api, team.alice_token, team.town_square, f"new {i}") for i in range(3)]
    path = f"/api/v4/users/me/channels/{team.town_square}/posts/unread"
    everything = (await api.call("GET", path, team.bob_token)).json()
    assert everything["order"] == [p["id"] for p in reversed(seen + unread)]
    assert (everything["next_post_id"], everything["prev_post_id"], everything["has_next"]) == ("", "", False)
    window = (await api.call("GET", f"{path}?limit_before=1&limit_after=2", team.bob_token)).json()
    assert window["order"] == [unread[1]["id"], unread[0]["id"], seen[2]["id"]]
    assert (window["next_post_id"], window["prev_post_id"], window["has_next"]) == (unread[2]["id"], seen[1]["id"], True)
    for query, status in (("?limit_before=0&limit_after=0", 400), ("?limit_after=x", 400)):
        assert (await api.call("GET", path + query, team.bob_token)).status_code == status, query
    other = await api.call("GET", f"/api/v4/users/{team.alice['id']}/channels/{team.town_square}/posts/unread",
                           team.bob_token)
    assert other.status_code == 403
