"""Limits on password guessing: a lockout per account and a back-off per client address.

Per account, as Mattermost's ServiceSettings.MaximumLoginAttempts: after MAX_LOGIN_ATTEMPTS
wrong passwords every login to the account is refused, the right password too, before any
password is checked. Mattermost lifts a lockout only by a successful login (impossible while
locked) or an admin's password reset. An offline node may have no admin at hand, so here the
failures are also forgotten LOCKOUT_MS after the last one: a locked account opens again by itself.

Per client address: after ADDRESS_FREE_FAILURES wrong passwords (whichever accounts they were
for, so spraying one password over many accounts is caught too) each further attempt from that
address must wait, 1 s doubling up to ADDRESS_MAX_DELAY_MS; and at most ADDRESS_CONCURRENT checks
from one address run at once.

Both are node-local, never replicated: sessions are made and checked on this node only, so a
guess is only ever checked here, and replicating counters would let one node lock accounts mesh-
wide (and write an op for every wrong password). Account failures live in the `login_failures`
table so a restart does not reset them; address state is kept in memory (a restart forgets it).

Checks in progress count as failures until they end: fifty concurrent guesses at one account
cannot all be checked before the first failure is recorded.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass

from .context import Context
from .errors import ServiceError, Unauthorized

__all__ = [
    "LoginGuard", "Ticket", "AccountLocked", "AddressThrottled", "MAX_LOGIN_ATTEMPTS", "LOCKOUT_MS",
    "ADDRESS_FREE_FAILURES", "ADDRESS_MAX_DELAY_MS", "ADDRESS_CONCURRENT", "address_wait_ms",
    "unknown_account",
]

MAX_LOGIN_ATTEMPTS = 10
"""Mattermost's default ServiceSettings.MaximumLoginAttempts."""
LOCKOUT_MS = 15 * 60 * 1000
"""Failures (of an account or of an address) are forgotten this long after the last one."""
ADDRESS_FREE_FAILURES = 5
ADDRESS_BASE_DELAY_MS = 1000
ADDRESS_MAX_DELAY_MS = 5 * 60 * 1000
ADDRESS_CONCURRENT = 4
_ADDRESS_MEMORY = 10_000
_LOGIN_ID_KEPT = 256  # longer than any username or email: a longer login id names no account anyway


class AccountLocked(Unauthorized):
    """Too many wrong passwords for this account; refused whatever the password."""

    default_id = "api.user.check_user_login_attempts.too_many.app_error"


class AddressThrottled(ServiceError):
    """Too many wrong passwords (or checks at once) from this client address; wait and retry."""

    status = 429
    default_id = "api.user.login.too_many_from_address.app_error"


def address_wait_ms(failures: int, last_failure_at: int, now: int) -> int:
    """How long an address with `failures` recent failures must still wait before its next try."""
    if failures < ADDRESS_FREE_FAILURES or now - last_failure_at >= LOCKOUT_MS:
        return 0
    delay: int = min(ADDRESS_BASE_DELAY_MS << min(failures - ADDRESS_FREE_FAILURES, 20), ADDRESS_MAX_DELAY_MS)
    return max(0, last_failure_at + delay - now)


def unknown_account(login_id: str) -> str:
    """The counter key for a login id that names no account: it is locked out like a real one, so
    the lockout reply does not tell which accounts exist. User ids never contain ':'."""
    return "login:" + login_id.lower()[:_LOGIN_ID_KEPT]


@dataclass(slots=True)
class _Address:
    failures: int = 0
    last_failure_at: int = 0
    checking: int = 0


@dataclass(slots=True)
class Ticket:
    """One admitted password check; ended exactly once by LoginGuard.succeeded/failed/release."""

    account: str
    address: str
    open: bool = True


class LoginGuard:
    def __init__(self, ctx: Context):
        self._ctx = ctx
        # Decisions and records of one node are serialized, so a check never reads a count that a
        # concurrent failure is about to change; password hashing itself runs outside this lock.
        self._lock = asyncio.Lock()
        self._checking: Counter[str] = Counter()
        self._addresses: dict[str, _Address] = {}

    async def admit(self, account: str, address: str) -> Ticket:
        """Admit one password check for `account` from `address`, or raise AddressThrottled or AccountLocked."""
        async with self._lock:
            now = self._ctx.now_ms()
            state = self._addresses.get(address)
            if state is not None:
                if state.checking >= ADDRESS_CONCURRENT:
                    raise AddressThrottled("Too many login attempts at once from your address; try again shortly.")
                wait = address_wait_ms(state.failures, state.last_failure_at, now)
                if wait:
                    raise AddressThrottled(f"Too many failed login attempts from your address; try again in "
                                           f"{(wait + 999) // 1000} s.", detail=f"retry_after_ms={wait}")
            if await self._failures(account, now) + self._checking[account] >= MAX_LOGIN_ATTEMPTS:
                raise AccountLocked("Your account is locked because of too many failed password attempts. "
                                    "Try again later, or ask an admin to reset your password.")
            self._checking[account] += 1
            self._address(address).checking += 1
            return Ticket(account, address)

    async def succeeded(self, ticket: Ticket) -> None:
        """The password was right: the account's failures are forgotten (as Mattermost does)."""
        async with self._lock:
            await self._ctx.store.write_local(lambda conn: conn.execute(
                "DELETE FROM login_failures WHERE account = ?", (ticket.account,)))
            self._end(ticket)

    async def failed(self, ticket: Ticket) -> None:
        """The password was wrong: count it against the account and the address."""
        async with self._lock:
            now = self._ctx.now_ms()
            await self._ctx.store.write_local(lambda conn: _record_failure(conn, ticket.account, now))
            state = self._address(ticket.address)
            state.failures = 1 if now - state.last_failure_at >= LOCKOUT_MS else state.failures + 1
            state.last_failure_at = now
            self._end(ticket)

    def release(self, ticket: Ticket) -> None:
        """End a check that neither succeeded nor failed (cancelled, or an error): nothing is counted."""
        self._end(ticket)

    async def reset(self, user_id: str) -> None:
        """Forget an account's failures (its password was changed or reset)."""
        async with self._lock:
            await self._ctx.store.write_local(lambda conn: conn.execute(
                "DELETE FROM login_failures WHERE account = ?", (user_id,)))

    async def failures(self, account: str) -> int:
        """Recent failures recorded for the account (for tests and the admin's eyes)."""
        return await self._failures(account, self._ctx.now_ms())

    async def _failures(self, account: str, now: int) -> int:
        row = await self._ctx.store.fetchone(
            "SELECT failures, last_failure_at FROM login_failures WHERE account = ?", (account,))
        if row is None or now - int(row["last_failure_at"]) >= LOCKOUT_MS:
            return 0
        return int(row["failures"])

    def checking_from(self, address: str) -> int:
        """Password checks admitted from `address` and not yet ended."""
        state = self._addresses.get(address)
        return state.checking if state is not None else 0

    def _address(self, address: str) -> _Address:
        state = self._addresses.get(address)
        if state is None:
            if len(self._addresses) >= _ADDRESS_MEMORY:
                self._forget_idle_addresses()
            state = self._addresses[address] = _Address()
        return state

    def _forget_idle_addresses(self) -> None:
        now = self._ctx.now_ms()
        for address, state in list(self._addresses.items()):
            if state.checking == 0 and address_wait_ms(state.failures, state.last_failure_at, now) == 0:
                del self._addresses[address]

    def _end(self, ticket: Ticket) -> None:
        if not ticket.open:
            return
        ticket.open = False
        self._checking[ticket.account] -= 1
        if self._checking[ticket.account] <= 0:
            del self._checking[ticket.account]
        state = self._addresses.get(ticket.address)
        if state is not None:
            state.checking -= 1
            if state.checking <= 0 and state.failures == 0:
                del self._addresses[ticket.address]


def _record_failure(conn: sqlite3.Connection, account: str, now: int) -> None:
    # A run of failures restarts at 1 once the last one is older than the lockout window; old rows
    # (unknown login ids, mostly) are dropped so the table stays as small as the recent past.
    conn.execute("DELETE FROM login_failures WHERE last_failure_at <= ?", (now - LOCKOUT_MS,))
    conn.execute(
        "INSERT INTO login_failures (account, failures, last_failure_at) VALUES (?, 1, ?) "
        "ON CONFLICT (account) DO UPDATE SET failures = failures + 1, last_failure_at = excluded.last_failure_at",
        (account, now))
