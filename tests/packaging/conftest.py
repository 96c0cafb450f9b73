"""The single binary, built once per test run by packaging/build (the slow tests share it).

The build goes to a folder of this run's temporary directory named by a hash of the sources it is
made of: within one run every test gets the same binary, and no run trusts a binary an older run
left behind. With EDGENODE_TEST_DIST=DIR the tests use an existing build instead (a release check).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.binary import Build, build_binary, sources_hash

_built: dict[str, float] = {}


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    given = os.environ.get("EDGENODE_TEST_DIST")
    if given:
        return Build(Path(given).resolve(), None)
    made = build_binary(tmp_path_factory.getbasetemp() / f"binary-{sources_hash()}")
    _built["seconds"] = made.seconds or 0.0
    return made


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "seconds" in _built:
        terminalreporter.write_line(f"tests/packaging: built the binary in {_built['seconds']:.0f} s")
