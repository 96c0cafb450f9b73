"""The web UI end to end in real headless Chromium against a real `edgenode serve`: first-run setup,
chat (markdown, code, a hostile message, a thread, a reaction, an image, autocomplete, a slash command,
search), the Network page, the system console, the French catalogue, phone width, logout and login,
and the PWA shell opening while the node is down. One browser and one node for the whole module; the
screens are saved under artifacts/screenshots/ and checked with axe-core.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations, require_chromium, shot
from support.server_process import ADMIN_PASSWORD, ServerProcess, edgenode_server

from sync.bundle_format import MAGIC

pytestmark = pytest.mark.slow


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-colour PNG, built by hand so the test needs no imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    require_chromium()
    with edgenode_server(tmp_path_factory.mktemp("ui") / "node", admin=None) as server:
        yield server


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
        page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text and errors.append(m.text))
        page.errors = errors
        yield page
        browser.close()


def no_serious_violations(page: Any, screen: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe on {screen}: {violations}"


def composer(page: Any) -> Any:
    return page.locator("textarea[id^=composer-]").first


def send(page: Any, text: str) -> None:
    """Type `text` in the channel's composer and send it; returns once the composer is empty again (sent)."""
    box = composer(page)
    box.fill(text)
    box.press("Enter")
    page.wait_for_function("box => box.value === ''", arg=box.element_handle())


def last_post(page: Any) -> Any:
    return page.locator(".posts article.post").first  # column-reverse: the newest is first in the DOM


def test_a_new_node_is_set_up_in_the_browser_and_lands_in_town_square(page: Any) -> None:
    page.goto("/")
    page.get_by_role("heading", name="Set up this node").wait_for()
    shot(page, "01-first-run-setup")
    no_serious_violations(page, "setup")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_label("Team name").fill("Field Team")
    page.get_by_role("button", name="Create the administrator").click()
    page.get_by_role("heading", name="#Town Square").wait_for()
    assert page.get_by_role("navigation", name="Channels and direct messages").get_by_role("link").all_inner_texts() \
        == ["#\nOff-Topic", "#\nTown Square"]


def test_a_post_is_rendered_as_commonmark_with_highlighted_code(page: Any) -> None:
    send(page, "Status: **all green** and `ok`\n```python\ndef check():\n    return True\n```")
    post = last_post(page)
    post.locator("strong", has_text="all green").wait_for()
    assert post.locator("pre code .hljs-keyword").first.inner_text() == "def"
    shot(page, "02-channel-with-markdown")
    no_serious_violations(page, "channel")


def test_nothing_in_a_message_runs_script(page: Any) -> None:
    send(page, '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
               '[click](javascript:window.__pwned=3) <svg onload="window.__pwned=4">')
    post = last_post(page)
    post.get_by_text("click").wait_for()
    assert page.evaluate("window.__pwned") is None
    assert post.locator(".message img, .message script, .message svg").count() == 0
    assert post.locator(".message a[href^='javascript']").count() == 0
    assert "<img src=x" in post.locator(".message").inner_text()  # shown as text, as typed
    assert page.errors == []


def test_a_reply_in_a_thread_opens_in_the_side_pane(page: Any) -> None:
    send(page, "Who takes the night shift?")
    root = page.locator(".posts article.post", has_text="Who takes the night shift?")
    root.hover()
    root.get_by_role("button", name="Reply in thread").click()
    pane = page.get_by_role("complementary", name="Thread")
    pane.get_by_text("Who takes the night shift?").wait_for()
    reply = pane.locator("textarea")
    reply.fill("I do.")
    reply.press("Enter")
    pane.locator("article.post", has_text="I do.").wait_for()
    root.get_by_role("button", name="1 reply").wait_for()
    shot(page, "03-thread")
    no_serious_violations(page, "thread")
    pane.get_by_role("button", name="Close").click()


def test_a_reaction_is_added_and_counted(page: Any) -> None:
    post = page.locator(".posts article.post", has_text="Who takes the night shift?")
    post.hover()
    post.get_by_role("button", name="Add a reaction").click()
    post.get_by_role("button", name="+1").click()
    chip = post.get_by_role("button", name="+1: 1")
    chip.wait_for()
    assert chip.get_attribute("aria-pressed") == "true"


def test_an_uploaded_image_is_previewed_before_and_after_sending(page: Any, tmp_path: Path) -> None:
    image = tmp_path / "map.png"
    image.write_bytes(png(64, 48, (30, 120, 200)))
    page.locator("input[type=file]").first.set_input_files(str(image))
    page.get_by_role("list", name="Files to send").get_by_text("map.png").wait_for()
    send(page, "The map")
    preview = page.locator(".posts article.post", has_text="The map").get_by_role("img", name="Image map.png")
    preview.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    shot(page, "04-image-upload")


def test_mentions_and_channels_autocomplete_and_slash_commands_run(page: Any) -> None:
    box = composer(page)
    box.fill("see ~town")
    option = page.get_by_role("option", name="~town-square Town Square")
    option.wait_for()
    box.press("Enter")
    assert box.input_value() == "see ~town-square "
    box.fill("hi @adm")
    page.get_by_role("option").filter(has_text="@admin").wait_for()
    box.press("Tab")
    assert box.input_value() == "hi @admin "
    send(page, "/echo slash works")
    last_post(page).get_by_text("slash works").wait_for()


def test_search_finds_a_post_with_mattermosts_syntax(page: Any) -> None:
    search = page.get_by_role("searchbox", name="Search messages")
    search.fill('"night shift" from:admin')
    search.press("Enter")
    results = page.locator(".search-results")
    results.get_by_role("heading", name='Search results for "night shift" from:admin').wait_for()
    results.get_by_text("Who takes the night shift?").wait_for()
    assert results.locator("article.post").count() == 1
    shot(page, "05-search")
    no_serious_violations(page, "search")


def test_older_history_loads_as_the_channel_is_scrolled_up(page: Any, node: ServerProcess) -> None:
    with node.client() as http:
        token = http.post("/api/v4/users/login", json={"login_id": "admin", "password": ADMIN_PASSWORD}).headers["Token"]
        headers = {"Authorization": f"Bearer {token}"}
        channel = http.get("/api/v4/teams/name/field-team/channels/name/off-topic", headers=headers).json()
        for i in range(70):  # more than two pages of 30
            assert http.post("/api/v4/posts", headers=headers,
                             json={"channel_id": channel["id"], "message": f"log line {i}"}).status_code == 201
    page.reload()  # the open page got them live: start again from what a fresh load holds
    page.get_by_role("link", name="Off-Topic").click()
    page.get_by_role("heading", name="#Off-Topic").wait_for()
    posts = page.locator(".posts article.post")
    posts.filter(has_text="log line 69").wait_for()
    assert posts.count() == 30
    log = page.get_by_role("log")
    for _ in range(10):  # each scroll to the top asks for the page before
        log.evaluate("el => { el.scrollTop = -el.scrollHeight; }")
        if page.get_by_text("This is the start of Off-Topic.").is_visible():
            break
        page.wait_for_timeout(300)
    posts.filter(has_text="log line 0").wait_for()
    assert posts.count() == 70


def test_channels_are_created_browsed_and_left(page: Any) -> None:
    sidebar = page.get_by_role("navigation", name="Channels and direct messages")
    sidebar.get_by_role("button", name="Create a channel").click()
    dialog = page.get_by_role("dialog", name="Create a channel")
    dialog.get_by_label("Name").fill("Logistics")
    dialog.get_by_role("button", name="Create a channel").click()
    page.get_by_role("heading", name="#Logistics").wait_for()
    page.get_by_role("button", name="Leave channel").click()
    page.get_by_role("heading", name="#Town Square").wait_for()
    sidebar.get_by_role("button", name="Browse channels").click()
    dialog = page.get_by_role("dialog", name="Browse channels")
    dialog.get_by_role("button", name="Join Logistics").click()
    page.get_by_role("heading", name="#Logistics").wait_for()


def open_menu(page: Any, item: str) -> None:
    page.get_by_role("button", name="@admin").click()
    page.get_by_role("menuitem", name=item).click()


def test_the_network_page_shows_this_node_and_its_peers(page: Any, node: ServerProcess) -> None:
    open_menu(page, "Network")
    page.get_by_role("heading", name="This node").wait_for()
    assert page.get_by_text("No peers known yet.").is_visible()
    assert page.get_by_text("No node has been revoked.").is_visible()
    shot(page, "06-network")
    no_serious_violations(page, "network")


def test_the_system_console_creates_a_user_and_shows_the_audit_log(page: Any) -> None:
    open_menu(page, "System console")
    form = page.get_by_role("form", name="Create user")
    form.get_by_label("Username").fill("bob")
    form.get_by_label("Email").fill("bob@example.com")
    form.get_by_label("Password").fill("bob-password-1")
    form.get_by_role("button", name="Create user").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="bob", exact=True))
    row.get_by_role("button", name="Deactivate bob").click()
    row.get_by_role("cell", name="Deactivated").wait_for()
    row.get_by_role("button", name="Activate bob").click()
    row.get_by_role("cell", name="Active", exact=True).wait_for()
    page.get_by_role("cell", name="createUser").first.wait_for()
    page.get_by_role("button", name="Create an invite").click()  # this node is in no mesh: it says so
    page.get_by_role("alert").filter(has_text="this node is not in a mesh").wait_for()
    shot(page, "07-system-console")
    no_serious_violations(page, "console")


def test_a_bundle_is_exported_downloaded_and_imported_from_the_network_page(page: Any, node: ServerProcess) -> None:
    open_menu(page, "Network")
    exporting = page.get_by_role("form", name="Export a bundle")
    exporting.get_by_role("button", name="Export").click()  # this node is in no mesh yet: it says so
    exporting.get_by_role("alert").filter(has_text="in no mesh").wait_for()
    subprocess.run([sys.executable, "-m", "edgenode", "mesh", "init", "--data", str(node.data_dir)],
                   check=True, capture_output=True)  # the served node reads its mesh from the data folder
    assert exporting.get_by_label("For").input_value() == ""  # "Public data only" is the default choice
    with page.expect_download() as downloaded:
        exporting.get_by_role("button", name="Export").click()
    bundle = Path(downloaded.value.path())
    assert bundle.read_bytes().startswith(MAGIC)
    exporting.get_by_role("status").filter(has_text="Bundle exported").wait_for()

    importing = page.get_by_role("form", name="Import a bundle")
    importing.get_by_label("Bundle file").set_input_files(str(bundle))
    importing.get_by_role("button", name="Import").press("Enter")  # keyboard-usable
    result = importing.get_by_role("status").filter(has_text="Imported:")
    result.wait_for()
    assert re.search(r"Imported: [1-9]\d* ops, 0 new, [1-9]\d* already here", result.inner_text()), result.inner_text()
    shot(page, "07b-network-bundles")
    no_serious_violations(page, "network bundles")

    garbage = b"not a bundle at all\n" * 200_000  # 4 MB: large enough for the upload to report progress
    importing.get_by_label("Bundle file").set_input_files(
        {"name": "garbage.bundle", "mimeType": "application/octet-stream", "buffer": garbage})
    page.evaluate("""() => {  // the progress bar's largest value while it is shown
      window.uploaded = 0;
      new MutationObserver(() => {
        const bar = document.getElementById("bundle-progress");
        if (bar) window.uploaded = Math.max(window.uploaded, Number(bar.value));
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    }""")
    importing.get_by_role("button", name="Import").click()
    importing.get_by_role("alert").filter(has_text="not an Edgenode bundle").wait_for()
    assert not result.is_visible()  # the old result is gone: only the error is shown
    assert page.evaluate("window.uploaded") == len(garbage)  # the bar went to the whole file


def test_a_mention_from_another_user_shows_a_badge_live_and_alt_down_opens_that_channel(
        page: Any, node: ServerProcess) -> None:
    with node.client() as http:
        login = http.post("/api/v4/users/login", json={"login_id": "bob", "password": "bob-password-1"})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.headers['Token']}"}
        channel = http.get("/api/v4/teams/name/field-team/channels/name/off-topic", headers=headers).json()
        me = login.json()["id"]
        assert http.post(f"/api/v4/channels/{channel['id']}/members", headers=headers,
                         json={"user_id": me}).status_code == 201
        assert http.post("/api/v4/posts", headers=headers,
                         json={"channel_id": channel["id"], "message": "@admin the generator is down"}).status_code == 201
    sidebar = page.get_by_role("navigation", name="Channels and direct messages")
    sidebar.get_by_role("link", name="Off-Topic, 1 mentions").wait_for()
    page.keyboard.press("Alt+ArrowDown")  # from #Logistics, the next channel of the sidebar
    page.get_by_role("heading", name="#Off-Topic").wait_for()
    page.locator(".posts .mention-me", has_text="@admin").wait_for()
    sidebar.get_by_role("link", name="Off-Topic", exact=True).wait_for()  # read: the badge is gone


def test_a_direct_message_is_started_from_the_sidebar(page: Any) -> None:
    sidebar = page.get_by_role("navigation", name="Channels and direct messages")
    sidebar.get_by_role("button", name="New direct message").click()
    dialog = page.get_by_role("dialog", name="New direct message")
    dialog.get_by_label("Find people").fill("bo")
    dialog.get_by_role("checkbox", name="@bob").check()
    dialog.get_by_role("button", name="Start conversation").click()
    page.get_by_role("heading", name="bob", exact=True).wait_for()
    send(page, "Can you check the generator?")
    page.locator(".posts article.post", has_text="Can you check the generator?").wait_for()
    assert sidebar.get_by_role("link", name="bob").is_visible()


def test_the_language_is_a_user_setting_and_french_is_complete(page: Any) -> None:
    open_menu(page, "Settings")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("heading", name="Paramètres").wait_for()
    assert page.evaluate("document.documentElement.lang") == "fr"
    shot(page, "08-settings-in-french")
    missing = page.evaluate("""async () => {
        const en = (await import('/static/js/messages/en.js')).default;
        const fr = (await import('/static/js/messages/fr.js')).default;
        return Object.keys(en).filter((k) => !(k in fr)).concat(Object.keys(fr).filter((k) => !(k in en)));
    }""")
    assert missing == []
    page.get_by_label("Langue").select_option("en")
    page.get_by_role("heading", name="Settings").wait_for()


def test_the_ui_fits_a_phone_width_window(page: Any) -> None:
    page.get_by_role("button", name="@admin").click()
    page.get_by_role("menuitem", name="Chat").click()
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.get_by_role("heading", name="bob", exact=True).wait_for()  # the direct message opened last
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert not page.get_by_role("navigation", name="Channels and direct messages").is_visible()
        shot(page, "09-phone-channel")
        page.get_by_role("button", name="Show or hide the channel list").click()
        page.get_by_role("link", name="Town Square").click()
        page.get_by_role("heading", name="#Town Square").wait_for()
        shot(page, "10-phone-after-switch")
    finally:
        page.set_viewport_size({"width": 1366, "height": 768})


def test_logout_then_login(page: Any) -> None:
    open_menu(page, "Log out")
    page.get_by_role("heading", name="Log in to Edgenode").wait_for()
    shot(page, "11-login")
    no_serious_violations(page, "login")
    page.get_by_label("Username or email").fill("admin")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="#Town Square").wait_for()


def test_the_pwa_shell_opens_while_the_node_is_down(page: Any, node: ServerProcess) -> None:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now under the service worker's control
    page.get_by_role("heading", name="#Town Square").wait_for()
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    assert page.evaluate("caches.match('/static/js/actions.js').then((hit) => hit !== undefined)")
    node.process.terminate()
    node.process.wait(10)
    page.reload()
    try:
        page.get_by_role("alert").filter(has_text="This node cannot be reached").wait_for()
    except Exception:
        shot(page, "12-pwa-shell-offline-FAILED")
        raise
    shot(page, "12-pwa-shell-offline")
    with edgenode_server(node.data_dir, port=node.port, admin=None):
        # no reload: the page retries by itself and starts once the node answers again
        page.get_by_role("heading", name="#Town Square").wait_for()
