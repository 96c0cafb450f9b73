"""Playbooks benchmarks, each beside a baseline measured in the same run.

    python bench/bench_playbooks.py [--seconds S] [--edits N] [--dir DIR]

1. Item state changes per second through the API at 16 clients (PUT .../checklists/{i}/item/{j}/state,
   each client toggling its own item), beside posts per second (POST /api/v4/posts) at 16 clients,
   against one real `edgenode serve`, driven by the same asyncio+httpx client. Target: ratio >= 1.
2. GET of a run with 500 items: p50/p95 over sequential requests, beside GET of a channel's newest
   page of 60 posts. Target: p95 < 20 ms.
3. Convergence of two partitioned nodes with --edits (1,000) run edits each (item state changes,
   assignments, moves and status updates through the services, real SQLite stores): the time for
   one reconciliation to bring both to the same run, beside the same reconciliation of as many
   plain posts per side.

The machine is shared and noisy: quote the ratios; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

import httpx
from support.playbooks import PB
from support.server_process import edgenode_server

from edgenode.node import open_node
from edgenode.services import Session
from sync.session import reconcile_pair

CLIENTS = 16


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


def _big_playbook(team_id: str, checklists: int, items: int) -> dict[str, Any]:
    return {"title": "Big", "team_id": team_id, "public": True, "reminder_timer_default_seconds": 3600,
            "checklists": [{"title": f"list {c}", "items": [{"title": f"task {c}.{i}"} for i in range(items)]}
                           for c in range(checklists)]}


async def _world(http: httpx.AsyncClient, token: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    team = (await http.post("/api/v4/teams", headers=headers,
                            json={"name": "bench", "display_name": "Bench", "type": "O"})).json()["id"]
    square = (await http.get(f"/api/v4/teams/{team}/channels/name/town-square", headers=headers)).json()["id"]
    return team, square


async def _run_of(http: httpx.AsyncClient, token: str, team: str, checklists: int, items: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    playbook = (await http.post(f"{PB}/playbooks", headers=headers, json=_big_playbook(team, checklists, items))).json()
    response = await http.post(f"{PB}/runs", headers=headers,
                               json={"name": "bench run", "team_id": team, "playbook_id": playbook["id"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _rate(http: httpx.AsyncClient, seconds: float, request: Any) -> float:
    """Requests per second by CLIENTS concurrent loops, each calling request(client_index, n)."""
    stop = time.perf_counter() + seconds
    done = [0] * CLIENTS

    async def loop(k: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            response = await request(k, n)
            assert response.status_code < 300, response.text
            n += 1
        done[k] = n

    start = time.perf_counter()
    await asyncio.gather(*(loop(k) for k in range(CLIENTS)))
    return sum(done) / (time.perf_counter() - start)


async def _latencies(http: httpx.AsyncClient, path: str, headers: dict[str, str], count: int) -> tuple[float, float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = await http.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def api_benchmarks(work: Path, seconds: float) -> None:
    with edgenode_server(work / "served") as server:
        token = server.admin_token
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as http:
            team, square = await _world(http, token)
            run = await _run_of(http, token, team, 1, CLIENTS)
            print(f"1. item state changes vs posts, {CLIENTS} clients, {seconds:g} s each ({_load()})")
            posts = await _rate(http, seconds, lambda k, n: http.post(
                "/api/v4/posts", headers=headers, json={"channel_id": square, "message": f"client {k} post {n}"}))
            states = ("closed", "")
            changes = await _rate(http, seconds, lambda k, n: http.put(
                f"{PB}/runs/{run['id']}/checklists/0/item/{k}/state", headers=headers,
                json={"new_state": states[n % 2]}))
            print(f"   posts/s {posts:8.1f}   item changes/s {changes:8.1f}   ratio {changes / posts:.2f} (target >= 1)")

            big = await _run_of(http, token, team, 5, 100)
            print(f"2. GET of a 500-item run, 200 sequential requests ({_load()})")
            base50, base95 = await _latencies(http, f"/api/v4/channels/{square}/posts?per_page=60", headers, 200)
            run50, run95 = await _latencies(http, f"{PB}/runs/{big['id']}", headers, 200)
            print(f"   channel page of 60 posts: p50 {base50:.1f} ms p95 {base95:.1f} ms")
            print(f"   run of 500 items:         p50 {run50:.1f} ms p95 {run95:.1f} ms   "
                  f"ratio p95 {run95 / base95:.2f} (target p95 < 20 ms)")


async def convergence(work: Path, edits: int) -> None:
    print(f"3. two partitioned nodes, {edits} edits each, one reconciliation ({_load()})")
    for what in ("posts", "run edits"):
        root = work / what.replace(" ", "-")
        async with open_node(root / "a") as a, open_node(root / "b") as b:
            admin = await a.services.users.create({"username": "admin", "email": "admin@example.com",
                                                   "password": "password-1"})
            actor = Session("", "", admin["id"], admin["roles"])
            team = await a.services.teams.create({"name": "bench", "display_name": "Bench", "type": "O"}, actor)
            square = (await a.services.channels.get_by_name(team["id"], "town-square", actor))["id"]
            run = await a.services.runs.create({"name": "r", "team_id": team["id"]}, actor)
            await a.services.checklists.add_checklist(run["id"], {"title": "l", "items": [
                {"title": f"t{i}"} for i in range(50)]}, actor)
            await reconcile_pair(a.store, b.store)
            for node, side in ((a, 0), (b, 1)):
                for n in range(edits):
                    if what == "posts":
                        await node.services.posts.create({"channel_id": square, "message": f"{side} {n}"}, actor)
                    elif n % 10 == 9:
                        await node.services.runs.status_update(run["id"], {"message": f"{side} {n}", "reminder": 60},
                                                               actor)
                    elif n % 10 == 8:
                        await node.services.checklists.move_item(run["id"], {
                            "source_checklist_idx": 0, "source_item_idx": n % 50, "dest_checklist_idx": 0,
                            "dest_item_idx": (n * 7) % 50}, actor)
                    else:
                        await node.services.checklists.set_state(run["id"], 0, (n + side) % 50,
                                                                 "closed" if (n // 50 + side) % 2 == 0 else "", actor)
            start = time.perf_counter()
            await reconcile_pair(a.store, b.store)
            elapsed = time.perf_counter() - start
            assert await a.store.digest() == await b.store.digest()
            if what == "run edits":
                assert await a.services.runs.to_json(run["id"]) == await b.services.runs.to_json(run["id"])
                print(f"   run edits: {elapsed * 1000:8.0f} ms   ratio to posts {elapsed / base:.2f}")
            else:
                base = elapsed
                print(f"   posts:     {elapsed * 1000:8.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        print(f"bench_playbooks: {os.cpu_count()} CPUs, {_load()}")
        asyncio.run(api_benchmarks(work, args.seconds))
        asyncio.run(convergence(work, args.edits))
        print(f"done, {_load()}")


if __name__ == "__main__":
    main()
