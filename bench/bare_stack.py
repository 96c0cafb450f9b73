"""The bare stack: the least a server must do to accept a post as durably as the node does.

    python bench/bare_stack.py --port PORT --db PATH

The yardstick bench_api.py measures the node against (issue 9): a Starlette app with one route,
POST /api/v4/posts, that parses the JSON body, packs the op with msgpack, signs it with ed25519,
links it to the previous op with blake2b, and commits the op and the post's row to SQLite (WAL,
synchronous=FULL) in group commits on one writer thread, answering 201 only after COMMIT returned.
It skips everything else a post means on the node (sessions, permissions, mentions, events, FTS).

It runs on the same server libraries and options as the node (uvicorn with h11 and the event loop
uvicorn picks), so a ratio between the two measures the node's own work, not a server swap.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints
import uvicorn
from nacl.signing import SigningKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_MAX_BATCH = 1024


class GroupCommitter:
    """One thread owns the connection; requests that queue during a COMMIT share the next one."""

    def __init__(self, path: Path):
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY, link BLOB, body BLOB, sig BLOB)")
        self._conn.execute("CREATE TABLE IF NOT EXISTS posts (id TEXT PRIMARY KEY, channel_id TEXT, user_id TEXT, "
                           "message TEXT, create_at INTEGER)")
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._queue: asyncio.Queue[tuple[tuple[Any, ...], tuple[Any, ...], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def write(self, op_row: tuple[Any, ...], post_row: tuple[Any, ...]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((op_row, post_row, future))
        await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await loop.run_in_executor(self._executor, self._commit, batch)
            for _, _, future in batch:
                future.set_result(None)

    def _commit(self, batch: list[tuple[tuple[Any, ...], tuple[Any, ...], asyncio.Future[None]]]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("INSERT INTO ops VALUES (?, ?, ?, ?)", [op for op, _, _ in batch])
        self._conn.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", [post for _, post, _ in batch])
        self._conn.execute("COMMIT")


def build_app(db: Path) -> Starlette:
    key = SigningKey.generate()
    committer = GroupCommitter(db)
    state = {"seq": 0, "link": bytes(32)}

    async def create_post(request: Request) -> Response:
        body = await request.json()
        post_id = os.urandom(13).hex()[:26]
        now = time.time_ns() // 1_000_000
        fields = {"channel_id": body["channel_id"], "user_id": "u" * 26, "message": body["message"], "create_at": now}
        state["seq"] += 1
        packed = msgpack.packb(["create", "post", post_id, fields])
        signature = key.sign(hashlib.blake2b(state["link"] + packed, digest_size=32).digest()).signature
        state["link"] = hashlib.blake2b(packed + signature, digest_size=32).digest()
        await committer.write((state["seq"], state["link"], packed, signature),
                              (post_id, fields["channel_id"], fields["user_id"], fields["message"], now))
        return Response(json.dumps({"id": post_id, **fields}), 201, media_type="application/json")

    async def ping(request: Request) -> Response:
        return Response("{}", media_type="application/json")

    return Starlette(routes=[Route("/api/v4/posts", create_post, methods=["POST"]),
                             Route("/api/v4/system/ping", ping, methods=["GET"])])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.db), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off", http="h11",
                loop="asyncio")  # as `edgenode serve`, which runs uvicorn inside asyncio.run
