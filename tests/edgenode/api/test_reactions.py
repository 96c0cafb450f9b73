"""Reactions: POST /reactions, GET /posts/{id}/reactions, DELETE .../reactions/{emoji}, bulk, events."""

from __future__ import annotations

import json
from typing import Any

from edgenode.services.reactions import MAX_UNIQUE_EMOJI_PER_POST

UNKNOWN_ID = "a" * 26


async def _post(api: Any, token: str, channel_id: str, message: str = "hello") -> dict[str, Any]:
    response = await api.call("POST", "/api/v4/posts", token, json={"channel_id": channel_id, "message": message})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _react(api: Any, token: str, user_id: str, post_id: str, emoji: object = "thumbsup") -> Any:
    return await api.call("POST", "/api/v4/reactions", token,
                          json={"user_id": user_id, "post_id": post_id, "emoji_name": emoji})


async def _private_channel(api: Any, team: Any) -> str:
    response = await api.call("POST", "/api/v4/channels", team.alice_token,
                              json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def test_a_reaction_is_saved_listed_and_shown_in_the_posts_metadata(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    before = api.node.services.ctx.now_ms()
    saved = await _react(api, team.bob_token, team.bob["id"], post["id"], "+1")
    assert saved.status_code == 200
    reaction = saved.json()
    assert set(reaction) == {"user_id", "post_id", "emoji_name", "create_at", "update_at", "delete_at", "remote_id",
                             "channel_id"}
    assert (reaction["user_id"], reaction["post_id"], reaction["emoji_name"], reaction["channel_id"]) == (
        team.bob["id"], post["id"], "+1", team.town_square)
    assert reaction["create_at"] > 0 and reaction["delete_at"] == 0
    listed = await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.alice_token)
    assert listed.json() == [reaction]
    fetched = (await api.call("GET", f"/api/v4/posts/{post['id']}", team.alice_token)).json()
    assert fetched["has_reactions"] is True
    assert fetched["metadata"]["reactions"] == [reaction]
    # bumped to the time of the reaction, so clients polling for changed posts see it (the
    # reaction's own create_at is its op's stamp, taken a moment later by the writer)
    assert fetched["update_at"] >= before


async def test_reacting_twice_is_idempotent_and_writes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    first = (await _react(api, team.bob_token, team.bob["id"], post["id"])).json()
    before = await api.node.store.digest()
    again = await _react(api, team.bob_token, team.bob["id"], post["id"])
    assert again.status_code == 200 and again.json() == first
    assert await api.node.store.digest() == before
    listed = (await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.bob_token)).json()
    assert len(listed) == 1


async def test_removing_a_reaction_clears_it_and_removing_an_absent_one_changes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    await _react(api, team.bob_token, team.bob["id"], post["id"], "smile")
    path = f"/api/v4/users/{team.bob['id']}/posts/{post['id']}/reactions/smile"
    removed = await api.call("DELETE", path, team.bob_token)
    assert (removed.status_code, removed.json()) == (200, {"status": "OK"})
    fetched = (await api.call("GET", f"/api/v4/posts/{post['id']}", team.bob_token)).json()
    assert fetched["has_reactions"] is False and "reactions" not in fetched["metadata"]
    before = await api.node.store.digest()
    again = await api.call("DELETE", path, team.bob_token)
    assert (again.status_code, again.json()) == (200, {"status": "OK"})
    assert await api.node.store.digest() == before


async def test_me_stands_for_the_caller_when_removing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    await _react(api, team.bob_token, team.bob["id"], post["id"], "tada")
    removed = await api.call("DELETE", f"/api/v4/users/me/posts/{post['id']}/reactions/tada", team.bob_token)
    assert removed.status_code == 200
    assert (await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.bob_token)).json() == []


async def test_malformed_reactions_are_400_and_write_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    before = await api.node.store.digest()
    bob = team.bob["id"]
    cases: list[Any] = [
        {"user_id": bob, "post_id": post["id"], "emoji_name": ":smile:"},
        {"user_id": bob, "post_id": post["id"], "emoji_name": "x" * 65},
        {"user_id": bob, "post_id": post["id"], "emoji_name": ""},
        {"user_id": bob, "post_id": post["id"], "emoji_name": 7},
        {"user_id": bob, "post_id": post["id"]},
        {"user_id": bob, "post_id": "not-an-id", "emoji_name": "smile"},
        {"user_id": 12, "post_id": post["id"], "emoji_name": "smile"},
    ]
    for body in cases:
        response = await api.call("POST", "/api/v4/reactions", team.bob_token, json=body)
        assert (response.status_code, response.json()["id"]) == (400, "api.reaction.save_reaction.invalid.app_error"), body
    not_json = await api.call("POST", "/api/v4/reactions", team.bob_token, content=b"[1, 2]")
    assert (not_json.status_code, not_json.json()["id"]) == (400, "api.context.invalid_body_param.app_error")
    assert await api.node.store.digest() == before


async def test_a_reaction_is_only_ever_the_callers_own(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    before = await api.node.store.digest()
    response = await _react(api, team.bob_token, team.alice["id"], post["id"])
    assert (response.status_code, response.json()["id"]) == (403, "api.reaction.save_reaction.user_id.app_error")
    assert await api.node.store.digest() == before


async def test_unknown_posts_are_404(api, team) -> None:  # type: ignore[no-untyped-def]
    saved = await _react(api, team.bob_token, team.bob["id"], UNKNOWN_ID)
    listed = await api.call("GET", f"/api/v4/posts/{UNKNOWN_ID}/reactions", team.bob_token)
    removed = await api.call("DELETE", f"/api/v4/users/me/posts/{UNKNOWN_ID}/reactions/smile", team.bob_token)
    for response in (saved, listed, removed):
        assert (response.status_code, response.json()["id"]) == (404, "app.post.get.app_error")


async def test_non_members_can_neither_react_nor_read_reactions_in_a_private_channel(api, team) -> None:  # type: ignore[no-untyped-def]
    channel_id = await _private_channel(api, team)
    post = await _post(api, team.alice_token, channel_id, "secret")
    await _react(api, team.alice_token, team.alice["id"], post["id"])
    before = await api.node.store.digest()
    saved = await _react(api, team.bob_token, team.bob["id"], post["id"], "eyes")
    listed = await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.bob_token)
    bulk = await api.call("POST", "/api/v4/posts/ids/reactions", team.bob_token, json=[post["id"]])
    for response in (saved, listed, bulk):
        assert (response.status_code, response.json()["id"]) == (403, "api.context.permissions.app_error")
        assert "thumbsup" not in response.text
    assert await api.node.store.digest() == before


async def test_reacting_in_a_public_channel_needs_membership(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/channels", team.alice_token,
                             json={"team_id": team.id, "name": "lobby", "display_name": "Lobby", "type": "O"})
    post = await _post(api, team.alice_token, created.json()["id"])
    response = await _react(api, team.bob_token, team.bob["id"], post["id"])
    assert response.status_code == 403
    listed = await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.bob_token)
    assert (listed.status_code, listed.json()) == (200, [])


async def test_removing_someone_elses_reaction_takes_a_system_admin(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    await _react(api, team.alice_token, team.alice["id"], post["id"], "fire")
    path = f"/api/v4/users/{team.alice['id']}/posts/{post['id']}/reactions/fire"
    refused = await api.call("DELETE", path, team.bob_token)
    assert (refused.status_code, refused.json()["id"]) == (403, "api.context.permissions.app_error")
    assert len((await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.bob_token)).json()) == 1
    await api.call("POST", f"/api/v4/channels/{team.town_square}/members", api.admin_token,
                   json={"user_id": api.admin["id"]})
    allowed = await api.call("DELETE", path, api.admin_token)
    assert allowed.status_code == 200
    assert (await api.call("GET", f"/api/v4/posts/{post['id']}/reactions", team.bob_token)).json() == []


async def test_bad_emoji_in_the_delete_path_is_400(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    response = await api.call("DELETE", f"/api/v4/users/me/posts/{post['id']}/reactions/a%20b", team.bob_token)
    assert (response.status_code, response.json()["id"]) == (400, "api.reaction.save_reaction.invalid.app_error")
    bad_post = await api.call("DELETE", "/api/v4/users/me/posts/nope/reactions/smile", team.bob_token)
    assert (bad_post.status_code, bad_post.json()["id"]) == (400, "api.context.invalid_url_param.app_error")


async def test_reactions_in_an_archived_channel_are_frozen(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/channels", team.alice_token,
                             json={"team_id": team.id, "name": "old", "display_name": "Old", "type": "O"})
    channel_id = created.json()["id"]
    post = await _post(api, team.alice_token, channel_id)
    await _react(api, team.alice_token, team.alice["id"], post["id"], "wave")
    assert (await api.call("DELETE", f"/api/v4/channels/{channel_id}", team.alice_token)).status_code == 200
    saved = await _react(api, team.alice_token, team.alice["id"], post["id"], "sob")
    removed = await api.call("DELETE", f"/api/v4/users/me/posts/{post['id']}/reactions/wave", team.alice_token)
    assert (saved.status_code, saved.json()["id"]) == (403, "api.reaction.save.archived_channel.app_error")
    assert (removed.status_code, removed.json()["id"]) == (403, "api.reaction.delete.archived_channel.app_error")


async def test_a_post_takes_at_most_50_different_emoji(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    for i in range(MAX_UNIQUE_EMOJI_PER_POST):
        assert (await _react(api, team.alice_token, team.alice["id"], post["id"], f"e{i}")).status_code == 200
    too_many = await _react(api, team.alice_token, team.alice["id"], post["id"], "one_more")
    assert (too_many.status_code, too_many.json()["id"]) == (400, "app.reaction.save.save.too_many_reactions")
    same_emoji = await _react(api, team.bob_token, team.bob["id"], post["id"], "e0")
    assert same_emoji.status_code == 200


async def test_bulk_reactions_map_every_post_to_its_list(api, team) -> None:  # type: ignore[no-untyped-def]
    first = await _post(api, team.alice_token, team.town_square, "one")
    second = await _post(api, team.alice_token, team.town_square, "two")
    reaction = (await _react(api, team.bob_token, team.bob["id"], first["id"], "heart")).json()
    response = await api.call("POST", "/api/v4/posts/ids/reactions", team.alice_token, json=[first["id"], second["id"]])
    assert response.status_code == 200
    assert response.json() == {first["id"]: [reaction], second["id"]: []}
    bad = await api.call("POST", "/api/v4/posts/ids/reactions", team.alice_token, json=["x"])
    assert (bad.status_code, bad.json()["id"]) == (400, "api.context.invalid_body_param.app_error")
    unknown = await api.call("POST", "/api/v4/posts/ids/reactions", team.alice_token, json=[UNKNOWN_ID])
    assert unknown.status_code == 404


async def test_reaction_events_carry_the_reaction_as_a_json_string(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square)
    with api.node.services.ctx.events.subscribe() as events:
        reaction = (await _react(api, team.bob_token, team.bob["id"], post["id"], "rocket")).json()
        await api.call("DELETE", f"/api/v4/users/me/posts/{post['id']}/reactions/rocket", team.bob_token)
        added, removed = events.get_nowait(), events.get_nowait()
    assert (added.event, removed.event) == ("reaction_added", "reaction_removed")
    assert json.loads(added.data["reaction"]) == reaction == json.loads(removed.data["reaction"])
    assert added.broadcast.channel_id == removed.broadcast.channel_id == team.town_square
