"""File attachments' bytes travel between nodes: the node's BlobPort, and whole nodes syncing an upload.

The BlobPort contract is one specification that both adapters pass: the node's (`NodeBlobs`, over
real file rows in SQLite and the content-addressed folder) and the in-memory one the protocol
tests use.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.builders import CHANNEL, TEAM, team_and_channel
from support.memory_blobs import MemoryBlobs, sha256
from support.served_nodes import PASSWORD, Served, served, settings, until

from crdt import Create
from edgenode.peering.blobs import NodeBlobs
from edgenode.ids import new_id
from edgenode.node import open_node
from edgenode.schema import SCHEMA
from edgenode.services.blobs import BlobStore
from edgenode.store import Store
from edgenode.peering.service import sync_once
from edgenode.peering.settings import SyncSettings
from sync import Signer
from sync.framing import memory_link_pair
from sync.manager import PeerAddress
from sync.peer import PeerSession, SessionConfig, mesh_tag
from sync.ports import BlobPort

OTHER_CHANNEL = "o" * 26


@dataclass
class Adapter:
    """A BlobPort, and how a test makes it hold bytes or know of a hash (through a row in a channel)."""

    port: BlobPort
    hold: Callable[[bytes, str], Awaitable[str]]
    name: Callable[[str, str], Awaitable[None]]
    leftovers: Callable[[], list[str]]
    """Half-written blobs lying around (temporary files)."""


async def node_adapter(tmp_path: Path) -> AsyncIterator[Adapter]:
    store = Store(tmp_path / "node.db", SCHEMA, Signer.generate())
    await store.open()
    await store.write("directory", team_and_channel())
    await store.write("directory", [Create("channel", OTHER_CHANNEL, {"team_id": TEAM, "type": "O", "name": "other"},
                                           deps=[("team", TEAM)])])
    blobs = BlobStore(tmp_path / "files")

    async def name(content_hash: str, channel: str) -> None:
        await store.write(f"channel:{channel}", [Create("file", new_id(), {
            "user_id": "", "channel_id": channel, "name": "f.bin", "content_hash": content_hash, "size": 0,
            "create_at": 1, "update_at": 1, "delete_at": 0}, deps=[("channel", channel)])])

    async def hold(data: bytes, channel: str) -> str:
        stored = await blobs.put(io.BytesIO(data), 1 << 30)
        await name(stored.content_hash, channel)
        return stored.content_hash

    def leftovers() -> list[str]:
        root = tmp_path / "files"
        return [n for n in os.listdir(root) if n.startswith(".")] if root.exists() else []

    yield Adapter(NodeBlobs(store, blobs), hold, name, leftovers)
    await store.close()


async def memory_adapter(tmp_path: Path) -> AsyncIterator[Adapter]:
    port = MemoryBlobs()

    async def hold(data: bytes, channel: str) -> str:
        return port.hold(data, f"channel:{channel}")

    async def name(content_hash: str, channel: str) -> None:
        port.name(content_hash, f"channel:{channel}")

    def leftovers() -> list[str]:
        return ["a writer"] * port.open_writers

    yield Adapter(port, hold, name, leftovers)


@pytest.fixture(params=[node_adapter, memory_adapter], ids=["node", "memory"])
async def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Adapter]:
    async for made in request.param(tmp_path):
        yield made


# -- the BlobPort contract --------------------------------------------------------------------------


async def test_wanted_lists_the_named_hashes_whose_bytes_are_not_held_within_limit_and_skip(adapter: Adapter) -> None:
    held = await adapter.hold(b"held", CHANNEL)
    lacking = [sha256(f"elsewhere {i}".encode()) for i in range(3)]
    for content_hash in lacking:
        await adapter.name(content_hash, CHANNEL)
    assert sorted(await adapter.port.wanted(10)) == sorted(lacking)
    assert held not in await adapter.port.wanted(10)
    assert len(await adapter.port.wanted(2)) == 2
    assert sorted(await adapter.port.wanted(10, skip={lacking[0]})) == sorted(lacking[1:])


async def test_scopes_of_names_the_channels_of_every_row_naming_a_hash(adapter: Adapter) -> None:
    content_hash = await adapter.hold(b"shared twice", CHANNEL)
    await adapter.name(content_hash, OTHER_CHANNEL)
    assert await adapter.port.scopes_of(content_hash) == {f"channel:{CHANNEL}", f"channel:{OTHER_CHANNEL}"}
    assert await adapter.port.scopes_of(sha256(b"unknown")) == set()


async def test_size_and_read_serve_held_bytes_and_none_for_others(adapter: Adapter) -> None:
    data = bytes(range(256)) * 10
    content_hash = await adapter.hold(data, CHANNEL)
    assert await adapter.port.size(content_hash) == len(data)
    assert await adapter.port.read(content_hash, 250, 10) == data[250:260]
    assert await adapter.port.read(content_hash, len(data) - 3, 10) == data[-3:]
    assert await adapter.port.size(sha256(b"unknown")) is None


async def test_a_writer_installs_matching_bytes_so_they_are_no_longer_wanted(adapter: Adapter) -> None:
    data = b"arrived in two pieces"
    content_hash = sha256(data)
    await adapter.name(content_hash, CHANNEL)
    writer = await adapter.port.writer(content_hash)
    await writer.write(data[:7])
    assert await adapter.port.size(content_hash) is None  # nothing visible before install
    await writer.write(data[7:])
    assert await writer.install() is True
    assert await adapter.port.read(content_hash, 0, 100) == data
    assert await adapter.port.wanted(10) == []
    assert adapter.leftovers() == []


async def test_a_writer_refuses_bytes_of_another_hash_and_leaves_nothing(adapter: Adapter) -> None:
    content_hash = sha256(b"the real thing")
    await adapter.name(content_hash, CHANNEL)
    writer = await adapter.port.writer(content_hash)
    await writer.write(b"a forgery")
    assert await writer.install() is False
    assert await adapter.port.size(content_hash) is None
    assert await adapter.port.wanted(10) == [content_hash]
    assert adapter.leftovers() == []


async def test_a_discarded_writer_leaves_nothing(adapter: Adapter) -> None:
    content_hash = sha256(b"cut short")
    writer = await adapter.port.writer(content_hash)
    await writer.write(b"cut")
    await writer.discard()
    await writer.discard()
    assert await adapter.port.size(content_hash) is None
    assert adapter.leftovers() == []


# -- whole nodes ------------------------------------------------------------------------------------


async def upload_with_a_post(node: Served, data: bytes) -> tuple[str, str]:
    """As the admin (created here): upload `data` to town-square and post it; returns (file id, token)."""
    created = await node.call("POST", "/api/v4/users", json={"username": "admin", "email": "admin@example.com",
                                                               "password": PASSWORD})
    assert created.status_code == 201, created.text
    token = await node.login("admin")
    team = await node.call("POST", "/api/v4/teams", token, json={"name": "field", "display_name": "Field", "type": "O"})
    square = (await node.call("GET", f"/api/v4/teams/{team.json()['id']}/channels/name/town-square", token)).json()["id"]
    uploaded = await node.call("POST", "/api/v4/files", token, data={"channel_id": square},
                               files={"files": ("survey.bin", data)})
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["file_infos"][0]["id"]
    posted = await node.call("POST", "/api/v4/posts", token, json={"channel_id": square, "message": "the survey",
                                                                    "file_ids": [file_id]})
    assert posted.status_code == 201, posted.text
    return file_id, token


async def test_a_file_uploaded_on_one_node_downloads_with_the_same_bytes_from_its_peer(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    async with served(tmp_path / "a", settings()) as a:
        async with served(tmp_path / "b", settings(peers=(PeerAddress("127.0.0.1", a.port),))) as b:
            file_id, _ = await upload_with_a_post(a, data)
            downloaded: dict[str, bytes] = {}

            async def downloadable_on_b() -> bool:
                login = await b.call("POST", "/api/v4/users/login", json={"login_id": "admin", "password": PASSWORD})
                if login.status_code != 200:
                    return False
                response = await b.call("GET", f"/api/v4/files/{file_id}", login.headers["Token"])
                if response.status_code == 200:
                    downloaded["bytes"] = response.content
                return response.status_code == 200

            await until(downloadable_on_b)
            assert downloaded["bytes"] == data
            assert [n for n in os.listdir(tmp_path / "b" / "files") if n.startswith(".")] == []


async def test_a_one_shot_sync_with_the_data_folder_brings_the_file_bytes_too(tmp_path: Path) -> None:
    data = b"minutes of the meeting\n" * 1000
    async with served(tmp_path / "a", settings()) as a:
        file_id, _ = await upload_with_a_post(a, data)
        async with open_node(tmp_path / "b") as b:
            stats, _ = await sync_once(b.store, PeerAddress("127.0.0.1", a.port), SyncSettings(),
                                       data_dir=tmp_path / "b")
            assert stats.blobs.received == 1
            row = await b.store.fetchone("SELECT content_hash FROM files WHERE id = ?", (file_id,))
            assert row is not None
            assert BlobStore(tmp_path / "b" / "files").path(row["content_hash"]).read_bytes() == data


@pytest.mark.parametrize("fetcher", ["initiator", "responder"])
async def test_a_one_shot_session_between_two_stores_brings_the_bytes_of_the_file_rows_it_brings(
        tmp_path: Path, fetcher: str) -> None:
    holder = Store(tmp_path / "holder.db", SCHEMA, Signer.generate())
    asker = Store(tmp_path / "asker.db", SCHEMA, Signer.generate())
    await holder.open()
    await asker.open()
    try:
        blobs = {holder: BlobStore(tmp_path / "holder-files"), asker: BlobStore(tmp_path / "asker-files")}
        data = os.urandom(600_000)
        stored = await blobs[holder].put(io.BytesIO(data), 1 << 30)
        await holder.write("directory", team_and_channel())
        await holder.write(f"channel:{CHANNEL}", [Create("file", "f" * 26, {
            "channel_id": CHANNEL, "content_hash": stored.content_hash, "size": len(data), "name": "scan.pdf"},
            deps=[("channel", CHANNEL)])])
        first, second = (asker, holder) if fetcher == "initiator" else (holder, asker)
        la, lb = memory_link_pair()
        config = SessionConfig(live=False)
        await asyncio.wait_for(asyncio.gather(*(
            PeerSession(store, link, node=store.node_id, mesh=mesh_tag("m"), initiator=initiator, config=config,
                        blobs=NodeBlobs(store, blobs[store])).run()
            for store, link, initiator in ((first, la, True), (second, lb, False)))), 30)
        assert blobs[asker].path(stored.content_hash).read_bytes() == data
    finally:
        await holder.close()
        await asker.close()
