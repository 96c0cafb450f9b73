"""HTTP API benchmarks against a real `edgenode serve` subprocess, driven by wrk.

    python bench/bench_api.py [--quick] [--posts N] [--seconds S] [--dir DIR]

Needs `wrk` on PATH (Debian: apt-get install wrk). wrk2 is not packaged in Debian, so the
fixed-rate measurement uses an open-loop asyncio client with keep-alive connections instead.

Every write rate is printed as a ratio to the bare stack (bench/bare_stack.py: Starlette + uvicorn
on the node's server libraries, JSON in, msgpack op, ed25519 signature, blake2b link, group commit
of op and row with WAL and synchronous=FULL, 201 out), served from the same disk and measured in the
same run, just before the node at each client count; with server CPU per request for both.

1. POST /api/v4/posts throughput and p50/p99 latency, wrk closed loop with 1 and 16 connections,
   bare stack then node; target >= 0.5 x the bare stack at 16 (issue 9).
2. p99 latency at a fixed 200 posts/s, measured from each request's scheduled send time (so a
   stalled server cannot hide its queue); target p99 < 20 ms.
3. Reading a channel of --posts posts (per_page=60): the newest page, and a `before` page deep in
   history (90% of the way back).
4. Search p95 over those posts (POST /teams/{id}/posts/search, one client, rotating terms);
   target p95 < 50 ms. Prints "search: not available" when the server has no search route.
5. Bytes on disk per post: store file + WAL after a checkpoint, over every post in the store;
   target <= 800 bytes/post.

The posts behind 3-5 are seeded through the store directly (signed ops, Store.write in batches of
1,000) before the server starts, which is far faster than HTTP. Machines running this are shared
and noisy; compare figures with the baseline taken in the same run (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The real-process server harness lives with the tests; the checkout goes first so that the
# tests' own crdt/ folder never shadows the crdt package.
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

import httpx
from bench_store import db_bytes, post_row, raw_connect, raw_single_rows, table_bytes
from support.server_process import ADMIN_PASSWORD, ServerProcess, edgenode_server, free_port

from crdt import Create
from edgenode.config import STORE_FILE
from edgenode.ids import new_id
from edgenode.node import open_node
from edgenode.services import Session
from edgenode.services.context import channel_scope

SEED_BATCH = 1000
FIXED_RATE = 200
TARGET_BARE_RATIO = 0.5  # of the bare stack's rate at 16 clients
TARGET_P99_MS = 20.0
TARGET_SEARCH_P95_MS = 50.0
TARGET_BYTES_PER_POST = 800

# Messages: common operational words plus a long tail of rarer ones (Zipf-like), so searches
# range from very selective to matching thousands of posts, as in a real channel.
_COMMON = ["the", "a", "to", "is", "on", "in", "ok", "ack", "deploy", "rollback", "incident", "alert", "latency", "database", "replica", "failover", "restart", "node", "disk", "full", "runbook", "owner", "status", "update", "customer", "impact", "mitigated", "resolved"]
_RARE = [f"{a}{b}" for a in ("gen", "fuel", "pump", "sat", "radio", "truck", "tent", "water", "med", "grid")
         for b in ("ator", "line", "station", "link", "mast", "bay", "site", "kit", "cell", "way")]
_SEARCH_TERMS = ["generator", "fuelline", "pumpstation", "radiomast", "waterkit", "medcell", "deploy rollback",
                 "incident", "gridway", "satlink", "truckbay", "tentsite", "failover replica", "\"disk full\"",
                 "runbook", "fuel*", "customer impact", "gensite", "waterway", "radiolink"]


def message(rng: random.Random) -> str:
    words = [rng.choice(_COMMON) if rng.random() < 0.8 else rng.choice(_RARE) for _ in range(rng.randint(4, 24))]
    if rng.random() < 0.01:
        words.append("generator")
    return " ".join(words)


# -- output ------------------------------------------------------------------------------------


def row(label: str, value: str) -> None:
    print(f"  {label:<46} {value}", flush=True)


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def ms(us: float) -> str:
    return f"{us / 1000:.1f} ms"


# -- seeding through the store -----------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    team_id: str
    history: str  # the big channel
    load: str  # the channel the write benchmarks post into
    deep_post: str  # a post 90% of the way back in history
    posts: int
    seconds: float


async def seed(data_dir: Path, n_posts: int) -> Seeded:
    """An admin, a team, a `history` channel holding n_posts posts, and a `load` channel."""
    rng = random.Random(7)
    async with open_node(data_dir) as node:
        svc = node.services
        admin = await svc.users.create({"username": "admin", "email": "admin@example.com", "password": ADMIN_PASSWORD})
        actor = Session("seed", "", admin["id"], admin["roles"])
        team = await svc.teams.create({"name": "bench", "display_name": "Bench", "type": "O"}, actor)
        channel = {"team_id": team["id"], "type": "O"}
        history = await svc.channels.create({**channel, "name": "history", "display_name": "History"}, actor)
        load = await svc.channels.create({**channel, "name": "load", "display_name": "Load"}, actor)
        scope = channel_scope(history["id"])
        first_ms = int(time.time() * 1000) - n_posts - 86_400_000
        deep_index = n_posts // 10
        deep_post = ""
        start = time.perf_counter()
        for batch_start in range(0, n_posts, SEED_BATCH):
            ops = []
            for i in range(batch_start, min(batch_start + SEED_BATCH, n_posts)):
                post_id = new_id()
                if i == deep_index:
                    deep_post = post_id
                at = first_ms + i
                ops.append(Create("post", post_id, {"channel_id": history["id"], "user_id": admin["id"],
                                                    "message": message(rng), "create_at": at},  # as PostService writes
                                  deps=[("channel", history["id"])]))
            await node.store.write(scope, ops)
        seconds = time.perf_counter() - start
    return Seeded(team["id"], history["id"], load["id"], deep_post, n_posts, seconds)


# -- the raw sqlite3 baseline -------------------------------------------------------------------


def raw_insert_rate(directory: Path, budget_s: float) -> float:
    """Durable single-row inserts per second into a posts-like table, one transaction each."""
    path = directory / "raw-baseline.db"
    conn = raw_connect(path)
    rng = random.Random(3)
    inserted, spent = 0, 0.0
    try:
        while spent < budget_s:
            rows = [post_row(new_id(), {"channel_id": "c" * 26, "user_id": "u" * 26, "message": message(rng),
                                        "create_at": 1, "update_at": 1}, bytes(16)) for _ in range(100)]
            spent += raw_single_rows(conn, rows)
            inserted += len(rows)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return inserted / spent


# -- wrk ---------------------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _lua_headers(token: str) -> str:
    return (f'wrk.headers["Authorization"] = "Bearer {token}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n')


def post_script(token: str, channel_id: str) -> str:
    return _lua_headers(token) + f"""
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{{"channel_id":"{channel_id}","message":"load test message %d from wrk, about the generator"}}', counter)
  return wrk.format("POST", "/api/v4/posts", nil, body)
end
""" + _WRK_DONE


def get_script(token: str) -> str:
    return _lua_headers(token) + _WRK_DONE


def search_script(token: str, team_id: str, terms: Sequence[str]) -> str:
    bodies = ",\n  ".join(json.dumps(json.dumps({"terms": t, "is_or_search": False, "page": 0, "per_page": 60}))
                          for t in terms)
    return _lua_headers(token) + f"""
local bodies = {{
  {bodies}
}}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/api/v4/teams/{team_id}/posts/search", nil, bodies[i])
end
""" + _WRK_DONE


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_us: float
    p95_us: float
    p99_us: float
    max_us: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, script: str, work: Path, *, connections: int, seconds: float) -> WrkResult:
    path = work / "wrk.lua"
    path.write_text(script)
    threads = min(connections, 2)
    duration = f"{max(1, round(seconds))}s"  # wrk reads whole seconds only ("2.5s" is an error)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", duration, "--timeout", "10s",
                          "-s", str(path), url], capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(data["requests"], data["duration_us"] / 1e6, data["status_errors"] + data["socket_errors"],
                     data["p50_us"], data["p95_us"], data["p99_us"], data["max_us"])


# -- the paced client --------------------------------------------------------------------------


class _Pool:
    """Keep-alive HTTP/1.1 connections speaking just enough HTTP for this benchmark.

    A hand-rolled client rather than httpx: on a small shared machine httpx's per-request CPU
    cost competes with the server under test and shows up as server latency.
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def request(self, raw: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        writer.write(raw)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (header := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


def _post_request(port: int, token: str, channel_id: str, text: str) -> bytes:
    body = json.dumps({"channel_id": channel_id, "message": text}).encode()
    return (f"POST /api/v4/posts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def fixed_rate(server: ServerProcess, channel_id: str, rate: int, seconds: float) -> tuple[list[float], int, int]:
    """Send `rate` posts a second, each at its scheduled time whatever the server's state (open loop).

    Returns latencies in seconds from each request's scheduled send time to its answer, the number
    of non-201 answers, and how many connections were needed.
    """
    pool = _Pool("127.0.0.1", server.port)
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        status = await pool.request(_post_request(server.port, server.admin_token, channel_id, f"paced message {i}"))
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 201

    try:
        await asyncio.gather(*(one(i) for i in range(total)))
    finally:
        pool.close()
    return latencies, errors, pool.opened


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the bare stack ----------------------------------------------------------------------------


@contextmanager
def bare_stack(directory: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """bench/bare_stack.py serving on a free port with its database in `directory`; yields (url, process)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_stack.py"), "--port", str(port),
                                "--db", str(directory / "bare-stack.db")], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=url, timeout=2.0) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"bare stack exited: {process.stderr.read().decode() if process.stderr else ''}")
                try:
                    if http.get("/api/v4/system/ping").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("bare stack did not start")
                time.sleep(0.05)  # polling for readiness, not timing anything
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


# -- the run -----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_request_cpu(server: ServerProcess | subprocess.Popen[bytes], before: float, requests: int) -> str:
    """Server CPU per request: steadier than rates on a shared machine, and it bounds the rate one core allows."""
    pid = server.process.pid if isinstance(server, ServerProcess) else server.pid
    used_ms = (cpu_seconds(pid) - before) * 1000 / max(requests, 1)
    return f"server CPU {used_ms:.2f} ms/request (one core: {1000 / used_ms:,.0f}/s)" if used_ms > 0 else ""


async def slowest_queries(server: ServerProcess, team_id: str, terms: Sequence[str], rounds: int = 3) -> list[tuple[float, str]]:
    """Median latency (ms) of each search query, slowest first."""
    pool = _Pool("127.0.0.1", server.port)
    timings: list[tuple[float, str]] = []
    try:
        for term in terms:
            body = json.dumps({"terms": term, "is_or_search": False, "page": 0, "per_page": 60}).encode()
            raw = (f"POST /api/v4/teams/{team_id}/posts/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {server.admin_token}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            samples = []
            for _ in range(rounds):
                start = time.perf_counter()
                await pool.request(raw)
                samples.append((time.perf_counter() - start) * 1000)
            timings.append((sorted(samples)[rounds // 2], term))
    finally:
        pool.close()
    return sorted(timings, reverse=True)


def post_count(store_path: Path) -> int:
    conn = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])
    finally:
        conn.close()


def main(quick: bool, n_posts: int, seconds: float, directory: Path) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-api-", dir=directory))
    data_dir = work / "node"
    version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()[0]  # exits 1
    print(f"Edgenode API benchmark: `edgenode serve` subprocess, {version.split(' Copyright')[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; data in {work}")

    seeded = asyncio.run(seed(data_dir, n_posts))
    row(f"seeded {seeded.posts:,} posts (Store.write, {SEED_BATCH}/batch)",
        f"{seeded.seconds:.1f} s ({seeded.posts / seeded.seconds:,.0f} posts/s)")
    raw = raw_insert_rate(work, 1.0 if quick else 2.0)
    row("raw sqlite3 durable single-row inserts", f"{raw:,.0f} rows/s (WAL, synchronous=FULL, same disk)")

    with edgenode_server(data_dir) as server, bare_stack(work) as (bare_url, bare):
        url, token = server.base_url, server.admin_token

        print(f"\n1. POST /api/v4/posts, wrk closed loop, {seconds:g} s each, bare stack then node; "
              f"load average {os.getloadavg()[0]:.1f}")
        for connections in (1, 16):
            clients = f"{connections} client{'s' if connections > 1 else ''}"
            cpu = cpu_seconds(bare.pid)
            base = wrk(bare_url, post_script(token, seeded.load), work, connections=connections, seconds=seconds)
            row(f"{clients}, bare stack", f"{base.rate:,.0f} posts/s ({base.rate / raw:.2f} x raw), "
                                          f"p50 {ms(base.p50_us)}, p99 {ms(base.p99_us)}, errors {base.errors}")
            row("", per_request_cpu(bare, cpu, base.requests))
            cpu = cpu_seconds(server.process.pid)
            result = wrk(url, post_script(token, seeded.load), work, connections=connections, seconds=seconds)
            ratio = result.rate / base.rate
            target = f"  target >= {TARGET_BARE_RATIO:g} x bare: {verdict(ratio >= TARGET_BARE_RATIO)}" \
                if connections == 16 else ""
            row(f"{clients}, node", f"{result.rate:,.0f} posts/s ({ratio:.2f} x bare), p50 {ms(result.p50_us)}, "
                                    f"p99 {ms(result.p99_us)}, errors {result.errors}{target}")
            row("", per_request_cpu(server, cpu, result.requests))
        print(f"  load average after: {os.getloadavg()[0]:.1f}")

        print(f"\n2. fixed rate {FIXED_RATE} posts/s for {seconds:g} s (open loop, latency from scheduled send)")
        latencies, errors, connections = asyncio.run(fixed_rate(server, seeded.load, FIXED_RATE, seconds))
        p99 = percentile(latencies, 99) * 1000
        row(f"{len(latencies):,} posts over {connections} connections",
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms, "
            f"errors {errors}  target p99 < {TARGET_P99_MS:g} ms: {verdict(p99 < TARGET_P99_MS)}")

        read_s = max(2.0, seconds / 2)
        print(f"\n3. reading the {seeded.posts:,}-post channel, per_page=60, wrk 1 client, {read_s:g} s each")
        base = f"{url}/api/v4/channels/{seeded.history}/posts?per_page=60"
        for label, page_url in (("newest page", base),
                                (f"before= the post {seeded.posts * 9 // 10:,} back",
                                 f"{base}&before={seeded.deep_post}")):
            result = wrk(page_url, get_script(token), work, connections=1, seconds=read_s)
            row(label, f"{result.rate:,.0f} pages/s, p50 {ms(result.p50_us)}, p99 {ms(result.p99_us)}, "
                       f"errors {result.errors}")

        print(f"\n4. search over {seeded.posts:,} posts, wrk 1 client, {len(_SEARCH_TERMS)} rotating queries, {read_s:g} s")
        with server.client(token) as http:
            probe = http.post(f"/api/v4/teams/{seeded.team_id}/posts/search", json={"terms": "generator"})
        if probe.status_code in (404, 405, 501):
            row("search", "not available")
        else:
            cpu = cpu_seconds(server.process.pid)
            result = wrk(url, search_script(token, seeded.team_id, _SEARCH_TERMS), work, connections=1, seconds=read_s)
            row("POST /teams/{id}/posts/search",
                f"{result.rate:,.0f} searches/s, p50 {ms(result.p50_us)}, p95 {ms(result.p95_us)}, "
                f"p99 {ms(result.p99_us)}, errors {result.errors}  "
                f"target p95 < {TARGET_SEARCH_P95_MS:g} ms: {verdict(result.p95_us / 1000 < TARGET_SEARCH_P95_MS)}")
            row("", per_request_cpu(server, cpu, result.requests))
            slowest = asyncio.run(slowest_queries(server, seeded.team_id, _SEARCH_TERMS))
            row("slowest queries (median of 3)", ", ".join(f"{term!r} {t:.0f} ms" for t, term in slowest[:4]))

    store_path = data_dir / STORE_FILE
    size = db_bytes(store_path)
    posts = post_count(store_path)
    print("\n5. bytes on disk")
    row(f"store + WAL after checkpoint / {posts:,} posts",
        f"{size / posts:,.0f} bytes/post ({size / 1e6:,.1f} MB)  target <= {TARGET_BYTES_PER_POST}: "
        f"{verdict(size / posts <= TARGET_BYTES_PER_POST)}")
    for name, table_size in table_bytes(store_path, top=8):
        row(f"  {name}", f"{table_size / posts:,.0f} bytes/post")
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 posts and 3 s runs: a smoke test")
    parser.add_argument("--posts", type=int, default=None, help="posts in the big channel (default 100,000)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per write run (default 10)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the data goes")
    args = parser.parse_args()
    main(args.quick, args.posts or (20_000 if args.quick else 100_000), args.seconds or (3.0 if args.quick else 10.0),
         args.dir)
