"""Makes tests/support importable (appended, so tests/crdt never shadows the real crdt package)."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
