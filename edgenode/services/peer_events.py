"""WebSocket events for ops that arrived from peers, so a user on this node sees what was written elsewhere.

The services raise events for local writes. Ops applied from peers (`Store.apply`) raise nothing by
themselves, so `PeerEvents` listens to the store's commit notifications and, for feeds authored by
other nodes, reads the newly committed ops and raises the events the local services would have
raised for them, built by the services' own builders, marked `from_peer`.

Off the hot path: the store listener only records how far each foreign feed advanced (coalescing
many commits into one entry per feed); one background task reads and publishes. Each round reads
at most `MAX_OPS_PER_ROUND` ops, at most `MAX_OPS_PER_FEED` of any one feed and always the newest
ones, and raises at most `MAX_POSTED_PER_FEED` `posted` events per feed (a feed is one node's writes
to one channel): a bulk catch-up (a node back from days offline) yields events for the newest posts
only, not one event per op. Older ops of such a burst raise nothing; a client sees them when it
loads the channel, as after any reconnect. A round that had to skip ops doubles the pause before
the next one (up to `MAX_SETTLE_S`), so a long catch-up is summarised in a few bounded rounds.

How far events were raised is kept in memory only and starts at the heads held at startup, so
old ops never raise events after a restart. Ops that wait for a missing dependency (a post whose
channel has not arrived) raise no event, neither now nor when they are materialized later: the
client sees them when it next loads the channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crdt import Add, Create, Delete, Op, Remove, Update
from sync import DecodeError, FeedHead, FeedId, decode_op

from .channels import (
    ChannelService,
    channel_created_event,
    channel_deleted_event,
    channel_updated_event,
    user_added_event,
    user_removed_events,
)
from .context import Context
from .events import Event
from .posts import PostService, post_deleted_event, post_edited_event, stored_mentions
from .reactions import reaction_event, reaction_json
from .teams import leave_team_events

__all__ = [
    "MAX_OPS_PER_FEED", "MAX_OPS_PER_ROUND", "MAX_POSTED_PER_FEED", "Change", "PeerEvents", "changes_of", "read_shares",
]

MAX_OPS_PER_ROUND = 1000
"""Ops read (and so events raised, at most) in one round over all feeds that advanced."""
MAX_OPS_PER_FEED = 400
"""Newest ops of one feed read in one round; older ones of a larger burst raise nothing."""
MAX_POSTED_PER_FEED = 200
"""`posted` events for one feed in one round: the newest posts of a burst."""
SETTLE_S = 0.02
"""Pause between a commit and the round that reads it, so commits close together share a round."""
MAX_SETTLE_S = 1.0

_log = logging.getLogger(__name__)
_POST_UPDATES_WITHOUT_EVENT = frozenset({"update_at", "delete_at"})  # a reaction's bump; a delete's first half
_CHANNEL_UPDATES_WITHOUT_EVENT = frozenset({"update_at"})


@dataclass(frozen=True, slots=True)
class Change:
    """One thing a client should hear about, named by the event it raises, in the order of the ops."""

    event: str
    id: str  # the post or channel
    element: str = ""  # "user_id:emoji_name" for reactions, the user id for channel members
    creator_id: str = ""  # channel_created: who receives it
    team_id: str = ""
    at: int = 0  # reaction_removed: when the removed reaction was added; channel_deleted: delete_at


def changes_of(ops: Sequence[Op], max_posted: int = MAX_POSTED_PER_FEED) -> list[Change]:
    """What a run of ops (of one feed, in order) changed that clients hear about, as the services report it.

    Mirrors the services: a post's edit or pin is `post_edited` (not a reaction's bump of update_at),
    one per post however many edits; a deleted thread is one `post_deleted` of its root (replies go
    with it, as in PostService.delete); members added with their new channel raise no `user_added`;
    a restored channel raises nothing. Only the newest `max_posted` new posts raise `posted`.
    """
    created_posts = {op.id for op in ops if isinstance(op, Create) and op.kind == "post"}
    created_channels = {op.id for op in ops if isinstance(op, Create) and op.kind == "channel"}
    deleted_posts = {op.id for op in ops if isinstance(op, Delete) and op.kind == "post"}
    changes: list[Change] = []
    edited: set[tuple[str, str]] = set()
    for op in ops:
        if op.kind == "post":
            if isinstance(op, Create):
                changes.append(Change("posted", op.id))
            elif isinstance(op, Update) and op.id not in created_posts | deleted_posts and \
                    {name for name, _ in op.fields} - _POST_UPDATES_WITHOUT_EVENT and ("post", op.id) not in edited:
                edited.add(("post", op.id))
                changes.append(Change("post_edited", op.id))
            elif isinstance(op, Delete) and op.id not in created_posts:
                changes.append(Change("post_deleted", op.id))
        elif op.kind == "post.reactions" and isinstance(op, Add):
            changes.append(Change("reaction_added", op.id, op.element))
        elif op.kind == "post.reactions" and isinstance(op, Remove):
            changes.append(Change("reaction_removed", op.id, op.element, at=min(t.wall_ms for t in op.tags)))
        elif op.kind == "channel":
            fields = dict(op.fields) if isinstance(op, (Create, Update)) else {}
            if isinstance(op, Create):
                changes.append(Change("channel_created", op.id, creator_id=str(fields.get("creator_id") or ""),
                                      team_id=str(fields.get("team_id") or "")))
            elif isinstance(op, Update) and "delete_at" in fields:
                delete_at = fields["delete_at"]
                if isinstance(delete_at, int) and delete_at > 0:
                    changes.append(Change("channel_deleted", op.id, at=delete_at))
            elif isinstance(op, Update) and set(fields) - _CHANNEL_UPDATES_WITHOUT_EVENT and ("channel", op.id) not in edited:
                edited.add(("channel", op.id))
                changes.append(Change("channel_updated", op.id))
        elif op.kind == "channel.members" and isinstance(op, Add) and op.id not in created_channels:
            changes.append(Change("user_added", op.id, op.element))
        elif op.kind == "channel.members" and isinstance(op, Remove):
            changes.append(Change("user_removed", op.id, op.element))
        elif op.kind == "team.members" and isinstance(op, Remove):
            changes.append(Change("leave_team", op.id, op.element))
    posted = [i for i, c in enumerate(changes) if c.event == "posted"]
    if len(posted) > max_posted:
        # A burst: only its newest posts are announced (a feed's posts are in the order they were written).
        dropped = set(posted[:len(posted) - max_posted])
        changes = [c for i, c in enumerate(changes) if i not in dropped]
    return changes


def read_shares(backlogs: dict[FeedId, int], budget: int, per_feed: int) -> dict[FeedId, int]:
    """How many of its newest ops each feed gets read this round: small backlogs (live traffic) in full,
    then an equal share of what is left of `budget`, never more than `per_feed`; feeds left without a
    share get 0."""
    shares: dict[FeedId, int] = {}
    remaining = budget
    ordered = sorted(backlogs.items(), key=lambda item: item[1])
    for i, (feed, backlog) in enumerate(ordered):
        fair = max(remaining // (len(ordered) - i), 1 if remaining else 0)
        shares[feed] = take = min(backlog, per_feed, fair)
        remaining -= take
    return shares


class PeerEvents:
    """Raises WebSocket events for foreign ops as they are committed; `start()` and `stop()` with the node."""

    def __init__(self, ctx: Context, posts: PostService, channels: ChannelService, *,
                 settle_s: float = SETTLE_S, max_settle_s: float = MAX_SETTLE_S,
                 ops_per_round: int = MAX_OPS_PER_ROUND, ops_per_feed: int = MAX_OPS_PER_FEED,
                 posted_per_feed: int = MAX_POSTED_PER_FEED):
        self._ctx = ctx
        self._posts = posts
        self._channels = channels
        self._settle_s, self._max_settle_s = settle_s, max_settle_s
        self._ops_per_round, self._ops_per_feed, self._posted_per_feed = ops_per_round, ops_per_feed, posted_per_feed
        self._raised: dict[FeedId, int] = {}  # per foreign feed, the seq up to which events were raised
        self._pending: dict[FeedId, int] = {}  # per foreign feed, the newest head committed since
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.scope_events: dict[str, Callable[[str, Sequence[Op]], Awaitable[list[Event]]]] = {}
        """Event builders of other services by scope kind ("run"): (key, the feed's new ops) -> events."""

    async def start(self) -> None:
        """Raise events for foreign ops committed from now on (never for those held already)."""
        if self._task is not None:
            return
        store = self._ctx.store
        self._unsubscribe = store.subscribe(self._on_heads)  # before reading the heads: nothing falls between
        self._raised = {feed: head.seq for feed, head in (await store.heads()).items() if feed.author != store.node_id}
        self._task = asyncio.create_task(self._run(), name="peer-events")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._idle.set()

    async def drain(self) -> None:
        """Wait until the events of every foreign op committed so far are raised (or skipped)."""
        while self._task is not None and not self._idle.is_set():
            await self._idle.wait()

    def _on_heads(self, heads: dict[FeedId, FeedHead]) -> None:
        """The store's commit listener: runs on the apply path, so it only takes note."""
        own = self._ctx.store.node_id
        noted = False
        for feed, head in heads.items():
            if feed.author != own and head.seq > self._pending.get(feed, 0):
                self._pending[feed] = head.seq
                noted = True
        if noted and self._task is not None:
            self._idle.clear()
            self._wake.set()

    async def _run(self) -> None:
        settle = self._settle_s
        while True:
            await self._wake.wait()
            await asyncio.sleep(settle)
            self._wake.clear()
            advanced, self._pending = self._pending, {}
            try:
                skipped = await self._round(advanced)
            except Exception:  # noqa: BLE001 -- a bad op or a failed read must not end the events of every later op
                _log.exception("could not raise events for ops received from peers")
                skipped = False
            settle = min(settle * 2, self._max_settle_s) if skipped else self._settle_s
            if not self._pending:
                self._idle.set()

    async def _round(self, advanced: dict[FeedId, int]) -> bool:
        """Raise the events of the ops committed since the last round; True if some were skipped."""
        backlogs: dict[FeedId, tuple[int, int]] = {}
        for feed, head in advanced.items():
            after = self._raised.get(feed, 0)
            if head > after:
                backlogs[feed] = (after, head)
                self._raised[feed] = head
        shares = read_shares({feed: head - after for feed, (after, head) in backlogs.items()},
                             self._ops_per_round, self._ops_per_feed)
        skipped = False
        for feed, (after, head) in backlogs.items():
            take = shares[feed]
            skipped = skipped or take < head - after
            if take == 0:
                continue
            ops = list(_decoded(op.body for op in await self._ctx.store.segment(feed, head - take, take)))
            changes = changes_of(ops, self._posted_per_feed)
            skipped = skipped or sum(isinstance(op, Create) and op.kind == "post" for op in ops) > self._posted_per_feed
            for event in await self._events(changes):
                self._ctx.events.publish(event)
            kind, _, key = feed.scope.partition(":")
            if kind in self.scope_events:
                for event in await self.scope_events[kind](key, ops):
                    self._ctx.events.publish(event)
            await asyncio.sleep(0)  # let connections send what this feed raised before the next one
        return skipped

    async def _events(self, changes: Sequence[Change]) -> list[Event]:
        """The events of `changes`, from what the store holds now, in order; changes not materialized raise none."""
        if not changes:
            return []
        store = self._ctx.store
        post_ids = sorted({c.id for c in changes if c.event.startswith(("post", "reaction"))})
        rows = {r["id"]: r for r in await _rows(self._ctx, "posts", post_ids)}
        channel_ids = {c.id for c in changes if c.event.startswith(("channel", "user"))}
        channel_ids |= {r["channel_id"] for r in rows.values()}
        channels = {r["id"]: r for r in await _rows(self._ctx, "channels", sorted(channel_ids)) if not r["_deleted"]}
        wanted = [rows[c.id] for c in changes if c.event in ("posted", "post_edited", "post_deleted") and c.id in rows]
        posts = {p["id"]: p for p in await self._posts.to_json_many(wanted)}
        reactions = {(r["post_id"], f"{r['user_id']}:{r['emoji_name']}"): r for r in await store.fetchall(
            "SELECT * FROM reactions WHERE post_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted({c.id for c in changes if c.event.startswith("reaction")})),))}
        posted = await self._posted(changes, rows, posts, channels)
        deleted_roots = {c.id for c in changes if c.event == "post_deleted"}
        events: list[Event] = []
        for change in changes:
            row = rows.get(change.id)
            live_post = row is not None and not row["_deleted"]
            if change.event == "posted" and change.id in posted:
                events.append(posted[change.id])
            elif change.event == "post_edited" and live_post and change.id in posts:
                events.append(post_edited_event(posts[change.id], from_peer=True))
            elif change.event == "post_deleted" and row is not None and row["_deleted"] and change.id in posts \
                    and row["root_id"] not in deleted_roots:
                events.append(post_deleted_event(posts[change.id], None, from_peer=True))
            elif change.event == "reaction_added" and live_post and (change.id, change.element) in reactions:
                assert row is not None
                reaction = reaction_json(reactions[(change.id, change.element)], row["channel_id"])
                events.append(reaction_event("reaction_added", reaction, from_peer=True))
            elif change.event == "reaction_removed" and live_post and (change.id, change.element) not in reactions:
                assert row is not None  # a reaction added elsewhere, concurrently, survives the remove: then no event
                user_id, _, emoji_name = change.element.partition(":")
                removed = {"user_id": user_id, "post_id": change.id, "emoji_name": emoji_name, "create_at": change.at}
                events.append(reaction_event("reaction_removed", reaction_json(removed, row["channel_id"]), from_peer=True))
            elif change.event == "channel_created" and change.id in channels and change.creator_id:
                events.append(channel_created_event(change.id, change.team_id, change.creator_id, from_peer=True))
            elif change.event == "channel_updated" and change.id in channels:
                channel = await self._channels.to_json(channels[change.id])
                events.append(channel_updated_event(channel, from_peer=True))
            elif change.event == "channel_deleted" and change.id in channels:
                events.append(channel_deleted_event(change.id, change.at, from_peer=True))
            elif change.event == "user_added" and change.id in channels:
                events.append(user_added_event(change.id, change.element, channels[change.id]["team_id"] or "",
                                               from_peer=True))
            elif change.event == "user_removed" and change.id in channels:
                # the op names the node that wrote it, not the user who removed the member
                events.extend(user_removed_events(change.id, change.element, "", from_peer=True))
            elif change.event == "leave_team":
                events.extend(leave_team_events(change.id, change.element, from_peer=True))
        return events

    async def _posted(self, changes: Sequence[Change], rows: dict[str, sqlite3.Row], posts: dict[str, dict[str, Any]],
                      channels: dict[str, sqlite3.Row]) -> dict[str, Event]:
        """The `posted` event of each new post that is materialized and not deleted since, by post id."""
        by_channel: dict[str, list[tuple[dict[str, Any], list[str]]]] = {}
        for change in changes:
            row = rows.get(change.id)
            if change.event == "posted" and row is not None and not row["_deleted"] and row["channel_id"] in channels:
                by_channel.setdefault(row["channel_id"], []).append((posts[change.id], stored_mentions(row)))
        out: dict[str, Event] = {}
        for channel_id, new in by_channel.items():
            events = await self._posts.posted_events(channels[channel_id], new, from_peer=True)
            out.update((post["id"], event) for (post, _), event in zip(new, events))
        return out


def _decoded(bodies: Iterable[bytes]) -> Iterable[Op]:
    for body in bodies:
        try:
            yield decode_op(body)
        except DecodeError:
            continue  # kept in the log as invalid by the store (e.g. written by a newer version): nothing to say


async def _rows(ctx: Context, table: str, ids: Sequence[str]) -> list[sqlite3.Row]:
    """Rows of `table` by id, tombstoned ones included, in one query."""
    if not ids:
        return []
    return await ctx.store.fetchall(f"SELECT * FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
                                    (json.dumps(list(ids)),))
