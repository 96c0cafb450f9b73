"""Every command of docs/operator.md, run in order against this run's release, as its reader would.

Each ```sh block runs in bash (-e: any failing command fails the test) on a "laptop": a home folder
of its own, with the release as the USB stick ($USB), no Python on PATH, and ports of its own (the
guide's 8065 and the first laptop's 192.168.1.10:8066 are mapped to free loopback ports, since the
laptops share this machine). A comment `<!-- test: ... -->` before a block says how to run it:
  laptop=NAME      whose home and ports (default: the previous block's laptop)
  background       a node that runs until the test ends (or `stop`): started, then waited for
  stop             stop NAME's background node first (the guide says "stop the node")
  retry            run again until it succeeds (30 s), for what waits on peer sync
  if-help="W N"    run only if `edgenode W --help` mentions N: a command landing on another branch
  skip: REASON     not run here (root, systemd); the reason names the test that covers it instead
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.server_process import free_port

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operator.md"
BLOCK = re.compile(r"(?:<!-- test: (?P<how>[^\n]*?) -->\n)?```sh\n(?P<code>.*?)```", re.S)
FIRST_LAPTOP = "192.168.1.10"

pytestmark = pytest.mark.slow


@dataclass
class Block:
    code: str
    how: str

    def option(self, name: str) -> str | None:
        found = re.search(rf'(?:^|\s){name}(?:=(?:"([^"]*)"|(\S+)))?(?=\s|$)', self.how)
        return None if found is None else (found.group(1) or found.group(2) or "")


@dataclass
class Laptop:
    home: Path
    api: int = field(default_factory=free_port)
    sync: int = field(default_factory=free_port)
    node: subprocess.Popen[bytes] | None = None


def blocks(text: str) -> list[Block]:
    return [Block(m.group("code"), m.group("how") or "") for m in BLOCK.finditer(text)]


def test_every_sh_block_is_in_the_runs_plan() -> None:
    """A block this test's pattern misses would go unrun: the ```sh fences and the blocks found agree."""
    text = GUIDE.read_text()
    assert len(blocks(text)) == text.count("```sh\n") > 10
    for block in blocks(text):
        assert not block.how or re.fullmatch(r"(skip: .+|(laptop=\w+|background|stop|retry|if-help=\"[^\"]+\")( |$))+",
                                             block.how + " ")


def _stop(laptop: Laptop) -> None:
    if laptop.node is not None and laptop.node.poll() is None:
        laptop.node.send_signal(signal.SIGTERM)  # Ctrl-C or systemctl stop: a clean shutdown
        laptop.node.wait(20)
    laptop.node = None


def _wait_for_api(laptop: Laptop, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert laptop.node is not None and laptop.node.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"http://127.0.0.1:{laptop.api}/api/v4/system/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)  # polling for readiness, not timing anything


def _has(binary: Path, words: str) -> bool:
    *command, needle = words.split()
    done = subprocess.run([str(binary), *command, "--help"], capture_output=True, text=True, check=False)
    return needle in done.stdout


def test_the_operator_guide_runs_as_written(release: Path, tmp_path: Path) -> None:
    usb = tmp_path / "usb"  # a copy: the guide writes invite tokens onto the stick
    usb.mkdir()
    for line in (release / "SHA256SUMS").read_text().splitlines():
        shutil.copy(release / line.split()[1], usb)
    shutil.copy(release / "SHA256SUMS", usb)
    laptops: dict[str, Laptop] = {}
    current = "first"
    ran = 0
    try:
        for number, block in enumerate(blocks(GUIDE.read_text()), 1):
            if block.option("skip:") is not None:
                continue
            current = block.option("laptop") or current
            laptop = laptops.setdefault(current, Laptop(tmp_path / current))
            laptop.home.mkdir(exist_ok=True)
            wanted = block.option("if-help")
            if wanted and not _has(release / "edgenode", wanted):
                continue
            if block.option("stop") is not None:
                _stop(laptop)
            first = laptops["first"]
            code = block.code.replace(f"{FIRST_LAPTOP}:8066", f"127.0.0.1:{first.sync}").replace("8065", str(laptop.api))
            env = {"PATH": f"{laptop.home}/.local/bin:/usr/bin:/bin", "HOME": str(laptop.home), "USB": str(usb),
                   "EDGENODE_SYNC_HOST": "127.0.0.1", "EDGENODE_SYNC_PORT": str(laptop.sync), "EDGENODE_MDNS": "0"}
            script = ["bash", "-euo", "pipefail", "-c", code]
            if block.option("background") is not None:
                log = tmp_path / f"block{number}.log"
                with log.open("wb") as out:
                    laptop.node = subprocess.Popen(script, cwd=laptop.home, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL)
                _wait_for_api(laptop, log)
            else:
                deadline = time.monotonic() + (30 if block.option("retry") is not None else 0)
                while True:
                    done = subprocess.run(script, cwd=laptop.home, env=env, capture_output=True, text=True, timeout=120,
                                          check=False)
                    if done.returncode == 0 or time.monotonic() >= deadline:
                        break
                    time.sleep(0.5)  # waiting for peer sync, not timing it
                assert done.returncode == 0, f"block {number} on {current}:\n{code}\n{done.stdout}{done.stderr}"
            ran += 1
    finally:
        for laptop in laptops.values():
            _stop(laptop)
    assert ran >= 12
    # what the guide promises happened: the second laptop was restored from its backup and keeps its data
    assert (laptops["second"].home / ".local/share/edgenode/edgenode.db").exists()
    assert (laptops["second"].home / ".local/share/edgenode.broken").is_dir()
