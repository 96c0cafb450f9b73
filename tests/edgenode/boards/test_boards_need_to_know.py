"""Need-to-know for board feeds: an open board goes to every node; a private one only to nodes that host
a member (explicit, or of the channel it is linked to), and it follows membership, type and link changes."""

from __future__ import annotations

from crdt import Add
from edgenode.peering.need_to_know import NeedToKnow, PeerNeedToKnow
from edgenode.services.context import USER_NODES
from support.boards_world import BoardsWorld

from .test_boards_api import new_board

NODES = {"alice": "a1" * 32, "bob": "b2" * 32, "carol": "c3" * 32}


async def _peers(world: BoardsWorld) -> dict[str, PeerNeedToKnow]:
    store = world.node.services.ctx.store
    await world.add_user("carol")
    for user, node in NODES.items():  # as each node states when its user logs in there
        await store.write("directory", [Add(USER_NODES, world.users[user]["id"], node)])
    policy = NeedToKnow(store)
    peers = {user: await policy.for_peer(bytes.fromhex(node)) for user, node in NODES.items()}
    for peer in peers.values():
        await peer.load()
    return peers


async def test_open_boards_go_everywhere_and_private_ones_to_their_members_nodes(world: BoardsWorld) -> None:
    open_board = await new_board(world)
    private = await new_board(world, type="P")
    peers = await _peers(world)
    scope = f"board:{private['id']}"
    assert all(p.allows(f"board:{open_board['id']}") for p in peers.values())
    assert [u for u, p in peers.items() if p.allows(scope)] == ["alice"]
    assert not peers["alice"].allows("board:bunknown")  # a board nobody told us about is private


async def test_adding_a_member_brings_the_board_to_their_node_and_removing_takes_it_away(world: BoardsWorld) -> None:
    private = await new_board(world, type="P")
    peers = await _peers(world)
    scope = f"board:{private['id']}"
    await world.ok("POST", f"/boards/{private['id']}/members", json={"userId": world.users["bob"]["id"],
                                                                      "schemeEditor": True})
    change = await peers["bob"].refresh([scope])
    assert change.gained == frozenset({scope}) and peers["bob"].allows(scope)
    assert (await peers["carol"].refresh([scope])).gained == frozenset()
    await world.ok("DELETE", f"/boards/{private['id']}/members/{world.users['bob']['id']}")
    assert (await peers["bob"].refresh([scope])).lost == frozenset({scope})


async def test_a_channel_link_or_going_open_widens_who_receives_a_private_board(world: BoardsWorld) -> None:
    private = await new_board(world, type="P")
    peers = await _peers(world)
    scope = f"board:{private['id']}"
    square = await world.v4("POST", f"/channels/{world.town_square}/members", "admin",
                            json={"user_id": world.users["carol"]["id"]})
    assert square.status_code in (201, 200), square.text
    await world.ok("PATCH", f"/boards/{private['id']}", json={"channelId": world.town_square})
    assert (await peers["carol"].refresh([scope])).gained == frozenset({scope})
    await world.ok("PATCH", f"/boards/{private['id']}", json={"channelId": "", "type": "O"})
    assert peers["bob"].may_change(scope)
    assert (await peers["bob"].refresh([scope])).gained == frozenset({scope})
