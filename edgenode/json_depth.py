"""JSON from outside, parsed with a bound on nesting.

Python's decoder recurses once per level, so a few kilobytes of `[[[[...` end in RecursionError (a
500) and deep values cost stack and time everywhere after. Every JSON document the node reads from
a client, an integration or a webhook goes through `loads`, which measures the nesting first
(outside of strings, at C speed) and refuses a document deeper than MAX_JSON_DEPTH with TooDeep, a
ValueError, so callers that already refuse invalid JSON refuse it the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "TooDeep", "loads", "nesting_exceeds"]

MAX_JSON_DEPTH = 32
"""Far beyond any Mattermost payload (a post's props nest about six deep), far below the recursion limit."""

_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = bytes.maketrans(b"[]", b"{}")


class TooDeep(ValueError):
    """A JSON document nests arrays and objects deeper than allowed."""


def nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the brackets of `raw`, outside strings, nest deeper than `limit`."""
    brackets = _STRINGS.sub(b"", raw).translate(_OPENERS, _NOT_BRACKETS)
    # Each pass removes every innermost pair, so nesting of depth d is gone after d passes.
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"{}", b"")
    return bool(brackets)


def loads(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """json.loads, after refusing (TooDeep) a document that nests deeper than `max_depth`."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if nesting_exceeds(data, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(raw, **options)
