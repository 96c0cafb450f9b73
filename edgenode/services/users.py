"""Users, sessions, personal access tokens and bots."""

from __future__ import annotations

import asyncio
import builtins  # UserService.list shadows the type in annotations after it
import json
import time
import sqlite3
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher

from crdt import Add, Create, Update
from edgenode.ids import is_valid_id, new_id, new_token, token_hash

from .audit import AuditLog
from .context import DIRECTORY_SCOPE, USER_NODES, USER_NODES_TABLE, Context
from .errors import BadRequest, Conflict, Forbidden, NotFound, ServiceError, Unauthorized
from .login_guard import LoginGuard, Ticket, unknown_account
from .membership import EFFECTIVE_CHANNEL_MEMBERS
from .models import user_json
from .name_rules import check_email, check_text, check_username
from .names import EMAIL, USERNAME, Names, taken
from .passwords import PasswordPool
from .read_cache import ReadCache, shared_cache

__all__ = ["Session", "UserService", "SYSTEM_ADMIN", "SYSTEM_USER", "TOKEN_ROLE"]

SYSTEM_ADMIN = "system_admin"
SYSTEM_USER = "system_user"
TOKEN_ROLE = "system_user_access_token"
"""Mattermost's role that lets a user who is not an admin make personal access tokens for themselves."""
SESSION_LIFETIME_MS = 30 * 24 * 3600 * 1000
_SESSION_CACHE_SECONDS = 5.0
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    token: str
    user_id: str
    roles: str
    is_token: bool = False

    @property
    def is_system_admin(self) -> bool:
        return SYSTEM_ADMIN in self.roles.split()


class _FirstUserTaken(Exception):
    """Another sign-up committed first: this one is not the node's first user after all."""


def _username_taken() -> Conflict:
    return Conflict("An account with that username already exists.", "app.user.save.username_exists.app_error")


def _sign_up_closed() -> Forbidden:
    return Forbidden("Only a system admin can create users on this node.",
                     "api.user.create_user.signup_email_disabled.app_error")


def _email_taken() -> Conflict:
    return Conflict("An account with that email already exists.", "app.user.save.email_exists.app_error")


def _check_names_free(conn: sqlite3.Connection, username: str | None, email: str | None, owner_id: str = "") -> None:
    """Raise Conflict if another live user holds (or is shown under) the username or email; runs in the writer."""
    if username is not None and taken(USERNAME, conn, username, owner_id=owner_id):
        raise _username_taken()
    if email is not None and taken(EMAIL, conn, email, owner_id=owner_id):
        raise _email_taken()


class UserService:
    def __init__(self, ctx: Context, audit: AuditLog):
        self._ctx = ctx
        self._audit = audit
        self._names = Names.of(ctx)
        # token -> (session, expiry): every request resolves its token, and most come in bursts
        self._sessions: dict[str, tuple[Session, float]] = {}
        # user id -> account_usable: asked on every request, exact (see read_cache.py)
        self._usable: ReadCache[str, bool] = shared_cache(ctx.store, "account_usable", {"user"})
        self._passwords = PasswordPool()
        self._guard = LoginGuard(ctx)

    # -- reading ---------------------------------------------------------------------------

    async def row(self, user_id: str) -> sqlite3.Row:
        row = await self._ctx.store.fetchone("SELECT * FROM users WHERE id = ? AND _deleted = 0", (user_id,))
        if row is None:
            raise NotFound("Unable to find the user.", "app.user.missing_account.const")
        return row

    async def get(self, user_id: str) -> dict[str, Any]:
        return await self._names.show_user(user_json(await self.row(user_id)))

    async def get_by_username(self, username: str) -> dict[str, Any]:
        user_id = await self._names.resolve(USERNAME, username)
        if user_id is None:
            raise NotFound("Unable to find an existing account matching your username.", "app.user.get_by_username.app_error")
        return await self.get(user_id)

    async def get_many(self, ids: list[str]) -> list[dict[str, Any]]:
        return await self._where_in("id", ids)

    async def get_many_by_username(self, names: list[str]) -> list[dict[str, Any]]:
        found = await self._names.resolve_many(USERNAME, [n for n in names if isinstance(n, str)])
        return await self._where_in("id", list(found.values()))

    async def _where_in(self, column: str, values: list[str]) -> list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall(
            f"SELECT * FROM users WHERE {column} IN (SELECT value FROM json_each(?)) AND _deleted = 0", (json.dumps(values),))
        return await self._names.show_users([user_json(r) for r in rows])

    async def list(self, page: int, per_page: int, in_team: str | None = None, in_channel: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT u.* FROM users u", []
        if in_team:
            sql += " JOIN team_members m ON m.user_id = u.id AND m.team_id = ?"
            params.append(in_team)
        if in_channel:
            sql += f" JOIN {EFFECTIVE_CHANNEL_MEMBERS} cm ON cm.user_id = u.id AND cm.channel_id = ?"
            params.append(in_channel)
        sql += " WHERE u._deleted = 0 ORDER BY u.username LIMIT ? OFFSET ?"
        rows = await self._ctx.store.fetchall(sql, (*params, per_page, page * per_page))
        return await self._names.show_users([user_json(r) for r in rows])

    async def search(self, term: str, limit: int = 100, team_id: str | None = None, in_channel: str | None = None,
                     not_in_channel: str | None = None) -> builtins.list[dict[str, Any]]:
        """Users matching `term`; the caller checked that the team and channels named are visible to them."""
        like = term.lower().lstrip("@").replace("%", r"\%").replace("_", r"\_") + "%"
        sql = "SELECT u.* FROM users u"
        params: list[Any] = []
        if team_id:
            sql += " JOIN team_members m ON m.user_id = u.id AND m.team_id = ?"
            params.append(team_id)
        if in_channel:
            sql += f" JOIN {EFFECTIVE_CHANNEL_MEMBERS} cm ON cm.user_id = u.id AND cm.channel_id = ?"
            params.append(in_channel)
        sql += " WHERE u._deleted = 0"
        if not_in_channel:
            sql += f" AND u.id NOT IN (SELECT x.user_id FROM {EFFECTIVE_CHANNEL_MEMBERS} x WHERE x.channel_id = ?)"
            params.append(not_in_channel)
        sql += (" AND (lower(u.username) LIKE ? ESCAPE '\\' OR lower(u.first_name) LIKE ? ESCAPE '\\'"
                " OR lower(u.last_name) LIKE ? ESCAPE '\\' OR lower(u.nickname) LIKE ? ESCAPE '\\') ORDER BY u.username LIMIT ?")
        rows = await self._ctx.store.fetchall(sql, (*params, like, like, like, like, limit))
        return await self._names.show_users([user_json(r) for r in rows])

    async def count(self) -> int:
        row = await self._ctx.store.fetchone("SELECT count(*) FROM users WHERE _deleted = 0")
        return int(row[0]) if row else 0

    # -- creating --------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], *, is_bot: bool = False, bot_owner_id: str = "",
                     bot_description: str = "", first_only: bool = False) -> dict[str, Any]:
        """Create a user; on a node with no users yet the first one becomes system admin, as in Mattermost.

        `first_only` (an open sign-up, without an admin's session): refused with Forbidden unless
        this is the node's first user when the write commits.
        """
        username = check_username(body.get("username"))
        if not is_bot:
            email = check_email(body.get("email"))
            password = body.get("password")
            if not isinstance(password, str) or not 5 <= len(password) <= 72:
                raise BadRequest("Your password must contain between 5 and 72 characters.",
                                 "model.user.is_valid.pwd_length.app_error")
        else:
            email = check_email(body.get("email") or f"{username}@localhost")
            password = None
        for name in ("first_name", "last_name", "nickname", "position"):
            check_text(body.get(name, ""), 64, f"model.user.is_valid.{name}.app_error")
        # Fail early without hashing; the check that counts is the one inside the write below.
        if await self._names.resolve(USERNAME, username) is not None:
            raise _username_taken()
        if await self._names.resolve(EMAIL, email) is not None:
            raise _email_taken()
        first = self._ctx.first_user_becomes_admin and not is_bot and await self.count() == 0
        if first_only and not first:
            raise _sign_up_closed()
        password_hash = await self._passwords.hash(_hasher, password) if password else ""
        now = self._ctx.now_ms()
        user_id = new_id()
        fields = {
            "username": username, "email": email, "roles": SYSTEM_USER, "password_hash": password_hash,
            "first_name": body.get("first_name", ""), "last_name": body.get("last_name", ""),
            "nickname": body.get("nickname", ""), "position": body.get("position", ""),
            "locale": body.get("locale") if isinstance(body.get("locale"), str) else "en",
            "is_bot": is_bot, "bot_description": bot_description, "bot_owner_id": bot_owner_id,
            "create_at": now, "update_at": now, "delete_at": 0, "last_password_update": now,
        }
        if isinstance(body.get("props"), dict):
            fields["props"] = body["props"]
        if first:
            try:
                await self._ctx.store.write(DIRECTORY_SCOPE, [Create("user", user_id, {
                    **fields, "roles": f"{SYSTEM_ADMIN} {SYSTEM_USER}"})], check=lambda conn: _check_first(conn, username, email))
                return await self.get(user_id)
            except _FirstUserTaken:
                if first_only:
                    raise _sign_up_closed() from None
                # a concurrent sign-up committed first: this one is an ordinary user
        await self._ctx.store.write(DIRECTORY_SCOPE, [Create("user", user_id, fields)],
                                    check=lambda conn: _check_names_free(conn, username, email))
        return await self.get(user_id)

    async def patch(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        row = await self.row(user_id)
        fields: dict[str, Any] = {}
        for name in ("first_name", "last_name", "nickname", "position", "locale"):
            if name in body:
                fields[name] = check_text(body[name], 64, f"model.user.is_valid.{name}.app_error")
        # A name is written only when it changes: rewriting it would restamp the claim and could lose
        # it to an entity that took the name later on another node (see names.py).
        username = email = None
        if "username" in body:
            username = check_username(body["username"])
            if username == await self._names.shown(USERNAME, user_id, row["username"] or ""):
                username = None
            else:
                fields["username"] = username
        for name in ("props", "notify_props", "timezone"):
            if name in body:
                if not isinstance(body[name], dict):
                    raise BadRequest(f"Invalid {name}.", f"model.user.is_valid.{name}.app_error")
                fields[name] = body[name]
        fields["update_at"] = self._ctx.now_ms()
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("user", user_id, fields)],
                                    check=lambda conn: _check_names_free(conn, username, email, owner_id=user_id))
        return await self.get(user_id)

    async def set_roles(self, user_id: str, roles: str, actor: Session) -> None:
        if not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        allowed = {SYSTEM_ADMIN, SYSTEM_USER, "system_guest", TOKEN_ROLE}
        wanted = roles.split()
        if not wanted or not set(wanted) <= allowed:
            raise BadRequest("Invalid roles.", "api.user.update_user_roles.invalid_roles")
        await self.row(user_id)
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("user", user_id, {"roles": " ".join(wanted),
                                                                             "update_at": self._ctx.now_ms()})])
        self.forget_sessions()
        await self._audit.record("updateUserRoles", user_id=actor.user_id, extra=f"user={user_id} roles={roles}")

    # -- sessions --------------------------------------------------------------------------

    async def login(self, login_id: str, password: str, device_id: str = "", ip: str = "") -> tuple[Session, dict[str, Any]]:
        row = await self._login_row(login_id)
        ok = False
        # Every check, for a known or an unknown login id, costs one password verification and counts
        # against the same lockout (services/login_guard.py), so neither tells which accounts exist.
        user_id = row["id"] if row is not None else ""
        ticket = await self._admit(user_id or unknown_account(login_id), ip, user_id, f"login_id={login_id}")
        try:
            ok = await self._check_password(row, password) and row is not None and not int(row["delete_at"] or 0)
            await (self._guard.succeeded(ticket) if ok else self._guard.failed(ticket))
        finally:
            self._guard.release(ticket)
        if row is None or not ok:
            await self._audit.record("failedLogin", user_id=user_id, extra=f"login_id={login_id}", ip=ip)
            raise Unauthorized("Enter a valid email or username and/or password.",
                               "api.user.login.invalid_credentials_email_username")
        session = await self._new_session(row["id"], row["roles"] or SYSTEM_USER, row["password_hash"] or "", device_id)
        await self._audit.record("login", user_id=row["id"], ip=ip, session_id=session.id)
        return session, await self._names.show_user(user_json(row))

    async def _login_row(self, login_id: str) -> sqlite3.Row | None:
        """The user a login id names: by username, else by email, as the name rule resolves them."""
        if not isinstance(login_id, str) or not login_id:
            return None
        for ns in (USERNAME, EMAIL):
            user_id = await self._names.resolve(ns, login_id.strip() if ns is EMAIL else login_id)
            if user_id is not None:
                return await self._ctx.store.fetchone(
                    "SELECT * FROM users WHERE id = ? AND _deleted = 0 AND is_bot IS NOT 1", (user_id,))
        return None

    async def _admit(self, account: str, ip: str, user_id: str, extra: str) -> Ticket:
        try:
            return await self._guard.admit(account, ip)
        except ServiceError as refused:
            await self._audit.record("failedLogin", user_id=user_id, extra=f"{extra} refused={refused.error_id}", ip=ip)
            raise

    async def _check_password(self, row: sqlite3.Row | None, password: str) -> bool:
        """Verify `password` against the user's hash; for no user (or one without a password) do the same
        work against a hash nothing matches, so the answer takes as long either way."""
        if row is not None and row["password_hash"]:
            return await self._passwords.verify(_hasher, row["password_hash"], password)
        return await self._passwords.verify_nobody(_hasher, password)

    async def change_password(self, user_id: str, current: object, new: object, actor: Session, ip: str = "") -> None:
        """PUT /users/{id}/password, as Mattermost: users change their own with their current password
        (which counts against the login lockout), system admins reset anyone's without it. The
        user's other sessions end, on every node once the change arrives there (see _password_stamp);
        the caller's own session stays. The account's failed-login count is cleared."""
        own = actor.user_id == user_id
        if not own and not actor.is_system_admin:
            raise Forbidden("You do not have permission to update the password of this user.",
                            "api.user.update_password.context.app_error")
        row = await self.row(user_id)
        if own:
            if not isinstance(current, str) or not current:
                raise BadRequest("Invalid or missing current_password in request body.",
                                 "api.context.invalid_body_param.app_error")
            password = _new_password(new)
            await self._confirm_password(row, current, actor, ip)
        else:
            password = _new_password(new)
        password_hash = await self._passwords.hash(_hasher, password)
        now = self._ctx.now_ms()
        await self._ctx.store.write(DIRECTORY_SCOPE, [Update("user", user_id, {
            "password_hash": password_hash, "last_password_update": now, "update_at": now})])
        keep, stamp = (actor.id if own else ""), _password_stamp(password_hash)

        def end_other_sessions(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE user_id = ? AND id != ?", (user_id, keep))
            conn.execute("UPDATE sessions SET password_stamp = ? WHERE id = ?", (stamp, keep))

        await self._ctx.store.write_local(end_other_sessions)
        self.forget_sessions()
        await self._guard.reset(user_id)
        await self._audit.record("updatePassword", user_id=actor.user_id, ip=ip, session_id=actor.id,
                                 extra=f"user={user_id} method={'change' if own else 'admin_reset'}")

    async def _confirm_password(self, row: sqlite3.Row, password: str, actor: Session, ip: str) -> None:
        """Check the current password of a user changing it, under the same lockout as a login."""
        ticket = await self._admit(row["id"], ip, row["id"], "updatePassword")
        try:
            if not await self._check_password(row, password):
                await self._guard.failed(ticket)
                await self._audit.record("updatePasswordFailed", user_id=row["id"], ip=ip, session_id=actor.id)
                raise BadRequest("The \"Current Password\" you entered is incorrect. Please check that Caps Lock "
                                 "is off and try again.", "api.user.update_password.incorrect.app_error")
        finally:
            self._guard.release(ticket)

    async def _host_here(self, user_id: str) -> None:
        """Record, once, that the user uses this node (logs in, or makes a personal access token here):
        the node becomes entitled to the user's private channels and personal state (see
        edgenode/peering/need_to_know.py). Creating an account does not count: an admin creating accounts
        on their own node must not draw everyone's direct messages to it."""
        node = self._ctx.store.node_id.hex()
        if not await self._ctx.store.fetchone(f"SELECT 1 FROM {USER_NODES_TABLE} WHERE user_id = ? AND node = ?",
                                              (user_id, node)):
            await self._ctx.store.write(DIRECTORY_SCOPE, [Add(USER_NODES, user_id, node)])

    async def _new_session(self, user_id: str, roles: str, password_hash: str, device_id: str = "") -> Session:
        await self._host_here(user_id)
        session = Session(new_id(), new_token(), user_id, roles)
        now = self._ctx.now_ms()
        row = (token_hash(session.token), session.id, user_id, now, now + SESSION_LIFETIME_MS, now, device_id,
               _password_stamp(password_hash))
        await self._ctx.store.write_local(lambda conn: conn.execute(
            "INSERT INTO sessions (token_hash, id, user_id, create_at, expires_at, last_activity_at, device_id, "
            "password_stamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row))
        return session

    async def logout(self, session: Session) -> None:
        hashed = token_hash(session.token)
        await self._ctx.store.write_local(lambda conn: conn.execute("DELETE FROM sessions WHERE token_hash = ?", (hashed,)))
        self.forget_sessions()
        await self._audit.record("logout", user_id=session.user_id, session_id=session.id)

    async def session_for_token(self, token: str) -> Session | None:
        """The session a bearer token stands for: a login session or a personal access token."""
        cached = self._sessions.get(token)
        if cached is not None and cached[1] > time.monotonic():
            # asked on every request, not kept with the session: a deactivation may arrive from a peer at
            # any moment (account_usable's cache is dropped by the commit that brings it)
            return cached[0] if await self.account_usable(cached[0].user_id) else None
        session = await self._lookup_session(token)
        if session is not None and not await self.account_usable(session.user_id):
            return None
        if session is not None:
            if len(self._sessions) > 10_000:
                self._sessions.clear()
            self._sessions[token] = (session, time.monotonic() + _SESSION_CACHE_SECONDS)
        return session

    async def account_usable(self, user_id: str) -> bool:
        """Whether the user's sessions and tokens may act: the account exists and is not deactivated, and a
        bot's owner (if it has one) is not deactivated either: Mattermost disables the bots of a user it
        deactivates, and a deactivation replicated from a peer must have the same effect here."""
        return await self._usable.get(user_id, lambda: self._read_account_usable(user_id))

    async def _read_account_usable(self, user_id: str) -> bool:
        row = await self._ctx.store.fetchone(
            "SELECT u.delete_at, u.is_bot, coalesce(u.bot_owner_id, '') AS owner, o.delete_at AS owner_delete_at, "
            "o._deleted AS owner_deleted, o.id AS owner_id FROM users u LEFT JOIN users o ON o.id = u.bot_owner_id "
            "WHERE u.id = ? AND u._deleted = 0", (user_id,))
        if row is None or int(row["delete_at"] or 0) > 0:
            return False
        if row["is_bot"] and row["owner"]:
            return row["owner_id"] is not None and not row["owner_deleted"] and not int(row["owner_delete_at"] or 0)
        return True

    def forget_sessions(self) -> None:
        """Drop cached sessions (after a logout, a revoked token or changed roles)."""
        self._sessions.clear()

    async def _lookup_session(self, token: str) -> Session | None:
        if not token or len(token) > 64:
            return None
        hashed = token_hash(token)  # only hashes are stored: see local_schema's local_0006
        row = await self._ctx.store.fetchone(
            "SELECT s.id, s.user_id, s.expires_at, s.password_stamp, u.roles, u.delete_at, u.password_hash "
            "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND u._deleted = 0", (hashed,))
        if row is not None:
            if row["expires_at"] < self._ctx.now_ms() or int(row["delete_at"] or 0) > 0:
                return None
            if row["password_stamp"] != _password_stamp(row["password_hash"] or ""):
                return None  # the password changed since this login, on this node or another
            return Session(row["id"], token, row["user_id"], row["roles"] or SYSTEM_USER)
        row = await self._ctx.store.fetchone(
            "SELECT t.id, t.user_id, u.roles, u.delete_at FROM access_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.is_active = 1 AND u._deleted = 0", (hashed,))
        if row is not None and not int(row["delete_at"] or 0):
            return Session(row["id"], token, row["user_id"], row["roles"] or SYSTEM_USER, is_token=True)
        return None

    # -- personal access tokens ------------------------------------------------------------

    async def create_access_token(self, user_id: str, description: str, actor: Session) -> dict[str, Any]:
        if actor.user_id != user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        if not isinstance(description, str) or not description or len(description) > 255:
            raise BadRequest("Invalid description.", "model.user_access_token.is_valid.description.app_error")
        await self.row(user_id)
        await self._host_here(user_id)
        token_id, token = new_id(), new_token()
        await self._ctx.store.write_local(lambda conn: conn.execute(
            "INSERT INTO access_tokens (id, token_hash, user_id, description) VALUES (?, ?, ?, ?)",
            (token_id, token_hash(token), user_id, description)))
        await self._audit.record("createUserAccessToken", user_id=actor.user_id, extra=f"user={user_id} token_id={token_id}")
        return {"id": token_id, "token": token, "user_id": user_id, "description": description, "is_active": True}

    async def list_access_tokens(self, user_id: str, actor: Session) -> builtins.list[dict[str, Any]]:
        if actor.user_id != user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        rows = await self._ctx.store.fetchall("SELECT id, user_id, description, is_active FROM access_tokens WHERE user_id = ?",
                                              (user_id,))
        return [{"id": r["id"], "user_id": r["user_id"], "description": r["description"], "is_active": bool(r["is_active"])}
                for r in rows]

    async def revoke_access_token(self, token_id: str, actor: Session) -> None:
        row = await self._ctx.store.fetchone("SELECT user_id FROM access_tokens WHERE id = ?", (token_id,))
        if row is None:
            raise NotFound("Unable to find the token.", "app.user_access_token.get_by_id.app_error")
        if row["user_id"] != actor.user_id and not actor.is_system_admin:
            raise Forbidden("You do not have the appropriate permissions.")
        await self._ctx.store.write_local(lambda conn: conn.execute("DELETE FROM access_tokens WHERE id = ?", (token_id,)))
        self.forget_sessions()
        await self._audit.record("revokeUserAccessToken", user_id=actor.user_id, extra=f"token_id={token_id}")

    # -- bots ------------------------------------------------------------------------------

    async def create_bot(self, body: dict[str, Any], actor: Session) -> dict[str, Any]:
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 1024:
            raise BadRequest("Invalid description.", "model.bot.is_valid.description.app_error")
        display_name = body.get("display_name", "")
        if not isinstance(display_name, str) or len(display_name) > 64:
            raise BadRequest("Invalid display name.", "model.bot.is_valid.username.app_error")
        user = await self.create({"username": body.get("username"), "first_name": display_name},
                                 is_bot=True, bot_owner_id=actor.user_id, bot_description=description)
        await self._audit.record("createBot", user_id=actor.user_id, extra=f"bot={user['id']}")
        return await self.bot(user["id"])

    async def bot(self, user_id: str) -> dict[str, Any]:
        if not is_valid_id(user_id):
            raise NotFound("Unable to find the bot.", "store.sql_bot.get.missing.app_error")
        row = await self._ctx.store.fetchone("SELECT * FROM users WHERE id = ? AND is_bot = 1 AND _deleted = 0", (user_id,))
        if row is None:
            raise NotFound("Unable to find the bot.", "store.sql_bot.get.missing.app_error")
        return {**_bot_json(row), "username": await self._names.shown(USERNAME, row["id"], row["username"] or "")}

    async def bots(self, page: int, per_page: int) -> builtins.list[dict[str, Any]]:
        rows = await self._ctx.store.fetchall("SELECT * FROM users WHERE is_bot = 1 AND _deleted = 0 ORDER BY username "
                                              "LIMIT ? OFFSET ?", (per_page, page * per_page))
        return [{**_bot_json(r), "username": await self._names.shown(USERNAME, r["id"], r["username"] or "")} for r in rows]


def _check_first(conn: sqlite3.Connection, username: str, email: str) -> None:
    """The precondition of a first sign-up: the names are free and there is still no user at all."""
    _check_names_free(conn, username, email)
    if conn.execute("SELECT EXISTS (SELECT 1 FROM users WHERE _deleted = 0)").fetchone()[0]:
        raise _FirstUserTaken()


def _password_stamp(password_hash: str) -> str:
    """What a session keeps of the password it was opened with: a session whose stamp no longer
    matches the user's (replicated) password hash is over, so a password change or reset made on
    any node of the mesh ends the user's sessions on every node once the change arrives there."""
    return token_hash(password_hash)


def _new_password(password: object) -> str:
    # the rule UserService.create applies to a new account's password
    if not isinstance(password, str) or not 5 <= len(password) <= 72:
        raise BadRequest("Your password must contain between 5 and 72 characters.", "model.user.is_valid.pwd_length.app_error")
    return password


def _bot_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "user_id": row["id"], "username": row["username"], "display_name": row["first_name"] or "",
        "description": row["bot_description"] or "", "owner_id": row["bot_owner_id"] or "",
        "create_at": int(row["create_at"] or 0), "update_at": int(row["update_at"] or 0),
        "delete_at": int(row["delete_at"] or 0),
    }
