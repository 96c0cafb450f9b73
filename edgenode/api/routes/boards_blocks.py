"""Focalboard's block and card routes (server/api/blocks.go, cards.go)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from edgenode.api.json import int_param, json_body, json_list_body, json_response
from edgenode.services.boards_templates import TEMPLATES

from .boards_http import empty, plugin_routes, ref, session_and_services

__all__ = ["routes"]


async def get_blocks(request: Request) -> Response:
    session, s = await session_and_services(request)
    board_id, query = ref(request, "boardID"), request.query_params
    if board_id in TEMPLATES:
        return json_response(await s.boards.boards.require_template_or_board(board_id, session))
    if not (query.get("parent_id") or query.get("type") or query.get("block_id")):
        return Response(await s.boards.blocks.all_blocks_json(board_id, session), media_type="application/json")
    return json_response(await s.boards.blocks.get_blocks(board_id, session, parent_id=query.get("parent_id"),
                                                    type_=query.get("type"), block_id=query.get("block_id")))


async def post_blocks(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.blocks.insert(ref(request, "boardID"), await json_list_body(request), session))


async def patch_blocks(request: Request) -> Response:
    session, s = await session_and_services(request)
    body = await json_body(request)
    ids, patches = body.get("block_ids") or [], body.get("block_patches") or []
    if not isinstance(ids, list) or not isinstance(patches, list):
        from edgenode.services import BadRequest
        raise BadRequest("block_ids and block_patches must be lists")
    await s.boards.blocks.patch_many(ref(request, "boardID"), ids, patches, session)
    return empty()


async def patch_block(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.blocks.patch(ref(request, "boardID"), ref(request, "blockID"), await json_body(request), session)
    return empty()


async def delete_block(request: Request) -> Response:
    session, s = await session_and_services(request)
    await s.boards.blocks.set_deleted(ref(request, "boardID"), ref(request, "blockID"), session, True)
    return empty()


async def undelete_block(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.blocks.set_deleted(ref(request, "boardID"), ref(request, "blockID"),
                                                           session, False))


async def duplicate_block(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.blocks.duplicate(ref(request, "boardID"), ref(request, "blockID"), session,
                                                         as_template=request.query_params.get("asTemplate") == "true"))


async def create_card(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.cards.create(ref(request, "boardID"), await json_body(request), session))


async def list_cards(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.cards.list_cards(ref(request, "boardID"), session, int_param(request, "page", 0),
                                                   int_param(request, "per_page", 100)))


async def get_card(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.cards.get(ref(request, "cardID"), session))


async def patch_card(request: Request) -> Response:
    session, s = await session_and_services(request)
    return json_response(await s.boards.cards.patch(ref(request, "cardID"), await json_body(request), session))


routes = plugin_routes([
    ("/boards/{boardID}/blocks", get_blocks, "GET"),
    ("/boards/{boardID}/blocks", post_blocks, "POST"),
    ("/boards/{boardID}/blocks", patch_blocks, "PATCH"),
    ("/boards/{boardID}/blocks/{blockID}", patch_block, "PATCH"),
    ("/boards/{boardID}/blocks/{blockID}", delete_block, "DELETE"),
    ("/boards/{boardID}/blocks/{blockID}/undelete", undelete_block, "POST"),
    ("/boards/{boardID}/blocks/{blockID}/duplicate", duplicate_block, "POST"),
    ("/boards/{boardID}/cards", create_card, "POST"),
    ("/boards/{boardID}/cards", list_cards, "GET"),
    ("/cards/{cardID}", get_card, "GET"),
    ("/cards/{cardID}", patch_card, "PATCH"),
])
