"""Counter: the sum of increments, each counted once however often it is delivered."""

from __future__ import annotations

from dataclasses import dataclass, field

from .hlc import Stamp

__all__ = ["Counter"]


@dataclass(slots=True)
class Counter:
    """An op-based PN-counter: increments keyed by their op's unique stamp, so duplicates are no-ops."""

    increments: dict[Stamp, int] = field(default_factory=dict)

    def increment(self, amount: int, stamp: Stamp) -> None:
        self.increments[stamp] = amount

    @property
    def value(self) -> int:
        return sum(self.increments.values())

    def merge(self, other: Counter) -> Counter:
        return Counter({**self.increments, **other.increments})
