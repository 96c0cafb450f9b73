"""Which nodes may receive a run's and a playbook's feeds: a public playbook and its runs go to every
node; a private playbook only to nodes hosting a member, its runs also to nodes hosting the owner, a
participant or a member of the run's channel; entitlement follows participants as they are added."""

from __future__ import annotations

import json
from typing import Any

from support.playbooks import PB, playbook_body

from crdt import Add
from edgenode.peering.need_to_know import NeedToKnow
from edgenode.services.context import DIRECTORY_SCOPE, USER_NODES

PEER = bytes(range(32))


async def _hosts(api: Any, user_id: str, node: bytes = PEER) -> None:
    await api.node.store.write(DIRECTORY_SCOPE, [Add(USER_NODES, user_id, node.hex())])


async def _run_of(api: Any, team: Any, public: bool) -> tuple[str, str]:
    created = await api.call("POST", f"{PB}/playbooks", team.alice_token, json=playbook_body(team.id, public=public))
    playbook = created.json()["id"]
    run = await api.call("POST", f"{PB}/runs", team.alice_token, json={"name": "r", "team_id": team.id,
                                                                       "playbook_id": playbook})
    return playbook, run.json()["id"]


async def test_private_runs_and_playbooks_reach_only_nodes_hosting_someone_entitled(api, team) -> None:  # type: ignore[no-untyped-def]
    public_playbook, public_run = await _run_of(api, team, public=True)
    private_playbook, private_run = await _run_of(api, team, public=False)
    await _hosts(api, team.bob["id"])  # the peer is bob's laptop; bob takes no part yet
    peer = await NeedToKnow(api.node.store).for_peer(PEER)
    await peer.load()
    assert peer.allows(f"run:{public_run}") and peer.allows(f"playbook:{public_playbook}")
    assert not peer.allows(f"run:{private_run}") and not peer.allows(f"playbook:{private_playbook}")
    assert not peer.allows(f"run:{'x' * 26}")  # unknown: private until known
    assert peer.may_change(f"run:{private_run}")
    added = await api.call("POST", f"{PB}/runs/{private_run}/participants", team.alice_token,
                           json={"user_ids": [team.bob["id"]]})
    assert added.status_code == 200
    change = await peer.refresh({f"run:{private_run}"})
    assert change.gained == {f"run:{private_run}"} and change.lost == frozenset()
    assert peer.allows(f"run:{private_run}") and not peer.allows(f"playbook:{private_playbook}")


async def test_a_node_hosting_a_private_playbooks_member_receives_it_and_its_runs(api, team) -> None:  # type: ignore[no-untyped-def]
    private_playbook, private_run = await _run_of(api, team, public=False)
    await _hosts(api, team.alice["id"])
    peer = await NeedToKnow(api.node.store).for_peer(PEER)
    await peer.load()
    assert peer.allows(f"playbook:{private_playbook}") and peer.allows(f"run:{private_run}")


async def test_run_events_reach_the_team_for_a_public_playbook_and_only_participants_otherwise(api, team) -> None:  # type: ignore[no-untyped-def]
    events = api.node.services.ctx.events
    with events.subscribe(team.bob["id"]) as bob, events.subscribe(team.alice["id"]) as alice:
        _, public_run = await _run_of(api, team, public=True)
        _, private_run = await _run_of(api, team, public=False)

        def runs_heard(queue: Any) -> list[str]:
            return [json.loads(e.data["payload"])["id"] for e in (queue.get_nowait() for _ in range(queue.qsize()))
                    if e.event == "custom_playbooks_playbook_run_updated"]

        assert runs_heard(bob) == [public_run]
        assert runs_heard(alice) == [public_run, private_run]


async def test_playbook_and_run_creation_events(api, team) -> None:  # type: ignore[no-untyped-def]
    events = api.node.services.ctx.events
    with events.subscribe(team.bob["id"]) as bob, events.subscribe(team.alice["id"]) as alice:
        playbook, private_run = await _run_of(api, team, public=False)
        await api.call("DELETE", f"{PB}/playbooks/{playbook}", team.alice_token)

        def heard(queue: Any) -> list[tuple[str, Any]]:
            return [(e.event, json.loads(e.data["payload"])) for e in (queue.get_nowait() for _ in range(queue.qsize()))
                    if e.event.startswith("custom_playbooks_")]

        to_alice = heard(alice)
        assert [name for name, _ in to_alice] == [
            "custom_playbooks_playbook_created", "custom_playbooks_playbook_run_created",
            "custom_playbooks_playbook_run_updated", "custom_playbooks_playbook_archived"]
        assert to_alice[0][1] == {"teamID": team.id} and to_alice[1][1]["playbook_run"]["id"] == private_run
        # bob hears that the team's playbooks changed, nothing of the private run
        assert [name for name, _ in heard(bob)] == ["custom_playbooks_playbook_created",
                                                    "custom_playbooks_playbook_archived"]
