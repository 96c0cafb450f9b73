"""The guarded client on its own: which addresses are internal, the allow-list, and connecting to the checked address."""

from __future__ import annotations

import ast
import ipaddress
from collections.abc import Sequence
from pathlib import Path

import pytest
from support.receiver import Receiver

from edgenode.outbound import (
    DestinationRefused, GuardedClient, InternalAllowList, Unreachable, is_internal, permitted_addresses,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.255.254", "10.1.2.3", "172.31.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "0.1.2.3", "224.0.0.251", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "2002:c0a8:0101::1", "2001:db8::1",
])
def test_internal_addresses_are_recognised_in_every_spelling(address: str) -> None:
    assert is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2002:5db8:d822::1",
                                     "64:ff9b::5db8:d822", "::ffff:93.184.216.34"])
def test_public_addresses_are_not_internal(address: str) -> None:
    assert not is_internal(ipaddress.ip_address(address))


def test_the_allow_list_reads_mattermosts_format_of_names_addresses_and_blocks() -> None:
    allow = InternalAllowList.parse(["hooks.lan  10.1.0.0/16,192.168.1.5", "[::1] Jenkins.LAN."])
    assert allow.names == frozenset({"hooks.lan", "jenkins.lan"})
    assert allow.allows_address(ipaddress.ip_address("10.1.200.3"))
    assert allow.allows_address(ipaddress.ip_address("192.168.1.5"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert not allow.allows_address(ipaddress.ip_address("10.2.0.1"))
    assert not allow.allows_address(ipaddress.ip_address("127.0.0.1"))


def test_only_the_permitted_addresses_of_a_name_are_kept_and_none_is_a_refusal() -> None:
    ips = [ipaddress.ip_address(a) for a in ("127.0.0.1", "93.184.216.34", "10.0.0.1")]
    assert permitted_addresses("mixed.example", ips, InternalAllowList()) == [ips[1]]
    assert permitted_addresses("mixed.example", ips, InternalAllowList.parse(["10.0.0.0/8"])) == [ips[1], ips[2]]
    assert permitted_addresses("mixed.example", ips, InternalAllowList.parse(["mixed.example"])) == ips
    with pytest.raises(DestinationRefused):
        permitted_addresses("inside.example", ips[::2], InternalAllowList())


async def test_a_name_that_rebinds_to_loopback_between_lookups_never_reaches_it() -> None:
    """Each connection resolves once and connects to the very address it checked: a DNS answer
    that changes (public for the check, loopback for the connection) has nothing to change."""
    answers = iter([["127.0.0.1"], ["203.0.113.9"], ["127.0.0.1"]])
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    with Receiver() as receiver:
        client = GuardedClient(resolver=rebinding, timeout=2.0)
        try:
            for _ in range(3):
                with pytest.raises(DestinationRefused):
                    await client.request("GET", f"http://rebind.example:{receiver.port}/")
        finally:
            await client.aclose()
        assert receiver.pending() == []
    assert calls == ["rebind.example"] * 3


async def test_a_name_with_public_and_loopback_answers_is_dialled_only_at_the_public_one() -> None:
    async def split(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1", "10.0.0.1", "93.184.216.34"]

    with Receiver() as receiver:
        client = GuardedClient(resolver=split, timeout=1.0)
        try:
            with pytest.raises(Unreachable):  # the public address is not reachable from here
                await client.request("GET", f"http://split.example:{receiver.port}/")
        finally:
            await client.aclose()
        assert receiver.pending() == []


async def test_answers_are_cut_at_the_size_limit() -> None:
    with Receiver() as receiver:
        receiver.answer("/big", b"x" * 5000)
        client = GuardedClient(InternalAllowList.parse(["127.0.0.1"]), max_response_bytes=1000)
        try:
            reply = await client.request("GET", receiver.url("/big"))
        finally:
            await client.aclose()
    assert (reply.status, len(reply.body)) == (200, 1000)


HTTP_CLIENTS = {"httpx", "httpcore", "urllib.request", "http.client", "aiohttp", "requests", "urllib3", "websockets"}


def test_no_module_but_the_guarded_client_makes_http_requests() -> None:
    """Every server-side fetch goes through edgenode/outbound.py, so its checks cannot be bypassed."""
    offenders = []
    for package in ("edgenode", "sync", "crdt"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path == REPO / "edgenode" / "outbound.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                              if n in HTTP_CLIENTS or n.split(".")[0] in HTTP_CLIENTS]
    assert offenders == []
