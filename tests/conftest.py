"""Makes tests/support importable (appended, so tests/crdt never shadows the real crdt package)."""

import os
import sys
from pathlib import Path

# `edgenode serve` started by tests neither listens for peers nor sends mDNS multicast (which would
# leave the machine) unless the test asks for it with explicit flags (tests/e2e does, inside namespaces).
os.environ["EDGENODE_SYNC_PORT"] = "0"
os.environ["EDGENODE_MDNS"] = "0"

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
