"""The far end of a sync link, played by hand: speaks the peer protocol one message at a time."""

from __future__ import annotations

import asyncio

from sync.framing import MemoryLink
from sync.peer import CaughtUp, Handshake, PeerMessage, Ping, Reconcile, decode_peer_message, encode_peer_message
from sync.reconcile import Reconciler, decode_message, encode_message


class Scripted:
    """The far end of a link, speaking the peer protocol of mesh `mesh` one message at a time."""

    def __init__(self, link: MemoryLink, mesh: bytes):
        self.link = link
        self.mesh = mesh

    async def send(self, message: PeerMessage) -> None:
        await self.link.send(encode_peer_message(message))

    def send_at_once(self, messages: list[PeerMessage]) -> None:
        """Deliver every message before the other end runs again, as a fast sender's full window does."""
        for message in messages:
            self.link._other._deliver(encode_peer_message(message))  # type: ignore[union-attr]

    async def recv(self) -> PeerMessage:
        while True:
            message = decode_peer_message(await asyncio.wait_for(self.link.recv(), 5))
            if not isinstance(message, (Ping, CaughtUp)):  # the responder has nothing to send: it is caught up
                return message

    async def start(self, node: bytes) -> None:
        """Handshake, then reconcile as the initiator holding nothing."""
        await self.send(Handshake(node, self.mesh, True, 4))
        assert isinstance(await self.recv(), Handshake)
        reconciler = Reconciler({}, initiator=True)
        turn = reconciler.start()
        while turn:
            await self.send(Reconcile(encode_message(turn)))
            reply = await self.recv()
            assert isinstance(reply, Reconcile)
            turn = reconciler.receive(decode_message(reply.payload))
            if not decode_message(reply.payload):
                return
        await self.send(Reconcile(encode_message([])))
