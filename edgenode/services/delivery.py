"""Whether a post has reached another node yet: the web UI's per-message mark (docs/ui.md).

A post written here is an op in this node's feed of its channel. A peer holds it once that peer's
frontier in the feed (what the sync sessions learned of it, sync/manager.py) is at or past the op,
and within one feed the stamps grow with the sequence numbers, so comparing the stamp of the op at
the peer's frontier with the post's own stamp says it without finding the post's op. A post
written on another node has reached one by its nature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crdt.hlc import Stamp
from sync.feed import FeedId

from .channels import ChannelService
from .context import Context, channel_scope
from .errors import Forbidden, NotFound
from .users import Session

__all__ = ["Delivery", "MAX_POSTS"]

MAX_POSTS = 200
"""Posts one question may name: a page of the channel view and a thread."""


def _clock(stamp: Stamp) -> int:
    return (stamp.wall_ms << 16) | stamp.counter  # the packing of the op log's hlc column


class Delivery:
    """Answers, for posts a session may read, whether any other node holds them."""

    def __init__(self, ctx: Context, channels: ChannelService):
        self._ctx = ctx
        self._channels = channels

    async def reached(self, post_ids: Sequence[str], session: Session,
                      frontiers: Mapping[bytes, Mapping[FeedId, int]]) -> dict[str, bool]:
        """post id -> reached another node, for those of `post_ids` that exist and `session` may read."""
        if not post_ids:
            return {}
        store = self._ctx.store
        marks = ",".join("?" * len(post_ids))
        rows = await store.fetchall(
            f"SELECT id, channel_id, _stamp FROM posts WHERE id IN ({marks}) AND _deleted = 0", tuple(post_ids))
        readable: dict[str, bool] = {}
        ours = store.node_id
        answer: dict[str, bool] = {}
        at_frontier: dict[tuple[str, bytes], int | None] = {}
        for row in rows:
            channel_id = row["channel_id"]
            if channel_id not in readable:
                readable[channel_id] = await self._may_read(channel_id, session)
            if not readable[channel_id]:
                continue
            stamp = Stamp.unpack(row["_stamp"])
            if stamp.node != ours[:len(stamp.node)]:
                answer[row["id"]] = True
                continue
            feed = FeedId(ours, channel_scope(channel_id))
            reached = False
            for peer, frontier in frontiers.items():
                seq = frontier.get(feed, 0)
                if seq <= 0:
                    continue
                key = (feed.scope, peer)
                if key not in at_frontier:
                    at_frontier[key] = await self._clock_at(feed, seq)
                clock = at_frontier[key]
                if clock is not None and clock >= _clock(stamp):
                    reached = True
                    break
            answer[row["id"]] = reached
        return answer

    async def _may_read(self, channel_id: str, session: Session) -> bool:
        try:
            await self._channels.readable(channel_id, session)
        except (Forbidden, NotFound):
            return False
        return True

    async def _clock_at(self, feed: FeedId, seq: int) -> int | None:
        row = await self._ctx.store.fetchone(
            "SELECT ops.hlc FROM ops JOIN feeds ON feeds.id = ops.feed "
            "WHERE feeds.author = ? AND feeds.scope = ? AND ops.seq = ?", (feed.author, feed.scope, seq))
        return int(row[0]) if row is not None else None
