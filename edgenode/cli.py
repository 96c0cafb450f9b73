"""The `edgenode` command. Errors end in a one-line message and a non-zero exit."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from edgenode.config import DATA_ENV, resolve_data_dir
from edgenode.identity import IdentityError
from edgenode.node import Node, open_node, serve_http
from edgenode.store import StoreError
from sync import SyncError

__all__ = ["main", "cli"]

T = TypeVar("T")

_EXPECTED_ERRORS = (StoreError, SyncError, IdentityError, OSError, sqlite3.Error)


def _run(data: str | None, work: Callable[[Node], Awaitable[T]]) -> T:
    data_dir = resolve_data_dir(data)

    async def runner() -> T:
        async with open_node(data_dir) as node:
            return await work(node)

    try:
        return asyncio.run(runner())
    except _EXPECTED_ERRORS as exc:
        raise click.ClickException(str(exc)) from None


data_option = click.option(
    "--data", "data", envvar=DATA_ENV, metavar="DIR", type=click.Path(file_okay=False),
    help=f"The node's data folder (default: ${DATA_ENV}, else the user data directory).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgenode")
def cli() -> None:
    """Edgenode: an offline-first collaboration node."""


@cli.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the API and web UI (keep it on loopback).")
@click.option("--port", default=8065, show_default=True, type=click.IntRange(1, 65535), help="Port of the API and web UI.")
def serve(data: str | None, host: str, port: int) -> None:
    """Start the node: its store and the Mattermost-compatible API, until interrupted."""

    async def work(node: Node) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"edgenode node {node.id}: data in {node.data_dir}; API on http://{host}:{port}", err=True)
        await serve_http(node, host, port, stop)
        click.echo("edgenode: stopped", err=True)

    _run(data, work)


@cli.command()
@data_option
def info(data: str | None) -> None:
    """Print the node's id, data folder, op count and state digest."""

    async def work(node: Node) -> dict[str, Any]:
        row = await node.store.fetchone("SELECT count(*) FROM ops")
        return {
            "node": node.id,
            "data": str(node.data_dir),
            "store": str(node.store.path),
            "ops": row[0] if row else 0,
            "digest": await node.store.digest(),
        }

    for key, value in _run(data, work).items():
        click.echo(f"{key}: {value}")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="edgenode", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
