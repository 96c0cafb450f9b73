"""The single binary as tests and benchmarks use it: built by packaging/build, run with no Python on PATH."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BARE_ENV", "Build", "build_binary", "sources_hash"]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("edgenode", "sync", "crdt", "packaging", "pyproject.toml")
BARE_ENV = {"PATH": "/usr/bin:/bin"}
"""What `env -i PATH=/usr/bin:/bin` leaves: no venv, no PYTHONPATH, no HOME."""


@dataclass(frozen=True)
class Build:
    dist: Path
    seconds: float | None  # None: an existing build

    @property
    def onefile(self) -> Path:
        return self.dist / "edgenode"

    @property
    def onedir(self) -> Path:
        return self.dist / "edgenode-onedir" / "edgenode"

    def run(self, *args: str, check: bool = True, timeout: float = 60,
            executable: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(executable or self.onefile), *args], env=BARE_ENV, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"edgenode {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done


def sources_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        top = ROOT / name
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_binary(base: Path) -> Build:
    """Run packaging/build into `base` (dist/ and its scratch work/); with the running Python if it has
    PyInstaller (the test venv, from .[build]), else packaging/build makes its own build venv."""
    env = {**os.environ, "EDGENODE_DIST": str(base / "dist"), "EDGENODE_WORK": str(base / "work")}
    if importlib.util.find_spec("PyInstaller") is not None:
        env["EDGENODE_BUILD_PYTHON"] = sys.executable
    started = time.monotonic()
    done = subprocess.run([str(ROOT / "packaging" / "build")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"packaging/build failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return Build(base / "dist", time.monotonic() - started)
