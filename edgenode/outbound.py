"""The one guarded client: every HTTP request the node makes on a user's behalf goes through here.

Slash commands and outgoing webhooks (later playbook webhooks and link previews) let a team admin
make the node fetch a URL of their choosing and read the answer. So, like Mattermost's httpservice,
this client resolves the host itself, keeps only addresses that are public (not loopback, private,
link-local, multicast, reserved or unspecified, nor an IPv6 form that embeds such an IPv4 address),
and connects to one of those very addresses: the check and the connection use the same answer, so a
second DNS answer cannot rebind the name in between. The check sits where connections are made
(httpcore's network backend), so it also holds for every redirect hop, which is followed by hand up
to MAX_REDIRECTS. An admin may let integrations reach internal destinations by host name, address or
CIDR block (`allowed_untrusted_internal_connections`, Mattermost's AllowedUntrustedInternalConnections).

Failures are of two kinds only. DestinationRefused is decided before any connection is attempted, so
it says nothing about ports; Unreachable covers everything else (refused, filtered, reset, timed out,
bad TLS, DNS failure, too many redirects) and callers show users one message for all of it, so the
node cannot be used to scan ports. Nothing else in edgenode may make HTTP requests
(tests/security/test_ssrf_client.py checks the imports): `LocalApi`, below, is how a command talks to
the node it administers, on loopback only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_REDIRECTS",
    "MAX_RESPONSE_BYTES",
    "DestinationRefused",
    "GuardedClient",
    "InternalAllowList",
    "LocalApi",
    "LocalApiRefused",
    "OutboundError",
    "Reply",
    "Resolver",
    "Unreachable",
    "is_internal",
    "permitted_addresses",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves a host name to addresses (as text) for a port; injectable so tests can point names anywhere."""

DEFAULT_TIMEOUT_S = 10.0
"""The whole exchange, redirects and a slowly dripping body included, must end within this."""
MAX_REDIRECTS = 10  # Go's http.Client default, which Mattermost's integration client keeps
MAX_RESPONSE_BYTES = 1024 * 1024  # Mattermost's MaxIntegrationResponseSize

_SEPARATORS = re.compile(r"[\s,]+")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class OutboundError(Exception):
    """A request on a user's behalf got no usable answer."""


class DestinationRefused(OutboundError):
    """The destination is internal and not allowed by the admin; decided before connecting."""


class Unreachable(OutboundError):
    """The destination did not answer usably (closed, filtered, reset, timed out, TLS, DNS, redirects)."""


# -- the policy (pure) ---------------------------------------------------------------------------

def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (v4-mapped, v4-compatible, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _IPV4_COMPATIBLE or any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def is_internal(address: IPAddress) -> bool:
    """Whether the node must not reach `address` on a user's behalf unless an admin allows it."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:  # the packets end up at the IPv4 address: it decides
            return is_internal(inner)
    # is_global alone is not enough: IPv4 multicast counts as global
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class InternalAllowList:
    """Internal destinations an admin allows: host names (matched exactly) and address blocks."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> InternalAllowList:
        """From Mattermost's format: names, addresses and CIDR blocks separated by spaces or commas."""
        names: set[str] = set()
        networks: list[Network] = []
        for token in (t for entry in entries for t in _SEPARATORS.split(entry) if t):
            try:
                networks.append(ipaddress.ip_network(_host_key(token), strict=False))
            except ValueError:
                names.add(_host_key(token))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return _host_key(host) in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


def permitted_addresses(host: str, addresses: Sequence[IPAddress], allow: InternalAllowList) -> list[IPAddress]:
    """Which of `host`'s addresses the node may connect to, in order; DestinationRefused if none.

    A host the admin allowed by name may use any address (as in Mattermost, where such a host is
    dialled without address checks); otherwise internal addresses are dropped unless allowed.
    """
    if allow.allows_name(host):
        return list(addresses)
    usable = [a for a in addresses if allow.allows_address(a) or not is_internal(a)]
    if not usable:
        raise DestinationRefused(
            f"{host} is an internal address; a system admin may allow it (allowed_untrusted_internal_connections)")
    return usable


# -- the shell -----------------------------------------------------------------------------------

async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (getaddrinfo, off the event loop thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(slots=True)
class _Guard:
    allow: InternalAllowList
    resolver: Resolver

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            literal: IPAddress | None = ipaddress.ip_address(_host_key(host))
        except ValueError:
            literal = None
        if literal is not None:
            return permitted_addresses(host, [literal], self.allow)
        try:
            answers = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise Unreachable(f"cannot resolve {host}: {exc}") from None
        if not answers:
            raise Unreachable(f"cannot resolve {host}: no address")
        return permitted_addresses(host, answers, self.allow)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard permits, and to exactly the address it checked."""

    def __init__(self, guard: _Guard):
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        # TLS still verifies the certificate for (and sends SNI of) `host`: httpcore passes the
        # request's host name to start_tls, not the address connected to.
        failure: Exception = Unreachable(f"cannot connect to {host}")
        for address in await self._guard.addresses(host, port):
            try:
                return await self._inner.connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("unix sockets are never reached on a user's behalf")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: _Guard):
        super().__init__(trust_env=False)  # an environment proxy would connect for us, past the guard
        # httpx has no public parameter for the network backend; httpcore's pool has one.
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                                  network_backend=_GuardedBackend(guard))


@dataclass(frozen=True, slots=True)
class Reply:
    """A final (non-redirect) answer: its status, content type and body (cut at the size limit)."""

    status: int
    content_type: str
    body: bytes


@dataclass(slots=True)
class GuardedClient:
    """Makes requests on users' behalf; open for the node's lifetime, `aclose()` when it closes."""

    allow: InternalAllowList = field(default_factory=InternalAllowList)
    resolver: Resolver = system_resolver
    timeout: float = DEFAULT_TIMEOUT_S
    max_redirects: int = MAX_REDIRECTS
    max_response_bytes: int = MAX_RESPONSE_BYTES
    _client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # the guard reads `resolver` at each connection, so a test may swap it at any time
            guard = _Guard(self.allow, lambda host, port: self.resolver(host, port))
            self._client = httpx.AsyncClient(transport=_GuardedTransport(guard), trust_env=False,
                                             timeout=self.timeout, follow_redirects=False)
        return self._client

    async def request(self, method: str, url: str, *, content: bytes = b"",
                      headers: Mapping[str, str] | None = None) -> Reply:
        """The answer to `method url`, following redirects; DestinationRefused or Unreachable if none."""
        try:
            async with asyncio.timeout(self.timeout):
                # identity: a compressed answer could expand far past the size limit in one chunk
                return await self._follow(method, url, content, {"Accept-Encoding": "identity", **(headers or {})})
        except TimeoutError:
            raise Unreachable(f"{method} {url}: no answer within {self.timeout:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            raise Unreachable(f"{method} {url}: {type(exc).__name__}: {exc}") from None

    async def _follow(self, method: str, url: str, content: bytes, headers: Mapping[str, str]) -> Reply:
        client = self._http()
        request = client.build_request(method, url, content=content, headers=headers)
        for _ in range(self.max_redirects + 1):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is None:
                    return Reply(response.status_code, response.headers.get("content-type", ""),
                                 await self._body(response))
                # httpx builds the next hop as browsers do: 303 becomes GET, and credentials
                # (Authorization) are dropped when the origin changes
                request = response.next_request
            finally:
                await response.aclose()
        raise Unreachable(f"{method} {url}: more than {self.max_redirects} redirects")

    async def _body(self, response: httpx.Response) -> bytes:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= self.max_response_bytes:
                return body[:self.max_response_bytes]
        return body

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class LocalApi:
    """This machine's own served node, as a command hands it work (a bundle to import or export).

    Not a request on a user's behalf: the operator's command talks to the node it administers, so it
    goes to loopback only, and streams files both ways (a bundle can be gigabytes). Transport
    failures raise Unreachable; an answer other than 200 raises LocalApiRefused with the node's message.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, transfer_timeout: float = 3600.0):
        try:
            url = httpx.URL(base_url)
            host = url.host
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except (httpx.InvalidURL, ValueError):
            loopback = False
        if not loopback or url.scheme != "http":
            raise DestinationRefused(f"{base_url} is not this machine's node: give its API on loopback, "
                                     "e.g. http://127.0.0.1:8065")
        self._client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False,
                                    follow_redirects=False, timeout=httpx.Timeout(timeout, read=transfer_timeout))

    def __enter__(self) -> LocalApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def download(self, path: str, body: Mapping[str, Any], out: Any) -> None:
        """POST `body` as JSON to `path` and write the answer's bytes to the file `out`, as they come."""
        try:
            with self._client.stream("POST", path, json=dict(body)) as response:
                if response.status_code != 200:
                    response.read()
                    raise LocalApiRefused(_refusal(response))
                for chunk in response.iter_bytes():
                    out.write(chunk)
        except httpx.HTTPError as exc:
            raise Unreachable(f"the node's API at {self._client.base_url}: {exc}") from None

    def upload(self, path: str, file: Any, headers: Mapping[str, str]) -> Any:
        """POST the file `file` (streamed) to `path`; the answer's JSON."""
        try:
            response = self._client.post(path, content=file, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise Unreachable(f"the node's API at {self._client.base_url}: {exc}") from None
        if response.status_code != 200:
            raise LocalApiRefused(_refusal(response))
        return response.json()


class LocalApiRefused(OutboundError):
    """The served node answered, and refused (permissions, a bad bundle, ...)."""


def _refusal(response: httpx.Response) -> str:
    try:
        message = response.json().get("message") or response.text
    except ValueError:
        message = response.text
    return f"the node refused it ({response.status_code}): {message}"
