"""Runs as CRDTs: random edits split across three replicas with random delivery converge to the same
run, equal to one replica that applied every edit (the oracle); and the merge rules the issue names."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crdt import HybridClock, Op, Replica, Stamp, key_between
from edgenode.schema import SCHEMA
from edgenode.services import playbooks_ops as ops
from edgenode.services.playbooks_model import FINISHED, run_json

RUN = "r" * 26
USERS = ["u1", "u2", "u3"]
NOW = 1_767_225_600_000


def _start_ops() -> list[Op]:
    lists = []
    for c in range(2):
        items = [(f"i{c}{j}", str(j + 1), {"title": f"task {c}.{j}"}) for j in range(3)]
        lists.append((f"c{c}", f"{c + 1}", f"list {c}", items))
    return ops.new_run_ops(RUN, {"name": "incident", "team_id": "t", "owner_user_id": "u1", "reporter_user_id": "u1",
                                 "playbook_id": "p", "channel_id": "ch"}, lists, ["u1"], NOW, "e0", "u1")


def view(replica: Replica) -> dict[str, Any]:
    """The run's JSON as the API builds it, from the replica's visible state."""
    visible = replica.visible()
    rows: dict[str, list[dict[str, Any]]] = {}
    for ref, fields in visible["entities"].items():
        kind, _, id_ = ref.partition("/")
        created = replica.entities[(kind, id_)].fields.get("create_at")  # immutable: its stamp is the Create's
        columns = {c.name: None for c in SCHEMA.entities[kind].columns}  # as a table row: every column
        rows.setdefault(kind, []).append({**columns, "id": id_, **fields,
                                          "_stamp": created.stamp.pack() if created else None})
    (run,) = rows["run"]
    return run_json(run, rows.get("checklist", []), rows.get("checklist_item", []),
                    visible["sets"].get(f"run.participants/{RUN}", []), rows.get("timeline_event", []),
                    rows.get("status_update", []), rows.get("run_metric", []))


@dataclass
class Node:
    name: str
    replica: Replica = field(default_factory=Replica)
    clock: HybridClock = field(init=False)
    sent: list[tuple[Stamp, Op]] = field(default_factory=list)
    delivered: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = HybridClock(self.name.encode().ljust(8, b"\0"))

    def write(self, batch: list[Op], now: int) -> None:
        for op in batch:
            stamp = self.clock.tick(now)
            self.replica.apply(stamp, op)
            self.sent.append((stamp, op))

    def receive(self, events: list[tuple[Stamp, Op]], now: int) -> None:
        for stamp, op in events:
            self.clock.observe(stamp, now)
            self.replica.apply(stamp, op)


def edit(node: Node, kind: str, a: int, b: int, rng: random.Random, now: int) -> None:
    """One user edit on `node`, computed from what that node sees (as the services do)."""
    run = view(node.replica)
    lists = run["checklists"]
    items = [(c, i) for c in lists for i in c["items"]]
    eid = f"e{rng.getrandbits(64):x}"
    batch: list[Op] = []
    if kind == "state" and items:
        _, item = items[a % len(items)]
        batch = ops.item_state_ops(RUN, item["id"], ["", "in_progress", "closed", "skipped"][b % 4], USERS[b % 3], now,
                                   eid, item["title"])
    elif kind == "assign" and items:
        _, item = items[a % len(items)]
        batch = ops.item_fields_ops(RUN, item["id"], {"assignee_id": USERS[b % 3], "assignee_modified": now},
                                    USERS[a % 3], now, eid, item["title"])
    elif kind == "move" and items and lists:
        _, item = items[a % len(items)]
        dest = lists[b % len(lists)]
        others = [i for i in dest["items"] if i["id"] != item["id"]]
        at = (a + b) % (len(others) + 1)
        keys = _keys(node, [i["id"] for i in others])
        batch = ops.move_item_ops(item["id"], dest["id"], key_between(keys[at - 1] if at else None,
                                                                      keys[at] if at < len(keys) else None, rng), now)
    elif kind == "add" and lists:
        dest = lists[a % len(lists)]
        keys = _keys(node, dest["items_order"])
        batch = ops.add_item_ops(RUN, dest["id"], f"n{rng.getrandbits(64):x}", key_between(keys[-1] if keys else None,
                                                                                          None, rng),
                                 {"title": f"new {b}"}, now)
    elif kind == "delete" and items:
        batch = ops.delete_item_ops(items[a % len(items)][1]["id"])
    elif kind == "update":
        batch = ops.status_update_ops(RUN, f"p{rng.getrandbits(64):x}", f"status {b}", USERS[a % 3], now, 60 * (b + 1), eid)
    elif kind == "finish":
        batch = ops.finish_ops(RUN, USERS[a % 3], now, eid)
    elif kind == "restore":
        batch = ops.restore_ops(RUN, USERS[a % 3], now, eid)
    elif kind == "owner":
        batch = ops.owner_ops(RUN, USERS[b % 3], USERS[a % 3], now, eid)
    elif kind == "metric":
        batch = ops.metric_ops(RUN, [(f"m{a % 2}", b)])
    elif kind == "rename" and lists:
        from crdt import Update
        batch = [Update("checklist", lists[a % len(lists)]["id"], {"title": f"renamed {b}", "update_at": now})]
    node.write(batch, now)


def _keys(node: Node, item_ids: list[str]) -> list[str]:
    entities = node.replica.entities
    return [entities[("checklist_item", i)].fields["position"].value for i in item_ids]  # type: ignore[misc]


EDITS = st.tuples(st.integers(0, 2), st.sampled_from(
    ["state", "assign", "move", "add", "delete", "update", "finish", "restore", "owner", "metric", "rename"]),
    st.integers(0, 20), st.integers(0, 20))
DELIVERIES = st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 5))


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.one_of(EDITS.map(lambda e: ("edit", e)), DELIVERIES.map(lambda d: ("deliver", d))),
                      max_size=40), seed=st.integers(0, 2**32), final_order=st.randoms(use_true_random=False))
def test_three_replicas_with_random_delivery_converge_to_the_oracle(steps: list[Any], seed: int,
                                                                     final_order: random.Random) -> None:
    rng = random.Random(seed)
    nodes = [Node(f"n{i}") for i in range(3)]
    nodes[0].write(_start_ops(), NOW)
    for node in nodes[1:]:  # the run reaches everyone, then the edits begin
        node.receive(nodes[0].sent, NOW)
        node.delivered[nodes[0].name] = len(nodes[0].sent)
    now = NOW
    for step, args in steps:
        now += rng.choice([0, 1, 1000])
        if step == "edit":
            who, kind, a, b = args
            edit(nodes[who], kind, a, b, rng, now)
        else:
            src, dst, count = args
            if src != dst:
                start = nodes[dst].delivered.get(nodes[src].name, 0)
                batch = nodes[src].sent[start:start + count]
                nodes[dst].delivered[nodes[src].name] = start + len(batch)
                nodes[dst].receive(batch, now)
    # heal: every node receives everything it lacks, in a random order, some twice
    everything = [e for n in nodes for e in n.sent]
    for node in nodes:
        missing = [e for n in nodes if n is not node for e in n.sent[node.delivered.get(n.name, 0):]]
        missing += final_order.sample(everything, min(3, len(everything)))
        final_order.shuffle(missing)
        node.receive(missing, now)
    oracle = Replica()
    for stamp, op in sorted(everything, key=lambda e: e[0]):
        oracle.apply(stamp, op)
    expected = view(oracle)
    for node in nodes:
        assert view(node.replica) == expected


def _partitioned() -> tuple[Node, Node]:
    a, b = Node("a"), Node("b")
    a.write(_start_ops(), NOW)
    b.receive(a.sent, NOW)
    b.delivered["a"] = len(a.sent)
    return a, b


def _heal(a: Node, b: Node, now: int) -> None:
    a.receive(b.sent, now)
    b.receive(a.sent[b.delivered["a"]:], now)


def test_checks_of_different_items_made_apart_both_survive() -> None:
    a, b = _partitioned()
    a.write(ops.item_state_ops(RUN, "i00", "closed", "u1", NOW + 1, "ea", "task 0.0"), NOW + 1)
    b.write(ops.item_state_ops(RUN, "i11", "closed", "u2", NOW + 2, "eb", "task 1.1"), NOW + 2)
    _heal(a, b, NOW + 3)
    run = view(a.replica)
    assert run == view(b.replica)
    states = {i["id"]: (i["state"], i["state_modified"]) for c in run["checklists"] for i in c["items"]}
    assert states["i00"] == ("closed", NOW + 1) and states["i11"] == ("closed", NOW + 2)
    assert run["task_completed"] == 2


def test_the_same_item_changed_on_both_sides_keeps_the_later_stamp_on_every_node() -> None:
    a, b = _partitioned()
    b.write(ops.item_state_ops(RUN, "i00", "skipped", "u2", NOW + 1, "eb", "task 0.0"), NOW + 1)
    a.write(ops.item_state_ops(RUN, "i00", "closed", "u1", NOW + 2, "ea", "task 0.0"), NOW + 2)
    _heal(a, b, NOW + 3)
    item = view(a.replica)["checklists"][0]["items"][0]
    assert (item["id"], item["state"], item["state_modified"], item["delete_at"]) == ("i00", "closed", NOW + 2, 0)
    assert view(b.replica) == view(a.replica)


def test_an_item_added_on_one_side_and_a_reorder_on_the_other_keep_both() -> None:
    a, b = _partitioned()
    a.write(ops.add_item_ops(RUN, "c0", "new", "9", {"title": "added offline"}, NOW + 1), NOW + 1)
    b.write(ops.move_item_ops("i02", "c0", "0V", NOW + 1), NOW + 1)  # last item to the front
    _heal(a, b, NOW + 2)
    run = view(a.replica)
    assert run["checklists"][0]["items_order"] == ["i02", "i00", "i01", "new"]
    assert view(b.replica) == run


def test_a_finish_and_a_concurrent_status_update_keep_the_update_and_end_finished() -> None:
    a, b = _partitioned()
    a.write(ops.finish_ops(RUN, "u1", NOW + 1, "ea"), NOW + 1)
    b.write(ops.status_update_ops(RUN, "post1", "still on it", "u2", NOW + 2, 900, "eb"), NOW + 2)
    _heal(a, b, NOW + 3)
    run = view(a.replica)
    assert run["current_status"] == FINISHED and run["end_at"] == NOW + 1
    assert [p["id"] for p in run["status_posts"]] == ["post1"]
    assert [e["event_type"] for e in run["timeline_events"]] == ["incident_created", "run_finished", "status_updated"]
    assert view(b.replica) == run
