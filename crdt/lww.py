"""Last-writer-wins register: the value written at the greatest stamp wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .hlc import Stamp

__all__ = ["LWWRegister"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LWWRegister(Generic[T]):
    """A value and the stamp it was written at.

    Ties cannot happen between different writes: a stamp includes the writer's node tag and each
    node's clock is strictly increasing, so the stamp order alone is a deterministic tie-break.
    """

    value: T
    stamp: Stamp

    def set(self, value: T, stamp: Stamp) -> LWWRegister[T]:
        return self if stamp <= self.stamp else LWWRegister(value, stamp)

    def merge(self, other: LWWRegister[T]) -> LWWRegister[T]:
        return self if other.stamp <= self.stamp else other
