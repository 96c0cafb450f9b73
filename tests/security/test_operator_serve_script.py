"""`./scripts/serve` installs once, and starts offline after that: it reinstalls only when pyproject.toml changed.

Runs the real script on a copy of this checkout (its own .venv), with `--help` so that the node
prints its usage and exits instead of serving. The later runs point pip at an address where
nothing listens, with no other index: any install attempt there fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.server_process import REPO

pytestmark = pytest.mark.slow

INSTALLING = "edgenode: installing into .venv"


def _checkout_copy(target: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z", "scripts", "edgenode", "sync", "crdt", "pyproject.toml",
                            "README.md"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def _serve(copy: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(copy / "scripts" / "serve"), "--help"], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def test_serve_script_installs_once_then_starts_offline_and_reinstalls_only_when_pyproject_changes(
        tmp_path: Path) -> None:
    copy = _checkout_copy(tmp_path / "checkout")
    online = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    first = _serve(copy, online)
    assert first.returncode == 0, first.stderr
    assert INSTALLING in first.stderr and "Usage: edgenode serve" in first.stdout
    assert (copy / ".venv" / "edgenode-installed.toml").read_bytes() == (copy / "pyproject.toml").read_bytes()

    offline = {**online, "PIP_INDEX_URL": "http://127.0.0.1:9/", "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": "",
               "PIP_NO_INDEX": "1", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "PIP_CONFIG_FILE": os.devnull}
    second = _serve(copy, offline)
    assert second.returncode == 0, second.stderr
    assert INSTALLING not in second.stderr and "Usage: edgenode serve" in second.stdout

    with (copy / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a changed dependency list would be here\n")
    third = _serve(copy, offline)
    assert INSTALLING in third.stderr  # noticed the change, and tried (offline, so it cannot succeed)
    assert third.returncode != 0 and "Usage: edgenode serve" not in third.stdout
