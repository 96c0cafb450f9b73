"""Bytes on disk per post whichever way posts arrive: through the API, and through sync from a peer.

    python bench/bench_storage.py [--posts N]

Two real `edgenode serve` processes in one mesh (CLI-made), each dialing the other. The admin
signs up on the first, makes a team and logs in on both (so both host the admin and need-to-know
sends the second node the team's channels). Then N posts (default 3,000; the message lengths
of bench_store's posts) go to the first node through POST /api/v4/posts, 16 at a time, and reach
the second by live sync. Each node's store is measured (file + WAL after a checkpoint, the nodes
stopped) before and after the posts: the growth over N is the figure, so the fixed size of an
empty node does not count. A post through the API is two signed ops (the post, and the poster's
channel_member last_viewed_at); both travel to the peer. (bench_store.py part 3 prints the bytes
per post of a bulk apply beside raw tables holding the same rows.)

Then the in-sync check through the real CLI: `edgenode sync` from the second node (stopped) to
the first, with nothing to move: the bytes of frames both ways, as the CLI prints them.

Machines running this are shared and noisy; sizes are not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

try:
    import edgenode  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_soak import Node, digest, edgenode, free_port, setup, wait_ready  # type: ignore[import-not-found]
from bench_store import TARGET_BYTES_PER_POST, db_bytes, post_fields  # type: ignore[import-not-found]

from edgenode.config import STORE_FILE

CONCURRENCY = 16
IN_SYNC_TARGET = 100


def tables(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(str(path))
    try:
        return {str(n): int(b) for n, b in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")}
    finally:
        conn.close()


def measure(node: Node) -> tuple[int, dict[str, int]]:
    path = node.data / STORE_FILE
    return db_bytes(path), tables(path)


async def post_all(http: httpx.AsyncClient, node: Node, channel: str, n: int) -> None:
    rng = random.Random(5)
    messages = [post_fields(rng, channel, "", 0)["message"] for _ in range(n)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker() -> None:
        while not queue.empty():
            message = queue.get_nowait()
            r = await http.post(f"{node.url}/api/v4/posts", headers={"Authorization": f"Bearer {node.token}"},
                                json={"channel_id": channel, "message": message})
            if r.status_code != 201:
                raise RuntimeError(f"post: {r.status_code} {r.text}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def converge(nodes: list[Node], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len({digest(node) for node in nodes}) > 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the nodes did not converge")
        await asyncio.sleep(1)


def report(label: str, before: tuple[int, dict[str, int]], after: tuple[int, dict[str, int]], n: int) -> None:
    grown = after[0] - before[0]
    ok = "OK" if grown / n <= TARGET_BYTES_PER_POST else "ABOVE TARGET"
    print(f"  {label:<44} {grown / n:7,.0f} B/post   target <= {TARGET_BYTES_PER_POST}  {ok}")
    growth = sorted(((after[1].get(t, 0) - before[1].get(t, 0), t) for t in after[1]), reverse=True)[:7]
    print(f"  {'':<44} " + ", ".join(f"{t} {b / n:.0f}" for b, t in growth if b > 0))


async def run(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    sync_ports = [free_port(), free_port()]
    a = Node("a", tmp / "a", free_port(), sync_ports[0], [sync_ports[1]])
    b = Node("b", tmp / "b", free_port(), sync_ports[1], [sync_ports[0]])
    edgenode("mesh", "init", "--name", "storage", "--data", str(a.data))
    edgenode("mesh", "join", edgenode("mesh", "invite", "--data", str(a.data)).strip(), "--data", str(b.data))
    print(f"edgenode storage benchmark: {n:,} posts through the API of one node, synced live to another; "
          f"python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}", flush=True)
    try:
        async with httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=CONCURRENCY * 2)) as http:
            channel = await setup(http, [a, b])
            await converge([a, b])
            for node in (a, b):
                node.stop()
            before = {node.name: measure(node) for node in (a, b)}
            for node in (a, b):
                node.start()
            for node in (a, b):
                await wait_ready(http, node)
            started = time.monotonic()
            await post_all(http, a, channel, n)
            posted = time.monotonic() - started
            await converge([a, b])
            for node in (a, b):
                node.stop()
            after = {node.name: measure(node) for node in (a, b)}
            print(f"  ({n:,} posts in {posted:.1f} s, {n / posted:,.0f} posts/s; bytes per post below: growth of "
                  f"each store over the posts; then its largest growths in B/post)")
            report("arrived through the API (2 ops per post)", before["a"], after["a"], n)
            report("arrived through sync from the peer", before["b"], after["b"], n)

            a.start()
            await wait_ready(http, a)
            out = edgenode("sync", "--data", str(b.data), f"127.0.0.1:{a.sync_port}")
            match = re.search(r"received (\d+) ops .*; (\d+) bytes on the wire", out)
            if match is None:
                raise RuntimeError(f"unexpected output of edgenode sync: {out!r}")
            wire = int(match[2])
            print(f"  {'in-sync check via `edgenode sync`, both ways':<44} {wire:7,} B of frames "
                  f"({match[1]} ops moved; target <= {IN_SYNC_TARGET} each way, so <= {2 * IN_SYNC_TARGET} in all: "
                  f"{'OK' if wire <= 2 * IN_SYNC_TARGET else 'ABOVE TARGET'})")
    finally:
        for node in (a, b):
            node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3_000)
    asyncio.run(run(parser.parse_args().posts))


if __name__ == "__main__":
    main()
