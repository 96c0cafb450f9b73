"""Hybrid logical clock: a stamp that orders events across nodes without synchronized clocks."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ClockSkewError, EncodingError

__all__ = ["Stamp", "HybridClock", "NODE_TAG_SIZE", "STAMP_SIZE", "MAX_DRIFT_MS"]

NODE_TAG_SIZE = 8
"""Bytes of the node identity carried in a stamp (a prefix of the node's public key)."""

_WALL_BYTES = 6  # milliseconds up to the year 10889
_COUNTER_BYTES = 2
STAMP_SIZE = _WALL_BYTES + _COUNTER_BYTES + NODE_TAG_SIZE
_MAX_WALL = (1 << (8 * _WALL_BYTES)) - 1
_MAX_COUNTER = (1 << (8 * _COUNTER_BYTES)) - 1

MAX_DRIFT_MS = 5 * 60 * 1000
"""How far ahead of our wall clock a remote stamp may be before we refuse it.

Field laptops drift; five minutes tolerates an unsynchronised clock while refusing one that would
drag every later write far into the future (an LWW register could then never be overwritten).
"""


@dataclass(frozen=True, slots=True, order=True)
class Stamp:
    """A point in hybrid logical time; the total order is (wall_ms, counter, node)."""

    wall_ms: int
    counter: int
    node: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms <= _MAX_WALL:
            raise EncodingError(f"stamp wall time {self.wall_ms} is outside 0..{_MAX_WALL}")
        if not 0 <= self.counter <= _MAX_COUNTER:
            raise EncodingError(f"stamp counter {self.counter} is outside 0..{_MAX_COUNTER}")
        if len(self.node) != NODE_TAG_SIZE:
            raise EncodingError(f"stamp node tag must be {NODE_TAG_SIZE} bytes, got {len(self.node)}")

    def pack(self) -> bytes:
        """Fixed-width big-endian bytes whose byte order equals the stamp order (memcmp-sortable)."""
        return (
            self.wall_ms.to_bytes(_WALL_BYTES, "big")
            + self.counter.to_bytes(_COUNTER_BYTES, "big")
            + self.node
        )

    @classmethod
    def unpack(cls, data: bytes) -> Stamp:
        if len(data) != STAMP_SIZE:
            raise EncodingError(f"a packed stamp is {STAMP_SIZE} bytes, got {len(data)}")
        return cls(
            int.from_bytes(data[:_WALL_BYTES], "big"),
            int.from_bytes(data[_WALL_BYTES : _WALL_BYTES + _COUNTER_BYTES], "big"),
            bytes(data[_WALL_BYTES + _COUNTER_BYTES :]),
        )


class HybridClock:
    """Issues strictly increasing stamps for one node; the current time is always passed in.

    Restart safety: the owner restores the clock with the highest stamp it ever issued or observed
    (the store keeps it), so a node whose wall clock was set back still never goes backwards.
    """

    __slots__ = ("_node", "_last", "_max_drift_ms")

    def __init__(self, node: bytes, last: Stamp | None = None, max_drift_ms: int = MAX_DRIFT_MS):
        if len(node) != NODE_TAG_SIZE:
            raise EncodingError(f"node tag must be {NODE_TAG_SIZE} bytes, got {len(node)}")
        self._node = node
        self._last = last if last is not None else Stamp(0, 0, node)
        self._max_drift_ms = max_drift_ms

    @property
    def last(self) -> Stamp:
        return self._last

    def tick(self, now_ms: int) -> Stamp:
        """A new stamp for a local event, later than every stamp issued or observed so far."""
        wall = max(now_ms, self._last.wall_ms)
        counter = self._last.counter + 1 if wall == self._last.wall_ms else 0
        if counter > _MAX_COUNTER:  # 65,536 events in one millisecond: borrow the next millisecond
            wall, counter = wall + 1, 0
        self._last = Stamp(wall, counter, self._node)
        return self._last

    def check(self, remote: Stamp, now_ms: int) -> None:
        """Refuse a remote stamp too far ahead of our wall clock, with a message that says by how much."""
        ahead = remote.wall_ms - now_ms
        if ahead > self._max_drift_ms:
            raise ClockSkewError(
                f"remote clock is {ahead} ms ahead of ours (limit {self._max_drift_ms} ms); "
                "check the sending node's system time"
            )

    def observe(self, remote: Stamp, now_ms: int) -> None:
        """Move past a remote stamp so later local stamps order after it."""
        self.check(remote, now_ms)
        if remote > self._last:
            # keep our own node tag: only (wall, counter) carry causality
            self._last = Stamp(remote.wall_ms, remote.counter, self._node)
