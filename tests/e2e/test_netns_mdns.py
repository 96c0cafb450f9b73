"""Three real `edgenode serve` processes of one mesh, on a virtual LAN, find each other by mDNS and replicate a post.

Node A is the mesh's authority (`edgenode mesh init`); B and C join it with an invite token each
(`edgenode mesh join`), and nothing else is configured: they sync over the mesh's mutual TLS.

Each node runs in its own network namespace (its own loopback, so every API is on 127.0.0.1:8065)
with one veth link to a bridge in a fourth namespace; addresses are 10.200.0.0/24, inside the
namespaces only, and the root namespace gets no interface, so no packet (multicast included) leaves
the test's LAN. Needs root and iproute2 (`apt-get install iproute2`); skipped otherwise, with the reason.

Verified: an admin, a team and a post created through node A's HTTP API become readable through
B's and C's APIs (the user logs in on B and C with A's password: the directory replicated too), and
each node's `edgenode status --json` lists both others as found by mDNS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.netns import VirtualLan, virtual_lan

REPO = Path(__file__).resolve().parents[2]
NAMES = ("a", "b", "c")
SUBNET = "10.200.0"
BUDGET_S = 15  # for the post to reach the other nodes, and for discovery

pytestmark = pytest.mark.slow

# One HTTP client for every step, run inside a namespace with `ip netns exec NS python -c CLIENT ...`.
# Standard library only (fast to start), and no proxies: the API is on the namespace's own loopback.
CLIENT = r'''
import json, sys, time, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BASE = "http://127.0.0.1:8065/api/v4"
def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, None
    except OSError:
        return 0, {}, None
def until(check, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    sys.exit("timed out after %s s" % seconds)
def login():
    status, headers, _ = call("POST", "/users/login", {"login_id": "admin", "password": "password1"})
    return headers["Token"] if status == 200 else None
command, budget = sys.argv[1], float(sys.argv[2])
if command == "ready":
    until(lambda: call("GET", "/system/ping")[0] == 200, budget)
elif command == "post":
    assert call("POST", "/users", {"username": "admin", "email": "admin@example.com", "password": "password1"})[0] == 201
    token = login()
    status, _, team = call("POST", "/teams", {"name": "field", "display_name": "Field", "type": "O"}, token)
    assert status == 201, status
    channel = call("GET", "/teams/%s/channels/name/town-square" % team["id"], token=token)[2]["id"]
    status, _, post = call("POST", "/posts", {"channel_id": channel, "message": sys.argv[3]}, token)
    assert status == 201, status
    print(json.dumps({"channel": channel, "post": post["id"], "at": time.time()}))
elif command == "wait_post":
    channel, post = sys.argv[3], sys.argv[4]
    def seen():
        token = login()
        if not token:
            return None
        status, _, body = call("GET", "/channels/%s/posts" % channel, token=token)
        return status == 200 and post in body["posts"] and body["posts"][post]["message"]
    print(json.dumps({"message": until(seen, budget), "at": time.time()}))
'''


@pytest.fixture
def lan() -> Iterator[VirtualLan]:
    with virtual_lan(NAMES, subnet=SUBNET) as the_lan:
        yield the_lan


def _in(ns: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *command]


def _client(ns: str, *args: str, budget: float = BUDGET_S) -> subprocess.Popen[str]:
    return subprocess.Popen(_in(ns, sys.executable, "-c", CLIENT, args[0], str(budget), *args[1:]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _finish(process: subprocess.Popen[str], what: str, logs: dict[str, Path]) -> str:
    out, err = process.communicate(timeout=BUDGET_S + 15)
    if process.returncode != 0:
        tails = "\n".join(f"--- {name} ---\n{path.read_text()[-2000:]}" for name, path in logs.items())
        pytest.fail(f"{what} failed ({process.returncode}): {err.strip()}\n{tails}")
    return out


def test_three_nodes_on_a_lan_find_each_other_by_mdns_and_a_post_reaches_all_of_them(
        lan: VirtualLan, tmp_path: Path) -> None:
    servers: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in NAMES}
    started = time.time()
    _enrol(tmp_path)
    try:
        for name, ns in lan.namespaces.items():
            with logs[name].open("wb") as log:
                servers[name] = subprocess.Popen(
                    _in(ns, sys.executable, "-m", "edgenode", "serve", "--data", str(tmp_path / name), "--port", "8065",
                        "--sync-port", "8066", "--mdns"),
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        for process in [_client(ns, "ready") for ns in lan.namespaces.values()]:
            _finish(process, "waiting for the APIs", logs)

        created = json.loads(_finish(_client(lan.namespaces["a"], "post", "hello over the LAN"), "posting on a", logs))
        waiting = {name: _client(lan.namespaces[name], "wait_post", created["channel"], created["post"])
                   for name in ("b", "c")}
        arrived = {name: json.loads(_finish(p, f"reading the post on {name}", logs)) for name, p in waiting.items()}
        assert {name: seen["message"] for name, seen in arrived.items()} == {"b": "hello over the LAN",
                                                                             "c": "hello over the LAN"}

        statuses = {name: _status(lan.namespaces[name], tmp_path / name) for name in NAMES}
        ids = {name: status["node"] for name, status in statuses.items()}
        for name, status in statuses.items():
            peers = {peer["node"]: peer for peer in status["peers"]}
            others = {ids[other] for other in NAMES if other != name}
            assert others <= set(peers), (name, status)
            for other in others:
                assert "mdns" in peers[other]["found"], (name, peers[other])
                assert any(a.startswith(SUBNET + ".") for a in peers[other]["addresses"]), peers[other]
            assert status["sync"]["mdns"] and status["sync"]["listening"] == ["0.0.0.0:8066"]
        latency = {name: round(seen["at"] - created["at"], 3) for name, seen in arrived.items()}
        print(f"\npost visible on b, c after {latency} s; whole test {time.time() - started:.1f} s")
    finally:
        for process in servers.values():
            process.terminate()
        for process in servers.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for name in NAMES:  # a clean stop: the status file says so
        with (tmp_path / name / "sync-status.json").open() as f:
            assert json.load(f)["sync"]["running"] is False, logs[name].read_text()[-2000:]


def _edgenode(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "edgenode", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _enrol(root: Path) -> None:
    """A starts the mesh; B and C join it, each with its own one-line invite (no network needed)."""
    _edgenode("mesh", "init", "--data", str(root / "a"), "--name", "field")
    for name in ("b", "c"):
        token = root / f"{name}.invite"
        _edgenode("mesh", "invite", "--data", str(root / "a"), "--out", str(token))
        _edgenode("mesh", "join", "--data", str(root / name), f"@{token}")


def _status(ns: str, data_dir: Path) -> dict[str, Any]:
    deadline = time.monotonic() + BUDGET_S
    while True:
        done = subprocess.run(_in(ns, sys.executable, "-m", "edgenode", "status", "--data", str(data_dir), "--json"),
                              capture_output=True, text=True, timeout=30, cwd=REPO, check=False)
        assert done.returncode == 0, done.stderr
        status: dict[str, Any] = json.loads(done.stdout)
        found = [p for p in status["peers"] if "mdns" in p["found"] and p["node"]]
        if len(found) >= len(NAMES) - 1 or time.monotonic() > deadline:
            return status
        time.sleep(0.2)
