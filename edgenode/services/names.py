"""Which live entity a name stands for: one rule for usernames, emails, team names and channel names.

On one node a name is checked free inside the writer's transaction (`Names.taken`, run as the
write's precondition), so concurrent requests cannot both take it. Across a partition two nodes may
each give the same name to a different entity; both entities exist after the merge. Then, on every
node alike and from the ops alone:

- names compare case-insensitively within their namespace (all users; all teams; a team's channels);
- among live entities sharing a name, the one whose name was written first keeps it: the earliest
  stamp of the write that set the name (the Create, or the Update that renamed it), then the
  smaller id;
- every other one is shown, and found, under a derived name: its name cut short, '-' and the first
  6 characters of its id (more characters, up to the whole id, while that is someone's name or
  another derived name), which still follows the name's syntax rules.

Nothing is written to resolve a conflict: the answer is a pure function of the materialized rows,
so every node holding the same ops answers the same, at once. The owner is told by WebSocket events
when this node first sees the demotion, and the entity's JSON says which name it lost (see show_*).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from sync import FeedHead, FeedId

from edgenode.store import Store, StoreClosedError

from .context import Context
from .events import Broadcast, Event
from .models import channel_json, sanitize_profile, team_json, user_json
from .name_rules import CHANNEL_NAME_MAX, TEAM_NAME_MAX, USERNAME_MAX

__all__ = ["Claim", "Namespace", "Names", "USERNAME", "EMAIL", "TEAM", "CHANNEL", "demote", "CONFLICT_PROP"]

_log = logging.getLogger(__name__)
_SUFFIXES = (6, 8, 10, 12, 16, 20, 26)
CONFLICT_PROP = "name_conflict"
"""Key, in a demoted user's or channel's props, of the name it lost (the owner's lasting notice)."""


def _cut(limit: int) -> Callable[[str, str, int], str]:
    def derive(name: str, entity_id: str, k: int) -> str:
        return f"{name[:limit - k - 1]}-{entity_id[:k]}"
    return derive


def _derive_email(email: str, entity_id: str, k: int) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local}+{entity_id[:k]}@{domain}"


@dataclass(frozen=True, slots=True)
class Namespace:
    """Where a kind of name must be unique: a table's column, within `scope` (an SQL expression)."""

    label: str
    table: str
    column: str
    scope: str
    where: str
    derive: Callable[[str, str, int], str]

    def _live(self) -> str:
        return f"_deleted = 0 AND {self.where}"

    def conflicts_sql(self) -> str:
        """Live rows whose name another live row of the same scope shares."""
        return (f"SELECT id, {self.scope}, {self.column}, _stamp, _clk FROM {self.table} WHERE {self._live()} "
                f"AND ({self.scope}, lower({self.column})) IN (SELECT {self.scope}, lower({self.column}) "
                f"FROM {self.table} WHERE {self._live()} GROUP BY 1, 2 HAVING count(*) > 1)")

    def holders_sql(self) -> str:
        return (f"SELECT id, {self.scope}, {self.column}, _stamp, _clk FROM {self.table} WHERE {self._live()} "
                f"AND {self.scope} = ? AND lower({self.column}) = ?")

    def stored_sql(self) -> str:
        return (f"SELECT DISTINCT {self.scope}, lower({self.column}) FROM {self.table} WHERE {self._live()} "
                f"AND lower({self.column}) IN (SELECT value FROM json_each(?))")


USERNAME = Namespace("username", "users", "username", "''", "1", _cut(USERNAME_MAX))
EMAIL = Namespace("email", "users", "email", "''", "coalesce(email, '') != ''", _derive_email)
TEAM = Namespace("team", "teams", "name", "''", "1", _cut(TEAM_NAME_MAX))
# Direct and group channels are named after their members and get ids from their names: never two.
CHANNEL = Namespace("channel", "channels", "name", "coalesce(team_id, '')", "type NOT IN ('D', 'G')",
                    _cut(CHANNEL_NAME_MAX))
_ALL = (USERNAME, EMAIL, TEAM, CHANNEL)


@dataclass(frozen=True, slots=True, order=True)
class Claim:
    """A live entity's hold on a name; ordering puts the holder of a shared name first."""

    scope: str
    key: str  # the name as compared: lowercase
    stamp: bytes  # clock of the write that set the name (packed stamps order as stamps do)
    id: str
    name: str  # as stored


def claim_of(ns: Namespace, row: Sequence[Any]) -> Claim:
    """(id, scope, name, _stamp, _clk) -> Claim."""
    entity_id, scope, name, created, clk = row[0], row[1], row[2] or "", row[3], row[4]
    clocks: dict[str, bytes] = msgpack.unpackb(clk) if clk else {}
    return Claim(scope or "", name.lower(), clocks.get(ns.column, created), entity_id, name)


def _losers(claims: Iterable[Claim]) -> list[Claim]:
    ordered = sorted(claims)
    return [c for prev, c in zip([None, *ordered], ordered) if prev is not None and (prev.scope, prev.key) == (c.scope, c.key)]


def candidates(ns: Namespace, claims: Iterable[Claim]) -> list[str]:
    """Every derived name the losers among `claims` might get (to ask the store which are taken)."""
    return sorted({ns.derive(c.name, c.id, k).lower() for c in _losers(claims) for k in _SUFFIXES})


def demote(ns: Namespace, claims: Iterable[Claim], stored: set[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """id -> (scope, shown name) for each entity that lost its name; pure.

    `claims` are the live claims of shared names; `stored` the (scope, name) pairs some live entity
    holds as its own name, among the candidates.
    """
    shown: dict[str, tuple[str, str]] = {}
    assigned: set[tuple[str, str]] = set()
    for loser in _losers(claims):
        name = loser.id  # the whole id is a valid name of every kind, and nobody else's
        for k in _SUFFIXES:
            candidate = ns.derive(loser.name, loser.id, k)
            key = (loser.scope, candidate.lower())
            if key not in stored and key not in assigned:
                name = candidate
                break
        assigned.add((loser.scope, name.lower()))
        shown[loser.id] = (loser.scope, name)
    return shown


def compute(ns: Namespace, conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """demote() over what `conn` holds now (for the writer's thread)."""
    claims = [claim_of(ns, r) for r in conn.execute(ns.conflicts_sql())]
    if not claims:
        return {}
    stored = {(r[0] or "", r[1]) for r in conn.execute(ns.stored_sql(), (json.dumps(candidates(ns, claims)),))}
    return demote(ns, claims, stored)


def taken(ns: Namespace, conn: sqlite3.Connection, name: str, scope: str = "", owner_id: str = "") -> bool:
    """Whether a live entity other than `owner_id` holds `name`, or is shown under it (writer's thread)."""
    key = name.lower()
    if any(r[0] != owner_id for r in conn.execute(ns.holders_sql(), (scope, key))):
        return True
    return any(s == scope and shown.lower() == key and i != owner_id for i, (s, shown) in compute(ns, conn).items())


class Names:
    """The node's resolver; one per store (`Names.of`), caching demotions until the store changes."""

    _of: ClassVar[weakref.WeakKeyDictionary[Any, Names]] = weakref.WeakKeyDictionary()

    def __init__(self, ctx: Context):
        # Weakly: `of` keeps one Names per live store, and a strong reference back would keep every
        # store (and its resolver) alive for good.
        self._store_ref = weakref.ref(ctx.store)
        self._events = ctx.events
        self._cache: dict[str, tuple[int, dict[str, tuple[str, str]]]] = {}
        self._announced: set[tuple[str, str, str]] = set()
        self._announcing: asyncio.Task[None] | None = None
        self._again = False
        ctx.store.subscribe(self._heads_advanced)

    @property
    def _store(self) -> Store:
        store = self._store_ref()
        if store is None:
            raise StoreClosedError("the store is closed")
        return store

    @classmethod
    def of(cls, ctx: Context) -> Names:
        names = cls._of.get(ctx.store)
        if names is None:
            names = cls._of[ctx.store] = cls(ctx)
        return names

    # -- resolving ---------------------------------------------------------------------------

    async def demoted(self, ns: Namespace) -> dict[str, tuple[str, str]]:
        """id -> (scope, shown name) of every live entity of `ns` shown under a derived name."""
        version = self._store.commits
        cached = self._cache.get(ns.label)
        if cached is not None and cached[0] == version:
            return cached[1]
        store = self._store
        claims = [claim_of(ns, r) for r in await store.fetchall(ns.conflicts_sql())]
        result: dict[str, tuple[str, str]] = {}
        if claims:
            rows = await store.fetchall(ns.stored_sql(), (json.dumps(candidates(ns, claims)),))
            result = demote(ns, claims, {(r[0] or "", r[1]) for r in rows})
        self._cache[ns.label] = (version, result)
        return result

    async def resolve(self, ns: Namespace, name: str, scope: str = "") -> str | None:
        """The id of the live entity `name` stands for in `scope`, or None."""
        key = name.lower()
        rows = await self._store.fetchall(ns.holders_sql(), (scope, key))
        if rows:
            return min(claim_of(ns, r) for r in rows).id
        for entity_id, (s, shown) in (await self.demoted(ns)).items():
            if s == scope and shown.lower() == key:
                return entity_id
        return None

    async def resolve_many(self, ns: Namespace, names: Iterable[str], scope: str = "") -> dict[str, str]:
        """name -> id for each of `names` that stands for a live entity."""
        found: dict[str, str] = {}
        for name in dict.fromkeys(names):
            entity_id = await self.resolve(ns, name, scope)
            if entity_id is not None:
                found[name] = entity_id
        return found

    async def shown(self, ns: Namespace, entity_id: str, stored: str) -> str:
        """The name an entity is shown under: its own, or the derived one if it lost it."""
        demoted = (await self.demoted(ns)).get(entity_id)
        return demoted[1] if demoted is not None else stored

    # -- showing -----------------------------------------------------------------------------

    async def show_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """A user's JSON with the names it is known by; a lost username is named in props."""
        lost = user["username"]
        user["username"] = await self.shown(USERNAME, user["id"], user["username"])
        if user.get("email"):
            user["email"] = await self.shown(EMAIL, user["id"], user["email"])
        if user["username"] != lost:
            user["props"] = {**(user.get("props") or {}), CONFLICT_PROP: lost}
        return user

    async def show_users(self, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for user in users:
            await self.show_user(user)
        return users

    async def show_team(self, team: dict[str, Any]) -> dict[str, Any]:
        team["name"] = await self.shown(TEAM, team["id"], team["name"])
        return team

    async def show_channel(self, channel: dict[str, Any]) -> dict[str, Any]:
        lost = channel["name"]
        if channel.get("type") in ("O", "P"):
            channel["name"] = await self.shown(CHANNEL, channel["id"], channel["name"])
        if channel["name"] != lost:
            channel["props"] = {**(channel.get("props") or {}), CONFLICT_PROP: lost}
        return channel

    # -- telling owners ----------------------------------------------------------------------

    def _heads_advanced(self, heads: dict[FeedId, FeedHead]) -> None:
        # Only ops from peers can demote a name: local writes are checked free first.
        if all(feed.author == self._store.node_id for feed in heads):
            return
        if self._announcing is not None and not self._announcing.done():
            self._again = True  # a catch-up applies many segments: one pass after the running one will do
            return
        try:
            self._announcing = asyncio.get_running_loop().create_task(self._announce_until_settled())
        except RuntimeError:  # no loop (a store used outside asyncio): nobody to tell
            return

    async def _announce_until_settled(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self.announce()

    async def announce(self) -> int:
        """Publish one event per demotion this node has not announced yet; returns how many.

        Events are node-local (no ops), so every node telling its own clients makes no traffic.
        """
        published = 0
        try:
            for ns in _ALL:
                for entity_id, (scope, shown) in (await self.demoted(ns)).items():
                    mark = (ns.label, entity_id, shown)
                    if mark in self._announced:
                        continue
                    events = await self._events_for(ns, entity_id)
                    self._announced.add(mark)
                    for event in events:
                        self._events.publish(event)
                    published += bool(events)
        except Exception:  # a failed notice must not break the write that triggered it
            _log.exception("announcing demoted names failed")
        return published

    async def _events_for(self, ns: Namespace, entity_id: str) -> list[Event]:
        """The notice of a demotion, each recipient seeing what Mattermost would serve them: the user
        themself gets their whole profile, everyone else a sanitized one (no notify_props, which hold
        private mention keys); a team's members get it without its invite id and email."""
        row = await self._store.fetchone(f"SELECT * FROM {ns.table} WHERE id = ?", (entity_id,))
        if row is None:
            return []
        if ns.table == "users":
            user = await self.show_user(user_json(row, sanitize_email=True))
            return [Event("user_updated", {"user": user}, Broadcast(user_id=entity_id), True),
                    Event("user_updated", {"user": sanitize_profile(user, "", False)},
                          Broadcast(omit_users=frozenset({entity_id})), True)]
        if ns.table == "teams":
            team = {**await self.show_team(team_json(row)), "email": "", "invite_id": ""}
            return [Event("update_team", {"team": json.dumps(team)}, Broadcast(team_id=entity_id), True)]
        channel = await self.show_channel(channel_json(row))
        return [Event("channel_updated", {"channel": channel}, Broadcast(channel_id=entity_id), True)]
