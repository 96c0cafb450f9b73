"""Make crdt_strategies (the hypothesis strategies shared by these modules) importable.

pytest runs with --import-mode=importlib, which puts no test directory on sys.path, and helpers
cannot be imported from a conftest; so this directory is added once, here.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)
