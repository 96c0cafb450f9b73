"""Announcements name a node, its mesh and its sync address; peers of other meshes are not reported.

Discovery follows the network: a member's record comes, moves and goes with its addresses (the
polling itself: test_netwatch.py). Real mDNS (zeroconf) runs only inside network namespaces: see
tests/e2e/test_netns_mdns.py and tests/e2e/test_netns_network_changes.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.discovery import (
    DiscoveryError, MemoryDiscovery, MemoryLan, ZeroconfDiscovery, announcement_txt, parse_announcement,
)
from sync.manager import PeerAddress
from sync.peer import mesh_tag

NODE, OTHER = bytes(range(32)), bytes(range(1, 33))
MESH = mesh_tag("mesh")


def test_an_announcement_round_trips_through_its_txt_record() -> None:
    txt = announcement_txt(NODE, MESH, 8066)
    assert txt == {"v": "1", "mesh": MESH.hex(), "node": NODE.hex(), "port": "8066"}
    found = parse_announcement(txt, ["10.0.0.2", "192.168.1.9"], 8066)
    assert (found.node, found.mesh, found.addresses) == (
        NODE, MESH, (PeerAddress("10.0.0.2", 8066), PeerAddress("192.168.1.9", 8066)))


@pytest.mark.parametrize(("change", "reason"), [
    ({"v": "2"}, "unsupported announcement version"), ({"node": "zz"}, "must be hex"),
    ({"node": "ab"}, "32-byte key"), ({"mesh": ""}, "32-byte key and mesh"),
])
def test_a_malformed_announcement_is_refused_with_its_reason(change: dict[str, str], reason: str) -> None:
    with pytest.raises(DiscoveryError, match=reason):
        parse_announcement({**announcement_txt(NODE, MESH, 8066), **change}, ["10.0.0.2"], 8066)


def test_an_announcement_without_an_address_or_port_is_refused() -> None:
    with pytest.raises(DiscoveryError, match="no usable address"):
        parse_announcement(announcement_txt(NODE, MESH, 8066), [], 8066)
    with pytest.raises(DiscoveryError, match="no usable address"):
        parse_announcement(announcement_txt(NODE, MESH, 8066), ["10.0.0.2"], 0)


@given(st.dictionaries(st.sampled_from(["v", "mesh", "node", "port", "x"]), st.one_of(st.none(), st.text(max_size=70))),
       st.lists(st.text(min_size=1, max_size=20), max_size=3), st.integers(-5, 70000))
def test_any_txt_record_parses_or_raises_discovery_error(txt: dict[str, str | None], hosts: list[str], port: int) -> None:
    try:
        parse_announcement(txt, hosts, port)
    except DiscoveryError:
        pass


def test_the_service_instance_is_named_by_the_node_key() -> None:
    discovery = ZeroconfDiscovery(node=NODE, mesh=MESH, port=8066, on_found=lambda n, a: None, on_lost=lambda n: None)
    assert discovery.instance_name == f"{NODE.hex()[:20]}._edgenode._tcp.local."


async def test_members_of_one_mesh_see_each_other_come_and_go_and_other_meshes_stay_invisible() -> None:
    lan = MemoryLan()
    events: list[tuple[str, str, bytes]] = []

    def member(name: str, node: bytes, mesh: bytes) -> MemoryDiscovery:
        return MemoryDiscovery(lan, node=node, mesh=mesh, address=PeerAddress(name, 8066),
                               on_found=lambda n, a: events.append((name, "found", n)),
                               on_lost=lambda n: events.append((name, "lost", n)))

    async with member("a", NODE, MESH):
        async with member("stranger", bytes(32), mesh_tag("elsewhere")):
            async with member("b", OTHER, MESH):
                assert events == [("b", "found", NODE), ("a", "found", OTHER)]
        assert events[-1] == ("a", "lost", OTHER)


async def test_a_member_that_follows_its_network_is_announced_moved_and_withdrawn_as_its_addresses_change() -> None:
    lan = MemoryLan()
    events: list[tuple[str, str, bytes, list[PeerAddress]]] = []
    hosts: frozenset[str] = frozenset()  # b boots without a network

    def recorder(name: str) -> dict[str, Any]:
        return {"on_found": lambda n, a: events.append((name, "found", n, list(a))),
                "on_lost": lambda n: events.append((name, "lost", n, []))}

    async def next_event() -> tuple[str, str, bytes, list[PeerAddress]]:
        async with asyncio.timeout(2):
            while not events:
                await asyncio.sleep(0.001)
        return events.pop(0)

    async with MemoryDiscovery(lan, node=NODE, mesh=MESH, address=PeerAddress("10.0.0.1", 8066), **recorder("a")):
        async with MemoryDiscovery(lan, node=OTHER, mesh=MESH, address=None, port=8066, address_source=lambda: hosts,
                                   poll_interval=0.001, **recorder("b")):
            await asyncio.sleep(0.02)
            assert events == []  # no network: b is invisible, and sees no one

            hosts = frozenset({"10.0.0.2"})
            assert await next_event() == ("a", "found", OTHER, [PeerAddress("10.0.0.2", 8066)])
            assert await next_event() == ("b", "found", NODE, [PeerAddress("10.0.0.1", 8066)])

            hosts = frozenset({"10.0.0.3"})  # a new DHCP lease
            assert await next_event() == ("a", "found", OTHER, [PeerAddress("10.0.0.3", 8066)])
            assert await next_event() == ("b", "found", NODE, [PeerAddress("10.0.0.1", 8066)])

            hosts = frozenset()  # the cable is pulled
            assert await next_event() == ("a", "lost", OTHER, [])
        assert events == []  # already withdrawn: leaving says nothing more


def test_a_member_follows_an_address_source_with_a_port_not_a_fixed_address() -> None:
    with pytest.raises(ValueError, match="takes a port"):
        MemoryDiscovery(MemoryLan(), node=NODE, mesh=MESH, address=PeerAddress("10.0.0.1", 8066),
                        address_source=lambda: frozenset(), port=8066, on_found=lambda n, a: None, on_lost=lambda n: None)
