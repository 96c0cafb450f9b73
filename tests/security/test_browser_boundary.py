"""An attacker's web page, on a rebound name or on another local port, cannot use the node through the browser.

The node is served by uvicorn on a real loopback socket; the attacker's requests are what a browser
would send for such a page: a foreign Host (DNS rebinding), or a foreign Origin with the node's session
cookie (a form POST, a WebSocket upgrade). Bearer-token clients, which a browser cannot forge, are unaffected.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.hostile_world import World, hostile_world
from support.live_server import live_server, websocket_url
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from edgenode.api.browser import BrowserBoundary, host_allowed, same_origin
from edgenode.settings import NodeSettings

HOST_REFUSED = "api.context.host_not_allowed.app_error"
ORIGIN_REFUSED = "api.context.origin_not_allowed.app_error"
EVIL_PORT = 6666  # the attacker's page is served from another port of the same loopback address


@pytest.mark.parametrize("host", ["localhost", "localhost:8065", "LOCALHOST.", "app.localhost:8065", "127.0.0.1:8065",
                                  "127.8.9.10", "[::1]:8065", "chat.lan", "chat.lan:443"])
def test_loopback_and_configured_host_names_are_answered(host: str) -> None:
    assert host_allowed(host, frozenset({"chat.lan"}))


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8065", "localhost.evil.example", "chat.lan.evil.example",
                                  "192.168.1.10:8065", "[::2]", "0.0.0.0:8065", "", "user@localhost", "localhost/x",
                                  "local host", None])
def test_other_host_names_are_refused(host: str | None) -> None:
    assert not host_allowed(host, frozenset({"chat.lan"}))


def test_the_bound_address_is_answered_only_when_it_is_a_specific_one() -> None:
    assert BrowserBoundary(None, bound_host="192.168.1.10").allowed == frozenset({"192.168.1.10"})  # type: ignore[arg-type]
    assert BrowserBoundary(None, bound_host="0.0.0.0").allowed == frozenset()  # type: ignore[arg-type]
    assert BrowserBoundary(None, bound_host="::", allowed_hosts=["Chat.LAN."]).allowed == {"chat.lan"}  # type: ignore[arg-type]


@pytest.mark.parametrize(("origin", "scheme", "host", "same"), [
    ("http://127.0.0.1:8065", "http", "127.0.0.1:8065", True),
    ("http://127.0.0.1:8065", "ws", "127.0.0.1:8065", True),
    ("http://localhost", "http", "localhost:80", True),
    ("https://chat.lan", "https", "chat.lan", True),
    ("http://127.0.0.1:6666", "http", "127.0.0.1:8065", False),  # another port is another origin
    ("http://localhost:8065", "http", "127.0.0.1:8065", False),
    ("https://127.0.0.1:8065", "http", "127.0.0.1:8065", False),
    ("null", "http", "127.0.0.1:8065", False),
    ("file://", "http", "127.0.0.1:8065", False),
    ("http://evil.example", "http", "evil.example", True),  # same origin, but its Host is refused first
])
def test_same_origin_means_the_same_scheme_host_and_port(origin: str, scheme: str, host: str, same: bool) -> None:
    assert same_origin(origin, scheme, host) is same


async def test_a_rebound_host_name_is_refused_with_mattermosts_error(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node) as base_url:
        port = base_url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(base_url=base_url) as http:
            rebound = await http.get("/api/v4/system/ping", headers={"Host": f"evil.example:{port}"})
            loopback = [(await http.get("/api/v4/system/ping", headers={"Host": f"{name}:{port}"})).status_code
                        for name in ("localhost", "127.0.0.1", "[::1]")]
            with pytest.raises(InvalidStatus) as refused_ws:
                async with connect(websocket_url(base_url), additional_headers={"Host": f"evil.example:{port}"}):
                    pass
    assert rebound.status_code == 400
    assert (rebound.json()["id"], rebound.json()["status_code"]) == (HOST_REFUSED, 400)
    assert rebound.json()["request_id"] == rebound.headers["x-request-id"]
    assert loopback == [200, 200, 200]
    assert refused_ws.value.response.status_code == 400


async def test_a_host_name_the_operator_configured_is_answered(tmp_path: Path) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test", "chat.lan"))
    async with hostile_world(tmp_path, settings) as world, live_server(world.node) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            configured = await http.get("/api/v4/system/ping", headers={"Host": "chat.lan:8065"})
            lookalike = await http.get("/api/v4/system/ping", headers={"Host": "chat.lan.evil.example:8065"})
    assert (configured.status_code, lookalike.status_code) == (200, 400)


def _cookie_headers(world: World, origin: str | None) -> dict[str, str]:
    headers = {"Cookie": f"MMAUTHTOKEN={world.mallory_token}", "X-Requested-With": "XMLHttpRequest"}
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def _posts(world: World) -> list[str]:
    listed = await world.call("GET", f"/api/v4/channels/{world.channel_id}/posts", world.mallory_token)
    return sorted(p["message"] for p in listed.json()["posts"].values() if p["type"] == "")


async def test_a_cookie_authenticated_write_from_another_origin_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node) as base_url:
        own, evil = base_url, f"http://127.0.0.1:{EVIL_PORT}"
        async with httpx.AsyncClient(base_url=base_url) as http:
            def post(message: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
                return http.post("/api/v4/posts", headers=headers,
                                 json={"channel_id": world.channel_id, "message": message})
            foreign = await post("forged", _cookie_headers(world, evil))
            opaque = await post("forged from a sandbox", _cookie_headers(world, "null"))
            same = await post("from the node's own page", _cookie_headers(world, own))
            no_origin = await post("from a non-browser client", _cookie_headers(world, None))
            bearer = await post("with a bearer token", {"Authorization": f"Bearer {world.mallory_token}", "Origin": evil})
            read = await http.get(f"/api/v4/channels/{world.channel_id}/posts", headers=_cookie_headers(world, evil))
        messages = await _posts(world)
    assert (foreign.status_code, foreign.json()["id"]) == (403, ORIGIN_REFUSED)
    assert (opaque.status_code, opaque.json()["id"]) == (403, ORIGIN_REFUSED)
    assert (same.status_code, no_origin.status_code, bearer.status_code) == (201, 201, 201)
    assert read.status_code == 200  # reads are the browser's CORS business: the page cannot see the answer
    assert messages == ["from a non-browser client", "from the node's own page", "with a bearer token"]


async def test_a_websocket_upgrade_from_another_origin_is_refused(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node) as base_url:
        url = websocket_url(base_url)
        cookie = {"Cookie": f"MMAUTHTOKEN={world.mallory_token}"}
        with pytest.raises(InvalidStatus) as foreign:
            async with connect(url, origin=f"http://127.0.0.1:{EVIL_PORT}", additional_headers=cookie):  # type: ignore[arg-type]
                pass
        with pytest.raises(InvalidStatus) as other_name:
            async with connect(url, origin=base_url.replace("127.0.0.1", "localhost"), additional_headers=cookie):  # type: ignore[arg-type]
                pass
        hellos = []
        for origin in (base_url, None):
            async with connect(url, origin=origin, additional_headers=cookie) as ws:  # type: ignore[arg-type]
                hellos.append(await ws.recv())
    assert foreign.value.response.status_code == other_name.value.response.status_code == 403
    assert ORIGIN_REFUSED.encode() in foreign.value.response.body
    assert all('"event":"hello"' in str(hello) for hello in hellos)
