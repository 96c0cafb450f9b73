"""The audit log of security-relevant actions on this node (node-local, readable by admins)."""

from __future__ import annotations

from typing import Any

from edgenode.ids import new_id

from .context import Context

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    async def record(self, action: str, *, user_id: str = "", extra: str = "", ip: str = "", session_id: str = "") -> None:
        row = (new_id(), self._ctx.now_ms(), user_id, action, extra, ip, session_id)
        await self._ctx.store.write_local(lambda conn: conn.execute("INSERT INTO audits VALUES (?, ?, ?, ?, ?, ?, ?)", row))

    async def list(self, page: int = 0, per_page: int = 60, user_id: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE user_id = ?", [user_id]) if user_id else ("", [])
        rows = await self._ctx.store.fetchall(
            f"SELECT * FROM audits {where} ORDER BY create_at DESC, id LIMIT ? OFFSET ?",
            (*params, per_page, page * per_page),
        )
        return [dict(r) for r in rows]
