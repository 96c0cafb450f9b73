"""The single binary, built once per test run by packaging/build (the slow tests share it).

The build goes to a folder of this run's temporary directory named by a hash of the sources it is
made of: within one run every test gets the same binary, and no run trusts a binary an older run
left behind. With EDGENODE_TEST_DIST=DIR the tests use an existing build instead (a release check).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.binary import ROOT, Build, build_binary, sources_hash

_built: dict[str, float] = {}


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    given = os.environ.get("EDGENODE_TEST_DIST")
    if given:
        return Build(Path(given).resolve(), None)
    made = build_binary(tmp_path_factory.getbasetemp() / f"binary-{sources_hash()}")
    _built["seconds"] = made.seconds or 0.0
    return made


@pytest.fixture(scope="session")
def release(build: Build) -> Path:
    """packaging/release --no-build on this run's build: the .deb, the SBOM and SHA256SUMS beside it."""
    env = {**os.environ, "EDGENODE_DIST": str(build.dist), "EDGENODE_WORK": str(build.dist.parent / "work"),
           "EDGENODE_BUILD_PYTHON": sys.executable}
    done = subprocess.run([str(ROOT / "packaging" / "release"), "--no-build"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, f"packaging/release failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
    return build.dist


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "seconds" in _built:
        terminalreporter.write_line(f"tests/packaging: built the binary in {_built['seconds']:.0f} s")
