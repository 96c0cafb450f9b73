"""Observed-remove set with add-wins semantics, for memberships, reactions and labels.

An add is tagged with its op's unique stamp; a remove cancels exactly the tags its author had
observed. So when an add and a remove are concurrent, the add wins: the remove could not have seen
the new tag. We choose add-wins because in a disconnected team the surprising loss is the silent
one: somebody who adds a member or a reaction while offline sees it kept, and a remove still undoes
everything its author could see. (A remove-wins set would make an offline add vanish.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .hlc import Stamp

__all__ = ["ORSet"]


@dataclass(slots=True)
class ORSet:
    """Add-wins observed-remove set of strings; mutable for speed, merged as a join of two grow-only sets."""

    adds: dict[str, set[Stamp]] = field(default_factory=dict)
    removed: set[Stamp] = field(default_factory=set)

    def add(self, element: str, tag: Stamp) -> None:
        if tag not in self.removed:
            self.adds.setdefault(element, set()).add(tag)

    def remove(self, element: str, tags: Iterable[Stamp]) -> None:
        # A tag names one add wherever it was made: cancel it under every element, as merge() does,
        # so that a remove naming another element's tag has the same effect before or after that add.
        tags = set(tags)
        self.removed |= tags
        for name in [name for name, live in self.adds.items() if not live.isdisjoint(tags)]:
            live = self.adds[name]
            live -= tags
            if not live:
                del self.adds[name]

    def tags(self, element: str) -> frozenset[Stamp]:
        """The live add-tags of an element: what a remove issued now must cancel."""
        return frozenset(self.adds.get(element, ()))

    def __contains__(self, element: object) -> bool:
        return element in self.adds

    def elements(self) -> frozenset[str]:
        return frozenset(self.adds)

    def merge(self, other: ORSet) -> ORSet:
        removed = self.removed | other.removed
        adds: dict[str, set[Stamp]] = {}
        for source in (self.adds, other.adds):
            for element, tags in source.items():
                live = tags - removed
                if live:
                    adds.setdefault(element, set()).update(live)
        return ORSet(adds, removed)
