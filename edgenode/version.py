"""What `edgenode --version` says: the release and the commit it was built from.

An air-gapped site checks the binary it was handed against a release note, so the commit is baked
into the binary at build time (packaging/build writes edgenode/_build.json into it); run from a
source checkout, the commit comes from git. Nothing here runs at import: only `--version` pays."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["BUILD_INFO_FILE", "version_text", "source_commit"]

BUILD_INFO_FILE = "_build.json"
_HERE = Path(__file__).resolve().parent


def source_commit(root: Path) -> str | None:
    """`git describe` of the checkout at `root` (a -dirty suffix for uncommitted changes), or None."""
    try:
        done = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def _baked() -> dict[str, str]:
    try:
        data = json.loads((_HERE / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(key): str(value) for key, value in data.items()} if isinstance(data, dict) else {}


def version_text() -> str:
    baked = _baked()
    try:
        version = baked.get("version") or metadata.version("edgenode")
    except metadata.PackageNotFoundError:
        version = "unknown"
    frozen = getattr(sys, "frozen", False)
    commit = baked.get("commit") or (None if frozen else source_commit(_HERE.parent)) or "unknown"
    built = f", built {baked['built']}" if baked.get("built") else ""
    return f"edgenode {version} (commit {commit}{built})"
