"""PeerManager: keeps one sync connection per peer, found by configuration, by discovery or by dialing in.

It listens for peers (TLS when given a server context), dials static and discovered peers, and
redials a peer that went away with exponential backoff and jitter. When two nodes dial each other at
once, both keep the connection dialed by the node with the smaller key, so exactly one remains.
Time, randomness, sleeping and dialing are injected: tests run managers over in-memory links
(`MemoryNetwork`) with a fake clock.

Production links must be mutual TLS with the mesh's certificates (`server_ssl`, `client_ssl` and
`verify_peer`, which returns the peer's node key from its certificate or raises). Without them the
manager speaks plain TCP: anyone who can reach the port can read and write every feed, so that is
for tests and trusted development networks only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random as _random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import Self

from .errors import SyncError
from .feed import FeedId
from .framing import Link, LinkError, StreamLink, memory_link_pair
from .log_limit import RateLimitedLog
from .peer import (
    DuplicateConnectionError, PeerSession, SelfConnectionError, SessionConfig,
)
from .ports import BlobPort, Entitlements, LiveFeedStore

__all__ = [
    "PeerAddress", "Backoff", "PeerStatus", "PeerManager", "Dialer", "tcp_dialer", "MemoryNetwork", "PeerUnreachableError",
    "STATIC", "MDNS", "INBOUND", "DEFAULT_SYNC_PORT",
]

DEFAULT_SYNC_PORT = 8066
STATIC, MDNS, INBOUND = "static", "mdns", "inbound"
"""How a peer was found: configured (--peer), discovered on the LAN, or it dialed us."""
_log = logging.getLogger(__name__)

PeerVerifier = Callable[[ssl.SSLObject], bytes]


class PeerUnreachableError(LinkError):
    """No connection could be made to the peer's address (refused, timed out, no route, TLS refused)."""


Dialer = Callable[["PeerAddress"], Awaitable[tuple[Link, bytes | None]]]
"""Connects to an address; returns the link and the peer's node key if the transport proved it."""


@dataclass(frozen=True, slots=True, order=True)
class PeerAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int = DEFAULT_SYNC_PORT) -> PeerAddress:
        """"host", "host:port", "[v6]:port" or "v6"; raises ValueError with a usable message."""
        text = text.strip()
        host, port = text, str(default_port)
        if text.startswith("["):
            host, closed, rest = text[1:].partition("]")
            if not closed:
                raise ValueError(f"{text!r} is not HOST:PORT (an IPv6 address goes in brackets: [::1]:8066)")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"{text!r} is not HOST:PORT")
                port = rest[1:]
        elif text.count(":") == 1:
            host, port = text.split(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r} is not HOST:PORT (a host name or address, and a port from 1 to 65535)")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts: `base` after a success or a first failure, then doubling up to `cap`;
    each with equal jitter (half fixed, half random), so peers that failed together do not retry together."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int, random: Callable[[], float]) -> float:
        ceiling = min(self.cap, self.base * float(2 ** max(0, min(failures, 40) - 1)))
        return ceiling / 2 + random() * ceiling / 2


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """What we know of one peer; times are wall-clock seconds, counts are ops."""

    node: bytes | None
    addresses: tuple[str, ...]
    found: tuple[str, ...]
    connected: bool
    last_contact: float | None
    last_sync: float | None
    to_send: int | None
    """Ops the peer lacks, as far as we know (None: never reconciled with it)."""
    to_receive: int | None
    """Ops the peer announced it still has to send us (None while not connected)."""
    ops_sent: int
    ops_received: int
    failures: int
    next_attempt: float | None
    last_error: str | None
    diverged: tuple[FeedId, ...] = ()
    """Feeds of which the peer holds another history than ours (see PeerSession.diverged)."""


@dataclass(slots=True)
class _Peer:
    """Everything remembered about one node across its sessions."""

    found: set[str] = field(default_factory=set)
    address: str | None = None
    session: PeerSession | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    last_contact: float | None = None
    last_sync: float | None = None
    ops_sent: int = 0
    ops_received: int = 0
    frontier: dict[FeedId, int] | None = None
    visible: Callable[[FeedId], bool] | None = None
    """Need-to-know as of its last session: which of our feeds it may receive (None: all)."""
    last_error: str | None = None
    connected_once: bool = False
    lost_at: float | None = None
    """When its last session ended (None while connected, or never connected)."""
    diverged: set[FeedId] = field(default_factory=set)


@dataclass(slots=True)
class _Target:
    """An address we dial and keep dialing while it is wanted."""

    key: str
    found: str
    addresses: list[PeerAddress]
    node: bytes | None = None
    wanted: bool = True
    failures: int = 0
    next_attempt: float | None = None
    last_error: str | None = None
    poke: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    backoff: Backoff | None = None
    """Its own delays between attempts (e.g. a hub link's, capped at the hub interval); None: the manager's."""


def tcp_dialer(client_ssl: ssl.SSLContext | None = None, verify_peer: PeerVerifier | None = None,
               timeout: float = 10.0) -> Dialer:
    """Dial over TCP, with mutual TLS when `client_ssl` is given (then `verify_peer` names the peer)."""

    async def dial(address: PeerAddress) -> tuple[Link, bytes | None]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address.host, address.port, ssl=client_ssl,
                                        server_hostname=address.host if client_ssl is not None else None),
                timeout)
        except TimeoutError:
            raise PeerUnreachableError(f"cannot reach {address}: no answer within {timeout:g} s") from None
        except OSError as exc:  # refused, unreachable, unknown host, TLS handshake refused
            raise PeerUnreachableError(f"cannot reach {address}: {_os_reason(exc)}") from None
        link = StreamLink(reader, writer)
        try:
            return link, _verified(writer, verify_peer)
        except BaseException:
            await link.close()
            raise

    return dial


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({getattr(exc, 'verify_message', None) or exc.reason or exc})"
    if isinstance(exc.errno, int) and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def _verified(writer: asyncio.StreamWriter, verify_peer: PeerVerifier | None) -> bytes | None:
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is None or verify_peer is None:
        return None
    return verify_peer(ssl_object)


class PeerManager:
    """Run with `async with PeerManager(store, node=..., mesh=..., listen=...) as manager:`."""

    def __init__(self, store: LiveFeedStore, *, node: bytes, mesh: bytes, listen: PeerAddress | None = None,
                 server_ssl: ssl.SSLContext | None = None, client_ssl: ssl.SSLContext | None = None,
                 verify_peer: PeerVerifier | None = None, static_peers: Sequence[PeerAddress] = (),
                 config: SessionConfig = SessionConfig(), backoff: Backoff = Backoff(),
                 random: Callable[[], float] = _random.random, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, dial: Dialer | None = None,
                 handshake_timeout: float = 10.0, entitlements: Entitlements | None = None,
                 blobs: BlobPort | None = None):
        if (server_ssl is None) != (client_ssl is None):
            raise ValueError("give both TLS contexts (server and client) or neither")
        self.store = store
        self.node = node
        self.mesh = mesh
        self.listen = listen
        self.tls = server_ssl is not None
        self._server_ssl = server_ssl
        self._verify_peer = verify_peer
        self._static = list(static_peers)
        self._config = config
        self._backoff = backoff
        self._random = random
        self._clock = clock
        self._refusals = RateLimitedLog(_log, clock=clock)  # anyone who can reach the port can cause these
        self._sleep = sleep
        self._dial = dial if dial is not None else tcp_dialer(client_ssl, verify_peer)
        self._handshake_timeout = handshake_timeout
        self._entitlements = entitlements
        self._blobs = blobs
        self._server: asyncio.Server | None = None
        self._peers: dict[bytes, _Peer] = {}
        self._targets: dict[str, _Target] = {}
        self._inbound: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.listening: list[PeerAddress] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.listen is not None:
            # plain accept, then TLS in the handler: a failed TLS handshake can then be logged with its reason
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _HeldStreamProtocol(asyncio.StreamReader(), self._on_tcp), self.listen.host, self.listen.port)
            self.listening = [PeerAddress(*s.getsockname()[:2]) for s in self._server.sockets]
        for address in self._static:
            self.add_peer(address)

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        tasks = [t.task for t in self._targets.values() if t.task is not None] + list(self._inbound)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def disconnect(self, nodes: Container[bytes], reason: str) -> None:
        """End the live sessions with these nodes now (e.g. just revoked: their next dial is refused)."""
        for node, peer in self._peers.items():
            if node in nodes and peer.session is not None:
                _log.warning("ending the sync session with node %s: %s", node.hex()[:16], reason)
                peer.session.stop(reason)

    # -- who to dial -----------------------------------------------------------------------

    def add_peer(self, address: PeerAddress, found: str = STATIC, *, backoff: Backoff | None = None) -> None:
        """Dial `address` now and keep it in sync (redialing with backoff) until the manager stops;
        called again for a target that is failing, dial it again at once."""
        self._want(f"{found}:{address}", found, [address], None, backoff)

    def discovered(self, node: bytes, addresses: Sequence[PeerAddress], found: str = MDNS) -> None:
        """A peer of our mesh announced itself: sync with it at once, and while it stays reachable."""
        if node == self.node or not addresses:
            return
        self._want(f"{found}:{node.hex()}", found, list(addresses), node)

    def lost(self, node: bytes, found: str = MDNS) -> None:
        """The peer withdrew its announcement: stop redialing it (a live connection is kept while it lasts)."""
        target = self._targets.get(f"{found}:{node.hex()}")
        if target is not None:
            target.wanted = False
            target.poke.set()

    def _want(self, key: str, found: str, addresses: list[PeerAddress], node: bytes | None,
              backoff: Backoff | None = None) -> None:
        if self._stopping:
            return
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = _Target(key, found, addresses, node, backoff=backoff)
        else:
            was_wanted = target.wanted
            target.addresses, target.wanted = addresses, True
            if not was_wanted or target.failures:
                target.failures = 0  # newly seen again: try at once rather than after the backoff
                target.poke.set()
        if node is not None:
            self._peers.setdefault(node, _Peer()).found.add(found)
        if target.task is None or target.task.done():
            target.task = asyncio.create_task(self._dial_loop(target), name=f"sync-dial-{key}")

    async def _dial_loop(self, target: _Target) -> None:
        while target.wanted and not self._stopping:
            if target.node is not None and target.node in self._peers and self._peers[target.node].session is not None:
                await self._peers[target.node].ended.wait()  # connected the other way round: wait for it to end
                continue
            caught_up, error = await self._attempt(target)
            if caught_up:
                target.failures, target.last_error = 0, None
            else:
                target.failures += 1
                target.last_error = error
            if not target.wanted or self._stopping:
                break
            delay = (target.backoff or self._backoff).delay(target.failures, self._random)
            target.next_attempt = self._clock() + delay
            await self._nap(target, delay)
            target.next_attempt = None

    async def _nap(self, target: _Target, delay: float) -> None:
        target.poke.clear()
        sleeper = asyncio.ensure_future(self._sleep(delay))
        poked = asyncio.ensure_future(target.poke.wait())
        try:
            await asyncio.wait([sleeper, poked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            poked.cancel()

    async def _attempt(self, target: _Target) -> tuple[bool, str | None]:
        """One dial of the target's addresses (first that answers); returns (caught up, error)."""
        error: str | None = None
        for address in list(target.addresses):
            try:
                link, verified = await self._dial(address)
            except PeerUnreachableError as exc:
                error = str(exc)
                _log.debug("%s", error)
                continue
            except (TimeoutError, OSError, SyncError) as exc:
                error = f"cannot reach {address}: {_describe(exc)}"
                _log.debug("%s", error)
                continue
            except Exception as exc:  # e.g. the certificate check refused the peer
                error = f"refused {address}: {_describe(exc)}"
                _log.warning("%s", error)
                continue
            try:
                session = await self._run(link, initiator=True, found=target.found, verified=verified, target=target)
                return session.stats.last_sync is not None, None
            except SelfConnectionError:
                target.wanted = False
                return False, f"{address} is this node itself"
            except DuplicateConnectionError as exc:
                return False, str(exc)
            except (SyncError, OSError) as exc:
                return False, f"sync with {address} failed: {_describe(exc)}"
        return False, error

    # -- inbound -----------------------------------------------------------------------------

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A TCP connection arrived: finish TLS (if any), then serve it in a task this manager owns."""
        verified: bytes | None = None
        if self._server_ssl is not None:
            try:
                await asyncio.wait_for(writer.start_tls(self._server_ssl), self._handshake_timeout)
                verified = _verified(writer, self._verify_peer)
            except Exception as exc:  # a peer outside the mesh, revoked, or not speaking TLS
                self._refusals.warning("refused a sync connection from %s: %s", writer.get_extra_info("peername"),
                                       _describe(exc))
                writer.close()
                return
        else:
            transport = writer.transport
            assert isinstance(transport, asyncio.ReadTransport)
            transport.resume_reading()
        self.accept(StreamLink(reader, writer), verified)

    def accept(self, link: Link, verified: bytes | None = None) -> None:
        """Serve a link that a peer opened to us (used by in-memory networks; TCP arrives via the listener)."""
        if self._stopping:
            asyncio.ensure_future(link.close())
            return
        task = asyncio.create_task(self._serve(link, verified))
        self._inbound.add(task)
        task.add_done_callback(self._inbound.discard)

    async def _serve(self, link: Link, verified: bytes | None) -> None:
        try:
            await self._run(link, initiator=False, found=INBOUND, verified=verified, target=None)
        except (SyncError, OSError) as exc:
            _log.info("sync session with %s ended: %s", link.peer, _describe(exc))

    # -- sessions ---------------------------------------------------------------------------

    async def _run(self, link: Link, *, initiator: bool, found: str, verified: bytes | None,
                   target: _Target | None) -> PeerSession:
        def admit(session: PeerSession) -> None:
            node = session.peer_node
            assert node is not None
            if target is not None:
                target.node = node
            peer = self._peers.setdefault(node, _Peer())
            existing = peer.session
            if existing is not None:
                _warn_if_cloned(node, existing, session)
                if _dialer(self.node, existing) <= _dialer(self.node, session):
                    raise DuplicateConnectionError(f"already connected to node {node.hex()[:16]}")
                existing.stop("a connection dialed by the node with the smaller key replaces this one")
            peer.found.add(found)
            peer.address = link.peer
            peer.session = session
            peer.ended.clear()
            if existing is None:  # a replaced duplicate connection is neither a loss nor a return
                self._log_connected(node, peer, link.peer)

        session = PeerSession(self.store, link, node=self.node, mesh=self.mesh, initiator=initiator,
                              config=self._config, clock=self._clock, verified_node=verified, admit=admit,
                              entitlements=self._entitlements, blobs=self._blobs)
        error: str | None = None
        try:
            await session.run()
        except (SyncError, OSError) as exc:
            error = _describe(exc)
            if session.peer_node is not None and session.peer_node in self._peers:
                self._peers[session.peer_node].last_error = error
            raise
        finally:
            self._ended(session, error)
        return session

    def _log_connected(self, node: bytes, peer: _Peer, address: str) -> None:
        """Tell the operator a peer is reachable: the first time, and each time it comes back."""
        if peer.lost_at is not None:
            away = max(0.0, self._clock() - peer.lost_at)
            _log.info("sync: node %s is back at %s after %.0f s", _display(node), address, away)
        elif not peer.connected_once:
            _log.info("sync: connected to node %s at %s", _display(node), address)
        peer.connected_once, peer.lost_at = True, None

    def _ended(self, session: PeerSession, error: str | None = None) -> None:
        node = session.peer_node
        peer = self._peers.get(node) if node is not None else None
        if peer is None:
            return
        stats = session.stats
        if stats.last_contact is not None:
            peer.last_contact = max(peer.last_contact or 0, stats.last_contact)
        if stats.last_sync is not None:
            peer.last_sync = max(peer.last_sync or 0, stats.last_sync)
            peer.last_error = None
        peer.ops_sent += stats.ops_sent
        peer.ops_received += stats.ops_received
        peer.diverged |= session.diverged
        if session.reconciled:
            peer.frontier = session.peer_frontier()
            peer.visible = session.view.allows if session.view is not None else None
        if peer.session is session:
            peer.session = None
            peer.ended.set()
            if not self._stopping:  # our own shutdown loses no peer
                peer.lost_at = self._clock()
                _log.info("sync: lost node %s at %s: %s", _display(node), peer.address or session.link.peer,
                          error or "the session ended")

    # -- status ------------------------------------------------------------------------------

    def known_frontier(self, node: bytes) -> dict[FeedId, int] | None:
        """How far the peer held each of our feeds it may receive, as of the end of its last session
        (None: never reconciled with it since start). In memory only."""
        peer = self._peers.get(node)
        if peer is None:
            return None
        if peer.session is not None and peer.session.reconciled:
            return peer.session.peer_frontier()
        return dict(peer.frontier) if peer.frontier is not None else None

    def peer_frontiers(self) -> dict[bytes, dict[FeedId, int]]:
        """How far each peer holds each feed, as far as we learned: from its live session once reconciled, else
        from its last one; peers never reconciled with are left out."""
        frontiers: dict[bytes, dict[FeedId, int]] = {}
        for node, peer in self._peers.items():
            known = dict(peer.frontier or {})
            if peer.session is not None and peer.session.reconciled:
                for feed, seq in peer.session.peer_frontier().items():
                    known[feed] = max(seq, known.get(feed, 0))
            if known or peer.frontier is not None:
                frontiers[node] = known
        return frontiers

    def connected_peers(self) -> int:
        """How many peers a session is open with now."""
        return sum(1 for peer in self._peers.values() if peer.session is not None)

    async def status(self) -> list[PeerStatus]:
        """Every peer we know of, connected or not; unidentified targets (never reached) by address."""
        ours = {f: h.seq for f, h in (await self.store.heads()).items()}
        rows: list[PeerStatus] = []
        for node, peer in self._peers.items():
            targets = [t for t in self._targets.values() if t.node == node]
            found = set(peer.found) | {t.found for t in targets}
            session = peer.session
            if session is not None:
                stats = session.stats
                to_send: int | None = session.to_send() if session.reconciled else None
                to_receive: int | None = stats.to_receive
                last_contact = stats.last_contact or peer.last_contact
                last_sync = stats.last_sync or peer.last_sync
                sent, received = peer.ops_sent + stats.ops_sent, peer.ops_received + stats.ops_received
            else:
                to_send = None if peer.frontier is None else sum(
                    max(0, seq - peer.frontier.get(f, 0)) for f, seq in ours.items()
                    if peer.visible is None or peer.visible(f))
                to_receive, last_contact, last_sync = None, peer.last_contact, peer.last_sync
                sent, received = peer.ops_sent, peer.ops_received
            addresses = {str(a) for t in targets for a in t.addresses}
            if peer.address is not None:
                addresses.add(peer.address)
            if session is not None:  # reachable now, whatever the earlier attempts said
                failures, next_attempt, error = 0, None, None
            else:
                failures = min((t.failures for t in targets), default=0)
                next_attempt = min((t.next_attempt for t in targets if t.next_attempt is not None), default=None)
                error = next((t.last_error for t in targets if t.last_error), None) or peer.last_error
            diverged = peer.diverged | (session.diverged if session is not None else frozenset())
            rows.append(PeerStatus(
                node, tuple(sorted(addresses)), tuple(sorted(found)), session is not None, last_contact, last_sync,
                to_send, to_receive, sent, received, failures, next_attempt, error,
                tuple(sorted(diverged, key=lambda f: (f.author, f.scope))),
            ))
        for target in self._targets.values():
            if target.node is None and (target.wanted or target.last_error):
                rows.append(PeerStatus(None, tuple(str(a) for a in target.addresses), (target.found,), False, None,
                                       None, None, None, 0, 0, target.failures, target.next_attempt,
                                       target.last_error))
        return rows


class _HeldStreamProtocol(asyncio.StreamReaderProtocol):
    """Holds reading until the handler decides: a TLS ClientHello read as plain data would be lost to TLS."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        transport.pause_reading()
        super().connection_made(transport)


def _dialer(us: bytes, session: PeerSession) -> bytes:
    """The node that dialed a session's connection."""
    assert session.peer_node is not None
    return us if session.initiator else session.peer_node


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address


def _warn_if_cloned(node: bytes, existing: PeerSession, new: PeerSession) -> None:
    """Two live connections, both dialed by the peer, from two hosts: two machines may hold one node
    identity (an invite token used twice, or a copied data folder). They sign different ops as the
    same node, which every node refuses as forks; the operator should know at once."""
    if existing.initiator or new.initiator or _host(existing.link.peer) == _host(new.link.peer):
        return
    _log.warning("sync: node %s is connected from %s and now also from %s: two machines may hold this one node "
                 "identity (an invite token used twice?); if so, revoke it on the authority: edgenode mesh revoke %s",
                 _display(node), existing.link.peer, new.link.peer, _display(node))


def _display(node: bytes | None) -> str:
    """A node's short id as the operator sees it everywhere (edgenode.identity.node_display_id)."""
    if node is None:
        return "(unknown)"
    return base64.b32encode(node[:16]).decode().rstrip("=").lower()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class MemoryNetwork:
    """Managers in one process that dial each other by address over in-memory links (for tests)."""

    def __init__(self) -> None:
        self._hosts: dict[PeerAddress, PeerManager] = {}
        self.down: set[PeerAddress] = set()
        """Addresses that refuse connections, as if the peer were off or out of reach."""
        self.dials: list[PeerAddress] = []

    def attach(self, address: PeerAddress, manager: PeerManager) -> None:
        self._hosts[address] = manager

    def dialer(self, name: str) -> Dialer:
        async def dial(address: PeerAddress) -> tuple[Link, bytes | None]:
            self.dials.append(address)
            host = self._hosts.get(address)
            if host is None or address in self.down:
                raise ConnectionRefusedError(f"nothing listens on {address}")
            ours, theirs = memory_link_pair(names=(name, str(address)))
            host.accept(theirs)
            return ours, None

        return dial
