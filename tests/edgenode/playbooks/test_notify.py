"""Webhooks on a run's creation and status updates (real HTTP receivers, once, from the node where the
event was made), and status-update reminders posted by exactly one node of those holding the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.members_world import synced_pair
from support.playbooks import PB, playbook_body
from support.receiver import Receiver

from edgenode.settings import NodeSettings
from sync.session import reconcile_pair


@pytest.fixture
def node_settings() -> NodeSettings:
    """The receiver listens on loopback: the admin allows that internal destination."""
    return NodeSettings(allowed_hosts=("edgenode.test",), allowed_untrusted_internal_connections=("127.0.0.1",))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def test_webhooks_fire_on_creation_and_on_status_updates(api, team, receiver) -> None:  # type: ignore[no-untyped-def]
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(
        team.id, webhook_on_creation_enabled=True, webhook_on_creation_urls=[receiver.url("/created")],
        webhook_on_status_update_enabled=True, webhook_on_status_update_urls=[receiver.url("/status")]))
    run = (await api.call("POST", f"{PB}/runs", team.alice_token,
                          json={"name": "Hooked", "team_id": team.id, "playbook_id": created.json()["id"]})).json()
    await api.node.services.playbook_notifier.drain()  # sent in the background
    first = receiver.take()
    assert (first.method, first.path, first.json["id"], first.json["name"]) == ("POST", "/created", run["id"], "Hooked")
    await api.call("POST", f"{PB}/runs/{run['id']}/status", team.alice_token, json={"message": "going", "reminder": 60})
    await api.node.services.playbook_notifier.drain()
    second = receiver.take()
    assert (second.path, second.json["id"], second.json["last_status_update_at"] > 0) == ("/status", run["id"], True)


async def test_a_due_reminder_is_posted_once_by_the_node_that_set_the_due_time(tmp_path: Path) -> None:
    async with synced_pair(tmp_path) as nodes:
        a, b = nodes.a, nodes.b
        playbook = await a.ok("POST", f"{PB}/playbooks", "alice", status=201, json=playbook_body(a.team))
        run = await a.ok("POST", f"{PB}/runs", "alice", status=201,
                         json={"name": "Slow burn", "team_id": a.team, "playbook_id": playbook["id"]})
        await reconcile_pair(a.node.store, b.node.store)
        later = run["create_at"] + 3600 * 1000 + 1
        for node in (a.node, b.node):
            node.services.ctx.now_ms = lambda: later
        assert await b.node.services.playbook_notifier.remind() == []  # B holds the run, A set its due time
        assert await a.node.services.playbook_notifier.remind() == [run["id"]]
        assert await a.node.services.playbook_notifier.remind() == []  # once per due time
        posts = (await a.ok("GET", f"/api/v4/channels/{run['channel_id']}/posts", "alice"))["posts"].values()
        reminders = [p for p in posts if p["type"] == "custom_update_status"]
        assert [p["message"] for p in reminders] == ["@alice, please provide a status update for **Slow burn**."]
        # a status update written on B moves the due time, and with it the duty to remind, to B
        await b.login("alice")
        update = await b.call("POST", f"{PB}/runs/{run['id']}/status", "alice", json={"message": "ok", "reminder": 60})
        assert update.status_code == 200, update.text
        await reconcile_pair(a.node.store, b.node.store)
        for node in (a.node, b.node):
            node.services.ctx.now_ms = lambda: later + 3600 * 1000
        assert await a.node.services.playbook_notifier.remind() == []
        assert await b.node.services.playbook_notifier.remind() == [run["id"]]


async def test_no_reminder_for_a_finished_run(api: Any, team: Any, run: dict[str, Any]) -> None:
    await api.call("PUT", f"{PB}/runs/{run['id']}/finish", team.alice_token)
    api.node.services.ctx.now_ms = lambda: run["create_at"] + 10 * 3600 * 1000
    assert await api.node.services.playbook_notifier.remind() == []
