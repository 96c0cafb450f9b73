"""Following the network: the usable addresses are applied at once, then after each change and only then.

The address source and the poll clock are the test's: no real network is read or waited for, except
in the one test that reads this host's interfaces. Links going down for real: tests/e2e/test_netns_network_changes.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sync.netwatch import follow_addresses, usable_ipv4_addresses


class Network:
    """The host's addresses, as the test sets them."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = frozenset(hosts)
        self.failure: OSError | None = None

    def __call__(self) -> frozenset[str]:
        if self.failure is not None:
            raise self.failure
        return self.hosts


class PollClock:
    """The follower's sleep: each `await tick()` lets exactly one more poll run, and returns once it has."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self._go = asyncio.Semaphore(0)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self._go.acquire()

    async def tick(self) -> None:
        polls = len(self.slept)
        self._go.release()
        await self.asleep(polls + 1)

    async def asleep(self, polls: int = 1) -> None:
        """Waits until the follower has finished `polls` polls and sleeps."""
        async with asyncio.timeout(5):
            while len(self.slept) < polls:
                await asyncio.sleep(0.001)


class Follower:
    """Records what it was asked to apply; fails the first `failures` times, as a vanishing socket would."""

    def __init__(self, failures: int = 0) -> None:
        self.applied: list[frozenset[str]] = []
        self._failures = failures

    async def apply(self, hosts: frozenset[str]) -> None:
        if self._failures:
            self._failures -= 1
            raise OSError("the socket went away mid-change")
        self.applied.append(hosts)


@pytest.fixture
def clock() -> PollClock:
    return PollClock()


@asynccontextmanager
async def following(network: Network, clock: PollClock, follower: Follower) -> AsyncIterator[None]:
    task = asyncio.create_task(follow_addresses(network, follower.apply, interval=2.5, sleep=clock.sleep))
    try:
        await clock.asleep()
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_addresses_are_applied_at_once_then_on_every_change_and_only_then(clock: PollClock) -> None:
    network = Network()
    follower = Follower()
    async with following(network, clock, follower):
        assert follower.applied == [frozenset()]  # no network yet: that is applied too (nothing to advertise)
        await clock.tick()
        assert follower.applied == [frozenset()]
        network.hosts = frozenset({"10.0.0.2"})  # a cable is plugged in
        await clock.tick()
        network.hosts = frozenset({"10.0.0.2", "192.168.1.9"})  # and Wi-Fi joined
        await clock.tick()
        network.hosts = frozenset({"192.168.1.9"})  # the cable is pulled
        await clock.tick()
        await clock.tick()
        assert follower.applied == [frozenset(), {"10.0.0.2"}, {"10.0.0.2", "192.168.1.9"}, {"192.168.1.9"}]
        assert set(clock.slept) == {2.5}


async def test_a_change_that_could_not_be_applied_is_applied_again_at_the_next_poll(clock: PollClock) -> None:
    network = Network("10.0.0.2")
    follower = Follower(failures=2)
    async with following(network, clock, follower):
        assert follower.applied == []
        await clock.tick()
        await clock.tick()
        assert follower.applied == [{"10.0.0.2"}]
        await clock.tick()
        assert follower.applied == [{"10.0.0.2"}]


async def test_interfaces_that_cannot_be_read_count_as_no_change(clock: PollClock) -> None:
    network = Network("10.0.0.2")
    follower = Follower()
    async with following(network, clock, follower):
        network.failure = OSError("getifaddrs failed")
        await clock.tick()
        assert follower.applied == [{"10.0.0.2"}]
        network.failure, network.hosts = None, frozenset({"10.0.0.3"})
        await clock.tick()
        assert follower.applied == [{"10.0.0.2"}, {"10.0.0.3"}]


def test_this_hosts_usable_addresses_are_ipv4_and_never_loopback() -> None:
    for host in usable_ipv4_addresses():
        address = ipaddress.ip_address(host)
        assert address.version == 4 and not address.is_loopback, host
