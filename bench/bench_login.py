"""Post latency while a login flood hits a real `edgenode serve` (real argon2 cost).

    python bench/bench_login.py [--seconds S] [--addresses N] [--dir DIR]

1. POST /api/v4/posts latency (p50, p99) from one client, with nothing else going on.
2. The same while N client addresses (127.0.0.x, distinct source addresses on loopback) each send
   wrong-password logins for unknown login ids as fast as they are answered. Password checks run on
   the node's bounded hashing pool (edgenode/services/passwords.py) and every address is backed off
   after 5 failures (edgenode/services/login_guard.py), so most of the flood is refused before any
   hashing; the figures show how many logins were hashed, refused (429/503) and what posts paid.

Machines running this are shared and noisy: compare the two rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

from support.server_process import ServerProcess, edgenode_server  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


async def post_latencies(server: ServerProcess, channel: str, seconds: float) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post("/api/v4/posts", json={"channel_id": channel, "message": "still moving"})
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 201, response.text
    return latencies


async def flood(server: ServerProcess, addresses: int, stop: asyncio.Event, replies: Counter[int]) -> None:
    async def one_address(n: int) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n + 2}")
        async with httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=60) as http:
            attempt = 0
            while not stop.is_set():
                attempt += 1
                response = await http.post("/api/v4/users/login",
                                           json={"login_id": f"flood-{n}-{attempt}", "password": "guess"})
                replies[response.status_code] += 1
    await asyncio.gather(*(one_address(n) for n in range(addresses)))


async def run(server: ServerProcess, seconds: float, addresses: int) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {server.admin_token}"}) as http:
        team = (await http.post("/api/v4/teams", json={"name": "bench", "display_name": "Bench", "type": "O"})).json()
        channel = (await http.get(f"/api/v4/teams/{team['id']}/channels/name/town-square")).json()["id"]
    idle = await post_latencies(server, channel, seconds)
    stop, replies = asyncio.Event(), Counter[int]()
    flooding = asyncio.create_task(flood(server, addresses, stop, replies))
    await asyncio.sleep(0.5)
    busy = await post_latencies(server, channel, seconds)
    stop.set()
    await flooding
    print(f"{'':28} {'posts':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for label, values in (("idle", idle), (f"login flood, {addresses} addresses", busy)):
        print(f"{label:28} {len(values):6} {percentile(values, 50):8.1f} {percentile(values, 99):8.1f}")
    print(f"login replies during the flood: {dict(sorted(replies.items()))} "
          "(401: password checked; 429: backed off; 503: hashing queue full)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--addresses", type=int, default=50)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, edgenode_server(Path(tmp) / "node") as server:
        asyncio.run(run(server, args.seconds, args.addresses))


if __name__ == "__main__":
    main()
