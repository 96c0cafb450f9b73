"""Boards in the Focalboard plugin's JSON shape (camelCase), and the checks on what clients send.

Every check runs before any op is built, so a refused request writes nothing.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from edgenode.ids import new_id

from .boards_access import Role, role_of
from .errors import BadRequest

__all__ = [
    "BLOCK_TYPES", "CONTENT_TYPES", "PROPERTY_TYPES", "VIEW_TYPES", "VIEW_COLUMNS", "MAX_TITLE", "MAX_FIELDS_BYTES",
    "new_board_id", "check_ref", "check_title", "check_fields", "check_card_properties", "check_value",
    "board_json", "member_json", "card_json", "card_block_json", "view_block_json", "content_block_json",
    "loads",
]

BLOCK_TYPES = frozenset({"card", "view", "text", "checkbox", "comment", "image", "attachment", "divider", "h1",
                         "h2", "h3"})
CONTENT_TYPES = BLOCK_TYPES - {"card", "view"}
PROPERTY_TYPES = frozenset({"text", "number", "select", "multiSelect", "date", "person", "multiPerson", "checkbox",
                            "url", "email", "phone", "file", "createdTime", "createdBy", "updatedTime",
                            "updatedBy"})
_LIST_TYPES = frozenset({"multiSelect", "multiPerson", "file"})
VIEW_TYPES = frozenset({"board", "table", "gallery", "calendar"})
VIEW_COLUMNS = {"viewType": "view_type", "groupById": "group_by_id", "sortOptions": "sort_options",
                "visiblePropertyIds": "visible_property_ids", "hiddenOptionIds": "hidden_option_ids",
                "filter": "filter", "columnWidths": "column_widths"}
_VIEW_JSON = {"sort_options", "visible_property_ids", "hidden_option_ids", "filter", "column_widths"}
MAX_TITLE = 16_383
"""Focalboard's BlockTitleMaxRunes (65535 bytes / 4)."""
MAX_FIELDS_BYTES = 60_000
"""One op carries at most 64 KiB of text per value: a block's fields, encoded, must fit."""
_REF = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def new_board_id(letter: str) -> str:
    """Focalboard's ids: a type letter and 26 characters (b board, c card, v view, a content...)."""
    return letter + new_id()


def check_ref(value: object, what: str) -> str:
    if not isinstance(value, str) or not _REF.match(value):
        raise BadRequest(f"invalid {what}")
    return value


def check_title(value: object, what: str = "title") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string")
    if len(value) > MAX_TITLE:
        raise BadRequest(f"{what} is too long ({len(value)} characters; the limit is {MAX_TITLE})")
    return value


_ORDERS = ("cardOrder", "contentOrder")
MAX_ORDER = 100_000
"""Ids in a cardOrder or contentOrder: those are not stored as sent (each moved card gets a position
register), so they are checked apart from the size limit of what is stored."""


def check_fields(value: object, what: str = "fields") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be an object")
    stored = {k: v for k, v in value.items() if k not in _ORDERS}
    if len(json.dumps(stored)) > MAX_FIELDS_BYTES:
        raise BadRequest(f"{what} is too large; the limit is {MAX_FIELDS_BYTES} bytes of JSON")
    for name in _ORDERS:
        order = value.get(name)
        if order is not None and (not isinstance(order, list) or len(order) > MAX_ORDER):
            raise BadRequest(f"{name} must be a list of at most {MAX_ORDER} ids")
    return value


def _check_strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{what} must be a list of strings")
    return value


def check_card_properties(value: object) -> list[dict[str, Any]]:
    """Card property definitions: [{id, name, type, options: [{id, value, color}]}]."""
    if not isinstance(value, list):
        raise BadRequest("cardProperties must be a list")
    seen: set[str] = set()
    for prop in value:
        if not isinstance(prop, dict):
            raise BadRequest("each card property must be an object")
        pid = check_ref(prop.get("id"), "card property id")
        if pid in seen:
            raise BadRequest(f"card property {pid} is given twice")
        seen.add(pid)
        check_title(prop.get("name"), "card property name")
        if prop.get("type") not in PROPERTY_TYPES:
            raise BadRequest(f"card property {pid} has an unknown type {prop.get('type')!r}")
        options = prop.get("options", [])
        if not isinstance(options, list) or not all(
                isinstance(o, dict) and isinstance(o.get("id"), str) and isinstance(o.get("value", ""), str)
                and isinstance(o.get("color", ""), str) for o in options):
            raise BadRequest(f"card property {pid}: options must be [{{id, value, color}}]")
    check_fields({"p": value}, "cardProperties")
    return value


def check_value(value: object, prop_type: str | None, prop_id: str) -> object:
    """A card property value: a string, or a list of strings for multi-valued types (null clears it)."""
    if value is None:
        return None
    if prop_type in _LIST_TYPES or (prop_type is None and isinstance(value, list)):
        _check_strings(value, f"the value of property {prop_id}")
    elif not isinstance(value, str):
        raise BadRequest(f"the value of property {prop_id} ({prop_type or 'unknown type'}) must be a string")
    elif prop_type == "number" and value:
        try:
            float(value)
        except ValueError:
            raise BadRequest(f"the value of property {prop_id} must be a number") from None
    elif prop_type == "date" and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise BadRequest(f"the value of property {prop_id} must be a date: {{\"from\", \"to\"}}") from None
    check_fields({"v": value}, f"the value of property {prop_id}")
    return value


def loads(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


def _times(row: sqlite3.Row) -> dict[str, int]:
    return {"createAt": int(row["create_at"] or 0), "updateAt": int(row["update_at"] or 0),
            "deleteAt": int(row["delete_at"] or 0)}


def board_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"], "teamId": row["team_id"], "channelId": row["channel_id"] or "",
        "createdBy": row["created_by"] or "", "modifiedBy": row["modified_by"] or "", "type": row["type"] or "O",
        "minimumRole": row["minimum_role"] or "", "title": row["title"] or "", "description": row["description"] or "",
        "icon": row["icon"] or "", "showDescription": bool(row["show_description"]),
        "isTemplate": bool(row["is_template"]), "templateVersion": int(row["template_version"] or 0),
        "properties": loads(row["properties"], {}), "cardProperties": loads(row["card_properties"], []),
        **_times(row),
    }


def member_json(board: sqlite3.Row, user_id: str, attrs: sqlite3.Row | None, *, synthetic: bool = False,
                ) -> dict[str, Any]:
    role = Role.EDITOR if synthetic else role_of(attrs)
    return {
        "boardId": board["id"], "userId": user_id, "roles": role.name.lower(),
        "minimumRole": board["minimum_role"] or "", "schemeAdmin": role == Role.ADMIN,
        "schemeEditor": role == Role.EDITOR, "schemeCommenter": role == Role.COMMENTER,
        "schemeViewer": role == Role.VIEWER, "synthetic": synthetic,
    }


def card_json(row: sqlite3.Row, properties: Mapping[str, Any], content_order: Sequence[str]) -> dict[str, Any]:
    return {
        "id": row["id"], "boardId": row["board_id"], "createdBy": row["created_by"] or "",
        "modifiedBy": row["modified_by"] or "", "title": row["title"] or "", "contentOrder": list(content_order),
        "icon": row["icon"] or "", "isTemplate": bool(row["is_template"]), "properties": dict(properties),
        **_times(row),
    }


def _block(row: sqlite3.Row, parent: str, type_: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "parentId": parent, "boardId": row["board_id"], "createdBy": row["created_by"] or "",
            "modifiedBy": row["modified_by"] or "", "schema": 1, "type": type_, "title": row["title"] or "",
            "fields": fields, **_times(row)}


def card_block_json(card: Mapping[str, Any], row: sqlite3.Row) -> dict[str, Any]:
    """A card as the `card` block the blocks routes return (Focalboard's Card2Block)."""
    fields = {"contentOrder": card["contentOrder"], "icon": card["icon"], "isTemplate": card["isTemplate"],
              "properties": card["properties"]}
    return _block(row, row["board_id"], "card", fields)


def view_block_json(row: sqlite3.Row, card_order: Sequence[str]) -> dict[str, Any]:
    fields: dict[str, Any] = dict(loads(row["extra"], {}))
    for name, column in VIEW_COLUMNS.items():
        value = row[column]
        fields[name] = loads(value, None) if column in _VIEW_JSON else (value or "")
    fields.setdefault("sortOptions", None)
    fields["sortOptions"] = fields["sortOptions"] or []
    fields["visiblePropertyIds"] = fields["visiblePropertyIds"] or []
    fields["hiddenOptionIds"] = fields["hiddenOptionIds"] or []
    fields["filter"] = fields["filter"] or {"operation": "and", "filters": []}
    fields["columnWidths"] = fields["columnWidths"] or {}
    fields["cardOrder"] = list(card_order)
    return _block(row, row["board_id"], "view", fields)


def content_block_json(row: sqlite3.Row) -> dict[str, Any]:
    return _block(row, row["parent_id"] or row["board_id"], row["type"], loads(row["fields"], {}))
