"""Two nodes synced over real loopback TCP, each serving the web UI over real HTTP, each in its own
browser context of one headless Chromium: a message typed in browser A appears live in browser B, and
A's mark beside it turns to "reached another node"; a card dragged to another column of a board in
browser A moves in browser B."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, shot
from support.live_server import live_server
from support.served_nodes import PASSWORD, Served, served, settings, until

from edgenode.api.app import build_app
from sync.manager import PeerAddress

pytestmark = pytest.mark.slow


def _app(node: Served) -> Any:
    app = build_app(node.node.services, bound_host="127.0.0.1")
    app.state.sync = node.sync  # as `edgenode serve` wires it: the delivery marks read the peers' frontiers
    return app


async def _log_in(browser: Any, base_url: str) -> Any:
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base_url)
    page = await context.new_page()
    page.set_default_timeout(20000)
    await page.goto("/")
    await page.get_by_label("Username or email").fill("admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="#Town Square").wait_for()
    return page


FB = "/plugins/focalboard/api/v2"


async def _a_card_moved_in_a_moves_in_b(a: Served, b: Served, token: str, team_id: str, page_a: Any, page_b: Any) -> None:
    """A board made on A reaches B; a card dragged to another column in browser A moves in browser B."""
    xhr = {"X-Requested-With": "XMLHttpRequest", "Authorization": f"Bearer {token}"}
    made = await a.http.post(f"{FB}/boards/btemplateprojecttasks00000000/duplicate",
                             params={"asTemplate": "false", "toTeam": team_id}, headers=xhr)
    assert made.status_code == 200, made.text
    board_id = made.json()["boards"][0]["id"]

    async def b_has_the_cards() -> bool:
        b_token = await b.login("admin")
        blocks = await b.http.get(f"{FB}/boards/{board_id}/blocks",
                                  headers={"X-Requested-With": "XMLHttpRequest", "Authorization": f"Bearer {b_token}"})
        return blocks.status_code == 200 and sum(1 for x in blocks.json() if x["type"] == "card") == 3
    await until(b_has_the_cards, timeout=30)
    for page in (page_a, page_b):
        await page.get_by_role("link", name="Boards", exact=True).click()
        await page.get_by_role("link", name="Project tasks").click()
        await page.get_by_role("button", name="Review with the team").wait_for()
    blocked = page_a.locator(".kanban .column").filter(has=page_a.get_by_role("heading", name="Blocked"))
    await page_a.get_by_role("button", name="Review with the team").drag_to(blocked.get_by_role("heading"))
    column_b = page_b.locator(".kanban .column").filter(has=page_b.get_by_role("heading", name="Blocked 1"))
    await column_b.get_by_role("button", name="Review with the team").wait_for(timeout=30000)
    await shot(page_b, "19-two-nodes-board-in-browser-b")


async def test_a_message_typed_in_browser_a_appears_in_browser_b(tmp_path: Path) -> None:
    require_chromium()
    from playwright.async_api import async_playwright

    a_settings = settings()
    async with served(tmp_path / "a", a_settings) as a, \
            served(tmp_path / "b", settings(peers=(PeerAddress("127.0.0.1", a_settings.port),))) as b:
        created = await a.call("POST", "/api/v4/users", json={"username": "admin", "email": "admin@example.com",
                                                                "password": PASSWORD})
        assert created.status_code == 201, created.text
        token = await a.login("admin")
        team = await a.call("POST", "/api/v4/teams", token, json={"name": "field", "display_name": "Field", "type": "O"})
        assert team.status_code == 201, team.text

        async def b_has_the_team() -> bool:
            login = await b.call("POST", "/api/v4/users/login", json={"login_id": "admin", "password": PASSWORD})
            if login.status_code != 200:
                return False
            teams = await b.call("GET", "/api/v4/users/me/teams", login.headers["Token"])
            return teams.status_code == 200 and len(teams.json()) == 1
        await until(b_has_the_team, timeout=30)

        async with live_server(a.node, app=_app(a)) as a_url, live_server(b.node, app=_app(b)) as b_url, \
                async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page_a = await _log_in(browser, a_url)
                page_b = await _log_in(browser, b_url)
                box = page_a.locator("textarea[id^=composer-]").first
                await box.fill("Convoy left the depot at 06:10")
                await box.press("Enter")
                await page_b.locator("article.post", has_text="Convoy left the depot at 06:10").wait_for()
                mark = page_a.locator("article.post", has_text="Convoy left the depot").get_by_role(
                    "img", name="Reached another node")
                await mark.wait_for()
                await shot(page_a, "13-two-nodes-browser-a")
                await shot(page_b, "14-two-nodes-browser-b")
                await _a_card_moved_in_a_moves_in_b(a, b, token, team.json()["id"], page_a, page_b)
            finally:
                await browser.close()
