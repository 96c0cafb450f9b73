"""Reads of board data shared by the board services, the convergence tests and the benchmark."""

from __future__ import annotations

from typing import Any

from .boards_model import Placed, card_order

__all__ = ["LIVE_CARDS", "view_card_order"]

LIVE_CARDS = "SELECT id, position FROM cards WHERE board_id = ? AND _deleted = 0 AND coalesce(delete_at, 0) = 0"


async def view_card_order(store: Any, board_id: str, view_id: str) -> list[tuple[str, str]]:
    """(card id, key) of every live card of the board, in the order of the view."""
    cards = [Placed(row[0], row[1] or "") for row in await store.fetchall(LIVE_CARDS, (board_id,))]
    overrides = {row[0]: row[1] for row in await store.fetchall(
        "SELECT card_id, position FROM card_positions WHERE view_id = ? AND _deleted = 0", (view_id,))}
    return card_order(cards, overrides)
