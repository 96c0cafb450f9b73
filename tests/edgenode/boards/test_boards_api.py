"""The Focalboard plugin API on one node: boards, blocks, cards, templates, search, and bad input."""

from __future__ import annotations

import json
from typing import Any

from support.boards_world import PREFIX, BoardsWorld


async def new_board(world: BoardsWorld, who: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"teamId": world.team_id, "type": "O", "title": "Ops", **fields}
    return await world.ok("POST", "/boards", who, json=body)  # type: ignore[no-any-return]


STATUS = {"id": "status", "name": "Status", "type": "select",
          "options": [{"id": "todo", "value": "To do", "color": "propColorGray"},
                      {"id": "done", "value": "Done", "color": "propColorGreen"}]}


def block(board_id: str, id_: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "boardId": board_id, "parentId": board_id, "type": type_, "createAt": 1, "updateAt": 1,
            "schema": 1, "title": id_, "fields": {}, **extra}


async def kanban(world: BoardsWorld, cards: int = 3) -> tuple[dict[str, Any], str, list[str]]:
    """A board with a status property, a board view and `cards` cards; (board, view id, card ids)."""
    board = await new_board(world, cardProperties=[STATUS])
    blocks = [block(board["id"], "view", "view", fields={"viewType": "board", "groupById": "status"})]
    blocks += [block(board["id"], f"card{i}", "card", fields={"properties": {"status": "todo"}})
               for i in range(cards)]
    created = await world.ok("POST", f"/boards/{board['id']}/blocks", json=blocks)
    view = next(b["id"] for b in created if b["type"] == "view")
    return board, view, [b["id"] for b in created if b["type"] == "card"]


async def card_order(world: BoardsWorld, board_id: str, view: str) -> list[str]:
    views = await world.ok("GET", f"/boards/{board_id}/blocks?type=view")
    return next(v for v in views if v["id"] == view)["fields"]["cardOrder"]  # type: ignore[no-any-return]


# -- the plugin's request rules ---------------------------------------------------------------------


async def test_a_request_without_x_requested_with_is_refused_with_the_plugin_error_body(world: BoardsWorld) -> None:
    response = await world.fb("GET", f"/teams/{world.team_id}/boards", xhr=False)
    assert response.status_code == 400
    assert response.json() == {"error": "checkCSRFToken FAILED", "errorCode": 400}


async def test_without_a_session_the_answer_is_401_in_the_plugin_shape(world: BoardsWorld) -> None:
    response = await world.fb("GET", f"/teams/{world.team_id}/boards", None)
    assert response.status_code == 401
    assert response.json()["errorCode"] == 401


async def test_the_standalone_prefix_serves_the_same_api(world: BoardsWorld) -> None:
    board = await new_board(world)
    response = await world.http.get(f"/api/v2/boards/{board['id']}", headers={
        "X-Requested-With": "XMLHttpRequest", "Authorization": f"Bearer {world.tokens['alice']}"})
    assert response.status_code == 200 and response.json() == board


# -- boards -----------------------------------------------------------------------------------------


async def test_a_created_board_has_the_plugins_shape_and_its_creator_as_admin(world: BoardsWorld) -> None:
    board = await new_board(world, cardProperties=[STATUS], description="d", icon="x")
    assert set(board) == {"id", "teamId", "channelId", "createdBy", "modifiedBy", "type", "minimumRole", "title",
                          "description", "icon", "showDescription", "isTemplate", "templateVersion", "properties",
                          "cardProperties", "createAt", "updateAt", "deleteAt"}
    assert board["id"].startswith("b") and len(board["id"]) == 27
    assert (board["teamId"], board["createdBy"], board["cardProperties"]) == (
        world.team_id, world.users["alice"]["id"], [STATUS])
    members = await world.ok("GET", f"/boards/{board['id']}/members")
    assert [(m["userId"], m["schemeAdmin"], m["synthetic"]) for m in members] == [
        (world.users["alice"]["id"], True, False)]


async def test_team_boards_list_open_boards_and_private_ones_only_to_members(world: BoardsWorld) -> None:
    open_board = await new_board(world, title="open")
    private = await new_board(world, type="P", title="secret")
    assert [b["id"] for b in await world.ok("GET", f"/teams/{world.team_id}/boards")] == [open_board["id"],
                                                                                           private["id"]]
    assert [b["id"] for b in await world.ok("GET", f"/teams/{world.team_id}/boards", "bob")] == [open_board["id"]]
    assert (await world.fb("GET", f"/boards/{private['id']}", "bob")).status_code == 403
    assert (await world.fb("GET", f"/boards/{private['id']}/blocks", "bob")).status_code == 403
    assert [b["id"] for b in await world.ok("GET", f"/teams/{world.team_id}/boards/search?q=SEC")] == [private["id"]]
    assert await world.ok("GET", f"/teams/{world.team_id}/boards/search?q=secret", "bob") == []
    assert await world.ok("GET", "/boards/search?q=secret", "bob") == []


async def test_a_user_outside_the_team_sees_no_board_of_it(world: BoardsWorld) -> None:
    await world.add_user("carol", join_team=False)
    board = await new_board(world)
    assert (await world.fb("GET", f"/teams/{world.team_id}/boards", "carol")).status_code == 403
    assert (await world.fb("GET", f"/boards/{board['id']}", "carol")).status_code == 403
    assert (await world.fb("POST", f"/boards/{board['id']}/join", "carol")).status_code == 403


async def test_patch_board_changes_fields_and_card_properties_by_id(world: BoardsWorld) -> None:
    board = await new_board(world, cardProperties=[STATUS])
    prio = {"id": "prio", "name": "Priority", "type": "select", "options": []}
    renamed = {**STATUS, "name": "State"}
    patched = await world.ok("PATCH", f"/boards/{board['id']}", json={
        "title": "Field ops", "updatedProperties": {"a": 1}, "updatedCardProperties": [renamed, prio]})
    assert (patched["title"], patched["properties"], patched["cardProperties"]) == ("Field ops", {"a": 1},
                                                                                    [renamed, prio])
    patched = await world.ok("PATCH", f"/boards/{board['id']}", json={"deletedCardProperties": ["status"],
                                                                      "deletedProperties": ["a"]})
    assert (patched["properties"], patched["cardProperties"]) == ({}, [prio])


async def test_only_an_admin_changes_type_or_minimum_role_and_editors_change_properties(world: BoardsWorld) -> None:
    board = await new_board(world)
    await world.ok("POST", f"/boards/{board['id']}/join", "bob")  # editor by default
    assert (await world.fb("PATCH", f"/boards/{board['id']}", "bob", json={"title": "t"})).status_code == 200
    digest = await world.digest()
    for patch in ({"type": "P"}, {"minimumRole": "admin"}, {"channelId": world.town_square}):
        response = await world.fb("PATCH", f"/boards/{board['id']}", "bob", json=patch)
        assert response.status_code == 403, patch
    assert (await world.fb("DELETE", f"/boards/{board['id']}", "bob")).status_code == 403
    assert await world.digest() == digest


async def test_delete_and_undelete_a_board(world: BoardsWorld) -> None:
    board = await new_board(world)
    assert await world.ok("DELETE", f"/boards/{board['id']}") == {}
    assert (await world.fb("GET", f"/boards/{board['id']}")).status_code == 404
    assert await world.ok("GET", f"/teams/{world.team_id}/boards") == []
    assert await world.ok("POST", f"/boards/{board['id']}/undelete") == {}
    assert (await world.ok("GET", f"/boards/{board['id']}"))["deleteAt"] == 0


async def test_bad_board_input_gets_a_400_and_writes_nothing(world: BoardsWorld) -> None:
    digest = await world.digest()
    for body in ({"teamId": world.team_id, "type": "X"},
                 {"teamId": world.team_id, "title": "x" * 20_000},
                 {"teamId": world.team_id, "cardProperties": [{"id": "p", "name": "P", "type": "colour"}]},
                 {"teamId": world.team_id, "minimumRole": "owner"},
                 {"teamId": world.team_id, "id": "bchosen"},
                 {"teamId": world.team_id, "channelId": "c" * 26}):
        response = await world.fb("POST", "/boards", json=body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error", "errorCode"}
    assert await world.digest() == digest


# -- blocks and cards -------------------------------------------------------------------------------


async def test_inserted_blocks_get_fresh_ids_and_references_follow(world: BoardsWorld) -> None:
    board = await new_board(world, cardProperties=[STATUS])
    created = await world.ok("POST", f"/boards/{board['id']}/blocks", json=[
        block(board["id"], "v1", "view", fields={"viewType": "table", "cardOrder": ["k2", "k1"]}),
        block(board["id"], "k1", "card", fields={"properties": {"status": "done"}, "contentOrder": ["t1"]}),
        block(board["id"], "k2", "card"),
        block(board["id"], "t1", "text", parentId="k1", title="hello"),
    ])
    ids = {b["title"]: b["id"] for b in created}
    assert all(i not in ("v1", "k1", "k2", "t1") for i in ids.values())
    by_id = {b["id"]: b for b in created}
    assert by_id[ids["hello"]]["parentId"] == ids["k1"]
    assert by_id[ids["k1"]]["fields"]["contentOrder"] == [ids["hello"]]
    assert by_id[ids["k1"]]["fields"]["properties"] == {"status": "done"}
    assert by_id[ids["v1"]]["fields"]["cardOrder"] == [ids["k2"], ids["k1"]]
    assert by_id[ids["v1"]]["fields"]["viewType"] == "table"
    listed = await world.ok("GET", f"/boards/{board['id']}/blocks?parent_id={ids['k1']}")
    assert [b["id"] for b in listed] == [ids["hello"]]
    assert [b["id"] for b in await world.ok("GET", f"/boards/{board['id']}/blocks?type=card")] == [ids["k1"],
                                                                                                    ids["k2"]]


async def test_bad_blocks_get_a_400_and_nothing_is_applied(world: BoardsWorld) -> None:
    board, _, cards = await kanban(world)
    other = await new_board(world)
    digest = await world.digest()
    bad_batches = [
        [block(other["id"], "x", "card")],                                # boardId disagrees with the URL
        [{**block(board["id"], "x", "card"), "createAt": 0}],             # no createAt
        [block(board["id"], "x", "")],                                   # no type
        [block(board["id"], "x", "card", fields={"properties": {"status": 3}})],  # wrong shape for a select
        [block(board["id"], "x", "card", title="x" * 20_000)],           # oversized text
        [block(board["id"], "x", "text", parentId="x")],                 # its own parent
        [block(board["id"], "x", "text", parentId="y"), block(board["id"], "y", "text", parentId="x")],  # a cycle
        [block(board["id"], "x", "text", parentId=other["id"])],         # content must hang from a card
        [block(board["id"], "ok", "card"), block(board["id"], "x", "frobnicate")],  # one bad block spoils all
    ]
    for batch in bad_batches:
        response = await world.fb("POST", f"/boards/{board['id']}/blocks", json=batch)
        assert response.status_code == 400, (batch, response.text)
        assert set(response.json()) == {"error", "errorCode"}
    assert await world.digest() == digest


async def test_a_card_in_a_board_that_does_not_exist_or_is_not_yours(world: BoardsWorld) -> None:
    private = await new_board(world, "admin", type="P")
    response = await world.fb("POST", f"/boards/{private['id']}/cards", json={"title": "x"})
    assert response.status_code == 403
    response = await world.fb("POST", "/boards/bnonexistent/cards", json={"title": "x"})
    assert response.status_code == 404
    assert (await world.fb("GET", "/cards/cnonexistent")).status_code == 400


async def test_cards_create_get_list_and_patch_merges_properties(world: BoardsWorld) -> None:
    board = await new_board(world, cardProperties=[STATUS, {"id": "tags", "name": "Tags", "type": "multiSelect",
                                                            "options": []}])
    card = await world.ok("POST", f"/boards/{board['id']}/cards", json={
        "title": "Pump", "properties": {"status": "todo"}})
    assert set(card) == {"id", "boardId", "createdBy", "modifiedBy", "title", "contentOrder", "icon", "isTemplate",
                         "properties", "createAt", "updateAt", "deleteAt"}
    patched = await world.ok("PATCH", f"/cards/{card['id']}", json={
        "title": "Pump 2", "updatedProperties": {"tags": ["a", "b"]}})
    assert (patched["title"], patched["properties"]) == ("Pump 2", {"status": "todo", "tags": ["a", "b"]})
    assert await world.ok("GET", f"/cards/{card['id']}") == patched
    assert await world.ok("GET", f"/boards/{board['id']}/cards") == [patched]
    digest = await world.digest()
    for bad in ({"updatedProperties": {"tags": "a"}}, {"updatedProperties": {"status": ["a"]}},
                {"title": 5}, {"updatedProperties": {"status": {"x": 1}}}):
        assert (await world.fb("PATCH", f"/cards/{card['id']}", json=bad)).status_code == 400, bad
    assert await world.digest() == digest


async def test_patch_block_updated_and_deleted_fields(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    text = (await world.ok("POST", f"/boards/{board['id']}/blocks", json=[
        block(board["id"], "t", "checkbox", parentId=cards[0], fields={"value": False, "x": 1})]))[0]
    await world.ok("PATCH", f"/boards/{board['id']}/blocks/{text['id']}", json={
        "title": "done?", "updatedFields": {"value": True}, "deletedFields": ["x"]})
    got = await world.ok("GET", f"/boards/{board['id']}/blocks?block_id={text['id']}")
    assert (got[0]["title"], got[0]["fields"]) == ("done?", {"value": True})
    await world.ok("PATCH", f"/boards/{board['id']}/blocks/{view}", json={
        "updatedFields": {"hiddenOptionIds": ["todo"], "kanbanCalculations": {"a": 1}}})
    views = await world.ok("GET", f"/boards/{board['id']}/blocks?type=view")
    assert views[0]["fields"]["hiddenOptionIds"] == ["todo"] and views[0]["fields"]["kanbanCalculations"] == {"a": 1}
    digest = await world.digest()
    assert (await world.fb("PATCH", f"/boards/{board['id']}/blocks/{text['id']}",
                           json={"parentId": cards[1]})).status_code == 400
    assert (await world.fb("PATCH", f"/boards/{board['id']}/blocks/cnothere", json={})).status_code == 404
    assert await world.digest() == digest


async def test_moving_a_card_in_a_view_writes_one_position(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world, 4)
    assert await card_order(world, board["id"], view) == cards
    store = world.node.services.ctx.store
    before = len(await store.fetchall("SELECT * FROM card_positions"))
    desired = [cards[3], cards[0], cards[1], cards[2]]
    await world.ok("PATCH", f"/boards/{board['id']}/blocks/{view}", json={"updatedFields": {"cardOrder": desired}})
    assert await card_order(world, board["id"], view) == desired
    assert len(await store.fetchall("SELECT * FROM card_positions")) == before + 1


async def test_delete_and_undelete_a_card_block(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    assert await world.ok("DELETE", f"/boards/{board['id']}/blocks/{cards[1]}") == {}
    assert await card_order(world, board["id"], view) == [cards[0], cards[2]]
    restored = await world.ok("POST", f"/boards/{board['id']}/blocks/{cards[1]}/undelete")
    assert restored["id"] == cards[1]
    assert await card_order(world, board["id"], view) == cards


async def test_an_edit_of_a_deleted_card_leaves_it_deleted(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    await world.ok("DELETE", f"/boards/{board['id']}/blocks/{cards[0]}")
    assert (await world.fb("PATCH", f"/cards/{cards[0]}", json={"title": "x"})).status_code == 400
    assert cards[0] not in await card_order(world, board["id"], view)


# -- templates, duplicate, boards-and-blocks ------------------------------------------------------------


async def test_the_built_in_templates_are_listed_and_a_board_is_made_from_one(world: BoardsWorld) -> None:
    templates = await world.ok("GET", f"/teams/{world.team_id}/templates")
    assert {t["title"] for t in templates} >= {"Project tasks", "Meeting agenda", "Roadmap"}
    tasks = next(t for t in templates if t["title"] == "Project tasks")
    template_blocks = await world.ok("GET", f"/boards/{tasks['id']}/blocks")
    made = await world.ok("POST", f"/boards/{tasks['id']}/duplicate?asTemplate=false&toTeam={world.team_id}")
    board = made["boards"][0]
    assert (board["title"], board["isTemplate"], board["teamId"]) == ("Project tasks", False, world.team_id)
    assert len(made["blocks"]) == len(template_blocks)
    assert {b["id"] for b in made["blocks"]}.isdisjoint({b["id"] for b in template_blocks})
    view = next(b for b in made["blocks"] if b["type"] == "view")
    assert sorted(view["fields"]["cardOrder"]) == sorted(b["id"] for b in made["blocks"] if b["type"] == "card")


async def test_duplicate_copies_a_board_with_fresh_ids(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    copy = await world.ok("POST", f"/boards/{board['id']}/duplicate", "bob") if False else \
        await world.ok("POST", f"/boards/{board['id']}/duplicate")
    assert copy["boards"][0]["id"] != board["id"]
    assert len([b for b in copy["blocks"] if b["type"] == "card"]) == 3


async def test_boards_and_blocks_creates_boards_with_their_blocks(world: BoardsWorld) -> None:
    made = await world.ok("POST", "/boards-and-blocks", json={
        "boards": [{"id": "tmp", "teamId": world.team_id, "type": "O", "title": "B&B"}],
        "blocks": [block("tmp", "k", "card")]})
    assert [b["title"] for b in made["boards"]] == ["B&B"]
    assert [b["boardId"] for b in made["blocks"]] == [made["boards"][0]["id"]]
    digest = await world.digest()
    response = await world.fb("POST", "/boards-and-blocks", json={
        "boards": [{"id": "tmp", "teamId": world.team_id}], "blocks": [block("other", "k", "card")]})
    assert response.status_code == 400
    assert await world.digest() == digest


async def test_oversized_json_is_refused(world: BoardsWorld) -> None:
    board = await new_board(world)
    digest = await world.digest()
    big = {"fields": {"x": "y" * 70_000}}
    response = await world.fb("POST", f"/boards/{board['id']}/blocks", json=[block(board["id"], "k", "card", **big)])
    assert response.status_code == 400
    response = await world.fb("PATCH", f"/boards/{board['id']}", json={"updatedProperties": {"x": "y" * 70_000}})
    assert response.status_code == 400
    assert await world.digest() == digest
    assert json.dumps(response.json())
    assert PREFIX


async def test_the_unfiltered_blocks_built_by_sqlite_equal_the_filtered_ones(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    await world.ok("POST", f"/boards/{board['id']}/blocks", json=[
        block(board["id"], "t", "text", parentId=cards[1], title="x"),
        block(board["id"], "c", "comment", parentId=cards[1], title="y")])
    await world.ok("PATCH", f"/cards/{cards[2]}", json={"updatedProperties": {"status": None, "n": ["a"]}})
    everything = await world.ok("GET", f"/boards/{board['id']}/blocks")
    parts = [await world.ok("GET", f"/boards/{board['id']}/blocks?type={t}") for t in ("card", "view")]
    content = [b for b in await world.ok("GET", f"/boards/{board['id']}/blocks?parent_id={cards[1]}")]
    assert everything == parts[0] + parts[1] + content
    assert everything == await world.node.services.boards.blocks.reader.blocks(board["id"])
    await world.ok("PATCH", f"/cards/{cards[0]}", json={"title": "renamed"})  # the kept answer is dropped
    again = await world.ok("GET", f"/boards/{board['id']}/blocks")
    assert next(b for b in again if b["id"] == cards[0])["title"] == "renamed"


async def test_boards_and_blocks_patch_and_delete(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    patched = await world.ok("PATCH", "/boards-and-blocks", json={
        "boardIDs": [board["id"]], "boardPatches": [{"title": "Renamed"}],
        "blockIDs": [cards[0]], "blockPatches": [{"title": "first"}]})
    assert [b["title"] for b in patched["boards"]] == ["Renamed"]
    assert [(b["id"], b["title"]) for b in patched["blocks"]] == [(cards[0], "first")]
    _, _, other_cards = await kanban(world)
    await world.ok("POST", f"/boards/{board['id']}/join", "bob")
    digest = await world.digest()
    response = await world.fb("PATCH", "/boards-and-blocks", json={  # a block of a board not patched
        "boardIDs": [board["id"]], "boardPatches": [{"title": "x"}],
        "blockIDs": [other_cards[0]], "blockPatches": [{"title": "y"}]})
    assert response.status_code == 400
    response = await world.fb("DELETE", "/boards-and-blocks", "bob", json={"boards": [board["id"]], "blocks": []})
    assert response.status_code == 403
    assert await world.digest() == digest
    assert await world.ok("DELETE", "/boards-and-blocks", json={"boards": [board["id"]], "blocks": [cards[1]]}) == {}
    assert (await world.fb("GET", f"/boards/{board['id']}")).status_code == 404


async def test_patch_several_blocks_at_once_all_or_nothing(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    assert await world.ok("PATCH", f"/boards/{board['id']}/blocks", json={
        "block_ids": cards[:2], "block_patches": [{"title": "one"}, {"title": "two"}]}) == {}
    titles = {b["id"]: b["title"] for b in await world.ok("GET", f"/boards/{board['id']}/blocks?type=card")}
    assert (titles[cards[0]], titles[cards[1]]) == ("one", "two")
    digest = await world.digest()
    response = await world.fb("PATCH", f"/boards/{board['id']}/blocks", json={
        "block_ids": cards[:2], "block_patches": [{"title": "three"}, {"title": "x" * 20_000}]})
    assert response.status_code == 400
    assert await world.digest() == digest


async def test_duplicating_a_card_copies_its_content_with_fresh_ids(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    text = (await world.ok("POST", f"/boards/{board['id']}/blocks", json=[
        block(board["id"], "t", "text", parentId=cards[0], title="inside")]))[0]
    copies = await world.ok("POST", f"/boards/{board['id']}/blocks/{cards[0]}/duplicate")
    card = next(b for b in copies if b["type"] == "card")
    inner = next(b for b in copies if b["type"] == "text")
    assert card["id"] not in cards and inner["id"] != text["id"]
    assert (inner["parentId"], inner["title"], card["fields"]["contentOrder"]) == (card["id"], "inside", [inner["id"]])
    assert card["fields"]["properties"] == {"status": "todo"}
    assert card["id"] in await card_order(world, board["id"], view)
    assert (await world.fb("POST", f"/boards/{board['id']}/blocks/cnope/duplicate")).status_code == 404
