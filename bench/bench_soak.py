"""Memory under sustained load: three meshed `edgenode serve` processes taking posts at a fixed rate.

    python bench/bench_soak.py [--minutes 10] [--rate 20] [--warmup 60] [--tracemalloc DIR]

Three real nodes form one mesh (`mesh init` on the first, `mesh invite` / `mesh join` for the
others), each dialing the other two over mesh TLS on loopback. The first node's admin logs in on
every node (so every node hosts it) and posts to a public channel at a fixed rate, round robin
over the nodes that are up. Halfway through, the third node is SIGKILLed and restarted a few
seconds later. When the load stops the bench waits for equal digests, then checks that every
post a node acknowledged (201) is on every node.

RSS (VmRSS from /proc/<pid>/status) is sampled every few seconds; printed: per node at the end
of warm-up ("start"), just before the kill ("middle") and when the load stops ("end"), and the
growth from start to end. The restarted node's RSS starts again from a fresh process; its
growth is measured from its own warm-up after the restart.

What RSS holds beyond Python objects: SQLite's page caches, the writer's up to 16 MiB and each
reader's up to 2 MiB, which fill with the store's pages as it grows; on a fresh store RSS follows
the store's size (printed at the end) until the store outgrows them. --writer-cache-kib runs the
writer with a smaller cache (a diagnostic) to show what grows besides.

With --tracemalloc DIR the nodes start tracemalloc at the "start" mark and write the live
allocation sites traced since (by line, 10 frames) to DIR/<node>.<n>.txt (and .snap) at each
later mark, so what is still held at the end was allocated during the load.

Machines running this are shared and noisy: the rate is fixed, so RSS growth is what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

try:
    import edgenode  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgenode.config import STORE_FILE
from edgenode.schema import SCHEMA
from edgenode.store.materialize import digest_queries
from sync import encoding

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "admin-password-1"
SAMPLE_EVERY_S = 5.0
RESTART_AFTER_S = 5.0

# Runs `edgenode` in the node process. With EDGENODE_SOAK_TRACEMALLOC set, the first SIGUSR1
# starts tracemalloc (tracing from startup slows a node several-fold) and each later one writes
# the live allocation sites traced since then (a plain signal handler: it runs on the main thread,
# between the event loop's callbacks).
NODE_MAIN = """
import os, signal, sys, tracemalloc
out = os.environ.get("EDGENODE_SOAK_TRACEMALLOC")
if out:
    count = [0]
    def dump(signum, frame):
        if not tracemalloc.is_tracing():
            tracemalloc.start(10)
            return
        count[0] += 1
        snap = tracemalloc.take_snapshot()
        snap.dump(f"{out}.{count[0]}.snap")
        with open(f"{out}.{count[0]}.txt", "w") as f:
            f.write(f"traced {tracemalloc.get_traced_memory()}\\n")
            for stat in snap.statistics("lineno")[:60]:
                f.write(f"{stat}\\n")
    signal.signal(signal.SIGUSR1, dump)
cache_kib = os.environ.get("EDGENODE_SOAK_WRITER_CACHE_KIB")
if cache_kib:  # a diagnostic: the writer's page cache at another size than the store's 16 MiB
    import edgenode.store.writer as writer
    connect = writer.connect
    def connect_with_cache(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        return conn
    writer.connect = connect_with_cache
from edgenode.cli import cli
cli(sys.argv[1:], prog_name="edgenode")
"""


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def edgenode(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "edgenode", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "EDGENODE_MDNS": "0"}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"edgenode {' '.join(args)}: {done.stderr}")
    return done.stdout


@dataclass
class Node:
    name: str
    data: Path
    port: int
    sync_port: int
    peers: list[int] = field(default_factory=list)
    tracemalloc: Path | None = None
    writer_cache_kib: int | None = None
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    acked: list[str] = field(default_factory=list)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, pid, KiB)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        env = {**os.environ, "EDGENODE_MDNS": "0", "PYTHONPATH": str(REPO)}
        if self.tracemalloc is not None:
            env["EDGENODE_SOAK_TRACEMALLOC"] = str(self.tracemalloc / self.name)
        if self.writer_cache_kib is not None:
            env["EDGENODE_SOAK_WRITER_CACHE_KIB"] = str(self.writer_cache_kib)
        args = ["serve", "--data", str(self.data), "--port", str(self.port), "--sync-host", "127.0.0.1",
                "--sync-port", str(self.sync_port), "--no-mdns",
                *(a for p in self.peers for a in ("--peer", f"127.0.0.1:{p}"))]
        log = (self.data.parent / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-c", NODE_MAIN, *args], cwd=REPO, env=env,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def sample(self, t: float) -> None:
        if self.up and self.process is not None:
            self.samples.append((t, self.process.pid, rss_kib(self.process.pid)))

    def dump(self) -> None:
        if self.tracemalloc is not None and self.up and self.process is not None:
            self.process.send_signal(signal.SIGUSR1)


async def wait_ready(http: httpx.AsyncClient, node: Node, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not node.up:
            raise RuntimeError(f"{node.name} exited: {(node.data.parent / f'{node.name}.log').read_text()[-2000:]}")
        try:
            if (await http.get(f"{node.url}/api/v4/system/ping")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{node.name} did not answer within {timeout} s")


async def login(http: httpx.AsyncClient, node: Node, timeout: float = 60) -> None:
    """Log the admin in on `node` (a joined node knows the admin once the directory has synced)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.post(f"{node.url}/api/v4/users/login", json={"login_id": "admin", "password": PASSWORD})
        if r.status_code == 200:
            node.token = r.headers["Token"]
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"admin login on {node.name}: {r.status_code} {r.text}")
        await asyncio.sleep(0.5)


def digest(node: Node) -> str:
    """The node's state digest (as Store.digest computes it), read from its store file read-only."""
    conn = sqlite3.connect(f"file:{node.data / STORE_FILE}?mode=ro", uri=True, timeout=30)
    try:
        h = hashlib.blake2b(digest_size=32)
        conn.execute("BEGIN")
        for label, sql in digest_queries(SCHEMA):
            h.update(encoding.pack(label))
            for row in conn.execute(sql):
                values = tuple(row)
                if label.startswith("entity:") and values[1]:
                    values = values[:2]
                h.update(encoding.pack(list(values)))
        conn.execute("COMMIT")
        return h.hexdigest()
    finally:
        conn.close()


def present(node: Node, post_ids: list[str]) -> int:
    conn = sqlite3.connect(f"file:{node.data / STORE_FILE}?mode=ro", uri=True, timeout=30)
    try:
        held = {row[0] for row in conn.execute("SELECT id FROM posts")}
    finally:
        conn.close()
    return sum(1 for p in post_ids if p in held)


async def setup(http: httpx.AsyncClient, nodes: list[Node]) -> str:
    """Start the three nodes; the admin and a team on the first; the admin logged in everywhere."""
    first = nodes[0]
    for node in nodes:
        node.start()
    for node in nodes:
        await wait_ready(http, node)
    r = await http.post(f"{first.url}/api/v4/users", json={"username": "admin", "email": "admin@example.com",
                                                            "password": PASSWORD})
    assert r.status_code == 201, r.text
    await login(http, first)
    auth = {"Authorization": f"Bearer {first.token}"}
    team = await http.post(f"{first.url}/api/v4/teams", headers=auth,
                           json={"name": "soak", "display_name": "Soak", "type": "O"})
    assert team.status_code == 201, team.text
    channel = await http.get(f"{first.url}/api/v4/teams/{team.json()['id']}/channels/name/town-square", headers=auth)
    assert channel.status_code == 200, channel.text
    for node in nodes[1:]:
        await login(http, node)
    return str(channel.json()["id"])


async def load(http: httpx.AsyncClient, nodes: list[Node], channel: str, rate: float, seconds: float,
               events: dict[float, object]) -> tuple[int, int]:
    """Post at `rate` per second for `seconds`, round robin over the nodes that are up; (sent, failed).

    `events` maps seconds since start to callables run then (kill, restart, RSS marks)."""
    started = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    sent = failed = 0
    due = sorted(events.items())

    async def post(node: Node, n: int) -> None:
        nonlocal failed
        try:
            r = await http.post(f"{node.url}/api/v4/posts", headers={"Authorization": f"Bearer {node.token}"},
                                json={"channel_id": channel, "message": f"soak post {n} to {node.name}"})
        except httpx.HTTPError:
            failed += 1
            return
        if r.status_code == 201:
            node.acked.append(str(r.json()["id"]))
        else:
            failed += 1

    n = 0
    while (elapsed := time.monotonic() - started) < seconds:
        while due and due[0][0] <= elapsed:
            result = due.pop(0)[1]()  # type: ignore[operator]
            if asyncio.iscoroutine(result):
                await result
        up = [node for node in nodes if node.up and node.token]
        if up and len(pending) < 200:
            task = asyncio.create_task(post(up[n % len(up)], n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        n += 1
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
    if pending:
        await asyncio.wait(pending)
    return sent, failed


def rss_at(node: Node, t: float, pid: int | None = None) -> int:
    """The last sample taken at or before `t` (of process `pid`, if given)."""
    best = 0
    for when, p, kib in node.samples:
        if when <= t and (pid is None or p == pid):
            best = kib
    return best


async def run(minutes: float, rate: float, warmup: float, tracemalloc: Path | None, keep: bool,
              writer_cache_kib: int | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    names = ("n1", "n2", "n3")
    sync_ports = [free_port() for _ in names]
    nodes = [Node(name, tmp / name, free_port(), sync_ports[i], [p for j, p in enumerate(sync_ports) if j != i],
                  tracemalloc, writer_cache_kib) for i, name in enumerate(names)]
    edgenode("mesh", "init", "--name", "soak", "--data", str(nodes[0].data))
    for node in nodes[1:]:
        token = edgenode("mesh", "invite", "--data", str(nodes[0].data)).strip()
        edgenode("mesh", "join", token, "--data", str(node.data))
    seconds = minutes * 60
    print(f"edgenode soak benchmark: 3 nodes, {rate:g} posts/s for {seconds:.0f} s (warm-up {warmup:.0f} s), "
          f"{nodes[2].name} killed at {seconds / 2:.0f} s; writer page cache "
          f"{f'{writer_cache_kib} KiB' if writer_cache_kib else 'as the store sets it'}; python {sys.version.split()[0]}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    sampler: asyncio.Task[None] | None = None
    try:
        async with httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=60)) as http:
            channel = await setup(http, nodes)
            t0 = time.monotonic()

            async def sample_forever() -> None:
                while True:
                    for node in nodes:
                        node.sample(time.monotonic() - t0)
                    await asyncio.sleep(SAMPLE_EVERY_S)

            sampler = asyncio.create_task(sample_forever())
            victim = nodes[2]
            marks: dict[str, float] = {}

            def mark(label: str) -> object:
                def run_mark() -> None:
                    marks[label] = time.monotonic() - t0
                    for node in nodes:
                        node.sample(marks[label])
                        node.dump()
                    print(f"  {marks[label]:6.0f} s  {label}: " + "  ".join(
                        f"{n.name} {rss_at(n, marks[label]) / 1024:.1f} MiB" for n in nodes), flush=True)
                return run_mark

            def kill() -> None:
                assert victim.process is not None
                victim.process.send_signal(signal.SIGKILL)
                victim.process.wait()
                print(f"  {time.monotonic() - t0:6.0f} s  {victim.name} SIGKILLed", flush=True)

            async def restart() -> None:
                victim.start()
                await wait_ready(http, victim)
                marks["restarted"] = time.monotonic() - t0
                print(f"  {marks['restarted']:6.0f} s  {victim.name} restarted", flush=True)

            events: dict[float, object] = {
                warmup: mark("start"),
                seconds / 2 - 0.01: mark("middle"),
                seconds / 2: kill,
                seconds / 2 + RESTART_AFTER_S: restart,
                min(seconds - 1, seconds / 2 + RESTART_AFTER_S + warmup): mark("restarted + warm-up"),
            }
            sent, failed = await load(http, nodes, channel, rate, seconds, events)
            mark("end")()
            elapsed = time.monotonic() - t0
            acked = [p for node in nodes for p in node.acked]
            print(f"posts: {sent} sent, {len(acked)} acknowledged, {failed} refused or lost in flight "
                  f"(the killed node's); achieved {sent / elapsed:.1f}/s", flush=True)

            converge_started = time.monotonic()
            digests: list[str] = []
            while time.monotonic() - converge_started < 300:
                digests = [digest(node) for node in nodes]
                if len(set(digests)) == 1:
                    break
                await asyncio.sleep(1)
            converged = time.monotonic() - converge_started
            mark("converged")()
    finally:
        if sampler is not None:
            sampler.cancel()
        for node in nodes:
            node.stop()

    missing = {node.name: len(acked) - present(node, acked) for node in nodes}
    print(f"digests equal: {len(set(digests)) == 1} (after {converged:.1f} s); acknowledged posts missing: {missing}")
    # the writer's page cache (64 MiB) and each reader's (2 MiB) fill with the pages the load
    # touches: while the store is smaller than the cache, RSS follows the store's size
    sizes = ", ".join(f"{n.name} {(n.data / STORE_FILE).stat().st_size / 2**20:.1f} MiB" for n in nodes)
    print(f"store files: {sizes}")
    print(f"RSS (MiB){'':14}{'start':>8}{'middle':>8}{'end':>8}{'growth start->end':>20}")
    for node in nodes:
        start, middle, end = (rss_at(node, marks[k]) / 1024 for k in ("start", "middle", "end"))
        if node is nodes[2]:
            pid = node.samples[-1][1]
            restarted = rss_at(node, marks.get("restarted + warm-up", marks["end"]), pid) / 1024
            print(f"  {node.name} (first process){'':2}{start:8.1f}{middle:8.1f}{'-':>8}"
                  f"{(middle - start) / start * 100:+19.1f}% (to middle)")
            print(f"  {node.name} (restarted){'':6}{restarted:8.1f}{'':8}{end:8.1f}"
                  f"{(end - restarted) / restarted * 100:+19.1f}% (from its warm-up)")
        else:
            print(f"  {node.name}{'':19}{start:8.1f}{middle:8.1f}{end:8.1f}{(end - start) / start * 100:+19.1f}%")
    print(f"load average now {os.getloadavg()[0]:.2f}; data in {tmp}" if keep else "")
    if not keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load lasts (default 10)")
    parser.add_argument("--rate", type=float, default=20.0, help="posts per second over all nodes (default 20)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the start RSS mark (default 60)")
    parser.add_argument("--tracemalloc", type=Path, help="run nodes under tracemalloc, snapshots into this folder")
    parser.add_argument("--writer-cache-kib", type=int,
                        help="diagnostic: run the store's writer with this page cache size instead of its own")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' data folder and logs")
    args = parser.parse_args()
    if args.tracemalloc:
        args.tracemalloc.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.minutes, args.rate, min(args.warmup, args.minutes * 60 / 4), args.tracemalloc, args.keep,
                    args.writer_cache_kib))


if __name__ == "__main__":
    main()
