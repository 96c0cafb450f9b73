"""An invite token enrols one node: a second use is refused where it can be seen, and detected where it cannot.

A token holds the new node's private key, and joining works offline, so the authority cannot recall
it. What two machines joining with one token share is one node identity. So:
- `mesh join` refuses a token whose node already states its enrolment in the store being joined;
- a node that sees that identity connected from two hosts at once logs a warning naming it;
- the two machines' first ops (each states its enrolment, op #1 of its "node" feed) differ: a node
  that syncs with both finds two histories of that feed, and `edgenode status` says two machines
  hold the identity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgenode import mesh as mesh_shell
from edgenode.cli import _status_lines, cli
from edgenode.config import STORE_FILE
from edgenode.identity import node_display_id
from edgenode.schema import SCHEMA
from edgenode.store import Store
from edgenode.peering.service import status_document
from sync import Signer
from sync.enrolment import NODE_SCOPE, node_record_op
from sync.manager import Backoff, MemoryNetwork, PeerAddress, PeerManager
from sync.mesh import Invite
from sync.peer import mesh_tag


async def until(condition: Callable[[], Any], timeout: float = 10) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
def invite(tmp_path: Path) -> tuple[str, Invite]:
    authority = mesh_shell.init_mesh(tmp_path / "authority", "field")
    token, issued = mesh_shell.create_invite(authority)
    return token, issued


async def test_mesh_join_refuses_a_token_whose_node_already_states_its_enrolment_here(
        tmp_path: Path, invite: tuple[str, Invite]) -> None:
    token, issued = invite
    # the invited node joined elsewhere and stated its enrolment; this fresh folder received that op by sync
    async with Store(tmp_path / "first.db", SCHEMA, Signer(issued.node_seed)) as first:
        await first.write(NODE_SCOPE, [node_record_op(issued.node_certificate, create_at=1)])
        (feed,) = [f for f in await first.heads() if f.scope == NODE_SCOPE]
        record = await first.segment(feed)
    second = tmp_path / "second"
    second.mkdir()
    async with Store(second / STORE_FILE, SCHEMA, Signer.generate()) as store:
        await store.apply(record)
    done = CliRunner().invoke(cli, ["mesh", "join", "--data", str(second), token])
    assert done.exit_code == 1
    assert done.output == (f"Error: node {node_display_id(issued.node_key)} of this invite is already enrolled in the "
                           "mesh (this node holds its enrolment record): an invite enrols one node, once; ask the "
                           "authority for a new one\n")
    assert not (second / "mesh").exists()


async def test_a_fresh_folder_joins_with_a_token_used_nowhere_it_knows_of(tmp_path: Path,
                                                                          invite: tuple[str, Invite]) -> None:
    token, issued = invite
    done = CliRunner().invoke(cli, ["mesh", "join", "--data", str(tmp_path / "fresh"), token])
    assert done.exit_code == 0, done.output
    assert mesh_shell.require_mesh(tmp_path / "fresh").node_key == issued.node_key


class Clones:
    """A node "hub" and two machines "b1", "b2" that joined with one invite: one node key, two stores."""

    def __init__(self, tmp_path: Path, stack: AsyncExitStack, issued: Invite):
        self.tmp_path, self.stack, self.issued = tmp_path, stack, issued
        self.network = MemoryNetwork()
        self.managers: dict[str, PeerManager] = {}
        self.stores: dict[str, Store] = {}

    async def start(self, name: str, signer: Signer, peers: tuple[str, ...] = ()) -> None:
        store = await self.stack.enter_async_context(Store(self.tmp_path / f"{name}.db", SCHEMA, signer))
        manager = PeerManager(store, node=signer.public_key, mesh=mesh_tag("field"), dial=self.network.dialer(name),
                              static_peers=[PeerAddress(p, 8066) for p in peers], backoff=Backoff(0.01, 0.05))
        self.network.attach(PeerAddress(name, 8066), manager)
        self.managers[name], self.stores[name] = manager, store
        await self.stack.enter_async_context(manager)


@pytest.fixture
async def clones(tmp_path: Path, invite: tuple[str, Invite]) -> AsyncIterator[Clones]:
    async with AsyncExitStack() as stack:
        yield Clones(tmp_path, stack, invite[1])


async def test_one_identity_on_two_machines_is_logged_and_reported_as_a_fork_in_status(
        clones: Clones, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sync.manager")
    issued = clones.issued
    await clones.start("hub", Signer.generate())
    for name, stamp in (("b1", 1), ("b2", 2)):  # each machine states its enrolment when its sync starts
        await clones.start(name, Signer(issued.node_seed), peers=("hub",))
        await clones.stores[name].write(NODE_SCOPE, [node_record_op(issued.node_certificate, create_at=stamp)])
    clone_id = node_display_id(issued.node_key)
    hub = clones.managers["hub"]

    async def warned() -> bool:
        return f"sync: node {clone_id} is connected from " in caplog.text

    await until(warned)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and "two machines" in r.getMessage()]
    assert warning.getMessage().endswith(f"edgenode mesh revoke {clone_id}")

    # the machine that holds the connection goes away: the other one gets in, and its op #1 differs
    (row,) = [r for r in await hub.status() if r.connected]
    (holder,) = row.addresses
    await clones.managers[holder].stop()
    hub.disconnect({issued.node_key}, "test: one of the two machines left")

    async def diverged() -> bool:
        return any(r.diverged for r in await hub.status())

    await until(diverged)
    (row,) = [r for r in await hub.status() if r.node == issued.node_key]
    assert [(f.author, f.scope) for f in row.diverged] == [(issued.node_key, NODE_SCOPE)]
    document = status_document(node=hub.node, settings=None, running=True, listening=[], peers=[row], mdns=False)
    lines = _status_lines(document, 0.0)
    assert lines[-2:] == [
        f"  another history: node {clone_id}'s feed 'node' differs from ours",
        f"  two machines hold the identity of node {clone_id} (an invite token used twice, or a copied data folder): "
        f"revoke it with `edgenode mesh revoke {clone_id}`",
    ]
