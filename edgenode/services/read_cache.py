"""Answers read from the store, kept until a commit may have changed them.

Every request asks the same few questions (is this account usable, what is this channel, is the user
a member of it) and the answers change far more rarely than posts are written. A `ReadCache` keeps
them, named by the kinds of entity and set (op kinds, as in the schema) their queries read, and drops
them all when the store says a commit touched one of those kinds (`Store.subscribe_changes`): so a
cached answer is exactly what the store would say now, never one that is merely recent. A
deactivation or a removal, local or from a peer, refuses the very next request.

A fill that started before a commit may finish after the commit invalidated the cache, holding the
old answer; it is returned to its own (concurrent) caller but not kept: each cache counts its
invalidations, and a fill is kept only if the count did not move while it ran.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from edgenode.store import Store

__all__ = ["ReadCache", "shared_cache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 20_000
"""Past this many answers a cache starts again empty: a bound on memory, not a policy worth tuning."""


class ReadCache(Generic[K, V]):
    """key -> answer of a query over tables of `kinds`; exact, invalidated from the store's commits."""

    def __init__(self, store: Store, kinds: Iterable[str], *, max_entries: int = MAX_ENTRIES):
        self.kinds = frozenset(kinds)
        self._values: dict[K, V] = {}
        self._generation = 0
        self._max_entries = max_entries
        store.subscribe_changes(self._changed)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The kept answer for `key`, or what `load()` reads (kept unless a commit intervened)."""
        try:
            return self._values[key]
        except KeyError:
            pass
        generation = self._generation
        value = await load()
        if generation == self._generation:
            if len(self._values) >= self._max_entries:
                self._values.clear()
            self._values[key] = value
        return value

    def _changed(self, kinds: frozenset[str] | None) -> None:
        if kinds is None or not kinds.isdisjoint(self.kinds):
            self._generation += 1
            if self._values:
                self._values.clear()


_SHARED: weakref.WeakKeyDictionary[Store, dict[str, ReadCache[Any, Any]]] = weakref.WeakKeyDictionary()


def shared_cache(store: Store, name: str, kinds: Iterable[str]) -> ReadCache[Any, Any]:
    """The store's one cache called `name`, for services that are built more than once per node."""
    caches = _SHARED.setdefault(store, {})
    cache = caches.get(name)
    if cache is None:
        cache = caches[name] = ReadCache(store, kinds)
    elif cache.kinds != frozenset(kinds):
        raise ValueError(f"read cache {name!r} exists with other kinds: {sorted(cache.kinds)}")
    return cache
