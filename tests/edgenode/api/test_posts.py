"""Posts beyond the basics: pins, reply counts in lists, and a page of posts costing a fixed number of queries."""

from __future__ import annotations

import json
from typing import Any

UNKNOWN_ID = "a" * 26


async def _post(api: Any, token: str, channel_id: str, message: str, root_id: str = "") -> dict[str, Any]:
    response = await api.call("POST", "/api/v4/posts", token,
                              json={"channel_id": channel_id, "message": message, "root_id": root_id})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_pinning_marks_the_post_lists_it_and_announces_the_edit(api, team) -> None:  # type: ignore[no-untyped-def]
    kept = await _post(api, team.alice_token, team.town_square, "rally point: north gate")
    await _post(api, team.alice_token, team.town_square, "chatter")
    with api.node.services.ctx.events.subscribe() as events:
        pinned = await api.call("POST", f"/api/v4/posts/{kept['id']}/pin", team.bob_token)
        edited = events.get_nowait()
    assert (pinned.status_code, pinned.json()) == (200, {"status": "OK"})
    assert edited.event == "post_edited" and json.loads(edited.data["post"])["is_pinned"] is True
    listed = (await api.call("GET", f"/api/v4/channels/{team.town_square}/pinned", team.bob_token)).json()
    assert listed["order"] == [kept["id"]] and listed["posts"][kept["id"]]["is_pinned"] is True
    stats = (await api.call("GET", f"/api/v4/channels/{team.town_square}/stats", team.bob_token)).json()
    assert stats["pinnedpost_count"] == 1
    unpinned = await api.call("POST", f"/api/v4/posts/{kept['id']}/unpin", team.bob_token)
    assert unpinned.status_code == 200
    assert (await api.call("GET", f"/api/v4/posts/{kept['id']}", team.bob_token)).json()["is_pinned"] is False
    assert (await api.call("GET", f"/api/v4/channels/{team.town_square}/pinned", team.bob_token)).json()["order"] == []


async def test_pinning_a_pinned_post_writes_nothing(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square, "once")
    await api.call("POST", f"/api/v4/posts/{post['id']}/pin", team.alice_token)
    before = await api.node.store.digest()
    again = await api.call("POST", f"/api/v4/posts/{post['id']}/pin", team.alice_token)
    assert again.status_code == 200 and await api.node.store.digest() == before


async def test_pins_need_a_readable_post_in_an_active_channel(api, team) -> None:  # type: ignore[no-untyped-def]
    private = (await api.call("POST", "/api/v4/channels", team.alice_token,
                              json={"team_id": team.id, "name": "ops", "display_name": "Ops", "type": "P"})).json()
    secret = await _post(api, team.alice_token, private["id"], "secret")
    before = await api.node.store.digest()
    for path, status, error_id in (
            (f"/api/v4/posts/{secret['id']}/pin", 403, "api.context.permissions.app_error"),
            (f"/api/v4/posts/{UNKNOWN_ID}/pin", 404, "app.post.get.app_error"),
            ("/api/v4/posts/nope/unpin", 400, "api.context.invalid_url_param.app_error")):
        response = await api.call("POST", path, team.bob_token)
        assert (response.status_code, response.json()["id"]) == (status, error_id), path
    hidden = await api.call("GET", f"/api/v4/channels/{private['id']}/pinned", team.bob_token)
    assert hidden.status_code == 403 and "secret" not in hidden.text
    assert await api.node.store.digest() == before
    await api.call("DELETE", f"/api/v4/channels/{private['id']}", team.alice_token)
    archived = await api.call("POST", f"/api/v4/posts/{secret['id']}/pin", team.alice_token)
    assert (archived.status_code, archived.json()["id"]) == (
        403, "api.post.update_post.can_not_update_post_in_deleted.error")


async def test_every_post_of_a_thread_carries_the_threads_reply_count(api, team) -> None:  # type: ignore[no-untyped-def]
    root = await _post(api, team.alice_token, team.town_square, "root")
    first = await _post(api, team.bob_token, team.town_square, "first reply", root["id"])
    second = await _post(api, team.alice_token, team.town_square, "second reply", first["id"])
    lonely = await _post(api, team.alice_token, team.town_square, "no replies")
    listed = (await api.call("GET", f"/api/v4/channels/{team.town_square}/posts", team.bob_token)).json()
    counts = {post_id: (p["reply_count"], p["last_reply_at"]) for post_id, p in listed["posts"].items()}
    assert counts == {root["id"]: (2, second["create_at"]), first["id"]: (2, 0), second["id"]: (2, 0),
                      lonely["id"]: (0, 0)}
    assert second["root_id"] == root["id"]
    thread = (await api.call("GET", f"/api/v4/posts/{first['id']}/thread", team.bob_token)).json()
    assert thread["order"] == [second["id"], first["id"], root["id"]]


async def test_a_post_has_no_reactions_or_files_until_it_gets_some(api, team) -> None:  # type: ignore[no-untyped-def]
    post = await _post(api, team.alice_token, team.town_square, "bare")
    assert (post["has_reactions"], post["metadata"], post["file_ids"]) == (False, {}, [])


async def test_a_page_of_posts_costs_the_same_queries_whatever_its_size(api, team, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = api.node.store
    queries: list[str] = []
    real_fetchall = store.fetchall

    async def counting_fetchall(sql: str, params: Any = ()) -> Any:
        queries.append(sql)
        return await real_fetchall(sql, params)

    async def page_cost(per_page: int) -> int:
        queries.clear()
        monkeypatch.setattr(store, "fetchall", counting_fetchall)
        response = await api.call("GET", f"/api/v4/channels/{team.town_square}/posts?per_page={per_page}", team.bob_token)
        monkeypatch.undo()
        assert len(response.json()["order"]) == per_page
        return len(queries)

    root = await _post(api, team.alice_token, team.town_square, "root")
    for i in range(24):
        post = await _post(api, team.alice_token, team.town_square, f"post {i}", root["id"] if i % 3 else "")
        await api.call("POST", "/api/v4/reactions", team.bob_token,
                       json={"user_id": team.bob["id"], "post_id": post["id"], "emoji_name": "eyes"})
    assert await page_cost(2) == await page_cost(25)
