"""mDNS discovery follows the network: a node whose link comes up late, or whose address changes, is found.

Real namespaces on a virtual bridge (tests/support/netns.py), real zeroconf, real interface
changes made with iproute2 while the nodes run. Needs root and iproute2; skipped otherwise.

Verified: the host's usable addresses leave out an unplugged link; two `edgenode serve` processes,
one started with its link down and no address, find each other and sync once it has both (a user
created on the first node before that can log in on the second); and two discovery objects see a node's
address appear and change, and a fresh browser sees only the node's current address (the old one
was withdrawn from its record).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.netns import VirtualLan, virtual_lan

REPO = Path(__file__).resolve().parents[2]
SUBNET = "10.201.0"
BUDGET_S = 10  # from a network change to the peer knowing of it (the node polls every 2 s, mDNS probes ~1 s)

pytestmark = pytest.mark.slow

USABLE_ADDRESSES = "from sync.netwatch import usable_ipv4_addresses; print(sorted(usable_ipv4_addresses()))"


def test_an_address_on_a_link_that_is_down_is_not_usable() -> None:
    with virtual_lan(["a"], subnet=SUBNET) as lan:
        def usable() -> list[str]:
            done = subprocess.run(lan.run("a", sys.executable, "-c", USABLE_ADDRESSES), capture_output=True,
                                  text=True, timeout=30, cwd=REPO, check=True)
            return list(json.loads(done.stdout.replace("'", '"')))

        assert usable() == [lan.address("a")]
        lan.set_link("a", up=False)
        assert usable() == []


# Waits until POST `path` with the JSON `body` answers `want`, inside a namespace (the API is on its loopback).
CALL_UNTIL = r'''
import json, sys, time, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
path, body, want, budget = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), float(sys.argv[4])
def status():
    request = urllib.request.Request("http://127.0.0.1:8065/api/v4" + path, body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
deadline = time.monotonic() + budget
while (got := status()) != want:
    if time.monotonic() > deadline:
        sys.exit("POST %s answered %s for %s s, not %s" % (path, got, budget, want))
    time.sleep(0.05)
'''
ADMIN = {"username": "admin", "email": "admin@example.com", "password": "password1"}


def test_a_node_that_starts_without_a_network_is_found_and_synced_once_it_has_one(tmp_path: Path) -> None:
    with virtual_lan(["a", "b"], subnet=SUBNET, addressed=False) as lan:
        lan.add_address("a", lan.address("a"))
        lan.set_link("b", up=False)  # b boots without a cable, so without an address
        logs = {name: tmp_path / f"{name}.log" for name in lan.names}
        with _serving(lan, tmp_path, logs):
            def call_until(name: str, path: str, body: dict[str, str], want: int, budget: float) -> None:
                done = subprocess.run(lan.run(name, sys.executable, "-c", CALL_UNTIL, path, json.dumps(body),
                                              str(want), str(budget)),
                                      capture_output=True, text=True, timeout=budget + 15, cwd=REPO, check=False)
                if done.returncode != 0:
                    tails = "\n".join(f"--- {n} ---\n{p.read_text()[-3000:]}" for n, p in logs.items())
                    pytest.fail(f"on {name}: {done.stderr.strip()}\n{tails}")

            call_until("a", "/users", ADMIN, 201, BUDGET_S)  # the API is up, and it has data to sync
            login = {"login_id": "admin", "password": "password1"}
            call_until("b", "/users/login", login, 401, BUDGET_S)  # b's API is up, without that user
            plugged = time.monotonic()
            lan.set_link("b", up=True)  # the cable is plugged in, and DHCP answers
            lan.add_address("b", lan.address("b"))
            call_until("b", "/users/login", login, 200, BUDGET_S)
            print(f"\nb found a and synced {time.monotonic() - plugged:.1f} s after its link came up")


@contextmanager
def _serving(lan: VirtualLan, tmp_path: Path, logs: dict[str, Path]) -> Iterator[None]:
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for name in lan.names:
            with logs[name].open("wb") as log:
                servers.append(subprocess.Popen(
                    lan.run(name, sys.executable, "-m", "edgenode", "serve", "--data", str(tmp_path / name),
                            "--port", "8065", "--sync-port", "8066", "--mdns", "--unenrolled-sync"),
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO))
        yield
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# One ZeroconfDiscovery (polling the interfaces every 0.2 s) that prints what it finds, one JSON line each,
# until its stdin closes. Port 0: browse only.
DISCOVERY = r'''
import asyncio, json, logging, sys
from sync.discovery import ZeroconfDiscovery
from sync.peer import mesh_tag
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
def say(event, node, addresses=()):
    print(json.dumps({"event": event, "node": node.hex(), "addresses": sorted(a.host for a in addresses)}), flush=True)
async def main():
    async with ZeroconfDiscovery(node=bytes.fromhex(sys.argv[1]), mesh=mesh_tag("netwatch"), port=int(sys.argv[2]) or None,
                                 poll_interval=0.2, on_found=lambda n, a: say("found", n, a),
                                 on_lost=lambda n: say("lost", n)):
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
'''


class DiscoveryProcess:
    """A DISCOVERY subprocess in a namespace, and the events it has printed so far."""

    def __init__(self, lan: VirtualLan, name: str, node: bytes, port: int, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(lan.run(name, sys.executable, "-c", DISCOVERY, node.hex(), str(port)),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                            text=True, cwd=REPO)
        self.seen: list[dict[str, Any]] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def wait_for(self, what: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event from now on that passes `check`, within BUDGET_S; fails the test with the log otherwise."""
        deadline = time.monotonic() + BUDGET_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                event: dict[str, Any] = json.loads(self._lines.get(timeout=left))
            except queue.Empty:
                break
            self.seen.append(event)
            if check(event):
                return event
        pytest.fail(f"{self.name} did not see {what} within {BUDGET_S} s; it saw {self.seen}\n"
                    f"{self.log.read_text()[-4000:]}")

    def wait_until_following(self) -> None:
        """Returns once the process has read its interfaces (logged "network addresses now: ...")."""
        deadline = time.monotonic() + BUDGET_S
        while "network addresses now" not in self.log.read_text():
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not start within {BUDGET_S} s:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


NODE_A, NODE_B, OBSERVER = bytes([0xA] * 32), bytes([0xB] * 32), bytes([0xC] * 32)


def test_a_node_is_found_when_its_address_appears_and_again_when_it_changes(tmp_path: Path) -> None:
    with virtual_lan(["a", "b"], subnet=SUBNET, addressed=False) as lan:
        first, renewed = lan.address("b"), lan.address("b", host=12)
        lan.add_address("a", lan.address("a"))  # b's link is up, but it has no address yet
        started: list[DiscoveryProcess] = []
        try:
            a = DiscoveryProcess(lan, "a", NODE_A, 8066, tmp_path / "a.log")
            b = DiscoveryProcess(lan, "b", NODE_B, 8066, tmp_path / "b.log")
            started += [a, b]
            a.wait_until_following()
            b.wait_until_following()  # with no address: it cannot be seen, nor see anyone

            lan.add_address("b", first)  # DHCP answered
            a.wait_for(f"b at {first}", lambda e: e == {"event": "found", "node": NODE_B.hex(), "addresses": [first]})
            b.wait_for(f"a at {lan.address('a')}", lambda e: e["node"] == NODE_A.hex() and e["event"] == "found")

            lan.add_address("b", renewed)  # a new lease: the new address comes, the old one goes
            lan.remove_address("b", first)
            a.wait_for(f"b at {renewed}", lambda e: e["node"] == NODE_B.hex() and renewed in e["addresses"])

            # a may still hold the old address for a second (until the cache flush); a fresh browser asks
            # b itself, so it sees exactly what b advertises now
            observer = DiscoveryProcess(lan, "a", OBSERVER, 0, tmp_path / "observer.log")
            started.append(observer)
            seen = observer.wait_for("b", lambda e: e["node"] == NODE_B.hex())
            assert seen == {"event": "found", "node": NODE_B.hex(), "addresses": [renewed]}, "the old address lingers"
        finally:
            for process in started:
                process.stop()
