"""The node's ed25519 identity, kept as a 0600 file in its data folder."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from edgenode.private_files import make_private_dir
from sync import Signer

__all__ = ["load_or_create_identity", "node_display_id", "IdentityError", "KEY_FILE"]

KEY_FILE = "node.key"
_SEED_SIZE = 32


class IdentityError(Exception):
    """The node key file is unreadable, malformed, or readable by others."""


def load_or_create_identity(data_dir: Path) -> Signer:
    """Load the node key, creating it (atomically, mode 0600) on first start."""
    path = data_dir / KEY_FILE
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise IdentityError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
        seed = path.read_bytes()
        if len(seed) != _SEED_SIZE:
            raise IdentityError(f"{path} is not a node key ({len(seed)} bytes, expected {_SEED_SIZE})")
        return Signer(seed)
    make_private_dir(data_dir)
    signer = Signer.generate()
    tmp = path.with_suffix(".tmp")
    # A crash mid-creation can leave tmp behind with any mode; reusing it would keep that mode.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, signer.seed)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return signer


def node_display_id(public_key: bytes) -> str:
    """A short readable id for a node: base32 of the first 16 key bytes (26 characters)."""
    return base64.b32encode(public_key[:16]).decode().rstrip("=").lower()
