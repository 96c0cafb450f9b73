"""A card shared as a link in a post: the post carries the plugin's "boards" embed data (ids only)."""

from __future__ import annotations

import json

from edgenode.services.boards_links import card_link
from support.boards_world import BoardsWorld

from .test_boards_api import kanban


def test_the_first_card_link_of_a_message_is_recognised() -> None:
    message = "see http://node.local:8065/boards/team/t1/b2/v3/c4?r=tok and http://x/boards/team/a/b/c/d"
    assert card_link(message) == {"teamID": "t1", "boardID": "b2", "viewID": "v3", "cardID": "c4",
                                  "readToken": "tok", "originalPath": "/boards/team/t1/b2/v3/c4?r=tok"}
    assert card_link("http://node.local/boards/team/t1/b2") is None
    assert card_link("no link here") is None


async def test_a_post_linking_a_card_carries_its_ids_for_the_preview(world: BoardsWorld) -> None:
    board, view, cards = await kanban(world)
    link = f"http://edgenode.test/boards/team/{world.team_id}/{board['id']}/{view}/{cards[0]}"
    posted = await world.v4("POST", "/posts", "alice", json={"channel_id": world.town_square,
                                                             "message": f"look at {link}"})
    assert posted.status_code == 201, posted.text
    embed = json.loads(posted.json()["props"]["boards"])
    assert (embed["teamID"], embed["boardID"], embed["viewID"], embed["cardID"]) == (
        world.team_id, board["id"], view, cards[0])
    # the preview's title and status come from the card, read with the reader's own rights
    card = await world.ok("GET", f"/boards/{board['id']}/blocks?block_id={cards[0]}")
    assert (card[0]["title"], card[0]["fields"]["properties"]) == ("card0", {"status": "todo"})
    assert (await world.fb("GET", f"/boards/{board['id']}/blocks?block_id={cards[0]}", "bob")).status_code == 403
