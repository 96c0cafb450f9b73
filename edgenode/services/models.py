"""Rows of the materialized tables as Mattermost API v4 JSON objects."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Protocol

__all__ = ["Record", "sanitize_profile", "user_json", "team_json", "channel_json", "team_member_json", "channel_member_json", "loads"]


class Record(Protocol):
    """A row read by column name: a sqlite3.Row from the store, or a dict built in memory."""

    def __getitem__(self, column: str, /) -> Any: ...


def loads(value: str | None, default: Any) -> Any:
    return json.loads(value) if value else default


def _int(value: Any) -> int:
    return int(value) if value else 0


def sanitize_profile(user: dict[str, Any], viewer_id: str, viewer_is_admin: bool) -> dict[str, Any]:
    """A user as someone else sees them, as Mattermost's SanitizeProfile (ClearNonProfileFields): another
    user's notification settings (their private mention keys) and last password change are not served;
    the user themself and system admins see them."""
    if viewer_is_admin or user.get("id") == viewer_id:
        return user
    return {**user, "notify_props": {}, "last_password_update": 0}


def user_json(row: sqlite3.Row, *, sanitize_email: bool = False) -> dict[str, Any]:
    """A User; never includes the password hash."""
    return {
        "id": row["id"],
        "create_at": _int(row["create_at"]),
        "update_at": _int(row["update_at"]),
        "delete_at": _int(row["delete_at"]),
        "username": row["username"],
        "auth_data": "",
        "auth_service": row["auth_service"] or "",
        "email": "" if sanitize_email else row["email"] or "",
        "email_verified": True,
        "nickname": row["nickname"] or "",
        "first_name": row["first_name"] or "",
        "last_name": row["last_name"] or "",
        "position": row["position"] or "",
        "roles": row["roles"] or "system_user",
        "props": loads(row["props"], {}),
        "notify_props": loads(row["notify_props"], default_notify_props()),
        "last_password_update": _int(row["last_password_update"]),
        "locale": row["locale"] or "en",
        "timezone": loads(row["timezone"], {"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"}),
        "is_bot": bool(row["is_bot"]),
        "bot_description": row["bot_description"] or "",
        "disable_welcome_email": False,
        "mfa_active": False,
    }


def default_notify_props() -> dict[str, str]:
    return {
        "channel": "true", "comments": "never", "desktop": "mention", "desktop_sound": "true",
        "email": "true", "first_name": "false", "mention_keys": "", "push": "mention", "push_status": "away",
    }


def team_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "create_at": _int(row["create_at"]),
        "update_at": _int(row["update_at"]),
        "delete_at": _int(row["delete_at"]),
        "display_name": row["display_name"] or "",
        "name": row["name"],
        "description": row["description"] or "",
        "email": row["email"] or "",
        "type": row["type"] or "O",
        "company_name": "",
        "allowed_domains": row["allowed_domains"] or "",
        "invite_id": row["invite_id"] or "",
        "allow_open_invite": bool(row["allow_open_invite"]),
        "scheme_id": None,
        "group_constrained": None,
        "policy_id": None,
    }


def team_member_json(team_id: str, user_id: str, roles: str | None) -> dict[str, Any]:
    roles = roles or "team_user"
    return {
        "team_id": team_id,
        "user_id": user_id,
        "roles": roles,
        "delete_at": 0,
        "scheme_guest": "team_guest" in roles.split(),
        "scheme_user": "team_user" in roles.split(),
        "scheme_admin": "team_admin" in roles.split(),
        "explicit_roles": "",
    }


def channel_json(row: sqlite3.Row, *, total_msg_count: int = 0, last_post_at: int = 0,
                 total_msg_count_root: int = 0, last_root_post_at: int = 0) -> dict[str, Any]:
    return {
        "id": row["id"],
        "create_at": _int(row["create_at"]),
        "update_at": _int(row["update_at"]),
        "delete_at": _int(row["delete_at"]),
        "team_id": row["team_id"] or "",
        "type": row["type"],
        "display_name": row["display_name"] or "",
        "name": row["name"],
        "header": row["header"] or "",
        "purpose": row["purpose"] or "",
        "last_post_at": last_post_at,
        "total_msg_count": total_msg_count,
        "extra_update_at": 0,
        "creator_id": row["creator_id"] or "",
        "scheme_id": None,
        "props": loads(row["props"], None),
        "group_constrained": None,
        "shared": None,
        "total_msg_count_root": total_msg_count_root,
        "policy_id": None,
        "last_root_post_at": last_root_post_at,
    }


def channel_member_json(channel_id: str, user_id: str, attrs: sqlite3.Row | None, *, msg_count: int = 0,
                        mention_count: int = 0, msg_count_root: int = 0, mention_count_root: int = 0) -> dict[str, Any]:
    roles = (attrs["roles"] if attrs is not None else None) or "channel_user"
    notify = loads(attrs["notify_props"], None) if attrs is not None else None
    return {
        "channel_id": channel_id,
        "user_id": user_id,
        "roles": roles,
        "last_viewed_at": _int(attrs["last_viewed_at"]) if attrs is not None else 0,
        "msg_count": msg_count,
        "mention_count": mention_count,
        "mention_count_root": mention_count_root,
        "urgent_mention_count": 0,
        "msg_count_root": msg_count_root,
        "notify_props": notify or {"desktop": "default", "email": "default", "ignore_channel_mentions": "default",
                                   "mark_unread": "all", "push": "default"},
        "last_update_at": _int(attrs["last_viewed_at"]) if attrs is not None else 0,
        "scheme_guest": "channel_guest" in roles.split(),
        "scheme_user": "channel_user" in roles.split(),
        "scheme_admin": "channel_admin" in roles.split(),
        "explicit_roles": "",
    }
