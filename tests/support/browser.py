"""Debian's headless Chromium driven by Playwright, for the web UI's tests (tests/ui) and bench/bench_ui.py.

Never `playwright install`: the browser is the system's /usr/bin/chromium (scripts/test installs it),
started with the flags that keep it off the network. Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SCREENSHOTS", "axe_violations", "log_in", "require_chromium", "shot"]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
AXE = Path(__file__).resolve().parents[1] / "ui" / "vendor" / "axe.min.js"


def require_chromium() -> None:
    """Skip (with the reason) where the browser or Playwright is missing; scripts/test installs both."""
    pytest.importorskip("playwright", reason="playwright comes with the test extras (.[test])")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("no /usr/bin/chromium: scripts/test installs Debian's chromium")


def shot(page: Any, name: str) -> Any:
    """Save a screenshot of `page`'s window as artifacts/screenshots/<name>.png (awaitable with an async page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (axe is evaluated through the
    devtools protocol, which the page's CSP does not govern; the page itself never loads it)."""
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def log_in(page: Any, username: str, password: str) -> None:
    """Open the UI in `page` (a sync Playwright page) and log in through its form, up to the first channel shown."""
    page.goto("/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.locator("#channel-title").wait_for()
