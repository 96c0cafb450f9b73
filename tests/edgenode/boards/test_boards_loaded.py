"""A kept board (services/boards_loaded.py) is refreshed per block a commit touched and stays exact:
after every kind of change, local or from a peer, GET /boards/{id}/blocks answers byte for byte what
a fresh build from the store answers, and the change is in it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from crdt import Update
from edgenode.schema import SCHEMA
from edgenode.store import Store
from support.boards_world import BoardsWorld
from sync import Signer

from .test_boards_api import block, card_order, kanban


async def loaded(world: BoardsWorld, board_id: str) -> bytes:
    response = await world.fb("GET", f"/boards/{board_id}/blocks")
    assert response.status_code == 200, response.text
    return response.content


async def assert_exact(world: BoardsWorld, board_id: str) -> list[dict[str, Any]]:
    """The load equals a fresh build, as bytes and as the blocks the Python reader builds."""
    answer = await loaded(world, board_id)
    reader = world.node.services.boards.blocks.reader
    assert answer == await reader.blocks_json(board_id)
    blocks: list[dict[str, Any]] = json.loads(answer)
    assert blocks == await reader.blocks(board_id)
    return blocks


def by_id(blocks: list[dict[str, Any]], id_: str) -> dict[str, Any]:
    return next(b for b in blocks if b["id"] == id_)


async def test_every_kind_of_local_change_is_in_the_next_load_exactly_as_a_fresh_build(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, cards=5)
    bid = board["id"]
    await assert_exact(world, bid)  # fills the kept board

    order = await card_order(world, bid, view)
    order.insert(0, order.pop(3))
    await world.ok("PATCH", f"/boards/{bid}/blocks/{view}", json={"updatedFields": {"cardOrder": order}})
    assert by_id(await assert_exact(world, bid), view)["fields"]["cardOrder"] == order

    await world.ok("PATCH", f"/boards/{bid}/blocks/{cards[1]}",
                   json={"title": "renamed", "updatedFields": {"properties": {"status": "done"}}})
    card = by_id(await assert_exact(world, bid), cards[1])
    assert (card["title"], card["fields"]["properties"]) == ("renamed", {"status": "done"})

    # a value register alone (as a peer's merge or a property clean-up writes it), without its card
    blocks_service = world.node.services.boards.blocks
    row = await world.node.services.boards.access.board(bid)
    await world.node.services.ctx.store.write(f"board:{bid}", await blocks_service.value_ops(
        row, cards[1], {"status": "todo"}, replace=False))
    assert by_id(await assert_exact(world, bid), cards[1])["fields"]["properties"] == {"status": "todo"}

    made = await world.ok("POST", f"/boards/{bid}/blocks", json=[
        block(bid, "t1", "text", parentId=cards[2]), block(bid, "t2", "text", parentId=cards[2]),
        block(bid, "new", "card")])
    text_ids = [b["id"] for b in made if b["type"] == "text"]
    blocks = await assert_exact(world, bid)
    assert by_id(blocks, cards[2])["fields"]["contentOrder"] == text_ids
    new_card = next(b["id"] for b in made if b["type"] == "card")
    assert new_card in by_id(blocks, view)["fields"]["cardOrder"]

    await world.ok("PATCH", f"/boards/{bid}/blocks/{cards[2]}",
                   json={"updatedFields": {"contentOrder": text_ids[::-1]}})
    assert by_id(await assert_exact(world, bid), cards[2])["fields"]["contentOrder"] == text_ids[::-1]

    await world.ok("PATCH", f"/boards/{bid}/blocks/{view}", json={"title": "Kanban", "updatedFields": {
        "hiddenOptionIds": ["done"]}})
    assert by_id(await assert_exact(world, bid), view)["title"] == "Kanban"
    second = await world.ok("POST", f"/boards/{bid}/blocks", json=[
        block(bid, "v2", "view", fields={"viewType": "table"})])
    assert by_id(await assert_exact(world, bid), second[0]["id"])["fields"]["cardOrder"]

    await world.ok("DELETE", f"/boards/{bid}/blocks/{text_ids[0]}")
    assert by_id(await assert_exact(world, bid), cards[2])["fields"]["contentOrder"] == [text_ids[1]]
    await world.ok("DELETE", f"/boards/{bid}/blocks/{cards[2]}")  # its content goes with it
    blocks = await assert_exact(world, bid)
    assert all(cards[2] not in (b["id"], b["parentId"]) for b in blocks)
    await world.ok("POST", f"/boards/{bid}/blocks/{cards[2]}/undelete")
    assert by_id(await assert_exact(world, bid), text_ids[1])["parentId"] == cards[2]


async def test_a_peers_op_is_in_the_next_load_exactly_as_a_fresh_build(world: BoardsWorld, tmp_path: Path) -> None:
    board, view, cards = await kanban(world)
    bid = board["id"]
    await assert_exact(world, bid)
    store = world.node.services.ctx.store
    async with Store(tmp_path / "peer.db", SCHEMA, Signer.generate()) as peer:
        for feed, head in (await store.heads()).items():
            await peer.apply(await store.segment(feed, 0, head.seq))
        await peer.write(f"board:{bid}", [Update("card", cards[0], {"title": "renamed elsewhere"})])
        heads = await store.heads()
        for feed, head in (await peer.heads()).items():
            after = heads[feed].seq if feed in heads else 0
            if head.seq > after:
                await store.apply(await peer.segment(feed, after, head.seq - after))
    assert by_id(await assert_exact(world, bid), cards[0])["title"] == "renamed elsewhere"


async def test_a_change_reads_again_only_the_cards_it_touched(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, cards=6)
    bid = board["id"]
    reader = world.node.services.boards.blocks.reader
    await assert_exact(world, bid)
    asked: list[list[str] | None] = []
    fragments = reader.card_fragments

    async def spy(board_id: str, ids: Any = None) -> list[tuple[str, str | None, str]]:
        asked.append(None if ids is None else list(ids))
        return await fragments(board_id, ids)

    reader.card_fragments = spy  # type: ignore[method-assign]
    order = await card_order(world, bid, view)
    order.append(order.pop(0))
    await world.ok("PATCH", f"/boards/{bid}/blocks/{view}", json={"updatedFields": {"cardOrder": order}})
    await loaded(world, bid)
    assert asked == []  # a move changes the view's order, no card
    await world.ok("PATCH", f"/boards/{bid}/blocks/{cards[4]}", json={"updatedFields": {"properties": {
        "status": "done"}}})
    await loaded(world, bid)
    assert asked == [[cards[4]]]
    reader.card_fragments = fragments  # type: ignore[method-assign]
    await assert_exact(world, bid)


async def test_two_kept_boards_each_stay_exact_when_the_other_changes(world: BoardsWorld) -> None:
    first, _, first_cards = await kanban(world)
    second, _, second_cards = await kanban(world)
    await assert_exact(world, first["id"])
    await assert_exact(world, second["id"])
    await world.ok("PATCH", f"/boards/{first['id']}/blocks/{first_cards[0]}", json={"title": "first only"})
    await assert_exact(world, second["id"])
    assert by_id(await assert_exact(world, first["id"]), first_cards[0])["title"] == "first only"


async def test_loads_racing_with_writes_end_exact(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, cards=8)
    bid = board["id"]

    async def edit(i: int) -> None:
        await world.ok("PATCH", f"/boards/{bid}/blocks/{cards[i]}", json={
            "title": f"t{i}", "updatedFields": {"properties": {"status": "done"}}})

    async def load() -> None:
        for _ in range(4):
            await loaded(world, bid)

    await asyncio.gather(*(edit(i) for i in range(8)), *(load() for _ in range(4)))
    blocks = await assert_exact(world, bid)
    assert {by_id(blocks, c)["title"] for c in cards} == {f"t{i}" for i in range(8)}
