"""The data folder is private to its owner: the folder and every folder in it 0700, every file 0600.

The folder holds the node's signing key, the mesh CA key, every message and file of the mesh and
the audit log. Modes are set explicitly rather than left to the umask, which a user (or a service
manager) may have set to 022 or 000: a file is created with mode 0600 (the umask can only remove
bits from that, never add them), and a folder is chmod-ed after mkdir. Files made by SQLite (the
-wal and -shm beside the database) take the database file's mode, so the database is created
0600 before SQLite first opens it. A folder made by an older version, or opened up by hand, is
tightened when the node opens it (`restrict_tree`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "REFUSED_IF_OPEN", "make_private_dir", "create_private_file",
    "restrict_tree", "secure_data_dir",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
REFUSED_IF_OPEN = ("node.key", "mesh/ca.key")
"""Private keys (identity.KEY_FILE, mesh.CA_KEY) that their loaders refuse, with a chmod hint, when
others could read them: such a key may have leaked, so whether to keep it is the owner's call, and
restrict_tree leaves these alone rather than quietly making them look safe."""


def secure_data_dir(data_dir: Path, database: str) -> list[Path]:
    """Before a node opens its store: the data folder 0700, everything in it tightened (but the keys
    in REFUSED_IF_OPEN), and the database file created 0600 if it is new. Returns what was tightened."""
    make_private_dir(data_dir)
    changed = restrict_tree(data_dir, leave=REFUSED_IF_OPEN)
    create_private_file(data_dir / database)
    return changed


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) if needed, and make `path` itself 0700.

    Parents keep whatever mode they get: they are the user's folders (~/.local/share, ...), not ours.
    """
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> None:
    """Make sure `path` exists, creating it empty with mode 0600 if it does not (contents untouched)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    os.close(fd)


def restrict_tree(root: Path, leave: Collection[str] = ()) -> list[Path]:
    """Take group and other permissions away from `root`, every folder and every file under it but
    those in `leave` (paths relative to `root`, with '/'); returns the paths changed. Symbolic links
    are neither followed nor changed."""
    changed: list[Path] = []
    left = {os.path.join(root, *name.split("/")) for name in leave}

    def tighten(path: str, is_dir: bool) -> None:
        try:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
        except FileNotFoundError:  # a temporary file that went away while we walked
            return
        wanted = PRIVATE_DIR_MODE if is_dir else mode & ~0o077
        if mode != wanted:
            os.chmod(path, wanted)
            changed.append(Path(path))

    tighten(str(root), True)
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                tighten(path, True)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path) and path not in left:
                tighten(path, False)
    return changed
