"""Card links in posts: a message with a link to a card carries the plugin's "boards" embed data.

As the Boards plugin does when a message is posted, the first link of the form
`.../boards/team/{teamID}/{boardID}/{viewID}/{cardID}` becomes the post prop `boards`, a JSON string
`{teamID, boardID, viewID, cardID, readToken, originalPath}`, from which clients render a preview
of the card (its title and status) by reading the card through the boards API. Only ids travel in
the post: every channel member sees the post, but only the board's members can read the card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["card_link", "with_card_link"]

_LINK = re.compile(r"https?://[^\s<>()\"']+/boards/team/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+[^\s<>()\"']*")


def card_link(message: str) -> dict[str, str] | None:
    """The embed data of the first card link in `message`, or None."""
    match = _LINK.search(message)
    if match is None:
        return None
    url = urlsplit(match.group(0))
    parts = url.path.strip("/").split("/")
    at = len(parts) - 1 - parts[::-1].index("team")  # the last "/team/" segment: a site may live under a path
    if parts[at - 1] != "boards" or len(parts) < at + 5:
        return None
    team, board, view, card = parts[at + 1:at + 5]
    token = parse_qs(url.query).get("r", [""])[0]
    path = url.path + (f"?{url.query}" if url.query else "")
    return {"teamID": team, "boardID": board, "viewID": view, "cardID": card, "readToken": token,
            "originalPath": path}


def with_card_link(message: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """`props` plus the "boards" prop when the message links to a card (a client's own "boards" prop is kept)."""
    out = dict(props)
    if "boards" not in out:
        link = card_link(message)
        if link is not None:
            out["boards"] = json.dumps(link, separators=(",", ":"))
    return out
