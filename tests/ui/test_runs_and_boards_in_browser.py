"""The playbook-run and board screens in real headless Chromium against a real `edgenode serve`: a
playbook written and a run started in the browser, its items checked, assigned, given a due date and
skipped, a status update, the timeline and the retrospective; a board made from a built-in template,
a card moved by drag and drop and by keyboard (each move read back through the API), the table view,
a card's detail; and both screens following a change made elsewhere live. One node and one browser
for the module; the screens are saved under artifacts/screenshots/ and checked with axe-core.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import time

import httpx
import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations, log_in, require_chromium, shot
from support.server_process import ADMIN_PASSWORD, ServerProcess, edgenode_server

pytestmark = pytest.mark.slow

PB = "/plugins/playbooks/api/v0"
FB = "/plugins/focalboard/api/v2"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    require_chromium()
    with edgenode_server(tmp_path_factory.mktemp("ui-runs-boards") / "node") as server:
        with server.client(server.admin_token) as http:
            team = http.post("/api/v4/teams", json={"name": "field", "display_name": "Field Team", "type": "O"})
            assert team.status_code == 201, team.text
        yield server


@pytest.fixture(scope="module")
def api(node: ServerProcess) -> Iterator[httpx.Client]:
    """The admin's own API client: what the browser did, read back; what a peer would change, made."""
    with node.client(node.admin_token) as http:
        http.headers["X-Requested-With"] = "XMLHttpRequest"
        yield http


@pytest.fixture(scope="module")
def team_id(api: httpx.Client) -> str:
    return str(api.get("/api/v4/users/me/teams").json()[0]["id"])


@pytest.fixture(scope="module")
def page(node: ServerProcess) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=node.base_url)
        page = context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors
        log_in(page, "admin", ADMIN_PASSWORD)
        yield page
        browser.close()


def no_serious_violations(page: Any, screen: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe on {screen}: {violations}"


def the_run(api: httpx.Client, team_id: str) -> dict[str, Any]:
    runs = api.get(f"{PB}/runs", params={"team_id": team_id}).json()["items"]
    assert len(runs) == 1, runs
    return api.get(f"{PB}/runs/{runs[0]['id']}").json()  # type: ignore[no-any-return]


def item_states(run: dict[str, Any]) -> list[str]:
    return [item["state"] for checklist in run["checklists"] for item in checklist["items"]]


def test_a_playbook_is_written_and_a_run_started_from_it(page: Any, api: httpx.Client, team_id: str) -> None:
    page.get_by_role("link", name="Playbook runs").click()
    page.get_by_text("No playbook in this team yet").wait_for()
    no_serious_violations(page, "runs list")
    page.get_by_label("Playbook title").fill("Shift changeover")
    page.get_by_label("Checklist items, one per line").fill("Count the radios\nHand over the log\nBrief the next shift")
    page.get_by_role("button", name="Create the playbook").click()
    page.get_by_text("3 steps").wait_for()
    page.get_by_label("Run name").fill("Night shift 6 Dec")
    page.get_by_role("button", name="Start run").click()
    page.locator("#run-title", has_text="Night shift 6 Dec").wait_for()
    # the run's channel, beside its checklists
    page.locator("#channel-title", has_text="Night shift 6 Dec").wait_for()
    run = the_run(api, team_id)
    assert run["name"] == "Night shift 6 Dec" and item_states(run) == ["", "", ""]


def test_items_are_checked_assigned_dated_and_skipped_and_the_api_holds_it(
        page: Any, api: httpx.Client, team_id: str) -> None:
    page.get_by_role("checkbox", name="Count the radios").check()
    page.get_by_text("1 of 3 tasks done").wait_for()
    page.get_by_label("Assignee of Hand over the log").select_option(label="@admin")
    page.get_by_label("Due date of Hand over the log").fill("2026-12-07")
    page.get_by_role("button", name="Skip Brief the next shift").click()
    page.get_by_text("1 of 2 tasks done").wait_for()
    run = the_run(api, team_id)
    items = run["checklists"][0]["items"]
    assert item_states(run) == ["closed", "", "skipped"]
    assert items[1]["assignee_id"] == api.get("/api/v4/users/me").json()["id"]
    assert items[1]["due_date"] == 1796644800000  # 2026-12-07T12:00Z
    assert page.get_by_label("Due date of Hand over the log").input_value() == "2026-12-07"


def test_a_status_update_is_posted_and_listed_with_the_timeline(page: Any, api: httpx.Client, team_id: str) -> None:
    page.get_by_label("Status update", exact=True).fill("Radios counted: 12 of 12.")
    page.get_by_role("button", name="Post update").click()
    page.get_by_role("list").filter(has_text="Radios counted: 12 of 12.").first.wait_for()
    timeline = page.locator("ol.timeline")
    assert timeline.locator("li").count() >= 3  # created, the item checked, the update
    run = the_run(api, team_id)
    updates = api.get(f"{PB}/runs/{run['id']}/status-updates").json()
    assert [u["message"] for u in updates] == ["Radios counted: 12 of 12."]


def test_a_check_made_elsewhere_shows_live(page: Any, api: httpx.Client, team_id: str) -> None:
    run = the_run(api, team_id)
    changed = api.put(f"{PB}/runs/{run['id']}/checklists/0/item/1/state", json={"new_state": "closed"})
    assert changed.status_code == 200, changed.text
    page.get_by_role("checkbox", name="Hand over the log").wait_for(state="attached")
    page.wait_for_function("() => document.getElementById('item-0-1').checked")
    page.get_by_text("2 of 2 tasks done").wait_for()


def test_the_retrospective_is_edited_and_published(page: Any, api: httpx.Client, team_id: str) -> None:
    page.get_by_role("textbox", name="Retrospective").fill("Handover took 20 minutes; radios all back.")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Publish").click()
    page.locator(".run p.hint", has_text="Published").wait_for()
    run = the_run(api, team_id)
    assert run["retrospective"] == "Handover took 20 minutes; radios all back."
    assert run["retrospective_published_at"] > 0
    page.locator("#run-title").scroll_into_view_if_needed()
    shot(page, "15-playbook-run")
    no_serious_violations(page, "run")


def eventually(check: Any, timeout: float = 10.0) -> None:
    """The browser shows a move at once and writes it a moment later: poll the API until it holds it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)  # polling the API, not timing anything


def board_cards(api: httpx.Client, board_id: str) -> dict[str, dict[str, Any]]:
    blocks = api.get(f"{FB}/boards/{board_id}/blocks").json()
    return {b["title"]: b for b in blocks if b["type"] == "card"}


def kanban_order(api: httpx.Client, board_id: str) -> list[str]:
    blocks = api.get(f"{FB}/boards/{board_id}/blocks").json()
    titles = {b["id"]: b["title"] for b in blocks if b["type"] == "card"}
    view = next(b for b in blocks if b["type"] == "view" and b["fields"]["viewType"] == "board")
    return [titles[c] for c in view["fields"]["cardOrder"] if c in titles]


def column(page: Any, name: str) -> Any:
    return page.locator(".kanban .column").filter(has=page.get_by_role("heading", name=name))


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(locator)


def titles_in(page: Any, name: str) -> list[str]:
    return [t.strip() for t in column(page, name).locator(".card-title").all_inner_texts()]


@pytest.fixture(scope="module")
def board(page: Any, api: httpx.Client, team_id: str) -> str:
    page.get_by_role("link", name="Boards", exact=True).click()
    page.get_by_text("No board in this team yet.").wait_for()
    no_serious_violations(page, "boards list")
    page.get_by_role("button", name="Create a board from Project tasks").click()
    page.get_by_role("heading", name="Project tasks").wait_for()
    boards = api.get(f"{FB}/teams/{team_id}/boards").json()
    assert [b["title"] for b in boards] == ["Project tasks"]
    return str(boards[0]["id"])


def test_a_card_dragged_to_another_column_is_moved_in_the_api(page: Any, api: httpx.Client, board: str) -> None:
    assert titles_in(page, "Not Started 2") == ["Identify the project's goals", "Review with the team"]
    card = page.get_by_role("button", name="Review with the team")
    card.drag_to(column(page, "In Progress 1").get_by_role("heading"))  # on the column, not on a card: last
    column(page, "In Progress 2").wait_for()
    assert titles_in(page, "In Progress 2") == ["Draft the plan", "Review with the team"]

    def moved_across() -> None:
        assert board_cards(api, board)["Review with the team"]["fields"]["properties"]["status"] == "s-doing"
    eventually(moved_across)
    # and within a column: dropped on the upper half of the first card, it goes first
    first = column(page, "In Progress 2").get_by_role("button", name="Draft the plan")
    page.get_by_role("button", name="Review with the team").drag_to(first, target_position={"x": 20, "y": 4})
    expect(column(page, "In Progress 2").locator(".card-title")).to_have_text(["Review with the team", "Draft the plan"])

    def moved_within() -> None:
        order = kanban_order(api, board)
        assert order.index("Review with the team") < order.index("Draft the plan")
    eventually(moved_within)


def test_a_card_moved_with_the_keyboard_is_announced_and_moved_in_the_api(
        page: Any, api: httpx.Client, board: str) -> None:
    card = page.get_by_role("button", name="Identify the project's goals")
    card.focus()
    page.keyboard.press("Control+ArrowRight")
    page.get_by_role("status").filter(has_text="Identify the project's goals moved to In Progress, position 3 of 3").wait_for()
    page.wait_for_function("() => document.activeElement.textContent.startsWith(\"Identify the project's goals\")")
    page.keyboard.press("Control+ArrowUp")
    page.get_by_role("status").filter(has_text="position 2 of 3").wait_for()
    assert titles_in(page, "In Progress 3") == ["Review with the team", "Identify the project's goals", "Draft the plan"]

    def moved() -> None:
        assert board_cards(api, board)["Identify the project's goals"]["fields"]["properties"]["status"] == "s-doing"
        order = kanban_order(api, board)
        assert order.index("Review with the team") < order.index("Identify the project's goals") < order.index("Draft the plan")
    eventually(moved)
    shot(page, "16-board-kanban")
    no_serious_violations(page, "kanban")


def test_a_card_moved_elsewhere_moves_live(page: Any, api: httpx.Client, board: str) -> None:
    card = board_cards(api, board)["Draft the plan"]
    moved = api.patch(f"{FB}/cards/{card['id']}", json={"updatedProperties": {"status": "s-done"}})
    assert moved.status_code == 200, moved.text
    column(page, "Completed 1").get_by_role("button", name="Draft the plan").wait_for()


def test_a_cards_detail_edits_properties_checklist_and_comments(page: Any, api: httpx.Client, board: str) -> None:
    page.get_by_role("button", name="Draft the plan").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Priority").select_option(label="1. High")
    dialog.get_by_label("Estimated hours").fill("6")
    dialog.get_by_label("Estimated hours").press("Tab")
    dialog.get_by_label("Due date").fill("2026-12-20")
    dialog.get_by_label("New checklist item").fill("Ask the depot")
    dialog.get_by_label("New checklist item").press("Enter")
    dialog.get_by_role("checkbox", name="Ask the depot").check()
    dialog.get_by_label("Add a comment").fill("Depot says Tuesday.")
    dialog.get_by_role("button", name="Comment").click()
    dialog.get_by_text("Depot says Tuesday.").wait_for()
    page.wait_for_function("() => document.querySelector('.checks input').checked")
    no_serious_violations(page, "card detail")

    def saved() -> None:
        props = board_cards(api, board)["Draft the plan"]["fields"]["properties"]
        assert (props.get("priority"), props.get("estimate"), props.get("due")) == ("p-high", "6", '{"from":1797768000000}')
    eventually(saved)
    card = board_cards(api, board)["Draft the plan"]
    content = api.get(f"{FB}/boards/{board}/blocks", params={"parent_id": card["id"]}).json()
    assert {(b["type"], b["title"]) for b in content} >= {("checkbox", "Ask the depot"), ("comment", "Depot says Tuesday.")}
    assert next(b for b in content if b["type"] == "checkbox")["fields"]["value"] is True
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")


def test_the_table_view_lists_every_card_with_its_properties(page: Any) -> None:
    page.get_by_role("button", name="Table view").click()
    table = page.locator("table.board-table")
    row = table.get_by_role("row").filter(has_text="Draft the plan")
    row.get_by_role("cell", name="Completed").wait_for()
    assert row.get_by_role("cell", name="1. High").count() == 1
    assert table.locator("tbody tr").count() == 3
    shot(page, "17-board-table")
    no_serious_violations(page, "table")


def test_a_viewer_sees_the_board_but_a_move_is_refused_and_put_back_and_a_private_run_stays_hidden(
        page: Any, node: ServerProcess, api: httpx.Client, team_id: str, board: str) -> None:
    carol = api.post("/api/v4/users", json={"username": "carol", "email": "carol@example.com", "password": "carol-password-1"})
    assert carol.status_code == 201, carol.text
    carol_id = carol.json()["id"]
    joined = api.post(f"/api/v4/teams/{team_id}/members", json={"team_id": team_id, "user_id": carol_id})
    assert joined.status_code == 201, joined.text
    member = api.post(f"{FB}/boards/{board}/members", json={"boardId": board, "userId": carol_id, "schemeViewer": True})
    assert member.status_code == 200, member.text
    before = board_cards(api, board)["Review with the team"]["fields"]["properties"]["status"]
    context = page.context.browser.new_context(viewport={"width": 1366, "height": 768}, base_url=node.base_url)
    try:
        other = context.new_page()
        other.set_default_timeout(15000)
        log_in(other, "carol", "carol-password-1")
        other.get_by_role("link", name="Playbook runs").click()
        other.get_by_text("You take part in no run.").wait_for()  # the admin's run is private to its participants
        assert other.get_by_role("link", name="Night shift 6 Dec").count() == 0
        other.get_by_role("link", name="Boards", exact=True).click()
        other.get_by_role("link", name="Project tasks").click()
        card = other.get_by_role("button", name="Review with the team")
        card.focus()
        other.keyboard.press("Control+ArrowLeft")
        other.get_by_role("alert").filter(has_text="denied").wait_for()
        expect(other.locator(".kanban .column").filter(has=card).get_by_role("heading")).to_contain_text(
            "In Progress")  # put back where the node keeps it
    finally:
        context.close()
    assert board_cards(api, board)["Review with the team"]["fields"]["properties"]["status"] == before


def test_the_screens_fit_a_phone_width_window(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.get_by_role("button", name="Board view").click()
        page.get_by_role("button", name="Draft the plan").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "18-phone-board")
        page.get_by_role("button", name="Show or hide the channel list").click()
        page.get_by_role("link", name="Playbook runs").click()
        page.get_by_role("link", name="Night shift 6 Dec").click()
        page.get_by_role("checkbox", name="Count the radios").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "20-phone-run")
    finally:
        page.set_viewport_size({"width": 1366, "height": 768})
    assert page.errors == []
