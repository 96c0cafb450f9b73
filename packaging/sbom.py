"""Writes the release's CycloneDX SBOM: what the binary bundles, and nothing the build only used.

cyclonedx-py (CycloneDX's own generator) describes the build's Python environment, which also holds
PyInstaller and its helpers; the spec lists the distributions whose modules went into the binary
(EDGENODE_BUNDLED), and only those stay, with the CPython runtime the binary carries added.

    python packaging/sbom.py --bundled build/bundled.txt --out dist/edgenode-0.1.0.cdx.json
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def keep_bundled(document: dict[str, Any], bundled: set[str]) -> dict[str, Any]:
    """The document with only the components named in `bundled` (the root component stays) and the
    dependency graph cut to match."""
    wanted = {_key(name) for name in bundled}
    components = [c for c in document.get("components", []) if _key(c.get("name", "")) in wanted]
    refs = {c["bom-ref"] for c in components if "bom-ref" in c}
    root = document.get("metadata", {}).get("component", {}).get("bom-ref")
    if root:
        refs.add(root)
    dependencies = [{**d, "dependsOn": [r for r in d.get("dependsOn", []) if r in refs]}
                    for d in document.get("dependencies", []) if d.get("ref") in refs]
    python = {"type": "framework", "bom-ref": "cpython", "name": "cpython", "version": platform.python_version(),
              "description": "the Python runtime inside the binary", "purl": f"pkg:generic/cpython@{platform.python_version()}"}
    return {**document, "components": [*components, python], "dependencies": dependencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundled", type=Path, required=True, help="the spec's list of bundled distributions")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    bundled = set(args.bundled.read_text().split())
    if not bundled:
        sys.exit(f"sbom: {args.bundled} lists no distributions")
    raw = args.out.with_suffix(".raw.json")
    subprocess.run([sys.executable, "-m", "cyclonedx_py", "environment", "--pyproject", str(ROOT / "pyproject.toml"),
                    "--output-reproducible", "--of", "JSON", "-o", str(raw), sys.executable], check=True)
    document = keep_bundled(json.loads(raw.read_text()), bundled)
    raw.unlink()
    args.out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    names = sorted(c["name"] for c in document["components"])
    print(f"wrote {args.out}: {len(names)} components ({', '.join(names)})")


if __name__ == "__main__":
    main()
