"""A sync session teaches both nodes what the other holds, so a later bundle --for it carries only the rest."""

from __future__ import annotations

import io
from pathlib import Path

from support.served_nodes import served, settings

from crdt import Create
from edgenode.mesh import init_mesh, require_mesh
from edgenode.node import open_node
from edgenode.peering.bundle_export import ExportRequest, export_bundle
from edgenode.peering.known_frontiers import known_frontier
from edgenode.peering.service import sync_once
from edgenode.peering.settings import SyncSettings
from sync.manager import PeerAddress


async def test_after_a_sync_each_side_knows_the_others_frontier_and_a_bundle_for_it_is_empty(tmp_path: Path) -> None:
    init_mesh(tmp_path / "b", "Field team")  # bundles need a mesh; the sync itself runs over plain TCP here
    async with served(tmp_path / "a", settings()) as a:
        await a.node.store.write("directory", [Create("team", "t" * 26, {"name": "ops", "display_name": "Ops", "type": "O"})])
        async with open_node(tmp_path / "b") as b:
            await sync_once(b.store, PeerAddress("127.0.0.1", a.port), SyncSettings())
            a_holds = {feed: head.seq for feed, head in (await a.node.store.heads()).items()}
            assert await known_frontier(b.store, a.node.store.node_id) == a_holds
            b_key, b_holds = b.store.node_id, {feed: head.seq for feed, head in (await b.store.heads()).items()}
    async with open_node(tmp_path / "a") as a_again:  # the served node recorded it as its service stopped
        assert await known_frontier(a_again.store, b_key) == b_holds

    async with open_node(tmp_path / "b") as b:
        a_key = next(iter(a_holds)).author
        summary = await export_bundle(b.store, require_mesh(tmp_path / "b"), b.services.files.blobs, io.BytesIO(),
                                      ExportRequest(a_key), now_ms=1)
        # only B's enrolment record, written by the export itself, is news to A
        assert (summary.end.ops, summary.feeds) == (1, 1)
