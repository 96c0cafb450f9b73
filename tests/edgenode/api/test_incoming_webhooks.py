"""Incoming webhooks: managing them under /api/v4/hooks/incoming and posting through /hooks/{id}."""

from __future__ import annotations

import json
from typing import Any

from edgenode.ids import is_valid_id

HOOK_KEYS = {"id", "create_at", "update_at", "delete_at", "user_id", "channel_id", "team_id", "display_name",
             "description", "username", "icon_url", "channel_locked"}


async def create_hook(api, team, token: str | None = None, **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"channel_id": team.town_square, "display_name": "CI", **fields}
    response = await api.call("POST", "/api/v4/hooks/incoming", token or api.admin_token, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def channel_posts(api, channel_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The channel's posts, oldest first."""
    listed = (await api.call("GET", f"/api/v4/channels/{channel_id}/posts", api.admin_token)).json()
    return [listed["posts"][i] for i in reversed(listed["order"])]


async def channel_id(api, team, name: str) -> str:  # type: ignore[no-untyped-def]
    response = await api.call("GET", f"/api/v4/teams/{team.id}/channels/name/{name}", api.admin_token)
    return response.json()["id"]  # type: ignore[no-any-return]


async def audit_actions(api) -> list[str]:  # type: ignore[no-untyped-def]
    return [row["action"] for row in await api.node.services.audit.list(per_page=200)]


# -- management --------------------------------------------------------------------------------

async def test_an_admin_creates_a_hook_for_a_channel_and_the_creation_is_audited(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team, description="builds", username="jenkins", icon_url="http://x/i.png")
    assert set(hook) == HOOK_KEYS and is_valid_id(hook["id"])
    assert (hook["user_id"], hook["channel_id"], hook["team_id"]) == (api.admin["id"], team.town_square, team.id)
    assert (hook["display_name"], hook["description"], hook["username"], hook["icon_url"], hook["channel_locked"]) == \
        ("CI", "builds", "jenkins", "http://x/i.png", False)
    assert "createIncomingHook" in await audit_actions(api)


async def test_a_team_member_without_admin_rights_cannot_create_or_list_hooks(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/hooks/incoming", team.alice_token, json={"channel_id": team.town_square})
    listed = await api.call("GET", f"/api/v4/hooks/incoming?team_id={team.id}", team.alice_token)
    everything = await api.call("GET", "/api/v4/hooks/incoming", team.alice_token)
    assert (created.status_code, created.json()["id"]) == (403, "api.context.permissions.app_error")
    assert (listed.status_code, everything.status_code) == (403, 403)
    assert (await api.call("GET", "/api/v4/hooks/incoming", api.admin_token)).json() == []


async def test_bad_hook_fields_are_refused_with_mattermosts_error_ids(api, team) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ({}, 400, "model.incoming_hook.channel_id.app_error"),
        ({"channel_id": "0" * 26}, 400, "model.incoming_hook.channel_id.app_error"),
        ({"channel_id": team.alice["id"]}, 404, "app.channel.get.existing.app_error"),
        ({"channel_id": team.town_square, "display_name": "d" * 65}, 400, "model.incoming_hook.display_name.app_error"),
        ({"channel_id": team.town_square, "username": "Not Valid"}, 400, "api.incoming_webhook.invalid_username.app_error"),
        ({"channel_id": team.town_square, "channel_locked": "yes"}, 400, "api.context.invalid_body_param.app_error"),
        ({"channel_id": team.town_square, "description": 5}, 400, "model.incoming_hook.description.app_error"),
    ]
    for body, status, error_id in cases:
        response = await api.call("POST", "/api/v4/hooks/incoming", api.admin_token, json=body)
        assert (response.status_code, response.json()["id"]) == (status, error_id), body
    assert (await api.call("GET", "/api/v4/hooks/incoming", api.admin_token)).json() == []


async def test_a_team_admin_cannot_hook_a_private_channel_they_cannot_read(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/teams", team.alice_token, json={"name": "alpha", "display_name": "Alpha"})
    alpha = created.json()["id"]
    await api.call("POST", f"/api/v4/teams/{alpha}/members", team.alice_token, json={"team_id": alpha, "user_id": team.bob["id"]})
    secret = (await api.call("POST", "/api/v4/channels", team.bob_token,
                             json={"team_id": alpha, "name": "secret", "display_name": "Secret", "type": "P"})).json()
    refused = await api.call("POST", "/api/v4/hooks/incoming", team.alice_token, json={"channel_id": secret["id"]})
    square = await channel_id(api, type("T", (), {"id": alpha})(), "town-square")
    allowed = await api.call("POST", "/api/v4/hooks/incoming", team.alice_token, json={"channel_id": square})
    assert refused.status_code == 403
    assert allowed.status_code == 201 and allowed.json()["user_id"] == team.alice["id"]


async def test_the_creator_reads_updates_and_deletes_a_hook_and_others_may_not(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    path = f"/api/v4/hooks/incoming/{hook['id']}"
    off_topic = await channel_id(api, team, "off-topic")
    assert (await api.call("GET", path, team.bob_token)).status_code == 403
    assert (await api.call("DELETE", path, team.bob_token)).status_code == 403
    assert (await api.call("GET", path, api.admin_token)).json() == hook

    updated = await api.call("PUT", path, api.admin_token,
                             json={"id": hook["id"], "channel_id": off_topic, "display_name": "Deploys", "channel_locked": True})
    assert updated.status_code == 201  # as Mattermost answers an update
    assert {k: updated.json()[k] for k in ("channel_id", "display_name", "channel_locked", "user_id", "create_at")} == \
        {"channel_id": off_topic, "display_name": "Deploys", "channel_locked": True, "user_id": api.admin["id"],
         "create_at": hook["create_at"]}
    mismatch = await api.call("PUT", path, api.admin_token, json={"id": hook["id"], "team_id": team.alice["id"]})
    wrong_id = await api.call("PUT", path, api.admin_token, json={"id": team.alice["id"]})
    assert (mismatch.status_code, mismatch.json()["id"]) == (400, "api.webhook.team_mismatch.app_error")
    assert (wrong_id.status_code, wrong_id.json()["id"]) == (400, "api.context.invalid_param.app_error")

    deleted = await api.call("DELETE", path, api.admin_token)
    assert (deleted.status_code, deleted.json()) == (200, {"status": "OK"})
    assert (await api.call("GET", path, api.admin_token)).status_code == 404
    gone = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "hi"})
    assert (gone.status_code, gone.json()["id"]) == (400, "web.incoming_webhook.invalid.app_error")
    actions = await audit_actions(api)
    assert {"createIncomingHook", "updateIncomingHook", "deleteIncomingHook"} <= set(actions)


async def test_hooks_are_listed_per_team_with_an_optional_total(api, team) -> None:  # type: ignore[no-untyped-def]
    first = await create_hook(api, team, display_name="one")
    second = await create_hook(api, team, display_name="two")
    listed = await api.call("GET", f"/api/v4/hooks/incoming?team_id={team.id}", api.admin_token)
    paged = await api.call("GET", f"/api/v4/hooks/incoming?team_id={team.id}&per_page=1&page=1", api.admin_token)
    counted = await api.call("GET", f"/api/v4/hooks/incoming?team_id={team.id}&include_total_count=true", api.admin_token)
    assert [h["id"] for h in listed.json()] == [first["id"], second["id"]]
    assert [h["id"] for h in paged.json()] == [second["id"]]
    assert counted.json()["total_count"] == 2 and len(counted.json()["incoming_webhooks"]) == 2


# -- execution ---------------------------------------------------------------------------------

async def test_a_json_post_answers_plain_ok_and_posts_as_the_creator_marked_from_webhook(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    response = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "build #42 passed"})
    assert (response.status_code, response.headers["content-type"], response.text) == (200, "text/plain", "ok")
    [post] = await channel_posts(api, team.town_square)
    assert (post["message"], post["user_id"], post["type"]) == ("build #42 passed", api.admin["id"], "")
    assert post["props"] == {"from_webhook": "true", "override_username": "webhook", "webhook_display_name": "CI"}


async def test_the_request_overrides_name_and_icon_and_adds_props_but_not_reserved_ones(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team, username="jenkins", icon_url="http://x/hook.png")
    await api.call("POST", f"/hooks/{hook['id']}", json={"text": "a"})
    await api.call("POST", f"/hooks/{hook['id']}", json={
        "text": "b", "username": "Release Bot", "icon_url": "http://x/req.png", "icon_emoji": ":ship:",
        "props": {"card": "details", "from_webhook": "false", "override_username": "mallory"}})
    first, second = await channel_posts(api, team.town_square)
    assert first["props"] == {"from_webhook": "true", "override_username": "jenkins",
                              "override_icon_url": "http://x/hook.png", "webhook_display_name": "CI"}
    assert second["props"] == {"card": "details", "from_webhook": "true", "override_username": "Release Bot",
                               "override_icon_url": "http://x/req.png", "override_icon_emoji": ":ship:",
                               "webhook_display_name": "CI"}


async def test_form_payloads_and_plain_form_fields_are_accepted(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    slack_style = await api.call("POST", f"/hooks/{hook['id']}", data={"payload": json.dumps({"text": "from payload"})})
    fields = await api.call("POST", f"/hooks/{hook['id']}", data={"text": "from fields", "username": "form"})
    multipart = await api.call("POST", f"/hooks/{hook['id']}", data={"payload": json.dumps({"text": "from multipart"})},
                               files={"unused": ("a.txt", b"x")})
    assert [r.status_code for r in (slack_style, fields, multipart)] == [200, 200, 200]
    posts = await channel_posts(api, team.town_square)
    assert [p["message"] for p in posts] == ["from payload", "from fields", "from multipart"]
    assert posts[1]["props"]["override_username"] == "form"


async def test_raw_newlines_inside_json_strings_are_tolerated_as_in_mattermost(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    response = await api.call("POST", f"/hooks/{hook['id']}", content=b'{"text": "line one\nline two\tend"}',
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    [post] = await channel_posts(api, team.town_square)
    assert post["message"] == "line one\nline two\tend"


async def test_slack_attachments_become_a_slack_attachment_post_with_rewritten_text(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    payload = {
        "text": f"<!channel> deploy by <@{team.alice['id']}>, see <https://ci.example/1|the log>",
        "attachments": [None, {
            "fallback": "Deploy finished", "color": "#36a64f", "pretext": "<!here> heads up",
            "title": f"Deploy <@{team.bob['id']}>", "text": "Details at <https://ci.example/1|build 1>",
            "mrkdwn_in": ["text"], "fields": [{"title": "Duration", "value": 42, "short": True},
                                               {"title": "Ok", "value": True, "short": False}, None,
                                               {"title": "Where", "value": "<https://x.example|x>", "short": False}],
        }],
    }
    response = await api.call("POST", f"/hooks/{hook['id']}", json=payload)
    assert response.status_code == 200, response.text
    [post] = await channel_posts(api, team.town_square)
    assert post["type"] == "slack_attachment"
    assert post["message"] == "@channel deploy by @alice, see [the log](https://ci.example/1)"
    assert post["props"]["attachments"] == [{
        "fallback": "Deploy finished", "color": "#36a64f", "pretext": "@here heads up", "title": "Deploy @bob",
        "text": "Details at [build 1](https://ci.example/1)", "mrkdwn_in": ["text"],
        "fields": [{"title": "Duration", "value": "42", "short": True}, {"title": "Ok", "value": "true", "short": False},
                   {"title": "Where", "value": "[x](https://x.example)", "short": False}],
    }]


async def test_attachments_without_text_are_enough(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    response = await api.call("POST", f"/hooks/{hook['id']}", json={"attachments": [{"text": "only this"}]})
    assert response.status_code == 200
    [post] = await channel_posts(api, team.town_square)
    assert (post["message"], post["type"], post["props"]["attachments"]) == ("", "slack_attachment", [{"text": "only this"}])


async def test_bad_requests_are_refused_and_post_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    url = f"/hooks/{hook['id']}"
    cases = [
        (await api.call("POST", url, json={"text": ""}), 400, "web.incoming_webhook.text.app_error"),
        (await api.call("POST", url, json={"attachments": []}), 400, "web.incoming_webhook.text.app_error"),
        (await api.call("POST", url, json={"text": None, "attachments": [None]}), 400, "web.incoming_webhook.text.app_error"),
        (await api.call("POST", url, content=b"{not json", headers={"Content-Type": "application/json"}), 400,
         "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", url, content=b""), 400, "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", url, json=["text"]), 400, "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", url, json={"text": 5}), 400, "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", url, json={"text": "x", "props": []}), 400, "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", url, json={"text": "x", "attachments": {"a": 1}}), 400, "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", url, json={"text": "x", "type": "system_join_channel"}), 400, "api.context.invalid_param.app_error"),
        (await api.call("POST", url, json={"text": "x", "type": "weird"}), 400, "model.post.is_valid.type.app_error"),
        (await api.call("POST", url, data={"payload": "{broken"}), 400, "model.incoming_hook.parse_data.app_error"),
        (await api.call("POST", "/hooks/" + "x" * 26, json={"text": "x"}), 400, "web.incoming_webhook.invalid.app_error"),
        (await api.call("POST", "/hooks/nothing", json={"text": "x"}), 400, "web.incoming_webhook.invalid.app_error"),
    ]
    for response, status, error_id in cases:
        assert (response.status_code, response.json()["id"]) == (status, error_id), response.text
    assert await channel_posts(api, team.town_square) == []


async def test_the_channel_field_picks_another_channel_of_the_team_or_a_dm_with_the_creator(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    off_topic = await channel_id(api, team, "off-topic")
    for target in ("off-topic", "#off-topic"):
        assert (await api.call("POST", f"/hooks/{hook['id']}", json={"text": target, "channel": target})).status_code == 200
    dm = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "psst", "channel": "@bob"})
    missing = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "x", "channel": "nowhere"})
    nobody = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "x", "channel": "@nobody"})
    assert [p["message"] for p in await channel_posts(api, off_topic)] == ["off-topic", "#off-topic"]
    assert dm.status_code == 200
    direct = await api.call("POST", "/api/v4/channels/direct", team.bob_token, json=[team.bob["id"], api.admin["id"]])
    assert [p["message"] for p in await channel_posts(api, direct.json()["id"])] == ["psst"]
    assert (missing.status_code, missing.json()["id"]) == (404, "web.incoming_webhook.channel.app_error")
    assert (nobody.status_code, nobody.json()["id"]) == (400, "web.incoming_webhook.user.app_error")


async def test_a_locked_hook_refuses_other_channels_and_opens_no_dm(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team, channel_locked=True)
    other = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "x", "channel": "off-topic"})
    dm = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "x", "channel": "@bob"})
    own = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "mine", "channel": "town-square"})
    assert (other.status_code, other.json()["id"]) == (403, "web.incoming_webhook.channel_locked.app_error")
    assert (dm.status_code, dm.json()["id"]) == (403, "web.incoming_webhook.channel_locked.app_error")
    assert own.status_code == 200
    channels = (await api.call("GET", f"/api/v4/users/{team.bob['id']}/teams/{team.id}/channels", team.bob_token)).json()
    assert [c["type"] for c in channels].count("D") == 0


async def test_a_hook_cannot_post_to_a_private_channel_its_creator_is_not_in(api, team) -> None:  # type: ignore[no-untyped-def]
    alpha = (await api.call("POST", "/api/v4/teams", team.alice_token, json={"name": "alpha", "display_name": "Alpha"})).json()["id"]
    await api.call("POST", f"/api/v4/teams/{alpha}/members", team.alice_token, json={"team_id": alpha, "user_id": team.bob["id"]})
    await api.call("POST", "/api/v4/channels", team.bob_token,
                   json={"team_id": alpha, "name": "secret", "display_name": "Secret", "type": "P"})
    square = (await api.call("GET", f"/api/v4/teams/{alpha}/channels/name/town-square", team.alice_token)).json()["id"]
    hook = (await api.call("POST", "/api/v4/hooks/incoming", team.alice_token, json={"channel_id": square})).json()
    response = await api.call("POST", f"/hooks/{hook['id']}", json={"text": "leak", "channel": "secret"})
    assert (response.status_code, response.json()["id"]) == (403, "web.incoming_webhook.permissions.app_error")


async def test_a_text_longer_than_one_post_is_split_into_several_in_order(api, team) -> None:  # type: ignore[no-untyped-def]
    hook = await create_hook(api, team)
    text = "a" * 16_383 + "b" * 16_383 + "c" * 10
    response = await api.call("POST", f"/hooks/{hook['id']}", json={"text": text, "attachments": [{"text": "att"}]})
    assert response.status_code == 200
    posts = await channel_posts(api, team.town_square)
    assert [p["message"] for p in posts] == ["a" * 16_383, "b" * 16_383, "c" * 10]
    assert ["attachments" in p["props"] for p in posts] == [False, False, True]
    assert all(p["props"]["from_webhook"] == "true" for p in posts)
