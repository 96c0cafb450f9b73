"""`edgenode bundle export | import | inspect`: updates on a USB stick, across an air gap.

A node that is not being served is opened here, under its data folder's lock. A served node holds
that lock and its one writer: then the command goes through the node's API (`--url`, `--token` of
a system admin), so an import is applied by the served node's writer and raises its usual websocket
events. Errors end in one line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from edgenode.peering.bundle_export import ExportRequest, ExportSummary, bundle_file, export_bundle
from edgenode.peering.bundle_import import BundleContents, ImportSummary, Progress, import_bundle, inspect_bundle
from edgenode.config import DATA_ENV, resolve_data_dir
from edgenode.data_lock import DataFolderError, hold_data_folder, owner_of, require_node
from edgenode.identity import IdentityError, node_display_id
from edgenode.mesh import Mesh, known_nodes, load_mesh, require_mesh, resolve_node
from edgenode.node import Node, open_node
from edgenode.outbound import LocalApi, OutboundError
from edgenode.store import StoreError, wall_clock_ms
from sync import SyncError
from sync.bundle_format import BUNDLE_VERSION, BundleLimits

__all__ = ["bundle"]

T = TypeVar("T")
_EXPECTED = (SyncError, StoreError, IdentityError, DataFolderError, OSError, sqlite3.Error, OutboundError)
_SETTLE_S = 10.0


def _fail(exc: BaseException) -> click.ClickException:
    return click.ClickException(str(exc) or type(exc).__name__)


def _offline(data_dir: Path, doing: str, work: Callable[[Node, Mesh], Awaitable[T]]) -> T:
    """Run `work` on the node in `data_dir`, owning its folder (it is not being served)."""
    async def runner() -> T:
        mesh = require_mesh(data_dir)
        async with open_node(data_dir) as node:
            running = asyncio.all_tasks()
            result = await work(node, mesh)
            # what the work set off (e.g. the names service reacting to imported ops) ends before the store closes
            started = asyncio.all_tasks() - running
            if started:
                await asyncio.wait(started, timeout=_SETTLE_S)
            return result

    try:
        with hold_data_folder(data_dir, doing):
            return asyncio.run(runner())
    except _EXPECTED as exc:
        raise _fail(exc) from None


def _served(data_dir: Path) -> bool:
    owner = owner_of(data_dir)
    return owner is not None and owner.doing == "serving"


def _api(url: str, token: str | None, data_dir: Path) -> LocalApi:
    if not token:
        raise click.ClickException(f"the node in {data_dir} is being served: the bundle goes through its API; give "
                                   "--token (or EDGENODE_TOKEN) with a system admin's access token, and --url if it "
                                   "is not served on http://127.0.0.1:8065")
    try:
        return LocalApi(url, token)
    except OutboundError as exc:
        raise _fail(exc) from None


@contextmanager
def _progress(total: int, label: str) -> Iterator[Progress | None]:
    """A progress bar on a terminal (rich); nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress as Bar, TextColumn, TransferSpeedColumn

    with Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
             transient=True) as bar:
        tasks: dict[str, Any] = {}
        last = [0]

        def update(done: int) -> None:
            phase = "verifying" if done >= last[0] and "applying" not in tasks else "applying"
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label}: {phase}", total=total)
            last[0] = done
            bar.update(tasks[phase], completed=done)

        yield update


data_option = click.option("--data", "data", envvar=DATA_ENV, metavar="DIR", type=click.Path(file_okay=False),
                           help=f"The node's data folder (default: ${DATA_ENV}, else the user data directory).")
url_option = click.option("--url", envvar="EDGENODE_URL", default="http://127.0.0.1:8065", show_default=True,
                          help="The API of the served node (used only when the node is being served).")
token_option = click.option("--token", envvar="EDGENODE_TOKEN", metavar="TOKEN",
                            help="A system admin's access token (only when the node is being served).")
passphrase_option = click.option("--passphrase", envvar="EDGENODE_BUNDLE_PASSPHRASE", metavar="TEXT",
                                 help="The passphrase of an --all bundle (default: asked for on the terminal).")


@click.group()
def bundle() -> None:
    """Carry updates between nodes that never connect, in one signed file (a USB stick)."""


def _existing(data: str | None) -> Path:
    data_dir = resolve_data_dir(data)
    try:
        require_node(data_dir)
    except DataFolderError as exc:
        raise _fail(exc) from None
    return data_dir


@bundle.command("export")
@data_option
@click.option("--for", "recipient", metavar="NODE",
              help="Only what NODE (display id or key) lacks and may read (need-to-know), sealed to NODE.")
@click.option("--all", "everything", is_flag=True,
              help="Every feed, sealed to a passphrase (backup, moving a node). Without --for or --all: public data only.")
@click.option("--full", is_flag=True, help="With --for: every op NODE may read, not only what it lacks as far as "
                                          "this node knows (NODE lost data, or refused a bundle with a gap).")
@passphrase_option
@click.option("--out", "out", required=True, metavar="FILE", type=click.Path(dir_okay=False), help="The bundle file to write.")
@url_option
@token_option
def export_command(data: str | None, recipient: str | None, everything: bool, full: bool, passphrase: str | None,
                   out: str, url: str, token: str | None) -> None:
    """Write a bundle of this node's data to FILE."""
    if recipient and everything:
        raise click.ClickException("--for and --all exclude each other: a bundle is for one node, or for a passphrase")
    if everything and passphrase is None:
        passphrase = click.prompt("Passphrase for the bundle", hide_input=True, confirmation_prompt=True, err=True)
    data_dir = _existing(data)
    started = time.monotonic()
    if _served(data_dir):
        body = {"for": recipient or "", "all": everything, "full": full, "passphrase": passphrase or ""}
        try:
            with _api(url, token, data_dir) as api, bundle_file(Path(out)) as file:
                api.download("/api/v4/edgenode/bundles/export", body, file)
        except _EXPECTED as exc:
            raise _fail(exc) from None
        click.echo(f"exported through the served node to {out} ({Path(out).stat().st_size} bytes)")
        return

    async def work(node: Node, mesh: Mesh) -> ExportSummary:
        key = resolve_node(recipient, await known_nodes(node.store, mesh)) if recipient else None
        request = ExportRequest(key, passphrase if everything else None, full)
        with bundle_file(Path(out)) as file:
            return await export_bundle(node.store, mesh, node.services.files.blobs, file, request,
                                       now_ms=wall_clock_ms())

    summary = _offline(data_dir, "bundle export", work)
    who = f"node {node_display_id(summary.recipient)}" if summary.recipient else \
        "a passphrase" if everything else "any node of the mesh (public data only)"
    end = summary.end
    click.echo(f"wrote {out}: {end.ops} ops in {summary.feeds} feeds, {end.blobs} files ({end.blob_bytes} bytes), "
               f"{summary.bytes} bytes in all, for {who}, in {time.monotonic() - started:.2f} s")
    if summary.blobs_missing:
        click.echo(f"note: {summary.blobs_missing} files named by these ops are not on this node: the recipient "
                   "fetches them from a peer later", err=True)


@bundle.command("import")
@data_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@passphrase_option
@click.option("--max-size", default=BundleLimits().max_bytes, show_default=True, metavar="BYTES",
              type=click.IntRange(1), help="Refuse a bundle larger than this.")
@url_option
@token_option
def import_command(data: str | None, file: str, passphrase: str | None, max_size: int, url: str,
                   token: str | None) -> None:
    """Verify the bundle FILE, then apply all of it (or, if anything is wrong, nothing)."""
    data_dir = _existing(data)
    path = Path(file)
    started = time.monotonic()
    if _served(data_dir):
        headers = {"X-Edgenode-Passphrase": passphrase} if passphrase else {}
        try:
            with _api(url, token, data_dir) as api, open(path, "rb") as body:
                done = api.upload("/api/v4/edgenode/bundles/import", body, headers)
        except _EXPECTED as exc:
            raise _fail(exc) from None
        click.echo(f"imported {file} through the served node: {done['applied']} ops applied, "
                   f"{done['duplicates']} already held, {done['blobs']} files")
        return
    limits = BundleLimits(max_bytes=max_size)

    async def work(node: Node, mesh: Mesh) -> ImportSummary:
        key = passphrase
        if key is None and _sealed_to_passphrase(path, limits):
            key = click.prompt("Passphrase of the bundle", hide_input=True, err=True)
        with _progress(path.stat().st_size, path.name) as progress:
            return await import_bundle(node.store, mesh, node.services.files.blobs, path, passphrase=key,
                                       limits=limits, progress=progress, now_ms=wall_clock_ms())

    summary = _offline(data_dir, "bundle import", work)
    click.echo(f"imported {file} from node {node_display_id(summary.exporter)}: {summary.applied} ops applied, "
               f"{summary.duplicates} already held, {summary.blobs} files, in {time.monotonic() - started:.2f} s")


def _sealed_to_passphrase(path: Path, limits: BundleLimits) -> bool:
    from sync.bundle_crypto import Sealing
    from sync.bundle_format import BundleReader

    with open(path, "rb") as src:
        return BundleReader(src, limits).header.key.sealing is Sealing.PASSPHRASE


@bundle.command("inspect")
@data_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@passphrase_option
def inspect_command(data: str | None, file: str, passphrase: str | None) -> None:
    """Print what the bundle FILE is, who it is for, and what it covers, without applying it."""
    data_dir = resolve_data_dir(data)
    try:
        mesh = load_mesh(data_dir) if data_dir.exists() else None
        contents = inspect_bundle(Path(file), mesh, passphrase=passphrase)
    except _EXPECTED as exc:
        raise _fail(exc) from None
    for key, value in _describe(contents, mesh).items():
        click.echo(f"{key}: {value}")


def _describe(contents: BundleContents, mesh: Mesh | None) -> dict[str, object]:
    header = contents.header
    created = datetime.fromtimestamp(header.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows: dict[str, object] = {
        "format": BUNDLE_VERSION,
        "mesh": header.mesh_id + ("" if mesh is None or mesh.ca.id == header.mesh_id else " (not this node's mesh)"),
        "exporter": node_display_id(header.exporter),
        "for": node_display_id(header.recipient) if header.recipient else
        ("a passphrase (--all)" if header.key.sealing.value == "passphrase" else "any node of the mesh (public data)"),
        "sealed": header.key.sealing.value,
        "created": created,
        "size": f"{contents.size} bytes",
    }
    if not contents.opened or contents.end is None:
        rows["contents"] = "sealed: only its recipient can read what it covers"
        return rows
    end = contents.end
    rows.update({
        "covers": f"{contents.covered_ops} ops in {contents.covered_feeds} feeds",
        "segments": end.segments,
        "files": f"{end.blobs} ({end.blob_bytes} bytes)",
        "exporter frontier": f"{contents.frontier_feeds} feeds",
        "signature": "valid",
    })
    return rows
