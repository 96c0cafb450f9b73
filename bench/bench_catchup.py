"""Whole-node catch-up through a real `edgenode sync` process, beside raw executemany of the same rows.

    python bench/bench_catchup.py [--posts N ...] [--quick] [--profile DIR]

A mesh of two real nodes made by the CLI (`mesh init`, `mesh invite`, `mesh join`): the authority's
store is filled with N posts (default 10,000 then 100,000, so growth shows), the authority runs
as `edgenode serve`, and the fresh member runs `edgenode sync HOST:PORT` once: mutual TLS 1.3,
admission and need-to-know on both ends, the member's whole node (search, mention and hashtag
indexes) as the target. Timed: the sync as the CLI reports it (dial to hang-up), and the whole
process (interpreter start, opening the store, the sync, closing). The baseline is raw executemany
of every op and post row the member ends up with into an empty whole node, in one transaction
(bench_store.raw_bulk), measured in the same run. After the sync the two nodes' digests must match.

--profile DIR records the `edgenode sync` process and the serving authority with py-spy (pip install
py-spy) and writes DIR/catchup-<N>.txt and DIR/catchup-<N>-server.txt: the top functions by own and
by total samples.

Machines running this are shared and noisy: compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import sync  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_mesh_sync import print_growth, raw_rate  # type: ignore[import-not-found]
from bench_soak import digest, free_port  # type: ignore[import-not-found]
from bench_sync import held_ops, line, write_posts  # type: ignore[import-not-found]

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.mesh import require_mesh
from edgenode.peering.trust import publish_enrolment
from edgenode.schema import SCHEMA
from edgenode.store import Store

REPO = Path(__file__).resolve().parents[1]
TARGET_RATE = 20_000
_ENV = {**os.environ, "EDGENODE_MDNS": "0", "PYTHONPATH": str(REPO)}
_SYNCED = re.compile(r"in ([0-9.]+) s: sent (\d+) ops .* received (\d+) ops .*; (\d+) bytes on the wire")


def edgenode(*args: str, timeout: float = 120) -> str:
    done = subprocess.run([sys.executable, "-m", "edgenode", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=_ENV, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"edgenode {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


async def fill(data: Path, posts: int) -> tuple[float, float, int]:
    """Write `posts` posts into the authority's store; (seconds to write, raw rows/s baseline, ops held)."""
    mesh = require_mesh(data)
    rng = random.Random(11)
    store = Store(data / STORE_FILE, SCHEMA, load_or_create_identity(data), migrations=LOCAL_MIGRATIONS)
    await store.open()
    try:
        await publish_enrolment(store, mesh, now_ms=int(time.time() * 1000))
        started = time.perf_counter()
        await write_posts(store, rng, posts)
        written = time.perf_counter() - started
        raw = await raw_rate(store, data.parent)
        return written, raw, await held_ops(store)
    finally:
        await store.close()


def wait_sync_port(port: int, server: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Until the served node accepts connections on its sync port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"edgenode serve exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"edgenode serve did not listen on {port} within {timeout} s")


def summarize_profile(raw: Path, out: Path, top: int = 25) -> None:
    """py-spy's raw (collapsed stack) output into the top functions by own and by total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for text in raw.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = [re.sub(r" \(.*?/(?=[^/]*$)", " (", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    with out.open("w") as f:
        f.write(f"{samples} samples (all threads, busy samples only)\n\nby own samples:\n")
        for frame, n in own.most_common(top):
            f.write(f"  {100 * n / samples:5.1f}%  {frame}\n")
        f.write("\nby total samples (the frame or anything it called):\n")
        for frame, n in total.most_common(top):
            f.write(f"  {100 * n / samples:5.1f}%  {frame}\n")


def run(posts: int, profile: Path | None) -> float:
    """Prints the figures at `posts`; returns the sync's ops/s as the CLI reports its time."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        authority, member = tmp / "authority", tmp / "member"
        edgenode("mesh", "init", "--name", "bench", "--data", str(authority))
        token = edgenode("mesh", "invite", "--data", str(authority)).strip()
        edgenode("mesh", "join", token, "--data", str(member))
        written, raw_before, held = asyncio.run(fill(authority, posts))
        print(f"edgenode catch-up benchmark (real processes): {held:,} ops ({posts:,} posts, written in "
              f"{written:.1f} s), python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}", flush=True)

        sync_port = free_port()
        log = (tmp / "authority.log").open("ab")
        server = subprocess.Popen(
            [sys.executable, "-m", "edgenode", "serve", "--data", str(authority), "--port", str(free_port()),
             "--sync-host", "127.0.0.1", "--sync-port", str(sync_port), "--no-mdns"],
            cwd=REPO, env=_ENV, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_sync_port(sync_port, server, tmp / "authority.log")

        command = [sys.executable, "-m", "edgenode", "sync", "--data", str(member), f"127.0.0.1:{sync_port}",
                   "--timeout", "60"]
        raw_profile = tmp / "profile.txt"
        if profile is not None:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            command = [py_spy, "record", "--threads", "--rate", "200", "--format", "raw",
                       "--output", str(raw_profile), "--", *command]
        server_spy: subprocess.Popen[bytes] | None = None
        if profile is not None:
            server_spy = subprocess.Popen([py_spy, "record", "--threads", "--rate", "200", "--format", "raw",
                                           "--output", str(tmp / "server-profile.txt"), "--pid", str(server.pid)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)  # py-spy attaches
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=REPO, env=_ENV, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"edgenode sync failed: {done.stderr.strip()}")
        match = _SYNCED.search(done.stdout)
        if match is None:
            raise RuntimeError(f"unexpected output of edgenode sync: {done.stdout!r}")
        seconds, received, wire = float(match[1]), int(match[3]), int(match[4])
        if server_spy is not None:
            server_spy.send_signal(signal.SIGINT)  # py-spy writes what it recorded and exits
            server_spy.wait(60)
        server.terminate()
        server.wait(30)
        server = None
        same = digest_of(authority) == digest_of(member)

        raw_after = asyncio.run(raw_member_rate(member, tmp))
        raw = (raw_before + raw_after) / 2
        rate = received / seconds
        line("catch-up via `edgenode sync` (CLI's time)", f"{rate:,.0f} ops/s ({received:,} ops in {seconds:.2f} s)   "
             f"target >= {TARGET_RATE:,}  {'OK' if rate >= TARGET_RATE else 'BELOW TARGET'}")
        line("  the whole process, start to exit", f"{received / wall:,.0f} ops/s ({wall:.2f} s)")
        line("  baseline: raw executemany, whole node, 1 txn", f"{raw:,.0f} rows/s (mean of before and after; "
             f"{rate / raw:.2f}x)")
        line("bytes on the wire per op (TLS records included)", f"{wire / received:.1f} B")
        line("digests equal after the sync", "yes" if same else "NO")
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            summarize_profile(raw_profile, profile / f"catchup-{posts}.txt")
            summarize_profile(tmp / "server-profile.txt", profile / f"catchup-{posts}-server.txt")
            line("profiles", f"{profile}/catchup-{posts}.txt and -server.txt (the served authority)")
        if not same:
            raise RuntimeError("the member's digest differs from the authority's after the sync")
        return rate
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def digest_of(data: Path) -> str:
    class _Node:  # bench_soak.digest reads only .data
        pass
    node = _Node()
    node.data = data  # type: ignore[attr-defined]
    return digest(node)  # type: ignore[no-any-return]


async def raw_member_rate(member: Path, folder: Path) -> float:
    store = Store(member / STORE_FILE, SCHEMA, load_or_create_identity(member), migrations=LOCAL_MIGRATIONS)
    await store.open()
    try:
        return await raw_rate(store, folder)  # type: ignore[no-any-return]
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--quick", action="store_true", help="10,000 posts")
    parser.add_argument("--profile", type=Path, help="py-spy the sync process; summaries into this folder")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else args.posts
    print_growth(sizes, [run(n, args.profile) for n in sizes])


if __name__ == "__main__":
    main()
