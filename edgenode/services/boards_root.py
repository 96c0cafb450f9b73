"""The board services of a node, built together (they share the access rules and the event sender)."""

from __future__ import annotations

from dataclasses import dataclass

from .boards import BoardService
from .boards_access import BoardAccess
from .boards_blocks import BlockService
from .boards_cards import CardService
from .boards_events import BoardEvents
from .boards_members import BoardMemberService
from .boards_peer_events import BoardPeerEvents
from .context import Context
from .membership import Memberships

__all__ = ["Boards"]


@dataclass(slots=True)
class Boards:
    access: BoardAccess
    events: BoardEvents
    boards: BoardService
    blocks: BlockService
    cards: CardService
    members: BoardMemberService
    peer_events: BoardPeerEvents  # started and stopped by the composition root

    @classmethod
    def build(cls, ctx: Context, members: Memberships) -> Boards:
        access, events = BoardAccess(ctx, members), BoardEvents(ctx)
        blocks = BlockService(ctx, access, events)
        return cls(access, events, BoardService(ctx, members, access, blocks, events), blocks,
                   CardService(ctx, access, blocks), BoardMemberService(ctx, members, access, events),
                   BoardPeerEvents(ctx, events))
