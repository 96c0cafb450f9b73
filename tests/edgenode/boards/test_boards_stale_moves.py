"""A client's cardOrder patch is read as the drag it made from an order the node served it
(services/boards_served.py): a client whose order went stale moves only its card, where it dropped
it, and does not move back the cards others moved meanwhile."""

from __future__ import annotations

from support.boards_world import BoardsWorld

from .test_boards_api import card_order, kanban


async def ops(world: BoardsWorld) -> int:
    row = await world.node.services.ctx.store.fetchone("SELECT count(*) FROM ops")
    return int(row[0])


async def move(world: BoardsWorld, board_id: str, view: str, order: list[str], who: str = "alice") -> int:
    """PATCH the view with `order`; the ops it wrote."""
    before = await ops(world)
    await world.ok("PATCH", f"/boards/{board_id}/blocks/{view}", who, json={"updatedFields": {"cardOrder": order}})
    return await ops(world) - before


async def test_a_stale_client_moves_only_its_card_and_keeps_the_others_moves(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, cards=8)
    bid = board["id"]
    alice = await card_order(world, bid, view)
    tab = await card_order(world, bid, view)
    dragged = alice[5]
    alice.insert(0, alice.pop(5))  # alice drags the sixth card to the top
    assert await move(world, bid, view, alice) == 1
    dropped = tab[1]
    tab.append(tab.pop(1))  # a second tab, which has not seen that, drags the second card to the bottom
    assert await move(world, bid, view, tab) == 1
    now = await card_order(world, bid, view)
    assert (now[0], now[-1]) == (dragged, dropped)
    assert [c for c in now if c not in (dragged, dropped)] == [c for c in cards if c not in (dragged, dropped)]


async def test_a_drop_after_a_card_lands_after_that_card_where_it_is_now(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, cards=6)
    bid = board["id"]
    stale = await card_order(world, bid, view)
    fresh = list(stale)
    fresh.insert(0, fresh.pop(2))  # the third card goes to the top
    assert await move(world, bid, view, fresh) == 1
    stale.insert(3, stale.pop(5))  # the last card dropped after the third one, in the stale order
    assert await move(world, bid, view, stale) == 1
    now = await card_order(world, bid, view)
    assert now.index(cards[5]) == now.index(cards[2]) + 1


async def test_undo_puts_the_card_back_and_an_order_never_served_is_taken_as_sent(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, cards=5)
    bid = board["id"]
    before = await card_order(world, bid, view)
    moved = list(before)
    moved.append(moved.pop(0))
    assert await move(world, bid, view, moved) == 1
    assert await move(world, bid, view, before) == 1  # the client's undo sends its order before the move
    assert await card_order(world, bid, view) == before
    reversed_order = before[::-1]  # several cards at once, from no order served: written as sent
    await move(world, bid, view, reversed_order)
    assert await card_order(world, bid, view) == reversed_order
