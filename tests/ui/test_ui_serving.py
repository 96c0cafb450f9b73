"""How the node serves its web UI and guards the browser session: a strict CSP and no inline script,
compressed and revalidated files, no path out of the UI's folder, HttpOnly SameSite=Strict cookies,
a CSRF token on cookie writes, uploads that cannot run as a page of the node, first-run detection.
In process: the real app over httpx's ASGI transport, real SQLite files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.members_world import PASSWORD, World, serve, world_at

from edgenode.node import open_node
from edgenode.web import UI_CSP

STATIC = Path(__file__).resolve().parents[2] / "edgenode" / "web" / "static"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with world_at(tmp_path / "node") as w:
        yield w


async def test_the_shell_carries_a_csp_that_allows_no_inline_script_no_eval_and_no_framing(world: World) -> None:
    response = await world.client.get("/")
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert csp == UI_CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert (response.headers["x-content-type-options"], response.headers["x-frame-options"]) == ("nosniff", "DENY")


def test_no_file_of_the_ui_has_inline_script_inline_style_or_event_handler_attributes() -> None:
    shell = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", shell) == []
    assert re.findall(r"\son[a-z]+=|\sstyle=", shell) == []
    sources = [p for p in STATIC.rglob("*.js") if "vendor" not in p.parts]
    for source in sources:
        text = source.read_text()
        assert "eval(" not in text and "new Function" not in text, source
        assert "innerHTML" not in text, source  # the one HTML sink is the sanitised message (dangerouslySetInnerHTML)


async def test_ui_files_are_served_gzip_compressed_and_revalidated_by_etag(world: World) -> None:
    plain = await world.client.get("/static/js/app.js", headers={"Accept-Encoding": "identity"})
    packed = await world.client.get("/static/js/app.js", headers={"Accept-Encoding": "gzip, br"})
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert packed.headers["content-encoding"] == "gzip"
    # httpx undoes the gzip: the same bytes arrive, in fewer on the wire
    assert packed.content == plain.content == (STATIC / "js" / "app.js").read_bytes()
    assert int(packed.headers["content-length"]) < len(plain.content) // 2
    again = await world.client.get("/static/js/app.js", headers={"If-None-Match": plain.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("path", ["/static/../assets.py", "/static/vendor/../../__init__.py", "/static/%2e%2e/assets.py",
                                  "/static/nothing.js", "/static/index.html"])
async def test_only_files_of_the_static_folder_are_served(world: World, path: str) -> None:
    response = await world.client.get(path)
    assert response.status_code == 404, (path, response.text[:80])


async def test_the_pwa_manifest_and_service_worker_are_served_from_the_root(world: World) -> None:
    manifest = await world.client.get("/manifest.webmanifest")
    worker = await world.client.get("/sw.js")
    assert manifest.headers["content-type"] == "application/manifest+json" and manifest.json()["start_url"] == "/"
    assert worker.headers["content-type"] == "text/javascript; charset=utf-8" and b"caches.open" in worker.content
    listed = re.findall(r'"(/static/[^"]+)"', worker.text)
    for path in listed:  # the shell the worker caches exists, or installing it would fail
        assert (await world.client.get(path)).status_code == 200, path
    shell = {f"/static/{p.relative_to(STATIC).as_posix()}" for p in STATIC.rglob("*")
             if p.suffix in (".js", ".css") and p.name != "sw.js"}
    assert sorted(shell - set(listed)) == []  # every script and style of the app opens offline


async def test_a_browser_login_sets_httponly_samesite_strict_session_cookies(world: World) -> None:
    response = await world.client.post("/api/v4/users/login", headers={"X-Requested-With": "XMLHttpRequest"},
                                       json={"login_id": "alice", "password": PASSWORD})
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"MMAUTHTOKEN", "MMUSERID", "MMCSRF"}
    assert all("samesite=strict" in c for c in cookies.values())
    assert "httponly" in cookies["MMAUTHTOKEN"] and "httponly" not in cookies["MMCSRF"]  # the UI reads the token


async def test_a_cookie_write_without_the_csrf_token_is_refused_and_writes_nothing(world: World) -> None:
    login = await world.client.post("/api/v4/users/login", headers={"X-Requested-With": "XMLHttpRequest"},
                                    json={"login_id": "alice", "password": PASSWORD})
    token, csrf = login.cookies["MMAUTHTOKEN"], login.cookies["MMCSRF"]
    world.client.cookies.clear()
    before = await world.node.store.digest()
    body = {"channel_id": world.town_square, "message": "from a cookie"}
    refused = await world.client.post("/api/v4/posts", json=body, headers={"Cookie": f"MMAUTHTOKEN={token}"})
    forged = await world.client.post("/api/v4/posts", json=body,
                                     headers={"Cookie": f"MMAUTHTOKEN={token}; MMCSRF={csrf}", "X-CSRF-Token": "guess"})
    assert (refused.status_code, forged.status_code) == (401, 401)
    assert await world.node.store.digest() == before
    accepted = await world.client.post("/api/v4/posts", json=body,
                                       headers={"Cookie": f"MMAUTHTOKEN={token}; MMCSRF={csrf}", "X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize(("name", "mime", "disposition"), [("page.html", "text/html", "attachment"),
                                                           ("drawing.svg", "image/svg+xml", "attachment"),
                                                           ("photo.png", "image/png", "inline")])
async def test_an_upload_is_served_so_it_cannot_run_as_a_page_of_the_node(
        world: World, name: str, mime: str, disposition: str) -> None:
    content = b"<html><script>alert(1)</script></html>" if mime != "image/png" else b"\x89PNG\r\n\x1a\n"
    uploaded = await world.ok("POST", "/api/v4/files", "alice", status=201, data={"channel_id": world.town_square},
                              files={"files": (name, content, mime)})
    file_id = uploaded["file_infos"][0]["id"]
    response = await world.call("GET", f"/api/v4/files/{file_id}", "alice")
    assert response.headers["content-disposition"].startswith(disposition)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox;")
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_the_client_config_says_no_accounts_until_the_first_user_exists(tmp_path: Path) -> None:
    async with open_node(tmp_path / "node") as node, serve(node) as fresh:
        empty = (await fresh.ok("GET", "/api/v4/config/client"))["NoAccounts"]
        await fresh.ok("POST", "/api/v4/users", status=201,
                       json={"username": "admin", "email": "admin@example.com", "password": PASSWORD})
        assert (empty, (await fresh.ok("GET", "/api/v4/config/client"))["NoAccounts"]) == ("true", "false")


async def test_the_ui_is_not_served_under_a_foreign_host_name(world: World) -> None:
    response = await world.client.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 400


async def test_a_system_admin_deactivates_a_user_whose_session_then_stops(world: World) -> None:
    bob = world.ids["bob"]
    assert (await world.call("PUT", f"/api/v4/users/{bob}/active", "alice", json={"active": False})).status_code == 403
    assert (await world.call("PUT", f"/api/v4/users/{bob}/active", "admin", json={"active": "no"})).status_code == 400
    me = (await world.ok("GET", "/api/v4/users/me", "admin"))["id"]
    assert (await world.call("PUT", f"/api/v4/users/{me}/active", "admin", json={"active": False})).status_code == 400
    await world.ok("PUT", f"/api/v4/users/{bob}/active", "admin", json={"active": False})
    assert (await world.call("GET", "/api/v4/users/me", "bob")).status_code == 401
    assert (await world.ok("GET", f"/api/v4/users/{bob}", "admin"))["delete_at"] > 0
    await world.ok("PUT", f"/api/v4/users/{bob}/active", "admin", json={"active": True})
    assert (await world.ok("GET", f"/api/v4/users/{bob}", "admin"))["delete_at"] == 0
    assert (await world.call("POST", "/api/v4/users/login",
                             json={"login_id": "bob", "password": PASSWORD})).status_code == 200
