"""Peer sync benchmark over loopback TCP, each figure beside a baseline measured in the same run.

    python bench/bench_sync.py [--posts N] [--quick] [--samples N]

1. Full catch-up of N posts (default 100,000) into an empty node: ops/s, vs the same node applying
   the same segments from memory (no network: what the transport costs) and vs raw sqlite3 inserting
   the same rows in one transaction; bytes on the wire per op beside the raw payload (op body) size.
2. Incremental sync after 100 new posts on each side: round trips, bytes, ms.
3. In-sync check: round trips, bytes, ms.
4. Live mode: time from a post written on one node to its commit on a connected peer, p50/p95,
   beside the local write alone.
5. mDNS discovery to first completed sync, inside a private network namespace (needs root and
   iproute2; skipped otherwise).

Machines running this are shared and noisy: compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import sync  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_store import POST_COLUMNS, new_id, post_fields, raw_connect  # type: ignore[import-not-found]

from crdt import Create
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import FeedHead, FeedId, Signer, encode_segment
from sync.discovery import ZeroconfDiscovery
from sync.framing import StreamLink
from sync.manager import Backoff, PeerAddress, PeerManager, tcp_dialer
from sync.peer import PeerSession, SessionConfig, SessionStats, mesh_tag

MESH = mesh_tag("bench")
TEAM, CHANNEL, USER = "t" * 26, "c" * 26, "u" * 26
SCOPE = f"channel:{CHANNEL}"
WRITE_BATCH = 1000


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def directory_ops() -> list[Create]:
    return [
        Create("team", TEAM, {"name": "bench", "display_name": "Bench", "type": "O"}),
        Create("channel", CHANNEL, {"team_id": TEAM, "type": "O", "name": "town-square"}, deps=[("team", TEAM)]),
    ]


def post_ops(rng: random.Random, n: int) -> list[Create]:
    now = int(time.time() * 1000)
    return [Create("post", new_id(rng), post_fields(rng, CHANNEL, USER, now), deps=[("channel", CHANNEL)])
            for _ in range(n)]


async def open_store(folder: Path, name: str) -> Store:
    store = Store(folder / f"{name}.db", SCHEMA, Signer.generate())
    await store.open()
    return store


async def write_posts(store: Store, rng: random.Random, n: int) -> None:
    if not await store.fetchone("SELECT 1 FROM channels WHERE id = ?", (CHANNEL,)):
        await store.write("directory", directory_ops())
    for start in range(0, n, WRITE_BATCH):
        await store.write(SCOPE, post_ops(rng, min(WRITE_BATCH, n - start)))


async def one_shot(store: Store, address: PeerAddress) -> tuple[SessionStats, StreamLink, float]:
    started = time.perf_counter()
    link, _ = await tcp_dialer()(address)
    assert isinstance(link, StreamLink)
    stats = await PeerSession(store, link, node=store.node_id, mesh=MESH, initiator=True,
                              config=SessionConfig(live=False)).run()
    return stats, link, time.perf_counter() - started


async def held_ops(store: Store) -> int:
    row = await store.fetchone("SELECT count(*) FROM ops")
    return int(row[0]) if row else 0


# -- 1. full catch-up ---------------------------------------------------------------------------


async def baselines(source: Store, folder: Path) -> tuple[float, float, int]:
    """(store apply ops/s from memory, raw sqlite rows/s, body bytes of all ops) for the source's ops."""
    segments: list[bytes] = []
    body_bytes = 0
    for feed, head in (await source.heads()).items():
        after = 0
        while after < head.seq:
            ops = await source.segment(feed, after, 1000)
            segments.append(encode_segment(ops))
            body_bytes += sum(len(op.body) for op in ops)
            after = ops[-1].seq
    local = await open_store(folder, "local-apply")
    started = time.perf_counter()
    for data in segments:
        await local.apply_bytes(data)
    local_rate = await held_ops(local) / (time.perf_counter() - started)
    await local.close()

    rows = await source.fetchall("SELECT o.feed, o.seq, o.prev, o.hlc, o.body, o.sig FROM ops o")
    posts = await source.fetchall(f"SELECT id, {', '.join(POST_COLUMNS)}, _stamp FROM posts")
    conn = raw_connect(folder / "raw.db")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO ops (feed, seq, prev, hlc, body, sig) VALUES (?, ?, ?, ?, ?, ?)",
                     [tuple(r) for r in rows])
    conn.executemany(f"INSERT INTO posts (id, {', '.join(POST_COLUMNS)}, _stamp) VALUES "
                     f"({', '.join('?' * (len(POST_COLUMNS) + 2))})", [tuple(p) for p in posts])
    conn.execute("COMMIT")
    raw_rate = len(rows) / (time.perf_counter() - started)
    conn.close()
    return local_rate, raw_rate, body_bytes


async def catch_up(folder: Path, posts: int, rng: random.Random) -> tuple[Store, Store, PeerManager]:
    source = await open_store(folder, "source")
    started = time.perf_counter()
    await write_posts(source, rng, posts)
    n = await held_ops(source)
    print(f"1.  full catch-up of {n:,} ops ({posts:,} posts) into an empty node over loopback TCP "
          f"(source written in {time.perf_counter() - started:.1f} s)")
    local_rate, raw_rate, body_bytes = await baselines(source, folder)
    server = PeerManager(source, node=source.node_id, mesh=MESH, listen=PeerAddress("127.0.0.1", 0))
    await server.start()
    target = await open_store(folder, "target")
    stats, link, seconds = await one_shot(target, server.listening[0])
    wire = link.bytes_sent + link.bytes_received
    rate = stats.ops_received / seconds
    assert stats.ops_received == n, (stats.ops_received, n)
    line("catch-up", f"{rate:,.0f} ops/s in {seconds:.2f} s ({stats.segments_received} segments)")
    line("  baseline: same node applying from memory", f"{local_rate:,.0f} ops/s ({rate / local_rate:.2f}x)")
    line("  baseline: raw sqlite3, one transaction", f"{raw_rate:,.0f} rows/s ({rate / raw_rate:.3f}x)")
    line("bytes on the wire per op", f"{wire / n:.1f} B (raw payload {body_bytes / n:.1f} B: "
                                      f"{wire / body_bytes:.2f}x)")
    line("round trips to plan it", f"{stats.round_trips}")
    return source, target, server


# -- 2, 3. incremental and in-sync ---------------------------------------------------------------


async def incremental(source: Store, target: Store, server: PeerManager, rng: random.Random) -> None:
    await write_posts(source, rng, 100)
    await write_posts(target, rng, 100)
    stats, link, seconds = await one_shot(target, server.listening[0])
    print("2.  incremental sync after 100 new posts on each side")
    line("moved", f"{stats.ops_sent} ops sent, {stats.ops_received} received")
    line("round trips, bytes, time", f"{stats.round_trips} RT, {link.bytes_sent + link.bytes_received:,} B, "
                                     f"{seconds * 1000:.1f} ms")
    line("  bytes per op moved", f"{(link.bytes_sent + link.bytes_received) / (stats.ops_sent + stats.ops_received):.1f} B")
    assert await source.digest() == await target.digest()
    stats, link, seconds = await one_shot(target, server.listening[0])
    print("3.  in-sync check (nothing to move)")
    line("round trips, bytes, time", f"{stats.round_trips} RT, {link.bytes_sent + link.bytes_received:,} B, "
                                     f"{seconds * 1000:.1f} ms (incl. TCP connect)")


# -- 4. live latency ------------------------------------------------------------------------------


async def live_latency(folder: Path, samples: int, rng: random.Random) -> None:
    a, b = await open_store(folder, "live-a"), await open_store(folder, "live-b")
    await write_posts(a, rng, 1)
    feed = FeedId(a.node_id, SCOPE)
    arrived: dict[int, asyncio.Future[float]] = {}

    def on_heads(heads: dict[FeedId, FeedHead]) -> None:
        head = heads.get(feed)
        if head is not None:
            for seq, future in list(arrived.items()):
                if seq <= head.seq and not future.done():
                    future.set_result(time.perf_counter())

    b.subscribe(on_heads)
    async with PeerManager(a, node=a.node_id, mesh=MESH, listen=PeerAddress("127.0.0.1", 0)) as ma, \
            PeerManager(b, node=b.node_id, mesh=MESH, static_peers=[], backoff=Backoff(0.05, 0.2)) as mb:
        mb.add_peer(ma.listening[0])
        while (await b.heads()).get(feed) != (await a.heads()).get(feed):
            await asyncio.sleep(0.01)
        latencies, local = [], []
        for _ in range(samples):
            await asyncio.sleep(rng.uniform(0.002, 0.02))
            started = time.perf_counter()
            (op,) = await a.write(SCOPE, post_ops(rng, 1))
            written = time.perf_counter()
            future = arrived[op.seq] = asyncio.get_running_loop().create_future()
            held = (await b.heads()).get(feed)
            if held is not None and held.seq >= op.seq and not future.done():  # it arrived before we looked
                future.set_result(time.perf_counter())
            latencies.append(await asyncio.wait_for(future, 10) - started)
            del arrived[op.seq]
            local.append(written - started)
    print(f"4.  live mode: a post written on one node until committed on its connected peer ({samples} posts)")
    p50, p95 = _percentile(latencies, 50), _percentile(latencies, 95)
    l50, l95 = _percentile(local, 50), _percentile(local, 95)
    line("post-to-peer latency p50 / p95", f"{p50 * 1000:.1f} / {p95 * 1000:.1f} ms (target p95 < 200 ms)")
    line("  baseline: the local durable write alone", f"{l50 * 1000:.1f} / {l95 * 1000:.1f} ms "
                                                       f"(peer adds {p50 / l50:.1f}x at p50)")
    await a.close()
    await b.close()


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


# -- 5. mDNS discovery to first sync, in a network namespace ---------------------------------------


async def mdns_child(address: str) -> None:
    """Run inside the namespace: two nodes, mDNS on one private interface; time from start to first sync."""
    folder = Path(tempfile.mkdtemp(prefix="bench-mdns-"))
    rng = random.Random(5)
    a, b = await open_store(folder, "a"), await open_store(folder, "b")
    await write_posts(a, rng, 100)
    managers, discoveries = [], []
    started = time.perf_counter()
    for store in (a, b):
        manager = PeerManager(store, node=store.node_id, mesh=MESH, listen=PeerAddress(address, 0),
                              backoff=Backoff(0.1, 1))
        await manager.start()
        discovery = ZeroconfDiscovery(node=store.node_id, mesh=MESH, port=manager.listening[0].port,
                                      on_found=manager.discovered, on_lost=manager.lost,
                                      interfaces=[address], addresses=[address])
        await discovery.__aenter__()
        managers.append(manager)
        discoveries.append(discovery)
    found_at = synced_at = None
    while synced_at is None and time.perf_counter() - started < 30:
        rows = await managers[1].status()
        if found_at is None and any(r.node == a.node_id for r in rows):
            found_at = time.perf_counter()
        if await a.digest() == await b.digest():
            synced_at = time.perf_counter()
        await asyncio.sleep(0.01)
    for discovery in discoveries:
        await discovery.__aexit__(None, None, None)
    for manager in managers:
        await manager.stop()
    await a.close()
    await b.close()
    print(json.dumps({"found": None if found_at is None else found_at - started,
                      "synced": None if synced_at is None else synced_at - started}))
    shutil.rmtree(folder, ignore_errors=True)


def mdns_figure() -> None:
    print("5.  mDNS: both nodes start; time until one has found the other, and until they are in sync")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        line("skipped", "needs root and iproute2 (private network namespace)")
        return
    ns, address = f"enbench{os.getpid() % 100000}", "10.200.9.1"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)

    try:
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
        # a veth pair with both ends in the namespace: nothing leaves it, and multicast sent on v0 loops
        # back to both nodes listening on it
        ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "v0")
        ip("-n", ns, "link", "set", "v1", "up")
        ip("-n", ns, "link", "set", "v0", "up", "multicast", "on")
        ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "v0")
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--mdns-child", address],
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            line("failed", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else str(done.returncode))
            return
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        found, synced = figures["found"], figures["synced"]
        line("discovered (start to peer known)", "not within 30 s" if found is None else f"{found * 1000:.0f} ms")
        line("first completed sync (100 posts)", "not within 30 s" if synced is None else f"{synced * 1000:.0f} ms")
    except (subprocess.SubprocessError, OSError) as exc:
        line("skipped", f"could not build the namespace: {exc}")
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20, check=False)


# -- main ---------------------------------------------------------------------------------------------


async def run(posts: int, samples: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        folder = Path(tmp)
        source, target, server = await catch_up(folder, posts, rng)
        await incremental(source, target, server, rng)
        await server.stop()
        await source.close()
        await target.close()
        await live_latency(folder, samples, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="live-mode latency samples")
    parser.add_argument("--quick", action="store_true", help="10,000 posts and 50 samples")
    parser.add_argument("--mdns-child", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mdns_child:
        asyncio.run(mdns_child(args.mdns_child))
        return
    posts, samples = (10_000, 50) if args.quick else (args.posts, args.samples)
    started = time.perf_counter()
    print(f"edgenode sync benchmark: {posts:,} posts, {samples} live samples, python {sys.version.split()[0]}")
    asyncio.run(run(posts, samples))
    mdns_figure()
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
