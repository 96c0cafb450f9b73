"""Who may do what on a board: member roles, the minimum role, joining, the channel link, and events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgenode.services.boards_events import PLUGIN_EVENT
from support.boards_world import BoardsWorld

from .test_boards_api import STATUS, block, kanban, new_board


async def add(world: BoardsWorld, board_id: str, user: str, role: str, who: str = "alice") -> dict[str, Any]:
    flag = {"admin": "schemeAdmin", "editor": "schemeEditor", "commenter": "schemeCommenter",
            "viewer": "schemeViewer"}[role]
    return await world.ok("POST", f"/boards/{board_id}/members", who,  # type: ignore[no-any-return]
                          json={"userId": world.users[user]["id"], flag: True})


@pytest.mark.parametrize(("role", "may_edit", "may_comment"), [
    ("viewer", False, False), ("commenter", False, True), ("editor", True, True), ("admin", True, True)])
async def test_each_member_role_edits_comments_or_only_reads(world: BoardsWorld, role: str, may_edit: bool,
                                                             may_comment: bool) -> None:
    board, view, cards = await kanban(world)
    member = await add(world, board["id"], "bob", role)
    assert (member["roles"], member["synthetic"]) == (role, False)
    assert len(await world.ok("GET", f"/boards/{board['id']}/blocks", "bob")) == 4
    digest = await world.digest()
    edit = await world.fb("PATCH", f"/cards/{cards[0]}", "bob", json={"title": "x"})
    comment = await world.fb("POST", f"/boards/{board['id']}/blocks", "bob",
                             json=[block(board["id"], "c", "comment", parentId=cards[0])])
    move = await world.fb("PATCH", f"/boards/{board['id']}/blocks/{view}", "bob",
                          json={"updatedFields": {"cardOrder": cards[::-1]}})
    assert (edit.status_code == 200, move.status_code == 200) == (may_edit, may_edit)
    assert (comment.status_code == 200) == may_comment
    if not may_edit and not may_comment:
        assert await world.digest() == digest
    for refused in (edit, comment, move):
        if refused.status_code != 200:
            assert refused.status_code == 403 and set(refused.json()) == {"error", "errorCode"}


async def test_the_minimum_role_lifts_every_member(world: BoardsWorld) -> None:
    board, _, cards = await kanban(world)
    await add(world, board["id"], "bob", "viewer")
    assert (await world.fb("PATCH", f"/cards/{cards[0]}", "bob", json={"title": "x"})).status_code == 403
    await world.ok("PATCH", f"/boards/{board['id']}", json={"minimumRole": "editor"})
    assert (await world.fb("PATCH", f"/cards/{cards[0]}", "bob", json={"title": "x"})).status_code == 200


async def test_joining_an_open_board_makes_an_editor_and_a_private_board_cannot_be_joined(world: BoardsWorld) -> None:
    board = await new_board(world)
    private = await new_board(world, type="P")
    assert (await world.fb("GET", f"/boards/{board['id']}/blocks", "bob")).status_code == 403
    joined = await world.ok("POST", f"/boards/{board['id']}/join", "bob")
    assert (joined["userId"], joined["roles"]) == (world.users["bob"]["id"], "editor")
    assert await world.ok("GET", f"/boards/{board['id']}/blocks", "bob") == []
    response = await world.fb("POST", f"/boards/{private['id']}/join", "bob")
    assert response.status_code == 403
    assert await world.ok("POST", f"/boards/{board['id']}/leave", "bob") == {}
    assert (await world.fb("GET", f"/boards/{board['id']}/blocks", "bob")).status_code == 403


async def test_members_are_managed_by_admins_and_the_last_admin_stays(world: BoardsWorld) -> None:
    board = await new_board(world, type="P")
    bob = world.users["bob"]["id"]
    await add(world, board["id"], "bob", "viewer")
    refused = await world.fb("PUT", f"/boards/{board['id']}/members/{world.users['alice']['id']}", "bob",
                             json={"schemeViewer": True})
    assert refused.status_code == 403
    updated = await world.ok("PUT", f"/boards/{board['id']}/members/{bob}", json={"schemeAdmin": True})
    assert updated["schemeAdmin"]
    assert await world.ok("DELETE", f"/boards/{board['id']}/members/{bob}") == {}
    assert [m["userId"] for m in await world.ok("GET", f"/boards/{board['id']}/members")] == [
        world.users["alice"]["id"]]
    digest = await world.digest()
    assert (await world.fb("POST", f"/boards/{board['id']}/leave")).status_code == 400  # the last admin
    assert await world.digest() == digest


async def test_a_channel_link_makes_the_channels_members_synthetic_editors(world: BoardsWorld) -> None:
    board = await new_board(world, type="P")
    assert (await world.fb("GET", f"/boards/{board['id']}/blocks", "bob")).status_code == 403
    linked = await world.ok("PATCH", f"/boards/{board['id']}", json={"channelId": world.town_square})
    assert linked["channelId"] == world.town_square
    members = {m["userId"]: m for m in await world.ok("GET", f"/boards/{board['id']}/members")}
    assert members[world.users["bob"]["id"]]["synthetic"] and members[world.users["bob"]["id"]]["schemeEditor"]
    assert await world.ok("GET", f"/boards/{board['id']}/blocks", "bob") == []
    created = await world.ok("POST", f"/boards/{board['id']}/cards", "bob", json={"title": "from chat"})
    assert created["title"] == "from chat"


async def test_linking_a_channel_one_is_not_in_is_refused(world: BoardsWorld) -> None:
    created = await world.v4("POST", "/channels", "bob", json={"team_id": world.team_id, "name": "bobs",
                                                                "display_name": "Bob's", "type": "P"})
    assert created.status_code == 201, created.text
    board = await new_board(world)
    digest = await world.digest()
    response = await world.fb("PATCH", f"/boards/{board['id']}", json={"channelId": created.json()["id"]})
    assert response.status_code == 403
    assert await world.digest() == digest


async def test_board_changes_reach_members_over_the_websocket_and_nobody_else(world: BoardsWorld) -> None:
    board = await new_board(world, type="P", cardProperties=[STATUS])
    events = world.node.services.ctx.events
    with events.subscribe(world.users["alice"]["id"]) as alice, events.subscribe(world.users["bob"]["id"]) as bob:
        card = await world.ok("POST", f"/boards/{board['id']}/cards", json={"title": "Pump"})
        event = await asyncio.wait_for(alice.get(), 2)
        assert event.event == PLUGIN_EVENT
        assert (event.data["action"], event.data["teamId"], event.data["block"]["id"]) == (
            "UPDATE_BLOCK", world.team_id, card["id"])
        assert bob.empty()


async def test_a_card_edited_on_another_node_reaches_the_members_websocket(world: BoardsWorld, tmp_path: Any) -> None:
    from crdt import Update
    from edgenode.schema import SCHEMA
    from edgenode.store import Store
    from sync import Signer

    board, _, cards = await kanban(world)
    store = world.node.services.ctx.store
    async with Store(tmp_path / "peer.db", SCHEMA, Signer.generate()) as peer:
        for feed, head in (await store.heads()).items():
            await peer.apply(await store.segment(feed, 0, head.seq))
        await peer.write(f"board:{board['id']}", [Update("card", cards[1], {"title": "renamed elsewhere"})])
        events = world.node.services.ctx.events
        with events.subscribe(world.users["alice"]["id"]) as alice, events.subscribe(world.users["bob"]["id"]) as bob:
            heads = await store.heads()
            for feed, head in (await peer.heads()).items():
                after = heads[feed].seq if feed in heads else 0
                if head.seq > after:
                    await store.apply(await peer.segment(feed, after, head.seq - after))
            event = await asyncio.wait_for(alice.get(), 5)
            assert (event.event, event.from_peer) == (PLUGIN_EVENT, True)
            assert (event.data["block"]["id"], event.data["block"]["title"]) == (cards[1], "renamed elsewhere")
            assert bob.empty()


async def test_an_outsider_gets_403_from_every_route_of_a_private_board_and_changes_nothing(
        world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    await world.ok("PATCH", f"/boards/{board['id']}", json={"type": "P"})
    b, alice = board["id"], world.users["alice"]["id"]
    digest = await world.digest()
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"/boards/{b}", None), ("PATCH", f"/boards/{b}", {"title": "x"}), ("DELETE", f"/boards/{b}", None),
        ("POST", f"/boards/{b}/undelete", None), ("POST", f"/boards/{b}/duplicate", None),
        ("GET", f"/boards/{b}/blocks", None), ("GET", f"/boards/{b}/blocks?type=card", None),
        ("POST", f"/boards/{b}/blocks", [block(b, "k", "card")]),
        ("PATCH", f"/boards/{b}/blocks", {"block_ids": [cards[0]], "block_patches": [{"title": "x"}]}),
        ("PATCH", f"/boards/{b}/blocks/{view}", {"updatedFields": {"cardOrder": cards[::-1]}}),
        ("DELETE", f"/boards/{b}/blocks/{cards[0]}", None), ("POST", f"/boards/{b}/blocks/{cards[0]}/undelete", None),
        ("POST", f"/boards/{b}/cards", {"title": "x"}), ("GET", f"/boards/{b}/cards", None),
        ("GET", f"/cards/{cards[0]}", None), ("PATCH", f"/cards/{cards[0]}", {"title": "x"}),
        ("GET", f"/boards/{b}/members", None), ("POST", f"/boards/{b}/members", {"userId": alice}),
        ("PUT", f"/boards/{b}/members/{alice}", {"schemeViewer": True}),
        ("DELETE", f"/boards/{b}/members/{alice}", None), ("POST", f"/boards/{b}/join", None),
        ("POST", f"/boards/{b}/leave", None),
        ("PATCH", "/boards-and-blocks", {"boardIDs": [b], "boardPatches": [{"title": "x"}], "blockIDs": [],
                                         "blockPatches": []}),
        ("DELETE", "/boards-and-blocks", {"boards": [b], "blocks": []}),
    ]
    for method, path, body in calls:
        response = await world.fb(method, path, "bob", json=body) if body is not None else \
            await world.fb(method, path, "bob")
        assert response.status_code == 403, (method, path, response.text)
        assert set(response.json()) == {"error", "errorCode"}
    assert await world.ok("GET", f"/teams/{world.team_id}/boards", "bob") == []
    assert await world.digest() == digest
