"""Node folders of one mesh that never connect, for the bundle tests: they meet only through files.

A is the mesh authority and holds the admin, alice and bob (all logged in on A), team "ops", a
public post and a private channel "secret" of alice's with a post. B, D and E joined the mesh by
invitation and hold nothing yet. F is the authority of another mesh.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from click.testing import CliRunner, Result

from edgenode.cli import cli
from edgenode.mesh import create_invite, init_mesh, join_mesh
from edgenode.node import Node, open_node

from .members_world import serve, world_at

T = TypeVar("T")

__all__ = ["BundleMesh", "bundle_mesh", "run", "on_node", "digest", "holds_post", "cli_run"]

PUBLIC_MESSAGE = "hello town square"
SECRET_MESSAGE = "the secret plan"


@dataclass
class BundleMesh:
    root: Path
    ids: dict[str, str] = field(default_factory=dict)
    posts: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    """name -> (file id, SHA-256 of its bytes)"""

    def dir(self, name: str) -> Path:
        return self.root / name


def on_node(data_dir: Path, work: Callable[[Node], Awaitable[T]]) -> T:
    """Open the node of `data_dir` (not served), run `work` on it, close it."""
    async def runner() -> T:
        async with open_node(data_dir) as node:
            return await work(node)
    return asyncio.run(runner())


def digest(data_dir: Path) -> str:
    return on_node(data_dir, lambda node: node.store.digest())


def holds_blob(data_dir: Path, content_hash: str) -> bool:
    return (data_dir / "files" / content_hash[:2] / content_hash[2:]).is_file()


def holds_post(data_dir: Path, post_id: str) -> bool:
    async def work(node: Node) -> bool:
        return await node.store.fetchone("SELECT 1 FROM posts WHERE id = ?", (post_id,)) is not None
    return on_node(data_dir, work)


def cli_run(*args: Any) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run(coro: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await coro
    return asyncio.run(wrapped())


def bundle_mesh(root: Path) -> BundleMesh:
    world = BundleMesh(root)
    authority = init_mesh(world.dir("a"), "Field team")
    for name in "bde":
        token, _ = create_invite(authority)
        join_mesh(world.dir(name), token)
    init_mesh(world.dir("f"), "Another team")

    async def populate() -> None:
        async with world_at(world.dir("a")) as a:
            world.ids.update(a.ids)
            world.ids["team"] = a.team
            world.ids["town_square"] = a.town_square
            world.posts["public"] = await a.post(a.town_square, PUBLIC_MESSAGE)
            secret = await a.channel("secret", "P", by="alice")
            world.ids["secret"] = secret
            world.posts["secret"] = await a.post(secret, SECRET_MESSAGE)
            for name, channel in (("public_file", a.town_square), ("secret_file", secret)):
                data = os.urandom(300_000)  # two chunks in a bundle, and incompressible
                uploaded = await a.ok("POST", "/api/v4/files", "alice", status=201, data={"channel_id": channel},
                                      files={"files": (f"{name}.bin", data)})
                world.files[name] = (uploaded["file_infos"][0]["id"], hashlib.sha256(data).hexdigest())

    asyncio.run(populate())
    return world


async def login_on(data_dir: Path, name: str) -> None:
    """`name` logs in on the node of `data_dir`: that node now hosts them."""
    async with open_node(data_dir) as node, serve(node) as b:
        await b.login(name)


async def post_on(data_dir: Path, name: str, channel: str, message: str) -> str:
    async with open_node(data_dir) as node, serve(node) as w:
        await w.login(name)
        return await w.post(channel, message, by=name)
