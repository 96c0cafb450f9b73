"""The API server's resource limits, against uvicorn with the node's configuration on a real loopback socket.

Idle and slow (slow loris) connections are closed, connections beyond the cap get 503, and an
oversized WebSocket message closes the socket with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from support.hostile_world import hostile_world
from support.live_server import live_server, websocket_url
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edgenode.http_server import WS_MAX_MESSAGE_BYTES
from edgenode.settings import Limits

QUICK = Limits(header_timeout=0.5, keep_alive_timeout=1, max_connections=512)
WAIT_S = 10.0  # far longer than any limit under test: a connection still open by then was not timed out


def _address(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def _closed_by_server(sock: socket.socket, timeout: float = WAIT_S) -> bool:
    """Whether the server closes `sock` (EOF or reset) within `timeout`, discarding anything it sends."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def _open_idle(base_url: str) -> bool:
    with socket.create_connection(_address(base_url)) as sock:
        return _closed_by_server(sock)


def _dribble(base_url: str, lines: int, every_s: float) -> int:
    """Send a request head one header line at a time; how many lines went out before the server closed."""
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(b"GET /api/v4/system/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for sent in range(lines):
            sock.settimeout(every_s)
            try:
                if sock.recv(4096) == b"":
                    return sent
            except TimeoutError:
                pass
            except ConnectionResetError:
                return sent
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return sent
        return lines


def _keep_alive_then_idle(base_url: str) -> tuple[bytes, bool]:
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(b"GET /api/v4/system/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(WAIT_S)
        first = sock.recv(4096)
        return first.split(b"\r\n", 1)[0], _closed_by_server(sock)


async def test_a_connection_that_never_sends_a_request_is_closed(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node, QUICK) as base_url:
        assert await asyncio.to_thread(_open_idle, base_url)


async def test_a_request_head_dribbled_slowly_is_cut_off(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node, QUICK) as base_url:
        lines = 100  # 100 lines, 0.1 s apart: ten seconds of dribbling if nobody stops it
        sent = await asyncio.to_thread(_dribble, base_url, lines, 0.1)
        async with httpx.AsyncClient(base_url=base_url) as http:
            still_served = await http.get("/api/v4/system/ping")
    assert sent < lines
    assert still_served.status_code == 200


async def test_an_idle_keep_alive_connection_is_closed_after_its_response(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node, QUICK) as base_url:
        status_line, closed = await asyncio.to_thread(_keep_alive_then_idle, base_url)
    assert status_line == b"HTTP/1.1 200 OK"
    assert closed


async def test_connections_beyond_the_cap_get_503_until_others_close(tmp_path: Path) -> None:
    capped = Limits(header_timeout=60.0, keep_alive_timeout=5, max_connections=3)
    async with hostile_world(tmp_path) as world, live_server(world.node, capped) as base_url:
        idle = [socket.create_connection(_address(base_url)) for _ in range(3)]
        async with httpx.AsyncClient(base_url=base_url) as http:
            for _ in range(100):  # until the server has accepted the three (they arrive asynchronously)
                over = await http.get("/api/v4/system/ping", headers={"Connection": "close"})
                if over.status_code == 503:
                    break
                await asyncio.sleep(0.05)
            for sock in idle:
                sock.close()
            for _ in range(100):
                after = await http.get("/api/v4/system/ping", headers={"Connection": "close"})
                if after.status_code == 200:
                    break
                await asyncio.sleep(0.05)
    assert (over.status_code, after.status_code) == (503, 200)


async def test_an_oversized_websocket_message_closes_the_socket_with_1009(tmp_path: Path) -> None:
    async with hostile_world(tmp_path) as world, live_server(world.node) as base_url:
        headers = {"Authorization": f"Bearer {world.mallory_token}"}
        async with connect(websocket_url(base_url), additional_headers=headers, max_size=None) as ws:
            assert '"event":"hello"' in str(await ws.recv())
            await ws.send('{"seq": 1, "action": "ping", "data": {"pad": "' + "x" * WS_MAX_MESSAGE_BYTES + '"}}')
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
