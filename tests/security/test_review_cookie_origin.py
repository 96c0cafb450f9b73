"""Review: the Origin check must see the session cookie wherever the session lookup finds it.

A page on another port of 127.0.0.1 may set cookies for 127.0.0.1 (cookies ignore ports). With one
cookie whose value opens a quote before the node's session cookie and another closing it after,
Python's SimpleCookie reads the whole as one cookie while Starlette's parser (which the session lookup
uses) still finds MMAUTHTOKEN: the cross-origin write was then let through as if cookie-less.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.members_world import World, world_at

ORIGIN_REFUSED = "api.context.origin_not_allowed.app_error"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def test_a_session_cookie_wrapped_in_quoted_cookies_is_still_seen_by_the_origin_check(world: World) -> None:
    headers = {"Cookie": f'x="a; MMAUTHTOKEN={world.tokens["alice"]}; y=b"', "Origin": "http://127.0.0.1:6666",
               "X-Requested-With": "XMLHttpRequest"}
    response = await world.client.post("/api/v4/posts", headers=headers,
                                       json={"channel_id": world.town_square, "message": "forged"})
    assert (response.status_code, response.json()["id"]) == (403, ORIGIN_REFUSED), response.text
    row = await world.node.store.fetchone("SELECT count(*) FROM posts WHERE message = 'forged'")
    assert row[0] == 0
