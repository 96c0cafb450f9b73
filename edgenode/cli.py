"""The `edgenode` command. Errors end in a one-line message and a non-zero exit."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from edgenode import mesh as mesh_shell
from edgenode.config import DATA_ENV, resolve_data_dir
from edgenode.data_lock import DataFolderError, hold_data_folder, owner_of, require_node
from edgenode.identity import IdentityError, node_display_id
from edgenode.node import Node, open_node, serve_node
from edgenode.peering import NotEnrolledError, PeeringSettings, SyncSettings, folder_status, sync_now
from edgenode.settings import NodeSettings, SettingsError, load_settings
from edgenode.store import StoreError, wall_clock_ms
from sync import SyncError
from sync.manager import PeerAddress
from sync.mesh import decode_invite
from sync.peer import SessionStats
from sync.revocation import Revocation, Revocations

__all__ = ["main", "cli"]

T = TypeVar("T")

_EXPECTED_ERRORS = (StoreError, SyncError, IdentityError, OSError, sqlite3.Error, SettingsError, DataFolderError)


def _run(data: str | None, work: Callable[[Node], Awaitable[T]],
         settings: Callable[[NodeSettings], NodeSettings] | None = None) -> T:
    """Run `work` on the node; `settings` amends those of its settings file (serve's options)."""
    data_dir = resolve_data_dir(data)

    async def runner() -> T:
        async with open_node(data_dir, settings(load_settings(data_dir)) if settings else None) as node:
            return await work(node)

    try:
        return asyncio.run(runner())
    except _EXPECTED_ERRORS as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _owning(data_dir: Path, doing: str) -> Iterator[None]:
    """Own the data folder for the block (see edgenode/data_lock.py), or fail in one line."""
    with ExitStack() as held:
        _checked(lambda: held.enter_context(hold_data_folder(data_dir, doing)))
        yield


def _existing_node(data: str | None) -> Path:
    """The data folder of an existing node; a one-line error (and nothing created) otherwise."""
    data_dir = resolve_data_dir(data)
    _checked(lambda: require_node(data_dir))
    return data_dir


def _listen(host: str, port: int, option: str = "--port") -> socket.socket:
    """A bound listening socket (the API's), made before anything starts so a port in use is one clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = f" (another edgenode or program listens there: choose another with {option})" \
            if exc.errno == errno.EADDRINUSE else ""
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


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
@click.option("--sync-host", default="0.0.0.0", show_default=True, envvar="EDGENODE_SYNC_HOST",
              help="Address peer sync listens on (LAN interfaces).")
@click.option("--sync-port", default=8066, show_default=True, envvar="EDGENODE_SYNC_PORT", type=click.IntRange(0, 65535),
              help="Port of peer sync; 0: do not listen (peers are still dialed).")
@click.option("--peer", "peers", multiple=True, metavar="HOST:PORT", help="A peer to keep in sync with (repeatable).")
@click.option("--mdns/--no-mdns", default=True, show_default=True, envvar="EDGENODE_MDNS",
              help="Advertise this node and discover peers of its mesh on the LAN (mDNS).")
@click.option("--unenrolled-sync", is_flag=True, envvar="EDGENODE_UNENROLLED_SYNC",
              help="Sync over plain TCP although this node is in no mesh (tests, trusted networks only).")
@click.option("--allow-internal-host", "allow_internal", multiple=True, metavar="HOST|IP|CIDR",
              help="An internal destination slash commands and outgoing webhooks may reach (repeatable; "
                   "adds to allowed_untrusted_internal_connections in settings.toml).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A host name browsers may reach the API under, besides loopback ones (repeatable; "
                   "adds to allowed_hosts in settings.toml).")
def serve(data: str | None, host: str, port: int, sync_host: str, sync_port: int, peers: tuple[str, ...],
          mdns: bool, unenrolled_sync: bool, allow_internal: tuple[str, ...], allowed_hosts: tuple[str, ...]) -> None:
    """Start the node: its store, the Mattermost-compatible API and peer sync, until interrupted.

    One process at a time serves a data folder: a second `serve` (or `sync`, `mesh join`) on it exits
    with an error. A node in no mesh starts syncing as soon as `edgenode mesh init` enrols it."""
    requested: SyncSettings | None = None
    if sync_port or peers or mdns:
        requested = SyncSettings(host=sync_host, port=sync_port, peers=tuple(_peer_address(p) for p in peers), mdns=mdns)
    data_dir = resolve_data_dir(data)
    _show_sync_log()

    async def work(node: Node) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        api_socket = _listen(host, port)  # before anything is said or started: a port in use is one line
        if requested is not None and requested.port:
            _listen(requested.host, requested.port, "--sync-port").close()  # the sync listener binds it again soon
        click.echo(f"edgenode node {node.id}: data in {node.data_dir}; API on http://{host}:{port}", err=True)
        await serve_node(node, host, port, stop, PeeringSettings(requested, allow_unenrolled=unenrolled_sync),
                         sockets=[api_socket])
        click.echo("edgenode: stopped", err=True)

    with _owning(data_dir, "serving"):
        _run(str(data_dir), work,
             lambda file: file.with_options(allow_internal=allow_internal, allowed_hosts=allowed_hosts))


def _show_sync_log() -> None:
    """Peers found, lost and regained are news to the operator of a served node: print them on stderr."""
    logging.basicConfig(format="edgenode: %(message)s", level=logging.WARNING)
    logging.getLogger("sync.manager").setLevel(logging.INFO)
    logging.getLogger("edgenode.peering").setLevel(logging.INFO)


@cli.command()
@data_option
def info(data: str | None) -> None:
    """Print the node's id, data folder, op count and state digest."""
    data_dir = _existing_node(data)

    async def work(node: Node) -> dict[str, Any]:
        row = await node.store.fetchone("SELECT count(*) FROM ops")
        return {
            "node": node.id,
            "data": str(node.data_dir),
            "store": str(node.store.path),
            "ops": row[0] if row else 0,
            "digest": await node.store.digest(),
        }

    for key, value in _run(str(data_dir), work).items():
        click.echo(f"{key}: {value}")


# -- mesh ------------------------------------------------------------------------------------


def _checked(work: Callable[[], T]) -> T:
    """Run a command that needs no open store, with the same one-line errors as _run."""
    try:
        return work()
    except _EXPECTED_ERRORS as exc:
        raise click.ClickException(str(exc)) from None


@cli.group()
def mesh() -> None:
    """Mesh trust: who may sync. An authority node invites nodes with one-way tokens and can revoke them."""


@mesh.command("init")
@data_option
@click.option("--name", default=mesh_shell.DEFAULT_MESH_NAME, show_default=True, help="The mesh's name, shown on every node.")
def mesh_init(data: str | None, name: str) -> None:
    """Start a new mesh with this node as its authority (its mesh/ca.key can enrol and revoke nodes: keep it safe)."""
    joined = _checked(lambda: mesh_shell.init_mesh(resolve_data_dir(data), name))
    click.echo(f"mesh: {joined.ca.id}")
    click.echo(f"created mesh {joined.ca.name!r} with this node ({node_display_id(joined.node_key)}) as its authority", err=True)


@mesh.command("invite")
@data_option
@click.option("--out", "out", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the token to FILE (created with mode 0600) instead of printing it.")
@click.option("--hub", is_flag=True, help="Certify the new node as a hub (e.g. a datacenter node): entitled to every feed.")
def mesh_invite(data: str | None, out: str | None, hub: bool) -> None:
    """Print a one-line invite token for one new node (run on the authority node).

    The token is a SECRET bearer credential: it holds a new node's private key and certificate,
    so anyone who has it can join the mesh as that node. Deliver it once, over a channel you trust
    (or as a file with --out), and revoke that node if the token leaks.
    """

    def work() -> tuple[str, bytes]:
        token, invite = mesh_shell.create_invite(mesh_shell.require_mesh(resolve_data_dir(data)), hub=hub)
        if out is not None:
            mesh_shell.write_private_file(Path(out), (token + "\n").encode(), exclusive=True)
        return token, invite.node_key

    token, node_key = _checked(work)
    if out is None:
        click.echo(token)
    where = f"wrote it to {out}" if out is not None else "printed it"
    what = "hub node" if hub else "node"
    click.echo(f"invite for {what} {node_display_id(node_key)}: {where}. It is a secret: whoever holds it joins as "
               f"that node. If it leaks: edgenode mesh revoke {node_display_id(node_key)}", err=True)


@mesh.command("join")
@data_option
@click.argument("token")
def mesh_join(data: str | None, token: str) -> None:
    """Enrol this node with TOKEN from `edgenode mesh invite`: the token itself, @FILE, a file's path, or - for stdin.

    Only a fresh node can join (one that has written no ops): it takes the invite's node key.
    """
    text = _checked(lambda: mesh_shell.read_invite(sys.stdin.read() if token == "-" else token))
    _checked(lambda: decode_invite(text, now=datetime.now(UTC)))  # a bad token leaves no trace (no folder, no lock)
    data_dir = resolve_data_dir(data)
    owner = owner_of(data_dir)
    if owner is not None and owner.doing == "serving":
        # joining replaces the node key, which the running process signs with: it cannot adopt the new one
        raise click.ClickException(f"the node in {data_dir} is being served (pid {owner.pid}): stop it, run "
                                   "`edgenode mesh join` again, then start it (it syncs in the mesh from then on)")
    with _owning(data_dir, "mesh join"):
        joined = _checked(lambda: mesh_shell.join_mesh(data_dir, text))
    click.echo(f"mesh: {joined.ca.id}")
    click.echo(f"joined mesh {joined.ca.name!r} as node {node_display_id(joined.node_key)}", err=True)


@mesh.command("revoke")
@data_option
@click.argument("node")
@click.option("--reason", default="", help="Why, for the record (replicated to every node).")
def mesh_revoke(data: str | None, node: str, reason: str) -> None:
    """Revoke NODE (display id or hex key), on the authority node. Its later ops are refused everywhere
    once the revocation has synced, and it can no longer connect to nodes that hold it."""
    joined = _checked(lambda: mesh_shell.require_mesh(resolve_data_dir(data)))
    _checked(joined.require_authority)

    async def work(node_: Node) -> Revocation:
        key = mesh_shell.resolve_node(node, await mesh_shell.known_nodes(node_.store, joined))
        return await mesh_shell.revoke(node_.store, joined, key, reason, now_ms=wall_clock_ms())

    revocation = _run(data, work)
    held = sum(revocation.last_seqs.values())
    click.echo(f"revoked node {node_display_id(revocation.node_key)}: its {held} ops held here stay valid, any later "
               "ones are refused; the revocation spreads as this node syncs")


@mesh.command("show")
@data_option
def mesh_show(data: str | None) -> None:
    """Print the mesh this node belongs to, its role in it, the roles its certificate grants, and the revoked nodes."""
    joined = _checked(lambda: mesh_shell.require_mesh(resolve_data_dir(data)))

    async def work(node_: Node) -> Revocations:
        return await mesh_shell.read_revocations(node_.store, joined.ca.authority_key)

    revoked = _run(data, work)
    rows = {
        "mesh": joined.ca.id,
        "name": joined.ca.name,
        "node": node_display_id(joined.node_key),
        "key": joined.node_key.hex(),
        "role": "authority" if joined.is_authority else "member",
        "roles": " ".join(sorted(joined.roles)) or "none",
        "authority": node_display_id(joined.ca.authority_key),
        "certificate": f"valid until {joined.node_certificate.not_valid_after_utc:%Y-%m-%d}",
        "revoked": ", ".join(sorted(node_display_id(key) for key in revoked)) or "none",
    }
    for key, value in rows.items():
        click.echo(f"{key}: {value}")


# -- peer sync --------------------------------------------------------------------------------


def _peer_address(text: str) -> PeerAddress:
    try:
        return PeerAddress.parse(text)
    except ValueError as exc:  # one line, not click's usage block: the operator sees the bad value at once
        raise click.ClickException(f"bad peer address: {exc}") from None


@cli.command("sync")
@data_option
@click.argument("address", metavar="HOST:PORT")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the peer to answer.")
@click.option("--unenrolled-sync", is_flag=True, envvar="EDGENODE_UNENROLLED_SYNC",
              help="Sync over plain TCP although this node is in no mesh (tests, trusted networks only).")
def sync_command(data: str | None, address: str, timeout: float, unenrolled_sync: bool) -> None:
    """Sync once with the peer at HOST:PORT, both ways, and print what moved (for a node that is not being served)."""
    peer = _peer_address(address)
    data_dir = _existing_node(data)
    owner = owner_of(data_dir)
    if owner is not None and owner.doing == "serving":
        raise click.ClickException(f"the node in {data_dir} is being served (pid {owner.pid}) and syncs by itself: "
                                   f"add the peer with `edgenode serve --peer {peer}`, or stop it first")

    async def work(node: Node) -> tuple[SessionStats, int, float]:
        started = time.monotonic()
        try:
            stats, wire = await sync_now(node.store, node.data_dir, peer, timeout=timeout,
                                         allow_unenrolled=unenrolled_sync)
        except NotEnrolledError as exc:
            raise click.ClickException(str(exc)) from None
        return stats, wire, time.monotonic() - started

    with _owning(data_dir, "sync"):
        stats, wire, elapsed = _run(str(data_dir), work)
    assert stats.peer_node is not None
    click.echo(f"synced with node {node_display_id(stats.peer_node)} at {peer} in {elapsed:.2f} s: "
               f"sent {stats.ops_sent} ops in {len(stats.feeds_sent)} feeds, received {stats.ops_received} ops in "
               f"{len(stats.feeds_received)} feeds; {wire} bytes on the wire")
    if stats.rejected or stats.refused:
        click.echo(f"warning: {stats.rejected} segments from the peer failed verification and were not applied, "
                   f"{stats.refused} of ours were refused by it", err=True)


@cli.command()
@data_option
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document that GET /api/v4/edgenode/status returns.")
def status(data: str | None, as_json: bool) -> None:
    """Print this node's id and mesh, and every peer: how it was found, last contact, last sync, ops to send and receive."""
    data_dir = _existing_node(data)
    document = _checked(lambda: folder_status(data_dir))
    if as_json:
        click.echo(json.dumps(document, indent=1, sort_keys=True))
        return
    for line in _status_lines(document, time.time()):
        click.echo(line)


def _ago(ms: object, now: float) -> str:
    if not isinstance(ms, int):
        return "never"
    seconds = max(0.0, now - ms / 1000)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago" if seconds < 7200 else \
        time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def _status_lines(document: dict[str, Any], now: float) -> list[str]:
    mesh, sync, served = document.get("mesh") or {}, document.get("sync") or {}, document.get("served") or {}
    role = f" ({mesh['role']})" if mesh.get("role") else ""
    lines = [f"node: {document.get('node')}",
             f"mesh: {mesh.get('id')}" + (role if mesh.get("enrolled") else " (not enrolled in a mesh)")]
    if mesh.get("error"):
        lines.append(f"mesh error: {mesh['error']}")
    if served.get("running"):
        lines.append(f"served: yes (pid {served.get('pid') or 'unknown'})")
    elif served.get("doing"):
        lines.append(f"served: no; in use by `edgenode {served['doing']}` (pid {served.get('pid') or 'unknown'})")
    else:
        lines.append("served: no")
    if sync.get("running"):
        where = ", ".join(sync.get("listening") or []) or "not listening"
        lines.append(f"sync: running; {where} over {sync.get('transport')}; mDNS {'on' if sync.get('mdns') else 'off'}")
    elif served.get("running"):
        why = "" if mesh.get("enrolled") else ": it starts once the node is in a mesh (edgenode mesh init | join)"
        lines.append(f"sync: off: the node is served without peer sync{why}")
    else:
        since = f" (peers as of {_ago(document['updated_at'], now)})" if document.get("updated_at") else ""
        lines.append(f"sync: not running: the node is not being served{since}")
    peers = document.get("peers") or []
    lines.append(f"peers: {len(peers) or 'none known'}")
    for peer in peers:
        addresses = ", ".join(peer.get("addresses") or []) or "unknown address"
        lines.append(f"- {peer.get('node') or addresses}")
        lines.append(f"  found: {', '.join(peer.get('found') or [])}; address: {addresses}")
        state = "connected" if peer.get("connected") else "not connected"
        if not peer.get("connected") and peer.get("failures"):
            state += f" ({peer['failures']} failed attempts; next {_ago(peer.get('next_attempt_at'), now).replace(' ago', '')})"
        lines.append(f"  state: {state}")
        lines.append(f"  last contact: {_ago(peer.get('last_contact_at'), now)}; "
                     f"last sync: {_ago(peer.get('last_sync_at'), now)}")
        to_send, to_receive = peer.get("to_send"), peer.get("to_receive")
        lines.append(f"  ops to send: {'unknown' if to_send is None else to_send}; "
                     f"to receive: {'unknown' if to_receive is None else to_receive}")
        if peer.get("last_error"):
            lines.append(f"  last error: {peer['last_error']}")
        for feed in peer.get("diverged") or []:
            lines.append(f"  another history: node {feed.get('author')}'s feed {feed.get('scope')!r} differs from ours")
            if feed.get("scope") == "node":  # each node states its enrolment once, as op #1 of that feed
                lines.append(f"  two machines hold the identity of node {feed.get('author')} (an invite token used "
                             f"twice, or a copied data folder): revoke it with `edgenode mesh revoke {feed.get('author')}`")
    for fork in document.get("forks") or []:  # equivocation: worth an admin's attention (revoke the node?)
        lines.append(f"fork: node {fork.get('author')} signed two different ops at {fork.get('scope')!r} #{fork.get('seq')} "
                     f"(seen {_ago(fork.get('seen_at'), now)}); the second was quarantined")
    return lines


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="edgenode", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
