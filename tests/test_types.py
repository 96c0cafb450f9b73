"""Strict typing is part of the build: crdt/, sync/ and edgenode/ pass mypy as pyproject.toml sets it up."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_packages_pass_strict_mypy() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed; it comes with the test extras (.[test])")
    # Run from the repo root so that mypy reads [tool.mypy] and keeps its incremental cache in the
    # git-ignored .mypy_cache: a cold run takes a few seconds, an incremental one well under one.
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"mypy reported errors:\n{result.stdout}{result.stderr}"
