"""Refused sync connections are logged at a bounded rate, with a count of what was left out."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from support.tls_certs import TestCA, peer_node_key

from edgenode.schema import SCHEMA
from edgenode.store import Store
from sync import Signer
from sync.log_limit import RateLimitedLog
from sync.manager import PeerAddress, PeerManager

MESH = b"m" * 16
REFUSED = "refused a sync connection"


def test_at_most_n_lines_per_period_then_a_count_of_the_rest() -> None:
    now = [100.0]
    logger = logging.getLogger("test.log_limit")
    written: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: written.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        limited = RateLimitedLog(logger, lines=3, period=60.0, clock=lambda: now[0])
        for i in range(10):
            limited.warning("refused %d", i)
        now[0] += 59.9
        limited.warning("refused %d", 10)
        now[0] += 0.1
        limited.warning("refused %d", 11)
    finally:
        logger.removeHandler(handler)
    assert written == ["refused 0", "refused 1", "refused 2",
                       "8 more like the next line were not logged in the last 60 s", "refused 11"]


async def _knock(address: PeerAddress) -> None:
    """Connect to the sync port without TLS, as a scanner would, and wait until the node hangs up."""
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.read(), 10)
    writer.close()


async def test_a_host_knocking_on_the_sync_port_in_a_loop_fills_no_log(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    signer = Signer.generate()
    server, client = TestCA.create("mesh").contexts(signer.seed, tmp_path / "a")
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(Store(tmp_path / "a.db", SCHEMA, signer))
        manager = PeerManager(store, node=signer.public_key, mesh=MESH, server_ssl=server, client_ssl=client,
                              verify_peer=peer_node_key, listen=PeerAddress("127.0.0.1", 0), clock=lambda: now[0])
        await stack.enter_async_context(manager)
        address = manager.listening[0]
        with caplog.at_level(logging.WARNING, logger="sync.manager"):
            for _ in range(50):
                await _knock(address)
            first_minute = [r.getMessage() for r in caplog.records]
            now[0] += 60
            await _knock(address)
            after = [r.getMessage() for r in caplog.records][len(first_minute):]
    assert len(first_minute) == 10 and all(REFUSED in m for m in first_minute)
    assert after[0] == "40 more like the next line were not logged in the last 60 s"
    assert len(after) == 2 and REFUSED in after[1]
