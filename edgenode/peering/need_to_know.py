"""Need-to-know: which feeds a peer node may receive.

Public data go to every node of the mesh. A private channel's or a group/direct message's feeds
(scope "channel:<id>" of a channel of type P, G or D) go only to nodes that host one of its
members; a user's personal feed ("user:<id>": saved posts, preferences) only to nodes that host
that user. A node hosts a user once the user was created or logged in there: the replicated set
`user.nodes` (edgenode/services/users.py). A hub (a node whose mesh certificate carries the "hub"
role, e.g. a datacenter node) hosts everyone and receives everything. A channel this node knows
nothing of yet (its creation has not arrived) is treated as private.

Membership moves entitlement; it is the effective membership every access check uses
(services/membership.py: a user removed from a team is no member of its channels, whatever channel
add was made concurrently elsewhere), so a removed user's laptop stops receiving what its owner may
no longer read:
- when a member hosted on node N joins a private channel (or a user of the channel logs in on N
  for the first time), N becomes entitled and receives the channel's whole history at once;
- when the last member hosted on N leaves, N receives that removal and nothing written after it.
  What N already holds stays there: data cannot be unsent.

Each peer session keeps one `PeerNeedToKnow` (sets of user and channel ids) and refreshes only what
a commit may have changed: one channel's type and members after a commit to a private channel's
feed, everything after a directory commit (users, logins), the peer's roles after a "node" commit.
Commits to public channels (the bulk of the traffic) change nothing and cost nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from crdt import Add, Remove
from sync import SignedOp
from sync.codec import ops_of_kind
from sync.enrolment import NODE_SCOPE as _NODE_SCOPE
from sync.errors import MeshError
from sync.mesh import HUB_ROLE
from sync.ports import ScopeChange

from edgenode.services.context import DIRECTORY_SCOPE, USER_NODES, USER_NODES_TABLE
from edgenode.services.membership import EFFECTIVE_CHANNEL_MEMBERS

from .ports import StoreReads
from .trust import node_roles

__all__ = ["NeedToKnow", "PeerNeedToKnow", "HostingClaimError", "check_hosting_claims"]

_CHANNEL = "channel"
_USER = "user"

_HOSTED_USERS = f"SELECT user_id FROM {USER_NODES_TABLE} WHERE node = ?"
_PUBLIC_CHANNELS = "SELECT id FROM channels WHERE type = 'O'"
_ENTITLED_CHANNELS = (
    f"SELECT DISTINCT m.channel_id FROM {EFFECTIVE_CHANNEL_MEMBERS} m JOIN {USER_NODES_TABLE} n "
    "ON n.user_id = m.user_id AND n.node = ?")
_CHANNEL_TYPE = "SELECT type FROM channels WHERE id = ?"
_HOSTS_A_MEMBER = (
    f"SELECT 1 FROM {EFFECTIVE_CHANNEL_MEMBERS} m JOIN {USER_NODES_TABLE} n ON n.user_id = m.user_id AND n.node = ? "
    "WHERE m.channel_id = ? LIMIT 1")
_ALL_CHANNELS = "SELECT id FROM channels"
_ALL_USERS = "SELECT id FROM users"


class HostingClaimError(MeshError):
    """A node claimed that another node hosts a user: only a node itself may say whom it hosts."""


def check_hosting_claims(ops: Sequence[SignedOp]) -> None:
    """Refuse a segment in which an author adds (or removes) any node but itself to a user's
    `user.nodes`: otherwise one node could draw a user's private channels to another."""
    for signed, op in ops_of_kind(ops, USER_NODES):
        if isinstance(op, Add | Remove) and op.element != signed.feed.author.hex():
            raise HostingClaimError(f"node {signed.feed.author.hex()[:16]} claims that node {op.element[:16]} "
                                    f"hosts user {op.id} (op {signed.seq}); only a node may say whom it hosts")


class NeedToKnow:
    """The node's need-to-know policy over its store (sync.ports.Entitlements)."""

    def __init__(self, store: StoreReads):
        self._store = store

    async def for_peer(self, peer: bytes) -> PeerNeedToKnow:
        return PeerNeedToKnow(self._store, peer.hex())


class PeerNeedToKnow:
    """What one peer node may receive (sync.ports.PeerEntitlement), as of the last refresh."""

    def __init__(self, store: StoreReads, node: str):
        self._store = store
        self.node = node
        self.hub = False
        self.hosted: set[str] = set()
        """Users the peer hosts."""
        self.public: set[str] = set()
        self.private: set[str] = set()
        """Channels known to be of type P, G or D (a channel's type never changes)."""
        self.entitled: set[str] = set()
        """Private channels with a member the peer hosts."""

    async def load(self) -> None:
        await self._load_roles()
        if not self.hub:
            await self._load_sets()

    async def _load_roles(self) -> None:
        self.hub = HUB_ROLE in (await node_roles(self._store, bytes.fromhex(self.node)) or ())

    async def _load_sets(self) -> None:
        self.hosted = await self._ids(_HOSTED_USERS, (self.node,))
        self.public = await self._ids(_PUBLIC_CHANNELS)
        self.entitled = await self._ids(_ENTITLED_CHANNELS, (self.node,))

    async def _ids(self, sql: str, params: tuple[str, ...] = ()) -> set[str]:
        return {row[0] for row in await self._store.fetchall(sql, params)}

    # -- sync.ports.PeerEntitlement --------------------------------------------------------------

    def allows(self, scope: str) -> bool:
        if self.hub:
            return True
        kind, _, key = scope.partition(":")
        if kind == _CHANNEL:
            return key in self.public or key in self.entitled
        if kind == _USER:
            return key in self.hosted
        return True  # the directory, the mesh's feeds, and anything else public

    def may_change(self, scope: str) -> bool:
        if self.hub:
            return False  # roles are fixed by the certificate
        if scope in (DIRECTORY_SCOPE, _NODE_SCOPE):
            return True
        kind, _, key = scope.partition(":")
        return kind == _CHANNEL and key not in self.public  # a public channel stays public

    async def refresh(self, scopes: Collection[str]) -> ScopeChange:
        if _NODE_SCOPE in scopes and not self.hub:
            before = self._scopes()
            await self._load_roles()
            if self.hub:
                channels, users = await self._ids(_ALL_CHANNELS), await self._ids(_ALL_USERS)
                everything = {f"{_CHANNEL}:{c}" for c in channels} | {f"{_USER}:{u}" for u in users}
                return ScopeChange(frozenset(everything - before))
        wide = DIRECTORY_SCOPE in scopes
        before = self._scopes() if wide else set()
        channels = {scope: self.allows(scope) for scope in scopes if scope.startswith(_CHANNEL + ":")}
        if wide:  # who the peer hosts (a new host brings the channels of its users), and team memberships,
            # which decide effective channel membership (services/membership.py)
            self.hosted = await self._ids(_HOSTED_USERS, (self.node,))
            self.entitled = await self._ids(_ENTITLED_CHANNELS, (self.node,))
        for scope in channels:  # one private channel each: whether it has a member the peer hosts
            await self._refresh_channel(scope.partition(":")[2])
        if wide:
            after = self._scopes()
            return ScopeChange(frozenset(after - before), frozenset(before - after))
        return ScopeChange(frozenset(s for s, was in channels.items() if not was and self.allows(s)),
                           frozenset(s for s, was in channels.items() if was and not self.allows(s)))

    async def _refresh_channel(self, channel: str) -> None:
        if channel not in self.private:
            row = await self._store.fetchone(_CHANNEL_TYPE, (channel,))
            kind = row["type"] if row is not None else None
            if kind == "O":
                self.public.add(channel)
                return
            if kind is not None:
                self.private.add(channel)
        if await self._store.fetchone(_HOSTS_A_MEMBER, (self.node, channel)):
            self.entitled.add(channel)
        else:
            self.entitled.discard(channel)

    def _scopes(self) -> set[str]:
        """The scopes `allows` grants by name (the rest are granted by kind)."""
        return ({f"{_CHANNEL}:{c}" for c in self.public | self.entitled} | {f"{_USER}:{u}" for u in self.hosted})
