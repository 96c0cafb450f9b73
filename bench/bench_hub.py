"""A hub serving many edge nodes that each sync every few seconds: sessions/s, p99 session time, hub CPU and RSS.

The hub is a real `edgenode serve --role hub` process (mesh TLS, admission, need-to-know, its SQLite
store). The edges are simulated cheaply, all in this process: each has its own node key and mesh
certificate and a small in-memory feed store; every `--interval` seconds it writes a post to the
mesh's public channel with probability `--post-chance`, then runs one one-shot session with the hub
(dial, TLS, handshake, reconciliation, segments both ways: it also receives every other edge's new
posts, one segment per feed that moved). Edges start spread over the first interval, as real ones
would. With `--post-chance 0` the edges are in sync and each session is a reconciliation only.

Baseline, measured in the same run: one edge syncing alone with the idle hub (median of 20
sessions). The figure is the p99 session time under load, and its ratio to that baseline.

    .venv/bin/python bench/bench_hub.py [--edges 200] [--interval 5] [--duration 60] [--post-chance 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from crdt import Create, Stamp  # noqa: E402
from edgenode.mesh import Mesh, init_mesh  # noqa: E402
from edgenode.node import open_node  # noqa: E402
from edgenode.store.writer import RemoteResult  # noqa: E402
from sync import GENESIS, FeedHead, FeedId, SignedOp, Signer, encode_op  # noqa: E402
from sync.manager import PeerAddress, tcp_dialer  # noqa: E402
from sync.mesh import issue_node_certificate, node_key_pem  # noqa: E402
from sync.peer import PeerSession, SessionConfig, mesh_tag  # noqa: E402
from sync.tls import client_context  # noqa: E402

TEAM, CHANNEL = "t" * 26, "c" * 26
SCOPE = f"channel:{CHANNEL}"
TARGET_P99_S = 1.0


class MemoryFeeds:
    """An edge's store, in memory: whole feeds, contiguous; enough of a LiveFeedStore for a one-shot session."""

    def __init__(self) -> None:
        self.feeds: dict[FeedId, list[SignedOp]] = {}

    async def heads(self) -> dict[FeedId, FeedHead]:
        return {feed: FeedHead(ops[-1].seq, ops[-1].link()) for feed, ops in self.feeds.items() if ops}

    async def segment(self, feed: FeedId, after_seq: int = 0, limit: int = 1000) -> list[SignedOp]:
        return self.feeds.get(feed, [])[after_seq:after_seq + limit]

    async def apply(self, ops: Sequence[SignedOp]) -> RemoteResult:
        held = self.feeds.setdefault(ops[0].feed, [])
        new = [op for op in ops if op.seq > len(held)]
        if new and new[0].seq != len(held) + 1:
            from sync import GapError
            raise GapError(f"gap before op {new[0].seq}")
        held.extend(new)
        return RemoteResult(applied=len(new), duplicates=len(ops) - len(new),
                            head=FeedHead(held[-1].seq, held[-1].link()) if held else None)

    def subscribe(self, listener: Callable[[dict[FeedId, FeedHead]], None]) -> Callable[[], None]:
        return lambda: None


@dataclass
class Edge:
    signer: Signer
    ssl_context: object
    feeds: MemoryFeeds = field(default_factory=MemoryFeeds)
    written: int = 0
    sent: int = 0
    received: int = 0

    def write(self, n: int) -> None:
        feed = FeedId(self.signer.public_key, SCOPE)
        ops = self.feeds.feeds.setdefault(feed, [])
        for _ in range(n):
            self.written += 1
            post_id = (self.signer.public_key.hex()[:16] + f"{self.written:010d}")[:26]
            body = encode_op(Create("post", post_id, {"channel_id": CHANNEL, "user_id": "u" * 26,
                                                      "message": f"post {self.written}", "create_at": 1,
                                                      "root_id": ""}, deps=[("channel", CHANNEL)]))
            head = FeedHead(ops[-1].seq, ops[-1].link()) if ops else FeedHead(0, GENESIS)
            stamp = Stamp(int(time.time() * 1000), 0, self.signer.node_tag)
            ops.append(self.signer.seal(SCOPE, head, stamp, body))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mib(pid: int) -> tuple[float, float]:
    values = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(values["VmRSS"].split()[0]) / 1024, int(values["VmHWM"].split()[0]) / 1024


def _edges(mesh: Mesh, n: int) -> list[Edge]:
    assert mesh.authority is not None
    ca_pem = mesh.ca.pem()
    now = datetime.now(UTC)
    edges = []
    for i in range(n):
        signer = Signer.generate()
        cert = issue_node_certificate(mesh.authority, signer.public_key, name=f"edge-{i}", now=now)
        from cryptography.hazmat.primitives import serialization
        pem = cert.public_bytes(serialization.Encoding.PEM)
        edges.append(Edge(signer, client_context(ca_pem, pem, node_key_pem(signer.seed))))
    return edges


async def _sync(edge: Edge, hub: PeerAddress, mesh: bytes) -> float:
    started = time.perf_counter()
    dial = tcp_dialer(edge.ssl_context, None, 10.0)  # type: ignore[arg-type]
    link, verified = await dial(hub)
    session = PeerSession(edge.feeds, link, node=edge.signer.public_key, mesh=mesh, initiator=True,  # type: ignore[arg-type]
                          config=SessionConfig(live=False), verified_node=verified)
    stats = await session.run()
    edge.sent += stats.ops_sent
    edge.received += stats.ops_received
    return time.perf_counter() - started


async def _run(edges: list[Edge], hub: PeerAddress, mesh: bytes, *, interval: float, duration: float,
               post_chance: float, start_at: float) -> tuple[list[float], int, float]:
    times: list[float] = []
    failures = 0
    started = time.monotonic() + max(0.0, start_at - time.time())  # every worker on one schedule
    stop_at = started + duration

    async def one(edge: Edge, offset: float) -> None:
        nonlocal failures
        next_at = started + offset
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() >= stop_at:
                return
            if random.random() < post_chance:
                edge.write(1)
            try:
                times.append(await _sync(edge, hub, mesh))
            except Exception as exc:  # counted, and shown once
                if failures == 0:
                    print(f"  first failure: {type(exc).__name__}: {exc}", file=sys.stderr)
                failures += 1
            next_at += interval

    await asyncio.gather(*(one(edge, random.uniform(0, interval)) for edge in edges))
    return times, failures, time.monotonic() - started


def _worker(edges: list[Edge], hub: PeerAddress, mesh: bytes, options: dict[str, float],
            results: Connection) -> None:
    """One process of simulated edges: its session times, failures, ops moved and CPU seconds."""
    random.seed(os.getpid())
    times, failures, _ = asyncio.run(_run(edges, hub, mesh, interval=options["interval"],
                                          duration=options["duration"], post_chance=options["post_chance"],
                                          start_at=options["start_at"]))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.send((times, failures, sum(e.sent for e in edges), sum(e.received for e in edges),
                  usage.ru_utime + usage.ru_stime))
    results.close()


def _load(edges: list[Edge], hub: PeerAddress, mesh: bytes, processes: int,
          options: dict[str, float]) -> tuple[list[float], int, int, int, float]:
    """Run the edges in `processes` forked processes (one event loop cannot drive 200 TLS clients)."""
    context = multiprocessing.get_context("fork")
    pipes, workers = [], []
    for i in range(processes):
        receiving, sending = context.Pipe(duplex=False)
        worker = context.Process(target=_worker, args=(edges[i::processes], hub, mesh, options, sending))
        worker.start()
        sending.close()
        pipes.append(receiving)
        workers.append(worker)
    times: list[float] = []
    failures = sent = received = 0
    cpu = 0.0
    for receiving in pipes:
        t, f, s, r, c = receiving.recv()
        times += t
        failures, sent, received, cpu = failures + f, sent + s, received + r, cpu + c
    for worker in workers:
        worker.join()
    return times, failures, sent, received, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=200)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between one edge's syncs")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--processes", type=int, default=4, help="processes the simulated edges run in")
    parser.add_argument("--post-chance", type=float, default=0.1,
                        help="probability that an edge writes one post before a sync (0: edges in sync)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        hub_dir = Path(tmp) / "hub"
        mesh = init_mesh(hub_dir, "bench")  # the hub holds the authority: it certifies the simulated edges

        async def world() -> None:
            async with open_node(hub_dir) as node:
                await node.store.write("directory", [
                    Create("team", TEAM, {"name": "ops", "display_name": "Ops", "type": "O"}),
                    Create("channel", CHANNEL, {"team_id": TEAM, "type": "O", "name": "town-square"},
                           deps=[("team", TEAM)])])
        asyncio.run(world())
        edges = _edges(mesh, args.edges)
        sync_port = _free_port()
        env = {**os.environ, "EDGENODE_MDNS": "0", "PYTHONPATH": str(REPO)}
        log = open(Path(tmp) / "hub.log", "wb")
        hub = subprocess.Popen([sys.executable, "-m", "edgenode", "serve", "--data", str(hub_dir), "--port",
                                str(_free_port()), "--role", "hub", "--sync-host", "127.0.0.1", "--sync-port",
                                str(sync_port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            address = PeerAddress("127.0.0.1", sync_port)
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", sync_port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or hub.poll() is not None:
                        raise SystemExit(f"the hub did not start:\n{(Path(tmp) / 'hub.log').read_text()}")
                    time.sleep(0.1)
            tag = mesh_tag(mesh.ca.id)

            async def baseline() -> float:
                alone = edges[0]
                await _sync(alone, address, tag)  # its first sync fetches the hub's feeds
                return statistics.median([await _sync(alone, address, tag) for _ in range(20)])
            base = asyncio.run(baseline())

            cpu_before, wall_before = _cpu_seconds(hub.pid), time.monotonic()
            options = {"interval": args.interval, "duration": args.duration, "post_chance": args.post_chance,
                       "start_at": time.time() + 1.0}
            times, failures, sent, received, edges_cpu = _load(edges, address, tag, args.processes, options)
            elapsed = time.monotonic() - wall_before
            cpu = (_cpu_seconds(hub.pid) - cpu_before) / elapsed
            rss, peak = _memory_mib(hub.pid)
        finally:
            hub.terminate()
            hub.wait(30)
            log.close()
            if os.environ.get("BENCH_HUB_LOG"):
                print((Path(tmp) / "hub.log").read_text()[-4000:], file=sys.stderr)

    times.sort()
    p50 = statistics.median(times) if times else float("nan")
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"({subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()})")
    print(f"hub with {args.edges} edges, each syncing every {args.interval:g} s for {elapsed:.0f} s, "
          f"a post before a sync with probability {args.post_chance:g}; {os.cpu_count()} cores")
    print(f"  sessions: {len(times)} ok, {failures} failed: {len(times) / args.duration:.1f} sessions/s "
          f"(offered {args.edges / args.interval:.1f}/s); ops: {sent:,} sent to the hub, "
          f"{received:,} received from it (every edge gets every other edge's posts)")
    print(f"  baseline: one edge alone with the idle hub, median session {base * 1000:.1f} ms")
    print(f"  session time: p50 {p50 * 1000:.1f} ms ({p50 / base:.1f}x baseline), p99 {p99 * 1000:.1f} ms "
          f"({p99 / base:.1f}x baseline), max {times[-1] * 1000 if times else float('nan'):.1f} ms   "
          f"target p99 < {TARGET_P99_S:g} s: {'OK' if p99 < TARGET_P99_S else 'ABOVE TARGET'}")
    print(f"  hub process: CPU {cpu * 100:.0f}% of one core; RSS {rss:.0f} MiB now, peak {peak:.0f} MiB")
    print(f"  simulated edges ({args.processes} processes): CPU {edges_cpu / elapsed * 100:.0f}% of one core")


if __name__ == "__main__":
    main()
