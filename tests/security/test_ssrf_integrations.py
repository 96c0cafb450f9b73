"""A hostile member cannot make the node fetch internal URLs through slash commands or outgoing webhooks.

Mallory owns a team (any user may create one), so she may register integrations there. Every
destination below is internal; a real HTTP receiver listens on 127.0.0.1 and must never see a request.
Errors say the destination is refused only when that was decided before connecting, and otherwise
read the same whether a port is open, closed or silent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from support.hostile_world import World, hostile_world
from support.receiver import Receiver

from edgenode.outbound import system_resolver
from edgenode.settings import NodeSettings

FAILED = "api.command.execute_command.failed.app_error"
REFUSED_DETAIL = "is an internal address; a system admin may allow it (allowed_untrusted_internal_connections)"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        r.answer("/cmd", {"text": "secret from the inside", "response_type": "in_channel"})
        yield r


def resolving(names: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A resolver that answers `names` as told (there is no real DNS here) and asks the system otherwise."""
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host in names:
            return names[host]
        return await system_resolver(host, port)
    return resolve


INTERNAL_HOSTS = [
    "127.0.0.1", "localhost", "127.0.0.2", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
    "2130706433",        # 127.0.0.1 as one decimal number
    "0x7f000001",        # ... as hex
    "0x7f.1", "127.1",   # inet_aton's short forms
    "017700000001",      # ... as one octal number
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
    "169.254.169.254",   # the cloud metadata service
    "0.0.0.0", "224.0.0.1", "[fe80::1]", "[fc00::1]", "[ff02::1]",
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[2002:7f00:1::]",    # 6to4 of 127.0.0.1
    "intranet.example",   # a name that resolves to loopback
]


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
async def test_a_slash_command_never_reaches_an_internal_address(tmp_path: Path, receiver: Receiver, host: str) -> None:
    async with hostile_world(tmp_path) as world:
        world.node.services.ctx.outbound.resolver = resolving({"intranet.example": ["127.0.0.1"]})
        answer = await world.command(f"http://{host}:{receiver.port}/cmd")
    assert (answer["_status"], answer["id"]) == (500, FAILED)
    assert answer["detailed_error"].endswith(REFUSED_DETAIL)
    assert "secret" not in str(answer)
    assert receiver.pending() == []


async def test_an_octal_dotted_address_is_not_read_as_decimal_and_reaches_nothing(tmp_path: Path,
                                                                                  receiver: Receiver) -> None:
    # 0177.0.0.1 is 127.0.0.1 to inet_aton; the URL parser refuses it outright, so nothing is dialled.
    async with hostile_world(tmp_path) as world:
        answer = await world.command(f"http://0177.0.0.1:{receiver.port}/cmd")
    assert (answer["_status"], answer["id"], answer["detailed_error"]) == (500, FAILED, "")
    assert receiver.pending() == []


async def test_an_admin_may_allow_an_internal_integration_by_address_and_it_then_works(
        tmp_path: Path, receiver: Receiver) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("127.0.0.0/8",))
    async with hostile_world(tmp_path, settings) as world:
        answer = await world.command(f"http://127.0.0.1:{receiver.port}/cmd")
    assert (answer["_status"], answer["text"]) == (200, "secret from the inside")
    assert [r.path for r in receiver.pending()] == ["/cmd"]


async def test_an_admin_may_allow_an_internal_host_by_name_and_its_name_is_kept_on_the_wire(
        tmp_path: Path, receiver: Receiver) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("hooks.lan",))
    async with hostile_world(tmp_path, settings) as world:
        world.node.services.ctx.outbound.resolver = resolving({"hooks.lan": ["127.0.0.1"]})
        answer = await world.command(f"http://hooks.lan:{receiver.port}/cmd")
        by_address = await world.command(f"http://127.0.0.1:{receiver.port}/cmd", trigger="direct")
    assert (answer["_status"], answer["text"]) == (200, "secret from the inside")
    assert by_address["_status"] == 500  # allowing a name allows that name, not its address
    [request] = receiver.pending()
    assert request.headers["host"] == f"hooks.lan:{receiver.port}"


async def test_a_redirect_from_an_allowed_host_to_an_internal_one_is_refused(tmp_path: Path,
                                                                             receiver: Receiver) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("hooks.lan",))
    receiver.answer("/start", b"", status=302, headers={"Location": f"http://127.0.0.1:{receiver.port}/cmd"})
    async with hostile_world(tmp_path, settings) as world:
        world.node.services.ctx.outbound.resolver = resolving({"hooks.lan": ["127.0.0.1"]})
        answer = await world.command(f"http://hooks.lan:{receiver.port}/start")
    assert (answer["_status"], answer["id"]) == (500, FAILED)
    assert answer["detailed_error"] == f"127.0.0.1 {REFUSED_DETAIL}"
    assert [r.path for r in receiver.pending()] == ["/start"]


async def test_redirects_between_allowed_hosts_are_followed_and_a_loop_ends_in_failure(
        tmp_path: Path, receiver: Receiver) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("hooks.lan",))
    receiver.answer("/start", b"", status=307, headers={"Location": "/cmd"})
    receiver.answer("/loop", b"", status=302, headers={"Location": "/loop"})
    async with hostile_world(tmp_path, settings) as world:
        world.node.services.ctx.outbound.resolver = resolving({"hooks.lan": ["127.0.0.1"]})
        followed = await world.command(f"http://hooks.lan:{receiver.port}/start")
        looping = await world.command(f"http://hooks.lan:{receiver.port}/loop", trigger="loop")
    assert (followed["_status"], followed["text"]) == (200, "secret from the inside")
    assert (looping["_status"], looping["id"], looping["detailed_error"]) == (500, FAILED, "")
    paths = [r.path for r in receiver.pending()]
    assert paths == ["/start", "/cmd"] + ["/loop"] * 11  # the first request and ten redirects


def _alike(answer: dict[str, object], trigger: str) -> dict[str, object]:
    """The answer without what differs by design: its request id and the trigger named in the message."""
    return {k: str(v).replace(trigger, "TRIGGER") if k == "message" else v
            for k, v in answer.items() if k != "request_id"}


async def test_refused_internal_ports_answer_alike_whether_open_or_closed(tmp_path: Path, receiver: Receiver) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]  # bound, never listening: connections would be refused
        async with hostile_world(tmp_path) as world:
            open_answer = await world.command(f"http://127.0.0.1:{receiver.port}/cmd", trigger="p-open")
            closed_answer = await world.command(f"http://127.0.0.1:{closed_port}/cmd", trigger="p-closed")
    assert _alike(open_answer, "p-open") == _alike(closed_answer, "p-closed")
    assert receiver.pending() == []


class _Misbehaving:
    """A listener that either resets each connection at once or accepts it and never answers."""

    def __init__(self, mode: str):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.mode = mode
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
            else:
                self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


async def test_allowed_destinations_that_fail_answer_alike_closed_reset_or_silent(tmp_path: Path) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("127.0.0.1",))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        reset, silent = _Misbehaving("reset"), _Misbehaving("silent")
        try:
            async with hostile_world(tmp_path, settings) as world:
                world.node.services.ctx.outbound.timeout = 0.5
                answers = [_alike(await world.command(f"http://127.0.0.1:{port}/cmd", trigger=name), name)
                           for name, port in (("p-closed", closed.getsockname()[1]), ("p-reset", reset.port),
                                              ("p-silent", silent.port))]
        finally:
            reset.close()
            silent.close()
    assert answers[0] == answers[1] == answers[2]
    assert (answers[0]["_status"], answers[0]["id"], answers[0]["detailed_error"]) == (500, FAILED, "")


async def _post_and_drain(world: World, message: str) -> None:
    posted = await world.call("POST", "/api/v4/posts", world.mallory_token,
                              json={"channel_id": world.channel_id, "message": message})
    assert posted.status_code == 201, posted.text
    await world.node.services.outgoing.drain()


@pytest.mark.parametrize("allowed", [False, True])
async def test_an_outgoing_webhook_fires_at_an_internal_address_only_when_an_admin_allows_it(
        tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture, allowed: bool) -> None:
    settings = NodeSettings(allowed_hosts=("edgenode.test",),
                            allowed_untrusted_internal_connections=("127.0.0.1",) if allowed else ())
    async with hostile_world(tmp_path, settings) as world:
        hook = await world.call("POST", "/api/v4/hooks/outgoing", world.mallory_token, json={
            "team_id": world.team_id, "channel_id": world.channel_id, "trigger_words": ["scan"],
            "callback_urls": [f"http://127.0.0.1:{receiver.port}/cmd", f"http://169.254.169.254:{receiver.port}/cmd"],
            "display_name": "Scanner"})
        assert hook.status_code == 201, hook.text
        with caplog.at_level(logging.WARNING, logger="edgenode.integrations"):
            await _post_and_drain(world, "scan now")
            await asyncio.sleep(0)
    assert [r.path for r in receiver.pending()] == (["/cmd"] if allowed else [])
    refused = [r.getMessage() for r in caplog.records if "internal address" in r.getMessage()]
    assert len(refused) == (1 if allowed else 2)  # the metadata address is refused either way
