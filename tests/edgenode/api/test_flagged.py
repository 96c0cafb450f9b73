"""Preferences and saved posts: PUT/GET/delete of /users/{uid}/preferences, and /users/{uid}/posts/flagged."""

from __future__ import annotations

import json
from typing import Any

UNKNOWN_ID = "a" * 26


async def _post(api: Any, token: str, channel_id: str, message: str) -> dict[str, Any]:
    response = await api.call("POST", "/api/v4/posts", token, json={"channel_id": channel_id, "message": message})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _flag(user_id: str, post_id: str) -> dict[str, str]:
    return {"user_id": user_id, "category": "flagged_post", "name": post_id, "value": "true"}


async def _save(api: Any, token: str, user_id: str, prefs: list[Any]) -> Any:
    return await api.call("PUT", f"/api/v4/users/{user_id}/preferences", token, json=prefs)


async def test_saving_a_post_lists_it_as_flagged_and_as_a_preference(api, team) -> None:  # type: ignore[no-untyped-def]
    older = await _post(api, team.alice_token, team.town_square, "older")
    newer = await _post(api, team.alice_token, team.town_square, "newer")
    bob = team.bob["id"]
    saved = await _save(api, team.bob_token, bob, [_flag(bob, older["id"]), _flag(bob, newer["id"])])
    assert (saved.status_code, saved.json()) == (200, {"status": "OK"})
    flagged = (await api.call("GET", f"/api/v4/users/{bob}/posts/flagged", team.bob_token)).json()
    assert flagged["order"] == [newer["id"], older["id"]]
    assert flagged["posts"][older["id"]]["message"] == "older"
    prefs = (await api.call("GET", "/api/v4/users/me/preferences/flagged_post", team.bob_token)).json()
    assert prefs == sorted([_flag(bob, older["id"]), _flag(bob, newer["id"])], key=lambda p: p["name"])
    one = await api.call("GET", f"/api/v4/users/me/preferences/flagged_post/name/{older['id']}", team.bob_token)
    assert one.json() == _flag(bob, older["id"])


async def test_saved_posts_are_an_or_set_in_the_users_own_feed(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square, "keep")
    bob = team.bob["id"]
    await _save(api, team.bob_token, bob, [_flag(bob, post["id"])])
    before = await api.node.store.digest()
    await _save(api, team.bob_token, bob, [_flag(bob, post["id"])])  # saving again adds nothing
    assert await api.node.store.digest() == before
    rows = await api.node.store.fetchall("SELECT user_id, post_id FROM flagged_posts")
    assert [tuple(r) for r in rows] == [(bob, post["id"])]
    scopes = await api.node.store.fetchall("SELECT DISTINCT scope FROM feeds WHERE scope LIKE 'user:%'")
    assert [r[0] for r in scopes] == [f"user:{bob}"]


async def test_unsaving_removes_the_post_and_unsaving_again_changes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square, "once")
    bob = team.bob["id"]
    await _save(api, team.bob_token, bob, [_flag(bob, post["id"])])
    deleted = await api.call("POST", f"/api/v4/users/{bob}/preferences/delete", team.bob_token, json=[_flag(bob, post["id"])])
    assert (deleted.status_code, deleted.json()) == (200, {"status": "OK"})
    assert (await api.call("GET", "/api/v4/users/me/posts/flagged", team.bob_token)).json()["order"] == []
    before = await api.node.store.digest()
    again = await api.call("POST", f"/api/v4/users/{bob}/preferences/delete", team.bob_token, json=[_flag(bob, post["id"])])
    assert again.status_code == 200 and await api.node.store.digest() == before


async def test_other_categories_are_kept_per_user_and_can_be_replaced_and_deleted(api, team) -> None:  # type: ignore[no-untyped-def]
    bob = team.bob["id"]
    theme = {"user_id": bob, "category": "theme", "name": "", "value": '{"sidebarBg": "#000000"}'}
    clock = {"user_id": bob, "category": "display_settings", "name": "use_military_time", "value": "false"}
    assert (await _save(api, team.bob_token, bob, [theme, clock])).status_code == 200
    assert (await _save(api, team.bob_token, bob, [{**clock, "value": "true"}])).status_code == 200
    everything = (await api.call("GET", f"/api/v4/users/{bob}/preferences", team.bob_token)).json()
    assert everything == [{**clock, "value": "true"}, theme]
    display = (await api.call("GET", f"/api/v4/users/{bob}/preferences/display_settings", team.bob_token)).json()
    assert display == [{**clock, "value": "true"}]
    await api.call("POST", f"/api/v4/users/{bob}/preferences/delete", team.bob_token, json=[clock])
    assert (await api.call("GET", f"/api/v4/users/{bob}/preferences", team.bob_token)).json() == [theme]
    assert (await api.call("GET", f"/api/v4/users/{team.alice['id']}/preferences", team.alice_token)).json() == []
    missing = await api.call("GET", f"/api/v4/users/{bob}/preferences/display_settings/name/nothing", team.bob_token)
    assert (missing.status_code, missing.json()["id"]) == (404, "app.preference.get.app_error")


async def test_preference_changes_are_announced_to_the_user(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square, "ping")
    bob = team.bob["id"]
    with api.node.services.ctx.events.subscribe() as events:
        await _save(api, team.bob_token, bob, [_flag(bob, post["id"])])
        await api.call("POST", f"/api/v4/users/{bob}/preferences/delete", team.bob_token, json=[_flag(bob, post["id"])])
        changed, deleted = events.get_nowait(), events.get_nowait()
    assert (changed.event, deleted.event) == ("preferences_changed", "preferences_deleted")
    assert json.loads(changed.data["preferences"]) == [_flag(bob, post["id"])]
    assert changed.broadcast.user_id == deleted.broadcast.user_id == bob


async def test_malformed_preferences_are_400_and_write_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    bob = team.bob["id"]
    good = {"user_id": bob, "category": "display_settings", "name": "x", "value": "y"}
    before = await api.node.store.digest()
    cases: list[tuple[Any, str]] = [
        ([], "api.context.invalid_body_param.app_error"),
        ({"user_id": bob}, "api.context.invalid_body_param.app_error"),
        ([good, "junk"], "api.context.invalid_body_param.app_error"),
        ([{**good, "value": 5}], "api.context.invalid_body_param.app_error"),
        ([{**good, "category": ""}], "model.preference.is_valid.category.app_error"),
        ([{**good, "category": "c" * 33}], "model.preference.is_valid.category.app_error"),
        ([{**good, "name": "n" * 33}], "model.preference.is_valid.name.app_error"),
        ([{**good, "value": "v" * 20_001}], "model.preference.is_valid.value.app_error"),
        ([{**good, "category": "theme", "value": "not json"}], "model.preference.is_valid.theme.app_error"),
        ([good, _flag(bob, "not-a-post-id")], "api.context.invalid_body_param.app_error"),
        ([good, _flag(bob, UNKNOWN_ID)], "api.context.invalid_body_param.app_error"),
    ]
    for body, error_id in cases:
        response = await _save(api, team.bob_token, bob, body)
        assert (response.status_code, response.json()["id"]) == (400, error_id), body
    assert await api.node.store.digest() == before
    assert (await api.call("GET", f"/api/v4/users/{bob}/preferences", team.bob_token)).json() == []


async def test_nobody_changes_or_reads_another_users_preferences(api, team) -> None:  # type: ignore[no-untyped-def]
    alice, bob = team.alice["id"], team.bob["id"]
    post = await _post(api, team.alice_token, team.town_square, "hers")
    foreign = await _save(api, team.bob_token, bob, [_flag(alice, post["id"])])
    assert (foreign.status_code, foreign.json()["id"]) == (403, "api.preference.update_preferences.set.app_error")
    foreign_delete = await api.call("POST", f"/api/v4/users/{bob}/preferences/delete", team.bob_token,
                                    json=[_flag(alice, post["id"])])
    assert (foreign_delete.status_code, foreign_delete.json()["id"]) == (
        403, "api.preference.delete_preferences.delete.app_error")
    for method, path in (("GET", f"/api/v4/users/{alice}/preferences"), ("GET", f"/api/v4/users/{alice}/posts/flagged"),
                         ("GET", f"/api/v4/users/{alice}/preferences/theme")):
        response = await api.call(method, path, team.bob_token)
        assert (response.status_code, response.json()["id"]) == (403, "api.context.permissions.app_error"), path
    on_her_path = await _save(api, team.bob_token, alice, [_flag(alice, post["id"])])
    assert on_her_path.status_code == 403
    assert (await api.call("GET", f"/api/v4/users/{alice}/posts/flagged", team.alice_token)).json()["order"] == []
    admin_reads = await api.call("GET", f"/api/v4/users/{alice}/preferences", api.admin_token)
    assert (admin_reads.status_code, admin_reads.json()) == (200, [])
    nobody = await api.call("GET", f"/api/v4/users/{UNKNOWN_ID}/preferences", api.admin_token)
    assert nobody.status_code == 404


async def test_a_post_you_cannot_read_cannot_be_saved(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/channels", team.alice_token,
                             json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})
    secret = await _post(api, team.alice_token, created.json()["id"], "secret")
    bob = team.bob["id"]
    before = await api.node.store.digest()
    response = await _save(api, team.bob_token, bob, [_flag(bob, secret["id"])])
    assert (response.status_code, response.json()["id"]) == (403, "api.context.permissions.app_error")
    assert await api.node.store.digest() == before


async def test_flagged_posts_hide_what_the_user_can_no_longer_read(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/channels", team.alice_token,
                             json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})
    channel_id = created.json()["id"]
    bob = team.bob["id"]
    await api.call("POST", f"/api/v4/channels/{channel_id}/members", team.alice_token, json={"user_id": bob})
    secret = await _post(api, team.alice_token, channel_id, "secret")
    public = await _post(api, team.alice_token, team.town_square, "public")
    gone = await _post(api, team.alice_token, team.town_square, "gone")
    await _save(api, team.bob_token, bob, [_flag(bob, p["id"]) for p in (secret, public, gone)])
    assert len((await api.call("GET", "/api/v4/users/me/posts/flagged", team.bob_token)).json()["order"]) == 3
    await api.call("DELETE", f"/api/v4/channels/{channel_id}/members/{bob}", team.alice_token)
    await api.call("DELETE", f"/api/v4/posts/{gone['id']}", team.alice_token)
    flagged = (await api.call("GET", "/api/v4/users/me/posts/flagged", team.bob_token)).json()
    assert flagged["order"] == [public["id"]] and "secret" not in json.dumps(flagged)


async def test_flagged_posts_filter_by_channel_and_team_and_page(api, team) -> None:  # type: ignore[no-untyped-def]
    bob = team.bob["id"]
    posts = [await _post(api, team.alice_token, team.town_square, f"m{i}") for i in range(3)]
    await _save(api, team.bob_token, bob, [_flag(bob, p["id"]) for p in posts])
    newest_first = [p["id"] for p in reversed(posts)]
    paged = await api.call("GET", "/api/v4/users/me/posts/flagged?page=1&per_page=2", team.bob_token)
    assert paged.json()["order"] == newest_first[2:]
    in_channel = await api.call("GET", f"/api/v4/users/me/posts/flagged?channel_id={team.town_square}", team.bob_token)
    assert in_channel.json()["order"] == newest_first
    other_team = await api.call("GET", f"/api/v4/users/me/posts/flagged?team_id={UNKNOWN_ID}", team.bob_token)
    assert other_team.json()["order"] == []
    bad = await api.call("GET", "/api/v4/users/me/posts/flagged?team_id=nope", team.bob_token)
    assert (bad.status_code, bad.json()["id"]) == (400, "api.context.invalid_url_param.app_error")
