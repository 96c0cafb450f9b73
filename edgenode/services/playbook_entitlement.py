"""Need-to-know for runs and playbooks: which of their feeds one peer node may receive.

A run (scope "run:<id>") is public when its playbook is public: every member of the team may view
it (services/playbook_runs.py), so every node may hold it. Any other run (a private playbook's, or
a channel checklist in a private channel) goes only to nodes that host its owner, one of its
participants, an effective member of its channel, or a member of its playbook. A playbook (scope "playbook:<id>") goes
everywhere when public, else only to nodes that host one of its members. What this node does not
know yet counts as private. Hubs are handled by the caller (they receive everything).

The sets are re-read when a commit may have changed them: to a run's or a playbook's feed, to the
directory (who a node hosts, team memberships), or to the channel of a run.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sync.ports import ScopeChange

from .context import DIRECTORY_SCOPE, USER_NODES_TABLE
from .membership import EFFECTIVE_CHANNEL_MEMBERS

__all__ = ["PlaybookEntitlement"]

_RUN, _PLAYBOOK = "run", "playbook"

_PUBLIC_RUNS = (
    "SELECT r.id FROM runs r LEFT JOIN playbooks p ON p.id = r.playbook_id LEFT JOIN channels c ON c.id = r.channel_id "
    "WHERE (coalesce(r.playbook_id, '') != '' AND p.public) OR (coalesce(r.playbook_id, '') = '' AND c.type = 'O')")
_ENTITLED_RUNS = (
    f"SELECT p.run_id FROM run_participants p JOIN {USER_NODES_TABLE} n ON n.user_id = p.user_id AND n.node = :node "
    f"UNION SELECT r.id FROM runs r JOIN {USER_NODES_TABLE} n ON n.user_id = r.owner_user_id AND n.node = :node "
    f"UNION SELECT r.id FROM runs r JOIN {EFFECTIVE_CHANNEL_MEMBERS} m ON m.channel_id = r.channel_id "
    f"JOIN {USER_NODES_TABLE} n ON n.user_id = m.user_id AND n.node = :node")
_PUBLIC_PLAYBOOKS = "SELECT id FROM playbooks WHERE public"
_ENTITLED_PLAYBOOKS = (
    f"SELECT DISTINCT p.id FROM playbooks p, json_each(CASE WHEN json_valid(p.members) THEN p.members ELSE '[]' END) j "
    f"JOIN {USER_NODES_TABLE} n ON n.user_id = json_extract(j.value, '$.user_id') AND n.node = :node "
    "WHERE json_type(j.value) = 'object'")
_RUN_PLAYBOOKS = "SELECT id, playbook_id FROM runs WHERE coalesce(playbook_id, '') != ''"
_RUN_CHANNELS = "SELECT DISTINCT channel_id FROM runs"
_ALL = "SELECT 'run:' || id FROM runs UNION ALL SELECT 'playbook:' || id FROM playbooks"


class PlaybookEntitlement:
    """The run and playbook scopes one peer node may receive, as of the last load."""

    KINDS = frozenset({_RUN, _PLAYBOOK})

    def __init__(self, store: Any, node: str):
        self._store = store
        self._node = node
        self._allowed: dict[str, set[str]] = {_RUN: set(), _PLAYBOOK: set()}
        self._run_channels: set[str] = set()

    async def load(self) -> None:
        params = {"node": self._node}
        playbooks = await self._ids(_PUBLIC_PLAYBOOKS) | await self._ids(_ENTITLED_PLAYBOOKS, params)
        runs = await self._ids(_PUBLIC_RUNS) | await self._ids(_ENTITLED_RUNS, params)
        # the members of a private playbook may view its runs (services/playbook_runs.py)
        runs |= {row[0] for row in await self._store.fetchall(_RUN_PLAYBOOKS) if row[1] in playbooks}
        self._allowed = {_RUN: runs, _PLAYBOOK: playbooks}
        self._run_channels = await self._ids(_RUN_CHANNELS)

    async def _ids(self, sql: str, params: Any = ()) -> set[str]:
        return {row[0] for row in await self._store.fetchall(sql, params)}

    def allows(self, kind: str, key: str) -> bool:
        return key in self._allowed.get(kind, set())

    def scopes(self) -> frozenset[str]:
        return frozenset(f"{kind}:{key}" for kind, keys in self._allowed.items() for key in keys)

    async def everything(self) -> frozenset[str]:
        return frozenset(await self._ids(_ALL))

    def may_change(self, scope: str) -> bool:
        kind, _, key = scope.partition(":")
        return kind in self.KINDS or (kind == "channel" and key in self._run_channels)

    async def refresh(self, scopes: Collection[str]) -> ScopeChange:
        if not any(s == DIRECTORY_SCOPE or self.may_change(s) for s in scopes):
            return ScopeChange()
        before = self.scopes()
        await self.load()
        after = self.scopes()
        return ScopeChange(after - before, before - after)
