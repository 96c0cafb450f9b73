"""A whole replica held in memory: the reference semantics of every op, and the test oracle.

The SQLite store in edgenode/ materializes the same semantics into tables; its tests check it
against this class, which is small enough to be obviously right.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .counter import Counter
from .hlc import Stamp
from .lww import LWWRegister
from .ops import Add, Create, Delete, EntityRef, Increment, Op, Remove, Update, Value, dependencies
from .orset import ORSet

__all__ = ["Entity", "Replica"]


@dataclass(slots=True)
class Entity:
    fields: dict[str, LWWRegister[Value]] = field(default_factory=dict)
    created: bool = False
    deleted: bool = False

    def write(self, fields: Iterable[tuple[str, Value]], stamp: Stamp) -> None:
        for name, value in fields:
            current = self.fields.get(name)
            self.fields[name] = LWWRegister(value, stamp) if current is None else current.set(value, stamp)


@dataclass(slots=True)
class Replica:
    """Entities with LWW fields and tombstones, OR-sets and counters, and ops waiting on missing entities."""

    entities: dict[EntityRef, Entity] = field(default_factory=dict)
    sets: dict[EntityRef, ORSet] = field(default_factory=dict)
    counters: dict[EntityRef, Counter] = field(default_factory=dict)
    waiting: dict[EntityRef, list[tuple[Stamp, Op]]] = field(default_factory=dict)

    def exists(self, ref: EntityRef) -> bool:
        entity = self.entities.get(ref)
        return entity is not None and entity.created

    def apply(self, stamp: Stamp, op: Op) -> None:
        """Apply an op now if every entity it depends on exists; otherwise keep it until they do."""
        # an explicit stack, not recursion: a long chain of creates delivered newest first would
        # otherwise unpark one level deeper per create and overflow Python's recursion limit
        pending = [(stamp, op)]
        while pending:
            stamp, op = pending.pop()
            missing = next((dep for dep in dependencies(op) if not self.exists(dep)), None)
            if missing is not None:
                queue = self.waiting.setdefault(missing, [])
                if (stamp, op) not in queue:
                    queue.append((stamp, op))
                continue
            self._execute(stamp, op)
            if isinstance(op, Create):
                pending.extend(reversed(self.waiting.pop((op.kind, op.id), [])))

    def _execute(self, stamp: Stamp, op: Op) -> None:
        if isinstance(op, (Create, Update)):
            entity = self.entities.setdefault((op.kind, op.id), Entity())
            entity.write(op.fields, stamp)
            entity.created = True
        elif isinstance(op, Delete):
            self.entities[(op.kind, op.id)].deleted = True
        elif isinstance(op, Add):
            self.sets.setdefault((op.kind, op.id), ORSet()).add(op.element, stamp)
        elif isinstance(op, Remove):
            self.sets.setdefault((op.kind, op.id), ORSet()).remove(op.element, op.tags)
        elif isinstance(op, Increment):
            self.counters.setdefault((op.kind, op.id), Counter()).increment(op.amount, stamp)

    def visible(self) -> dict[str, Any]:
        """What a user sees: live entities' fields, set members and counter values, in canonical order."""
        entities = {
            f"{kind}/{id_}": {name: reg.value for name, reg in sorted(e.fields.items())}
            for (kind, id_), e in sorted(self.entities.items())
            if e.created and not e.deleted
        }
        sets = {
            f"{kind}/{id_}": sorted(s.elements())
            for (kind, id_), s in sorted(self.sets.items())
            if s.elements()
        }
        counters = {f"{kind}/{id_}": c.value for (kind, id_), c in sorted(self.counters.items())}
        return {"entities": entities, "sets": sets, "counters": counters}

    def waiting_count(self) -> int:
        return sum(len(queue) for queue in self.waiting.values())
