"""The UI's files, read once from the package and kept with their gzip form and an ETag.

No build step: the files under static/ are what the browser runs. They are compressed once, when
first asked for, so the first load stays within its budget (bench/bench_ui.py) without a
precompressed copy to keep in step with the sources.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["Asset", "Assets", "UI_CSP"]

UI_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
          "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'")
"""The UI's Content-Security-Policy: nothing but the node's own files runs, no inline script or style,
no eval; rendered messages cannot load anything from elsewhere either."""

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
          ".webmanifest": "application/manifest+json", ".png": "image/png", ".txt": "text/plain; charset=utf-8"}
_COMPRESSIBLE = (".js", ".css", ".html", ".json", ".svg", ".webmanifest", ".txt")


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the UI as served."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def _asset(name: str, body: bytes) -> Asset:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    # mtime=0: the same bytes on every start, so the ETag-validated copy a browser holds stays good
    gzipped = gzip.compress(body, 9, mtime=0) if suffix in _COMPRESSIBLE else None
    return Asset(body, gzipped, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class Assets:
    """Every file under a static folder, by its path relative to it ("index.html", "vendor/preact.js")."""

    def __init__(self, files: dict[str, bytes]):
        self._files = {name: _asset(name, body) for name, body in files.items()}

    @classmethod
    def from_package(cls) -> Assets:
        """The assets shipped in edgenode/web/static (blocking: call it off the event loop)."""
        files: dict[str, bytes] = {}
        _collect(resources.files(__package__).joinpath("static"), "", files)
        return cls(files)

    def get(self, name: str) -> Asset | None:
        return self._files.get(name)

    def names(self) -> list[str]:
        return sorted(self._files)


def _collect(folder: Traversable, prefix: str, into: dict[str, bytes]) -> None:
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            _collect(entry, f"{prefix}{entry.name}/", into)
        else:
            into[prefix + entry.name] = entry.read_bytes()
