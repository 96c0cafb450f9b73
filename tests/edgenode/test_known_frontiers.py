"""known_frontiers: what this node last knew each peer to hold, only ever raised."""

from __future__ import annotations

from pathlib import Path

from edgenode.peering.known_frontiers import FrontierRecorder, known_frontier, record_known_frontier
from edgenode.node import open_node
from sync import FeedId

PEER, OTHER = bytes([1]) * 32, bytes([2]) * 32
DIRECTORY, CHANNEL = FeedId(bytes([3]) * 32, "directory"), FeedId(bytes([3]) * 32, "channel:x")


async def test_a_known_frontier_only_rises_and_is_kept_per_peer(tmp_path: Path) -> None:
    async with open_node(tmp_path / "n") as node:
        assert await known_frontier(node.store, PEER) == {}
        await record_known_frontier(node.store, PEER, {DIRECTORY: 5, CHANNEL: 2}, now_ms=1)
        await record_known_frontier(node.store, PEER, {DIRECTORY: 3, CHANNEL: 7}, now_ms=2)  # an older word on DIRECTORY
        await record_known_frontier(node.store, OTHER, {DIRECTORY: 1}, now_ms=3)
        assert await known_frontier(node.store, PEER) == {DIRECTORY: 5, CHANNEL: 7}
        assert await known_frontier(node.store, OTHER) == {DIRECTORY: 1}


async def test_the_recorder_writes_only_the_frontiers_that_changed(tmp_path: Path) -> None:
    async with open_node(tmp_path / "n") as node:
        recorder = FrontierRecorder(node.store)
        assert await recorder.record({PEER: {DIRECTORY: 1}, OTHER: {DIRECTORY: 2}}, now_ms=1) == 2
        assert await recorder.record({PEER: {DIRECTORY: 1}, OTHER: {DIRECTORY: 2}}, now_ms=2) == 0
        assert await recorder.record({PEER: {DIRECTORY: 4}, OTHER: {DIRECTORY: 2}}, now_ms=3) == 1
        assert await known_frontier(node.store, PEER) == {DIRECTORY: 4}
