"""Where a node keeps its data, from --data, EDGENODE_DATA, or the user's data directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["resolve_data_dir", "DATA_ENV", "STORE_FILE"]

DATA_ENV = "EDGENODE_DATA"
STORE_FILE = "edgenode.db"


def resolve_data_dir(option: str | os.PathLike[str] | None) -> Path:
    """The data folder: the --data option if given, else $EDGENODE_DATA, else the platform default."""
    if option:
        return Path(option).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir("edgenode", appauthor=False))
