"""Web UI budgets, measured in Debian's headless Chromium against a real `edgenode serve`.

    python bench/bench_ui.py [--posts N] [--rounds R] [--dir DIR]

1. First load: the bytes on the wire (compressed, as served) of every file the login screen needs,
   from a fresh browser profile; budget < 300 KB. Baseline: the same files uncompressed (ratio).
2. Switching to a channel of --posts posts (default 10,000), from the click to its newest page
   rendered, with the page reloaded before each switch: once the page has settled (it prefetches the
   newest page of the sidebar's channels, as Mattermost's web app does) and right after the reload
   (the fetch may still be under way): p50 and p95 over --rounds switches; budget p95 < 100 ms.
   Baseline: switching the same way to a channel of 50 posts, in the same run (ratio).

The posts are seeded through the store directly (signed ops in batches), as bench/bench_api.py does.
The machine is shared and noisy: read the ratios beside the figures, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

from support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from support.server_process import ADMIN_PASSWORD, edgenode_server  # noqa: E402

from crdt import Create  # noqa: E402
from edgenode.ids import new_id  # noqa: E402
from edgenode.node import open_node  # noqa: E402
from edgenode.services import Session  # noqa: E402
from edgenode.services.context import channel_scope  # noqa: E402

BUDGET_FIRST_LOAD = 300 * 1024
BUDGET_SWITCH_P95_MS = 100.0
SMALL = 50
BATCH = 1000


async def seed(data_dir: Path, n_posts: int) -> tuple[str, dict[str, str]]:
    """The admin, team "bench", channels "history" (n_posts posts) and "small" (SMALL posts): (team, channel ids)."""
    async with open_node(data_dir) as node:
        svc = node.services
        admin = await svc.users.create({"username": "admin", "email": "admin@example.com", "password": ADMIN_PASSWORD})
        actor = Session("seed", "", admin["id"], admin["roles"])
        team = await svc.teams.create({"name": "bench", "display_name": "Bench", "type": "O"}, actor)
        ids = {}
        for name, count in (("history", n_posts), ("small", SMALL)):
            channel = await svc.channels.create({"team_id": team["id"], "type": "O", "name": name,
                                                 "display_name": name.title()}, actor)
            ids[name] = channel["id"]
            first_ms = int(time.time() * 1000) - count - 3_600_000
            for start in range(0, count, BATCH):
                ops = [Create("post", new_id(), {"channel_id": channel["id"], "user_id": admin["id"],
                                                 "message": f"{name} post {i}: **status** update `ok`",
                                                 "create_at": first_ms + i}, deps=[("channel", channel["id"])])
                       for i in range(start, min(start + BATCH, count))]
                await node.store.write(channel_scope(channel["id"]), ops)
        return team["id"], ids


def first_load(browser: Any, base_url: str) -> tuple[int, int, int]:
    """(bytes on the wire, bytes uncompressed, files) for the login screen from an empty profile."""
    context = browser.new_context(base_url=base_url, service_workers="block")
    page = context.new_page()
    sizes: list[tuple[int, int]] = []

    def finished(request: Any) -> None:
        response = request.response()
        if response is not None and response.status == 200 and not request.url.endswith("/sw.js"):
            body = response.body()
            sizes.append((request.sizes()["responseBodySize"], len(body)))
    page.on("requestfinished", finished)
    page.goto("/")
    page.get_by_role("heading", name="Log in to Edgenode").wait_for()
    page.wait_for_load_state("networkidle")
    context.close()
    return sum(s for s, _ in sizes), sum(u for _, u in sizes), len(sizes)


_SWITCH = """async ([name, marker]) => {
  const link = [...document.querySelectorAll('nav a.channel')].find((a) => a.textContent.includes(name));
  const start = performance.now();
  link.click();
  await new Promise((done) => {
    const check = () => {
      const first = document.querySelector('.posts article.post .message');
      const title = document.getElementById('channel-title');
      if (title && title.textContent.includes(name) && first && first.textContent.startsWith(marker)) done();
      else requestAnimationFrame(check);
    };
    check();
  });
  return performance.now() - start;
}"""


def switch_times(page: Any, team: str, ids: dict[str, str], target: str, origin: str, rounds: int,
                 settled: bool) -> list[float]:
    """Milliseconds from the click on `target` in the sidebar to its newest page shown, each after a reload on
    `origin`: at once (`settled` False: the page's prefetch of the sidebar's channels may still be under way)
    or once the page's network is idle (as a user who reads the open channel a moment before switching)."""
    times = []
    for _ in range(rounds + 1):
        page.goto(f"/#/{team}/{ids[origin]}")
        page.reload()
        page.locator(".posts article.post").first.wait_for()
        if settled:
            page.wait_for_load_state("networkidle")
        times.append(page.evaluate(_SWITCH, [target.title(), f"{target} post"]))
    return times[1:]  # the first round warms the server's caches


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-ui-", dir=args.dir))
    try:
        print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        print(f"{os.cpu_count()} CPUs; seeding {args.posts} posts ...", flush=True)
        team, ids = asyncio.run(seed(work / "node", args.posts))
        with edgenode_server(work / "node", admin=None) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            wire, plain, files = first_load(browser, server.base_url)
            verdict = "within" if wire < BUDGET_FIRST_LOAD else "OVER"
            print(f"first load: {wire / 1024:.1f} KB on the wire in {files} files ({verdict} the 300 KB budget); "
                  f"uncompressed {plain / 1024:.1f} KB; ratio {wire / plain:.2f}")
            context = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.goto("/")
            page.get_by_label("Username or email").fill("admin")
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.locator("#channel-title").wait_for()
            for settled in (True, False):
                big = switch_times(page, team, ids, "history", "small", args.rounds, settled)
                small = switch_times(page, team, ids, "small", "history", args.rounds, settled)
                how = "settled page" if settled else "right after the reload"
                verdict = "within" if p95(big) < BUDGET_SWITCH_P95_MS else "OVER"
                print(f"switch to a channel of {args.posts} posts ({how}): p50 {statistics.median(big):.1f} ms, "
                      f"p95 {p95(big):.1f} ms ({verdict} the 100 ms budget)")
                print(f"  baseline, a channel of {SMALL} posts: p50 {statistics.median(small):.1f} ms, "
                      f"p95 {p95(small):.1f} ms; ratio (p95) {p95(big) / p95(small):.2f}")
            browser.close()
        print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
