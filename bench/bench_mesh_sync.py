"""Catch-up as `edgenode serve` syncs in a mesh, beside the bare protocol measured in the same run.

    python bench/bench_mesh_sync.py [--posts N ...] [--quick]

An enrolled node catches up N posts (default 10,000 then 100,000, so growth shows) from its mesh's
authority over loopback:
mutual TLS 1.3 with the mesh's certificates, every segment through admission (enrolment records,
revocation limits, hosting claims) and need-to-know on both ends. The baseline is the same
catch-up into the same kind of store (a whole node's, with its search index) over plain TCP with
neither: the ratio is what mesh trust costs on the bulk path. (bench_sync.py's first figure uses
stores without the node-local search index.) Both beside raw executemany of the same rows (every op
the target receives, every post it materializes) into a whole node's tables, indexes and search
indexes in one transaction (bench_store.raw_bulk). Also the bytes on the wire per op
(frames; TLS records add about 22 B per 16 KiB record on top).

Machines running this are shared and noisy: compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

try:
    import sync  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_store import POST_COLUMNS, raw_bulk, whole_node_db  # type: ignore[import-not-found]
from bench_sync import held_ops, line, write_posts  # type: ignore[import-not-found]

from edgenode.config import STORE_FILE
from edgenode.identity import load_or_create_identity
from edgenode.local_schema import LOCAL_MIGRATIONS
from edgenode.mesh import Mesh, create_invite, init_mesh, join_mesh
from edgenode.peering.admission import AdmittingStore
from edgenode.peering.need_to_know import NeedToKnow
from edgenode.peering.trust import MeshTrust, publish_enrolment
from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import Signer
from sync.framing import StreamLink
from sync.manager import PeerAddress, PeerManager, tcp_dialer
from sync.peer import PeerSession, SessionConfig, mesh_tag


async def _node_store(mesh: Mesh) -> Store:
    store = Store(mesh.data_dir / STORE_FILE, SCHEMA, load_or_create_identity(mesh.data_dir),
                  migrations=LOCAL_MIGRATIONS)
    await store.open()
    await publish_enrolment(store, mesh, now_ms=int(time.time() * 1000))
    return store


async def _catch_up(source: object, target: object, node: bytes, mesh: bytes, *, mesh_trust: tuple[Mesh, Mesh] | None,
                    source_view: object = None, target_view: object = None) -> tuple[float, int, int]:
    """One one-shot session dialed by the target; (seconds, ops received, bytes of frames)."""
    if mesh_trust is None:
        server = PeerManager(source, node=node, mesh=mesh, listen=PeerAddress("127.0.0.1", 0))  # type: ignore[arg-type]
        dial = tcp_dialer()
    else:
        server_mesh, client_mesh = mesh_trust
        server_trust, client_trust = source_view, target_view
        server = PeerManager(source, node=node, mesh=mesh, listen=PeerAddress("127.0.0.1", 0),  # type: ignore[arg-type]
                             server_ssl=server_mesh.server_context(), client_ssl=server_mesh.client_context(),
                             verify_peer=server_trust.verify_peer,  # type: ignore[attr-defined]
                             entitlements=NeedToKnow(source.store))  # type: ignore[attr-defined]
        dial = tcp_dialer(client_mesh.client_context(), client_trust.verify_peer)  # type: ignore[attr-defined]
    await server.start()
    try:
        started = time.perf_counter()
        link, verified = await dial(server.listening[0])
        assert isinstance(link, StreamLink)
        stats = await PeerSession(target, link, node=target.node_id, mesh=mesh, initiator=True,  # type: ignore[arg-type, attr-defined]
                                  config=SessionConfig(live=False), verified_node=verified,
                                  entitlements=NeedToKnow(target.store) if mesh_trust else None).run()  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
    finally:
        await server.stop()
    return seconds, stats.ops_received, link.bytes_sent + link.bytes_received


TARGET_RATE = 20_000
TARGET_GROWTH = 0.85


async def raw_rate(source: Store, folder: Path) -> float:
    """Rows/s of raw executemany of the source's ops and posts into an empty whole node, one transaction."""
    ops = [tuple(r) for r in await source.fetchall("SELECT feed, seq, prev, hlc, body, sig FROM ops")]
    posts = [tuple(r) for r in await source.fetchall(f"SELECT id, {', '.join(POST_COLUMNS)}, _stamp FROM posts")]
    path = Path(tempfile.mkdtemp(dir=folder)) / "raw.db"
    await whole_node_db(path)
    return len(ops) / raw_bulk(path, ops, posts)


async def run(posts: int) -> float:
    """Prints the figures at `posts`; returns the mesh catch-up rate."""
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="bench-mesh-") as tmp:
        folder = Path(tmp)
        authority = init_mesh(folder / "authority", "bench")
        token, _ = create_invite(authority)
        member = join_mesh(folder / "member", token)
        source = await _node_store(authority)
        started = time.perf_counter()
        await write_posts(source, rng, posts)
        n = await held_ops(source)
        print(f"edgenode mesh catch-up benchmark: {n:,} ops ({posts:,} posts, written in "
              f"{time.perf_counter() - started:.1f} s), python {sys.version.split()[0]}, "
              f"load average {os.getloadavg()[0]:.2f}")
        raw_before = await raw_rate(source, folder)

        # a whole node's store (search index and all, kept by triggers), as the mesh target below
        bare = Store(folder / "bare-target.db", SCHEMA, Signer.generate(), migrations=LOCAL_MIGRATIONS)
        await bare.open()
        seconds, received, _ = await _catch_up(source, bare, source.node_id, mesh_tag("bench"), mesh_trust=None)
        assert received >= n - 1, (received, n)
        bare_rate = received / seconds
        await bare.close()

        target = await _node_store(member)
        source_trust = await MeshTrust.load(authority, source)
        target_trust = await MeshTrust.load(member, target)
        seconds, received, wire = await _catch_up(
            AdmittingStore(source, source_trust), AdmittingStore(target, target_trust), source.node_id,
            mesh_tag(authority.ca.id), mesh_trust=(authority, member), source_view=source_trust,
            target_view=target_trust)
        assert received >= n, (received, n)
        assert await source.digest() == await target.digest()
        rate = received / seconds
        raw = (raw_before + await raw_rate(source, folder)) / 2
        line("catch-up over mesh TLS, admission, need-to-know", f"{rate:,.0f} ops/s in {seconds:.2f} s   "
             f"target >= {TARGET_RATE:,}  {'OK' if rate >= TARGET_RATE else 'BELOW TARGET'}")
        line("  baseline: same stores, plain TCP, no trust", f"{bare_rate:,.0f} ops/s ({rate / bare_rate:.2f}x)")
        line("  baseline: raw executemany, whole node, 1 txn", f"{raw:,.0f} rows/s (mean of before and after; "
             f"mesh {rate / raw:.2f}x, plain TCP {bare_rate / raw:.2f}x)")
        line("bytes of frames per op", f"{wire / received:.1f} B")
        await source.close()
        await target.close()
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--quick", action="store_true", help="10,000 posts")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else args.posts
    print_growth(sizes, [asyncio.run(run(n)) for n in sizes])


def print_growth(sizes: list[int], rates: list[float]) -> None:
    """The rate at the largest size over the rate at the smallest, against the growth target."""
    if len(rates) > 1:
        growth = rates[-1] / rates[0]
        line(f"growth: rate at {sizes[-1]:,} / rate at {sizes[0]:,} posts",
             f"{growth:.2f}   target >= {TARGET_GROWTH}  {'OK' if growth >= TARGET_GROWTH else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
