"""A user's login sessions on this node, as Mattermost lists them (never with their tokens), and revoking one.

Sessions are node-local (never replicated): a user logged in on two nodes has sessions on each, and
each node lists its own. A user sees and revokes their own sessions; a system admin anyone's.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .context import Context
from .errors import BadRequest, Forbidden, NotFound
from .users import SYSTEM_USER, Session

__all__ = ["SessionList"]

_COLUMNS = "s.id, s.user_id, s.create_at, s.expires_at, s.last_activity_at, s.device_id, s.props, u.roles"


def _props(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def session_json(row: sqlite3.Row) -> dict[str, Any]:
    """Mattermost's Session, sanitized: the token is always empty."""
    return {
        "id": row["id"], "token": "", "create_at": row["create_at"], "expires_at": row["expires_at"],
        "last_activity_at": row["last_activity_at"], "user_id": row["user_id"], "device_id": row["device_id"] or "",
        "roles": row["roles"] or SYSTEM_USER, "is_oauth": False, "expired_notify": False,
        "props": _props(row["props"]), "local": False,
    }


class SessionList:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    async def _check(self, user_id: str, actor: Session) -> None:
        if user_id != actor.user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        if await self._ctx.store.fetchone("SELECT 1 FROM users WHERE id = ? AND _deleted = 0", (user_id,)) is None:
            raise NotFound("Unable to find the user.", "app.user.missing_account.const")

    async def sessions(self, user_id: str, actor: Session) -> list[dict[str, Any]]:
        """The user's unexpired login sessions, newest first."""
        await self._check(user_id, actor)
        rows = await self._ctx.store.fetchall(
            f"SELECT {_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.user_id = ? AND s.expires_at >= ? ORDER BY s.create_at DESC, s.id", (user_id, self._ctx.now_ms()))
        return [session_json(r) for r in rows]

    async def revoke(self, user_id: str, session_id: object, actor: Session) -> None:
        """End one of the user's sessions (its token stops working at once)."""
        await self._check(user_id, actor)
        if not isinstance(session_id, str) or not session_id:
            raise BadRequest("Invalid or missing session_id in request body.", "api.context.invalid_body_param.app_error")

        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM sessions WHERE id = ? AND user_id = ?", (session_id, user_id)).rowcount

        if not await self._ctx.store.write_local(delete):
            raise BadRequest("The session is not one of this user's.", "api.user.revoke_session.invalid_session_id")
