"""`edgenode --version` names the release and the commit it was built from."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgenode import version
from edgenode.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_from_a_source_checkout_the_commit_is_git_describe() -> None:
    described = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                               capture_output=True, text=True, check=True).stdout.strip()
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"edgenode {metadata.version('edgenode')} (commit {described})\n"


def test_a_build_bakes_version_and_commit_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / version.BUILD_INFO_FILE).write_text(json.dumps(
        {"version": "9.9.9", "commit": "abcdef012345", "built": "2026-12-06"}))
    monkeypatch.setattr(version, "_HERE", tmp_path)  # where the frozen binary keeps edgenode/_build.json
    assert version.version_text() == "edgenode 9.9.9 (commit abcdef012345, built 2026-12-06)"


def test_outside_a_checkout_the_commit_is_unknown_not_an_error(tmp_path: Path) -> None:
    assert version.source_commit(tmp_path) is None


def test_version_needs_no_server_stack() -> None:
    """--version runs before any command: it must not pay for the server's imports."""
    code = "import sys; from edgenode.version import version_text; version_text(); " \
           "print(sorted(m for m in ('uvicorn', 'starlette', 'edgenode.node') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
