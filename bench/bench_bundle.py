"""Bundle benchmark: export and import of N posts through a bundle file, each figure beside a
baseline measured in the same run.

    python bench/bench_bundle.py [--posts N] [--quick] [--large-mb MB]

1. Export of N posts (default 100,000) from a node of a mesh into a public bundle: ops/s, MB/s,
   bundle bytes per op beside the raw payload (op bodies) and the ops as signed (bodies with their
   signatures, positions and stamps).
2. Import of that bundle into another node of the mesh (verify everything, then apply in one
   transaction): ops/s, MB/s, beside the same node applying the same segments from memory (the
   store's apply path: one transaction per segment, as peer sync applies them, and all in one, as
   the import does) and raw sqlite3 inserting the same rows in one transaction.
3. Peak RSS of a large import: a bundle of posts and attachments of about --large-mb MB (default
   1024) imported by `edgenode bundle import` in a child process (ru_maxrss), beside the RSS of a
   child that only starts Python and imports the node's modules.

Machines running this are shared and noisy: compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
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
from edgenode.peering.bundle_export import ExportRequest, bundle_file, export_bundle
from edgenode.peering.bundle_import import import_bundle
from edgenode.mesh import create_invite, init_mesh, join_mesh, require_mesh
from edgenode.node import Node, open_node
from sync import decode_segment, encode_segment

TEAM, CHANNEL, USER = "t" * 26, "c" * 26, "u" * 26
SCOPE = f"channel:{CHANNEL}"
WRITE_BATCH = 1000
MB = 1024 * 1024


def line(label: str, value: str) -> None:
    print(f"  {label:<52} {value}")


def mesh_pair(root: Path) -> tuple[Path, Path]:
    a, b = root / "a", root / "b"
    authority = init_mesh(a, "bench")
    token, _ = create_invite(authority)
    join_mesh(b, token)
    return a, b


async def write_posts(node: Node, rng: random.Random, n: int) -> None:
    if not await node.store.fetchone("SELECT 1 FROM channels WHERE id = ?", (CHANNEL,)):
        await node.store.write("directory", [
            Create("team", TEAM, {"name": "bench", "display_name": "Bench", "type": "O"}),
            Create("channel", CHANNEL, {"team_id": TEAM, "type": "O", "name": "town-square"}, deps=[("team", TEAM)]),
        ])
    now = int(time.time() * 1000)
    for start in range(0, n, WRITE_BATCH):
        await node.store.write(SCOPE, [Create("post", new_id(rng), post_fields(rng, CHANNEL, USER, now),
                                              deps=[("channel", CHANNEL)]) for _ in range(min(WRITE_BATCH, n - start))])


async def write_files(node: Node, rng: random.Random, total_bytes: int, size: int = 8 * MB) -> None:
    """Attachments of random (incompressible) bytes, each named by a file row in the channel."""
    written = 0
    while written < total_bytes:
        data = rng.randbytes(min(size, total_bytes - written))
        blob = await node.services.files.blobs.put(io.BytesIO(data), len(data))
        await node.store.write(SCOPE, [Create("file", new_id(rng), {
            "channel_id": CHANNEL, "user_id": USER, "name": "data.bin", "size": len(data),
            "mime_type": "application/octet-stream", "content_hash": blob.content_hash, "create_at": 1,
            "update_at": 1, "delete_at": 0}, deps=[("channel", CHANNEL)])])
        written += len(data)


async def settle(running: set[asyncio.Task[object]]) -> None:
    """Let what applying foreign ops set off (the names service's pass) end before the node closes."""
    started = asyncio.all_tasks() - running
    if started:
        await asyncio.wait(started, timeout=10)


async def export_to(a: Path, out: Path) -> tuple[float, int]:
    async with open_node(a) as node:
        started = time.perf_counter()
        with bundle_file(out) as file:
            summary = await export_bundle(node.store, require_mesh(a), node.services.files.blobs, file,
                                          ExportRequest(), now_ms=int(time.time() * 1000))
        return time.perf_counter() - started, summary.end.ops


async def payload(a: Path) -> tuple[int, int, list[bytes]]:
    """(op body bytes, signed op bytes, encoded segments) of everything node `a` holds."""
    body = signed = 0
    segments: list[bytes] = []
    async with open_node(a) as node:
        for feed, head in (await node.store.heads()).items():
            after = 0
            while after < head.seq:
                ops = await node.store.segment(feed, after, 1000)
                body += sum(len(op.body) for op in ops)
                signed += sum(len(op.to_bytes()) for op in ops)
                segments.append(encode_segment(ops))
                after = ops[-1].seq
    return body, signed, segments


async def from_memory(root: Path, segments: list[bytes]) -> float:
    """The receiving node's apply path alone: the same segments applied from memory."""
    _, b = mesh_pair(root)
    async with open_node(b) as node:
        started = time.perf_counter()
        running = asyncio.all_tasks()
        for data in segments:
            await node.store.apply_bytes(data)
        elapsed = time.perf_counter() - started
        await settle(running)
        return elapsed


async def from_memory_at_once(root: Path, segments: list[bytes]) -> float:
    """The receiving node's apply path in one transaction, as an import applies: the bundle's own cost is the rest."""
    _, b = mesh_pair(root)
    decoded = [decode_segment(data) for data in segments]
    async with open_node(b) as node:
        running = asyncio.all_tasks()
        started = time.perf_counter()
        await node.store.apply_all(lambda: iter(decoded))
        elapsed = time.perf_counter() - started
        await settle(running)
        return elapsed


async def raw_inserts(a: Path, folder: Path) -> tuple[float, int]:
    async with open_node(a) as node:
        rows = await node.store.fetchall("SELECT feed, seq, prev, hlc, body, sig FROM ops")
        posts = await node.store.fetchall(f"SELECT id, {', '.join(POST_COLUMNS)}, _stamp FROM posts")
    conn = raw_connect(folder / "raw.db")
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO ops (feed, seq, prev, hlc, body, sig) VALUES (?, ?, ?, ?, ?, ?)", [tuple(r) for r in rows])
    conn.executemany(f"INSERT INTO posts (id, {', '.join(POST_COLUMNS)}, _stamp) VALUES "
                     f"({', '.join('?' * (len(POST_COLUMNS) + 2))})", [tuple(p) for p in posts])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, len(rows)


async def import_into(b: Path, bundle: Path) -> tuple[float, int]:
    async with open_node(b) as node:
        running = asyncio.all_tasks()
        started = time.perf_counter()
        summary = await import_bundle(node.store, require_mesh(b), node.services.files.blobs, bundle)
        elapsed = time.perf_counter() - started
        await settle(running)
        return elapsed, summary.applied


_MEASURE = ("import os, subprocess, sys, time; t = time.perf_counter(); "
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "u = __import__('resource').getrusage(__import__('resource').RUSAGE_CHILDREN); "
            "print(p.returncode, u.ru_maxrss, time.perf_counter() - t)")


def child_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child process, started from a small wrapper process: a child
    forked from this (large) process would inherit its peak RSS into ru_maxrss."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, check=True)
    code, rss_kb, seconds = out.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(args)} failed: {out.stderr}")
    return int(rss_kb) / 1024, float(seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 posts and a 64 MB large import")
    parser.add_argument("--large-mb", type=int, default=1024, help="size of the large import's bundle")
    args = parser.parse_args()
    posts, large_mb = (10_000, 64) if args.quick else (args.posts, args.large_mb)
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        root = Path(tmp)
        a, b = mesh_pair(root / "mesh")
        async with open_node(a) as node:
            await write_posts(node, rng, posts)
        bundle = root / "posts.bundle"
        seconds, ops = await export_to(a, bundle)
        size = bundle.stat().st_size
        body, signed, segments = await payload(a)
        print(f"1.  export of {ops:,} ops ({posts:,} posts) into a public bundle")
        line("export", f"{ops / seconds:,.0f} ops/s, {size / MB / seconds:.1f} MB/s of bundle, {seconds:.2f} s")
        line("bundle bytes per op", f"{size / ops:.1f} B")
        line("  beside the raw payload (op bodies)", f"{body / ops:.1f} B ({size / body:.2f}x)")
        line("  beside the ops as signed (bodies, signatures, links)", f"{signed / ops:.1f} B ({size / signed:.2f}x)")

        seconds, applied = await import_into(b, bundle)
        memory = await from_memory(root / "memory", segments)
        at_once = await from_memory_at_once(root / "at-once", segments)
        raw, rows = await raw_inserts(a, root)
        rate = applied / seconds
        print(f"2.  import of that bundle into another node of the mesh (verify all, then apply in one transaction)")
        line("import", f"{rate:,.0f} ops/s, {size / MB / seconds:.1f} MB/s of bundle, {seconds:.2f} s")
        line("  baseline: same node applying from memory", f"{applied / memory:,.0f} ops/s ({memory / seconds:.2f}x)")
        line("  baseline: same, in one transaction (Store.apply_all)", f"{applied / at_once:,.0f} ops/s "
                                                                        f"({at_once / seconds:.2f}x)")
        line("  baseline: raw sqlite3, one transaction", f"{rows / raw:,.0f} rows/s ({raw / seconds:.3f}x)")
        shutil.rmtree(root / "memory", ignore_errors=True)
        shutil.rmtree(root / "at-once", ignore_errors=True)

        print(f"3.  peak RSS of a large import ({large_mb} MB bundle: posts and attachments), child process")
        big_a, big_b = mesh_pair(root / "large")
        async with open_node(big_a) as node:
            await write_posts(node, rng, posts)
            await write_files(node, rng, large_mb * MB)
        large = root / "large.bundle"
        await export_to(big_a, large)
        edgenode = [sys.executable, "-m", "edgenode"]
        baseline, _ = child_rss_mb([sys.executable, "-c", "import edgenode.cli"])
        rss, seconds = child_rss_mb([*edgenode, "bundle", "import", "--data", str(big_b), str(large)])
        line("bundle size", f"{large.stat().st_size / MB:,.0f} MB")
        line("import peak RSS", f"{rss:.0f} MB in {seconds:.1f} s ({large.stat().st_size / MB / seconds:.0f} MB/s)")
        line("  baseline: python importing the node's modules", f"{baseline:.0f} MB (import adds {rss - baseline:.0f} MB)")
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    asyncio.run(main())
