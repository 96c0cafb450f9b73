"""Post search: POST /teams/{id}/posts/search and /posts/search with Mattermost's syntax, paging and permissions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

import edgenode.services.users
from crdt import Create
from edgenode.ids import new_id
from edgenode.local_schema import LOCAL_MIGRATIONS

DAY = 86_400_000
JAN_5_2024_NOON = 1_704_456_000_000  # 2024-01-05T12:00:00Z


async def _post(api: Any, token: str, channel_id: str, message: str, **fields: Any) -> str:
    response = await api.call("POST", "/api/v4/posts", token, json={"channel_id": channel_id, "message": message, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


async def _search(api: Any, token: str, team_id: str | None, terms: Any, **body: Any) -> httpx.Response:
    path = f"/api/v4/teams/{team_id}/posts/search" if team_id else "/api/v4/posts/search"
    return await api.call("POST", path, token, json={"terms": terms, **body})  # type: ignore[no-any-return]


async def _found(api: Any, token: str, team_id: str | None, terms: str, **body: Any) -> list[str]:
    """The messages a search returns, in its order."""
    response = await _search(api, token, team_id, terms, **body)
    assert response.status_code == 200, response.text
    result = response.json()
    return [result["posts"][post_id]["message"] for post_id in result["order"]]


async def _channel(api: Any, token: str, team_id: str, name: str, kind: str = "O") -> str:
    response = await api.call("POST", "/api/v4/channels", token,
                              json={"team_id": team_id, "name": name, "display_name": name.title(), "type": kind})
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests log in three users each; argon2's production cost would dominate their runtime."""
    monkeypatch.setattr(edgenode.services.users, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def _clock(api: Any, now_ms: int) -> None:
    api.node.services.ctx.now_ms = lambda: now_ms


# -- words, phrases, exclusions, prefixes -------------------------------------------------------

async def test_words_must_all_match_and_results_are_newest_first(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("north ridge camp", "south ridge", "North valley, ridge beyond"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, "north ridge") == ["North valley, ridge beyond", "north ridge camp"]
    assert await _found(api, team.bob_token, team.id, "ridge") == [
        "North valley, ridge beyond", "south ridge", "north ridge camp"]


async def test_an_or_search_finds_posts_with_any_word(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("north ridge", "south col", "east face"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, "north south", is_or_search=True) == ["south col", "north ridge"]
    assert await _found(api, team.bob_token, team.id, "north south") == []


async def test_a_quoted_phrase_matches_those_words_in_that_order(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("the ridge camp is up", "camp on the ridge", "ridge-camp radio"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, '"ridge camp"') == ["ridge-camp radio", "the ridge camp is up"]


async def test_excluded_words_and_phrases_leave_posts_out(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("storm with rain", "storm and snow day", "storm, snow, then day", "calm"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, "storm -rain") == [
        "storm, snow, then day", "storm and snow day"]
    assert await _found(api, team.bob_token, team.id, 'storm -"snow day"') == ["storm, snow, then day", "storm with rain"]
    # an exclusion alone searches everything else, as in Mattermost
    assert await _found(api, team.bob_token, team.id, "-storm") == ["calm"]


async def test_a_trailing_star_matches_words_starting_with_it(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("deploying the mast", "Deployed!", "redeploy later", "dep"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, "deploy*") == ["Deployed!", "deploying the mast"]
    assert await _found(api, team.bob_token, team.id, "deploy") == []


async def test_accents_and_case_are_ignored_in_words(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "Café Déjà-vu")
    assert await _found(api, team.bob_token, team.id, "cafe DEJA") == ["Café Déjà-vu"]


async def test_an_at_mention_is_searched_as_a_word(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "ping @bob about the relay")
    await _post(api, team.alice_token, team.town_square, "ping carol")
    assert await _found(api, team.bob_token, team.id, "@bob ping") == ["ping @bob about the relay"]


# -- hashtags ---------------------------------------------------------------------------------------

async def test_a_hashtag_matches_that_exact_tag_whatever_its_case(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("status #Ops-Team", "status #ops-team-b", "status #opsx", "the ops team, no tag"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, "#ops-team") == ["status #Ops-Team"]
    assert await _found(api, team.bob_token, team.id, "#OPSX") == ["status #opsx"]
    assert await _found(api, team.bob_token, team.id, "#ops") == []


async def test_hashtags_combine_with_words_and_can_be_excluded(api, team) -> None:  # type: ignore[no-untyped-def]
    for message in ("relay up #field", "relay down #field #urgent", "relay #base"):
        await _post(api, team.alice_token, team.town_square, message)
    assert await _found(api, team.bob_token, team.id, "relay #field") == ["relay down #field #urgent", "relay up #field"]
    assert await _found(api, team.bob_token, team.id, "relay -#urgent") == ["relay #base", "relay up #field"]
    assert await _found(api, team.bob_token, team.id, "#base #urgent", is_or_search=True) == [
        "relay #base", "relay down #field #urgent"]
    assert await _found(api, team.bob_token, team.id, "down #base", is_or_search=True) == [
        "relay #base", "relay down #field #urgent"]


# -- from:, in:, dates -----------------------------------------------------------------------------

async def test_from_keeps_and_minus_from_drops_a_users_posts(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "relay from alice")
    await _post(api, team.bob_token, team.town_square, "relay from bob")
    assert await _found(api, team.bob_token, team.id, "relay from:alice") == ["relay from alice"]
    assert await _found(api, team.bob_token, team.id, "relay -from:alice") == ["relay from bob"]
    assert await _found(api, team.bob_token, team.id, "from: @Bob") == ["relay from bob"]
    assert await _found(api, team.bob_token, team.id, "from:alice from:bob") == ["relay from bob", "relay from alice"]


async def test_an_unknown_user_in_from_finds_nothing_and_in_minus_from_changes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "relay")
    assert await _found(api, team.bob_token, team.id, "relay from:nobody") == []
    assert await _found(api, team.bob_token, team.id, "relay -from:nobody") == ["relay"]


async def test_in_keeps_and_minus_in_drops_a_channels_posts(api, team) -> None:  # type: ignore[no-untyped-def]
    ops = await _channel(api, team.alice_token, team.id, "ops")
    await api.call("POST", f"/api/v4/channels/{ops}/members", team.alice_token, json={"user_id": team.bob["id"]})
    await _post(api, team.alice_token, ops, "relay in ops")
    await _post(api, team.alice_token, team.town_square, "relay in square")
    assert await _found(api, team.bob_token, team.id, "relay in:ops") == ["relay in ops"]
    assert await _found(api, team.bob_token, team.id, "relay in:~ops") == ["relay in ops"]
    assert await _found(api, team.bob_token, team.id, "relay channel:town-square") == ["relay in square"]
    assert await _found(api, team.bob_token, team.id, "relay -in:ops") == ["relay in square"]
    assert await _found(api, team.bob_token, team.id, "in:ops in:town-square") == ["relay in square", "relay in ops"]
    assert await _found(api, team.bob_token, team.id, "relay in:no-such-channel") == []


async def test_in_at_username_searches_the_direct_message_with_that_user(api, team) -> None:  # type: ignore[no-untyped-def]
    direct = await api.call("POST", "/api/v4/channels/direct", team.alice_token, json=[team.alice["id"], team.bob["id"]])
    assert direct.status_code in (200, 201), direct.text
    await _post(api, team.alice_token, direct.json()["id"], "relay between us")
    await _post(api, team.alice_token, team.town_square, "relay for all")
    assert await _found(api, team.alice_token, team.id, "relay in:@bob") == ["relay between us"]
    assert await _found(api, team.bob_token, team.id, "relay in:@alice") == ["relay between us"]
    assert await _found(api, team.bob_token, team.id, "relay -in:@alice") == ["relay for all"]
    # the admin is in neither the DM nor a DM with alice
    assert await _found(api, api.admin_token, team.id, "relay") == ["relay for all"]
    assert await _found(api, api.admin_token, team.id, "relay in:@alice") == []


async def test_in_at_usernames_searches_the_group_message_with_them(api, team) -> None:  # type: ignore[no-untyped-def]
    group = await api.call("POST", "/api/v4/channels/group", team.alice_token, json=[team.bob["id"], api.admin["id"]])
    assert group.status_code in (200, 201), group.text
    await _post(api, team.alice_token, group.json()["id"], "relay for three")
    await _post(api, team.alice_token, team.town_square, "relay for all")
    assert await _found(api, team.alice_token, team.id, "relay in:@bob,admin") == ["relay for three"]
    assert await _found(api, team.bob_token, team.id, "relay in:@alice,admin,bob") == ["relay for three"]
    assert await _found(api, team.bob_token, team.id, "relay in:@alice") == []


async def test_on_before_and_after_select_days_in_the_searchers_time_zone(api, team) -> None:  # type: ignore[no-untyped-def]
    for day, message in ((-1, "relay jan 4"), (0, "relay jan 5"), (1, "relay jan 6")):
        _clock(api, JAN_5_2024_NOON + day * DAY)
        await _post(api, team.alice_token, team.town_square, message)
    _clock(api, JAN_5_2024_NOON + 11 * 3_600_000)  # 23:00 UTC on the 5th: the 6th from UTC+2
    await _post(api, team.alice_token, team.town_square, "relay late jan 5")
    assert await _found(api, team.bob_token, team.id, "relay on:2024-01-05") == ["relay late jan 5", "relay jan 5"]
    assert await _found(api, team.bob_token, team.id, "relay on:2024-01-05", time_zone_offset=7200) == ["relay jan 5"]
    assert await _found(api, team.bob_token, team.id, "on:2024-01-06", time_zone_offset=7200) == [
        "relay jan 6", "relay late jan 5"]
    assert await _found(api, team.bob_token, team.id, "relay after:2024-01-05") == ["relay jan 6"]
    assert await _found(api, team.bob_token, team.id, "relay before:2024-01-05") == ["relay jan 4"]
    assert await _found(api, team.bob_token, team.id, "relay after:2024-01-04 before:2024-01-06") == [
        "relay late jan 5", "relay jan 5"]
    assert await _found(api, team.bob_token, team.id, "relay -on:2024-01-05") == ["relay jan 6", "relay jan 4"]


async def test_filters_alone_search_without_words(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "one")
    await _post(api, team.bob_token, team.town_square, "two")
    assert await _found(api, team.bob_token, team.id, "from:alice in:town-square") == ["one"]


# -- what the searcher may see ---------------------------------------------------------------------

async def test_a_private_channel_is_searched_only_by_its_members(api, team) -> None:  # type: ignore[no-untyped-def]
    secret = await _channel(api, team.alice_token, team.id, "secret", "P")
    await _post(api, team.alice_token, secret, "classified relay")
    assert await _found(api, team.alice_token, team.id, "classified") == ["classified relay"]
    for terms in ("classified", "in:secret", "relay in:secret", "classified*", "-nothing"):
        assert await _found(api, team.bob_token, team.id, terms) == []
        assert await _found(api, team.bob_token, None, terms) == []
    # a system admin outside the channel does not see it either, as in Mattermost
    assert await _found(api, api.admin_token, team.id, "classified") == []


async def test_public_channels_are_searched_only_once_joined(api, team) -> None:  # type: ignore[no-untyped-def]
    ops = await _channel(api, team.alice_token, team.id, "ops")
    await _post(api, team.alice_token, ops, "open relay")
    assert await _found(api, team.bob_token, team.id, "relay") == []
    await api.call("POST", f"/api/v4/channels/{ops}/members", team.bob_token, json={"user_id": team.bob["id"]})
    assert await _found(api, team.bob_token, team.id, "relay") == ["open relay"]


async def test_a_team_search_stays_in_that_team_and_the_all_teams_search_spans_them(api, team) -> None:  # type: ignore[no-untyped-def]
    other = await api.call("POST", "/api/v4/teams", api.admin_token, json={"name": "base", "display_name": "Base", "type": "O"})
    other_id = other.json()["id"]
    await api.call("POST", f"/api/v4/teams/{other_id}/members", api.admin_token,
                   json={"team_id": other_id, "user_id": team.alice["id"]})
    square = (await api.call("GET", f"/api/v4/teams/{other_id}/channels/name/town-square", api.admin_token)).json()
    await _post(api, team.alice_token, square["id"], "relay at base")
    await _post(api, team.alice_token, team.town_square, "relay in the field")
    assert await _found(api, team.alice_token, team.id, "relay") == ["relay in the field"]
    assert await _found(api, team.alice_token, other_id, "relay") == ["relay at base"]
    assert await _found(api, team.alice_token, None, "relay") == ["relay in the field", "relay at base"]
    assert await _found(api, team.alice_token, None, "relay in:town-square") == ["relay in the field", "relay at base"]
    # bob is not on the other team: its town square is not his to search
    assert await _found(api, team.bob_token, None, "relay") == ["relay in the field"]
    assert (await _search(api, team.bob_token, other_id, "relay")).status_code == 403


async def test_archived_channels_are_searched_only_when_asked(api, team) -> None:  # type: ignore[no-untyped-def]
    ops = await _channel(api, team.alice_token, team.id, "ops")
    await _post(api, team.alice_token, ops, "old relay")
    archived = await api.call("DELETE", f"/api/v4/channels/{ops}", team.alice_token)
    assert archived.status_code == 200, archived.text
    assert await _found(api, team.alice_token, team.id, "relay") == []
    assert await _found(api, team.alice_token, team.id, "relay", include_deleted_channels=True) == ["old relay"]


async def _system_post(api: Any, channel_id: str, message: str, post_type: str) -> None:
    """A system message as the server writes one (no client may post a system_ type)."""
    ctx = api.node.services.ctx
    await ctx.store.write(f"channel:{channel_id}", [Create("post", new_id(), {
        "channel_id": channel_id, "user_id": "", "message": message, "type": post_type, "create_at": ctx.now_ms()})])


async def test_system_messages_are_not_search_results(api, team) -> None:  # type: ignore[no-untyped-def]
    await _system_post(api, team.town_square, "alice joined the relay", "system_join_channel")
    await _post(api, team.alice_token, team.town_square, "the relay works")
    assert await _found(api, team.bob_token, team.id, "relay") == ["the relay works"]


# -- edits, deletes, threads -----------------------------------------------------------------------

async def test_an_edit_changes_what_a_post_matches(api, team) -> None:  # type: ignore[no-untyped-def]
    post_id = await _post(api, team.alice_token, team.town_square, "relay north #field")
    edited = await api.call("PUT", f"/api/v4/posts/{post_id}/patch", team.alice_token, json={"message": "relay south #base"})
    assert edited.status_code == 200, edited.text
    assert await _found(api, team.bob_token, team.id, "north") == []
    assert await _found(api, team.bob_token, team.id, "#field") == []
    assert await _found(api, team.bob_token, team.id, "south #base") == ["relay south #base"]


async def test_a_deleted_post_and_its_replies_leave_the_results(api, team) -> None:  # type: ignore[no-untyped-def]
    root = await _post(api, team.alice_token, team.town_square, "relay root #field")
    await _post(api, team.bob_token, team.town_square, "relay reply #field", root_id=root)
    await _post(api, team.bob_token, team.town_square, "relay other")
    assert await _found(api, team.bob_token, team.id, "relay") == ["relay other", "relay reply #field", "relay root #field"]
    deleted = await api.call("DELETE", f"/api/v4/posts/{root}", team.alice_token)
    assert deleted.status_code == 200, deleted.text
    assert await _found(api, team.bob_token, team.id, "relay") == ["relay other"]
    assert await _found(api, team.bob_token, team.id, "#field") == []


# -- paging and the result shape -------------------------------------------------------------------

async def test_pages_walk_the_results_newest_first_and_say_when_more_follow(api, team) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        await _post(api, team.alice_token, team.town_square, f"relay {n}")
    pages = []
    for page in range(4):
        result = (await _search(api, team.bob_token, team.id, "relay", page=page, per_page=2)).json()
        pages.append(([result["posts"][i]["message"] for i in result["order"]], result["has_next"]))
    assert pages == [(["relay 4", "relay 3"], True), (["relay 2", "relay 1"], True), (["relay 0"], False), ([], False)]


async def test_the_result_is_a_post_list_with_the_matched_terms_of_each_post(api, team) -> None:  # type: ignore[no-untyped-def]
    first = await _post(api, team.alice_token, team.town_square, "Deploying the relay #Field")
    second = await _post(api, team.alice_token, team.town_square, "relay deployed")
    response = await _search(api, team.bob_token, team.id, "deploy* relay #field")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result = response.json()
    assert result["order"] == [first]
    assert set(result) >= {"order", "posts", "next_post_id", "prev_post_id", "has_next", "matches"}
    assert (result["next_post_id"], result["prev_post_id"], result["has_next"]) == ("", "", False)
    assert result["posts"][first]["message"] == "Deploying the relay #Field"
    assert result["matches"] == {first: ["Deploying", "relay", "#Field"]}
    either = (await _search(api, team.bob_token, team.id, "deploy* #field", is_or_search=True)).json()
    assert either["order"] == [second, first]
    assert either["matches"] == {second: ["deployed"], first: ["Deploying", "#Field"]}


async def test_text_that_finds_nothing_gives_an_empty_post_list(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "relay")
    for terms in ("   ", "*", '""', "!!! ---", "from:", "zzz"):
        result = (await _search(api, team.bob_token, team.id, terms)).json()
        assert (result["order"], result["posts"], result["matches"], result["has_next"]) == ([], {}, {}, False), terms


async def test_fts_query_syntax_in_the_terms_is_searched_as_text_not_obeyed(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "relay NEAR the mast")
    for terms in ('relay AND', "NEAR(relay mast)", "{message}: relay", "relay OR mast", "^relay", 'rel"ay', "relay\x00",
                  "message:relay", "relay -", "(relay"):
        response = await _search(api, team.bob_token, team.id, terms)
        assert response.status_code == 200, (terms, response.text)
    # JSON can carry a lone surrogate, which is no character: every endpoint refuses it as bad JSON
    lone = await api.call("POST", f"/api/v4/teams/{team.id}/posts/search", team.bob_token,
                          content=b'{"terms": "\\ud800relay"}', headers={"Content-Type": "application/json"})
    assert (lone.status_code, lone.json()["status_code"]) == (400, 400)
    assert await _found(api, team.bob_token, team.id, "mast NEAR") == ["relay NEAR the mast"]
    assert await _found(api, team.bob_token, team.id, "relay OR ridge") == []


# -- bad requests ------------------------------------------------------------------------------------

async def test_a_value_of_the_wrong_type_is_mattermosts_invalid_body_error(api, team) -> None:  # type: ignore[no-untyped-def]
    path = f"/api/v4/teams/{team.id}/posts/search"
    for body in ({"terms": 5}, {"terms": ["relay"]}, {"terms": "relay", "is_or_search": "yes"},
                 {"terms": "relay", "page": "1"}, {"terms": "relay", "per_page": 2.5},
                 {"terms": "relay", "time_zone_offset": True}, {"terms": "relay", "include_deleted_channels": 1}):
        response = await api.call("POST", path, team.bob_token, json=body)
        error = response.json()
        assert response.status_code == 400, body
        assert set(error) == {"id", "message", "detailed_error", "request_id", "status_code", "is_oauth"}
        assert (error["id"], error["status_code"]) == ("api.post.search_posts.invalid_body.app_error", 400), body


async def test_missing_or_empty_terms_are_an_invalid_param(api, team) -> None:  # type: ignore[no-untyped-def]
    for body in ({}, {"terms": ""}, {"terms": None, "page": 0}):
        response = await api.call("POST", f"/api/v4/teams/{team.id}/posts/search", team.bob_token, json=body)
        assert (response.status_code, response.json()["id"]) == (400, "api.context.invalid_body_param.app_error"), body


async def test_a_body_that_is_not_a_json_object_is_a_bad_request(api, team) -> None:  # type: ignore[no-untyped-def]
    for content in (b"not json", b"[1, 2]", b"", b'"relay"'):
        response = await api.call("POST", f"/api/v4/teams/{team.id}/posts/search", team.bob_token, content=content,
                                  headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()["id"]) == (400, "api.post.search_posts.invalid_body.app_error")


async def test_out_of_range_numbers_and_bad_dates_are_bad_requests(api, team) -> None:  # type: ignore[no-untyped-def]
    cases = [({"terms": "relay", "page": -1}, "api.context.invalid_body_param.app_error"),
             ({"terms": "relay", "per_page": 0}, "api.context.invalid_body_param.app_error"),
             ({"terms": "relay", "time_zone_offset": 10**12}, "api.context.invalid_body_param.app_error"),
             ({"terms": "relay on:2024-02-30"}, "api.post.search_posts.invalid_date.app_error"),
             ({"terms": "relay " * 1000}, "api.post.search_posts.terms_too_long.app_error")]
    for body, error_id in cases:
        response = await api.call("POST", f"/api/v4/teams/{team.id}/posts/search", team.bob_token, json=body)
        assert (response.status_code, response.json()["id"]) == (400, error_id), body


async def test_a_huge_page_size_is_capped_and_a_huge_page_is_empty(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "relay")
    assert await _found(api, team.bob_token, team.id, "relay", per_page=10**9) == ["relay"]
    assert await _found(api, team.bob_token, team.id, "relay", page=10**6) == []
    assert await _found(api, team.bob_token, team.id, "relay", page=2**62) == []
    # past 64 bits, Mattermost's decoder refuses the body
    too_big = await _search(api, team.bob_token, team.id, "relay", page=10**30)
    assert (too_big.status_code, too_big.json()["id"]) == (400, "api.post.search_posts.invalid_body.app_error")


async def test_searching_needs_a_session_a_valid_team_id_and_team_membership(api, team) -> None:  # type: ignore[no-untyped-def]
    assert (await _search(api, None, team.id, "relay")).status_code == 401
    assert (await _search(api, None, None, "relay")).status_code == 401
    bad = await _search(api, team.bob_token, "not-a-team", "relay")
    assert (bad.status_code, bad.json()["id"]) == (400, "api.context.invalid_url_param.app_error")
    carol = await api.create_user("carol")
    carol_token = await api.login("carol")
    denied = await _search(api, carol_token, team.id, "relay")
    assert (denied.status_code, denied.json()["id"]) == (403, "api.context.permissions.app_error")
    assert carol["id"] and await _found(api, carol_token, None, "relay") == []


# -- the service, as the /search slash command calls it ---------------------------------------------

async def test_the_service_searches_for_a_session_with_the_slash_command_signature(api, team) -> None:  # type: ignore[no-untyped-def]
    await _post(api, team.alice_token, team.town_square, "relay north")
    await _post(api, team.alice_token, team.town_square, "relay south")
    services = api.node.services
    session = await services.users.session_for_token(team.bob_token)
    result = await services.search.search(team.id, "north south", session, is_or_search=True, page=0, per_page=1)
    assert [result["posts"][i]["message"] for i in result["order"]] == ["relay south"]
    assert result["has_next"] is True


# -- the hashtag index -------------------------------------------------------------------------------

async def test_the_hashtag_index_is_built_from_posts_written_before_it_existed(open_store) -> None:  # type: ignore[no-untyped-def]
    names = [name for name, _ in LOCAL_MIGRATIONS]
    before = LOCAL_MIGRATIONS[:names.index("local_0005_post_hashtags")]
    async with open_store("node", migrations=before) as store:
        await store.write("channel:c", [Create("post", "p1", {"channel_id": "c", "message": "up #Ops-Team",
                                                               "hashtags": "#Ops-Team"})])
    async with open_store("node", migrations=before + [LOCAL_MIGRATIONS[len(before)]]) as store:
        rows = await store.fetchall("SELECT p.id FROM post_hashtags h JOIN posts p ON p.rowid = h.rowid "
                                    "WHERE post_hashtags MATCH '\"#ops-team\"'")
        assert [row["id"] for row in rows] == ["p1"]


async def test_results_skip_newer_system_messages_however_many_there_are(api, team) -> None:  # type: ignore[no-untyped-def]
    # The newest candidates come from an index and are filtered after; many filtered ones must
    # make the search look further back, not return a short page.
    for n in range(3):
        await _post(api, team.alice_token, team.town_square, f"relay older {n}")
    for n in range(40):
        await _system_post(api, team.town_square, f"relay system {n}", "system_generic")
    assert await _found(api, team.bob_token, team.id, "relay", per_page=2) == ["relay older 2", "relay older 1"]
    assert await _found(api, team.bob_token, team.id, "relay", page=1, per_page=2) == ["relay older 0"]
