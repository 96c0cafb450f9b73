"""The API's conventions: ping, error bodies, auth, content type, ids."""

from __future__ import annotations

from edgenode.ids import is_valid_id


async def test_ping_answers_ok_with_exact_json_content_type(api) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("GET", "/api/v4/system/ping")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "OK"
    assert is_valid_id(response.headers["x-request-id"])


async def test_the_first_user_is_system_admin_and_later_ones_are_not(api, team) -> None:  # type: ignore[no-untyped-def]
    assert api.admin["roles"] == "system_admin system_user"
    assert team.alice["roles"] == "system_user"
    assert "password" not in team.alice and "password_hash" not in team.alice


async def test_requests_without_a_session_get_mattermosts_401_body(api) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("GET", "/api/v4/users/me")
    body = response.json()
    assert response.status_code == 401
    assert set(body) == {"id", "message", "detailed_error", "request_id", "status_code", "is_oauth"}
    assert body["status_code"] == 401 and body["request_id"] == response.headers["x-request-id"]


async def test_unknown_paths_and_bad_ids_are_json_errors(api) -> None:  # type: ignore[no-untyped-def]
    missing = await api.call("GET", "/api/v4/nothing-here", api.admin_token)
    bad_id = await api.call("GET", "/api/v4/channels/not-an-id", api.admin_token)
    assert (missing.status_code, missing.json()["status_code"]) == (404, 404)
    assert (bad_id.status_code, bad_id.json()["id"]) == (400, "api.context.invalid_url_param.app_error")


async def test_a_post_round_trips_through_the_channel_list(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/posts", team.alice_token,
                             json={"channel_id": team.town_square, "message": "hello #field team"})
    assert created.status_code == 201, created.text
    post = created.json()
    assert is_valid_id(post["id"]) and post["hashtags"] == "#field"
    listed = (await api.call("GET", f"/api/v4/channels/{team.town_square}/posts", team.bob_token)).json()
    assert listed["order"][0] == post["id"] and listed["posts"][post["id"]]["message"] == "hello #field team"


async def test_a_message_over_16383_characters_is_refused_and_nothing_is_written(api, team) -> None:  # type: ignore[no-untyped-def]
    response = await api.call("POST", "/api/v4/posts", team.alice_token,
                              json={"channel_id": team.town_square, "message": "x" * 16384})
    assert response.status_code == 400
    listed = (await api.call("GET", f"/api/v4/channels/{team.town_square}/posts", team.alice_token)).json()
    assert listed["order"] == []


async def test_a_private_channel_is_never_served_to_a_non_member(api, team) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", "/api/v4/channels", team.alice_token,
                             json={"team_id": team.id, "name": "secret", "display_name": "Secret", "type": "P"})
    channel_id = created.json()["id"]
    await api.call("POST", "/api/v4/posts", team.alice_token, json={"channel_id": channel_id, "message": "classified"})
    for path in (f"/api/v4/channels/{channel_id}", f"/api/v4/channels/{channel_id}/posts",
                 f"/api/v4/channels/{channel_id}/members"):
        response = await api.call("GET", path, team.bob_token)
        assert response.status_code == 403, path
        assert "classified" not in response.text


async def test_on_a_node_that_joined_a_mesh_the_first_user_is_not_made_admin(api) -> None:  # type: ignore[no-untyped-def]
    api.node.services.ctx.first_user_becomes_admin = False
    refused = await api.call("POST", "/api/v4/users", json={"username": "walkin", "email": "w@example.com",
                                                            "password": "password1"})
    assert (refused.status_code, refused.json()["id"]) == (403, "api.user.create_user.signup_email_disabled.app_error")
    created = await api.call("POST", "/api/v4/users", api.admin_token,
                             json={"username": "carol", "email": "c@example.com", "password": "password1"})
    assert created.json()["roles"] == "system_user"


async def test_an_empty_node_that_joined_a_mesh_makes_no_first_admin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from edgenode.node import open_node

    async with open_node(tmp_path / "joined") as node:
        node.services.ctx.first_user_becomes_admin = False
        user = await node.services.users.create({"username": "first", "email": "f@example.com", "password": "password1"})
        assert user["roles"] == "system_user"
