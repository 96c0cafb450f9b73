"""What an air-gapped site is handed: SHA256SUMS that check, and a CycloneDX SBOM of what the binary bundles."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

pytestmark = pytest.mark.slow


def test_sha256sums_cover_every_artifact_and_check(release: Path) -> None:
    listed = {line.split()[1] for line in (release / "SHA256SUMS").read_text().splitlines()}
    assert {"edgenode", "operator.md"} <= listed
    assert {p.suffix for p in release.iterdir() if p.name in listed} >= {".gz", ".deb", ".json"}
    done = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=release, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    guide = (release / "operator.md").read_bytes()
    (release / "operator.md").write_text("tampered")  # the check is real: a changed file fails it
    try:
        assert subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=release, capture_output=True,
                              check=False).returncode != 0
    finally:
        (release / "operator.md").write_bytes(guide)


def test_the_sbom_is_valid_cyclonedx_and_lists_what_the_binary_bundles(release: Path) -> None:
    [sbom] = release.glob("edgenode-*.cdx.json")
    text = sbom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["metadata"]["component"]["name"] == "edgenode"
    names = {c["name"].lower() for c in document["components"]}
    assert {"cryptography", "pynacl", "uvicorn", "starlette", "zeroconf", "msgpack", "argon2-cffi", "cpython"} <= names
    assert not names & {"pyinstaller", "pytest", "mypy", "cyclonedx-bom"}  # the build's tools are not in the binary
