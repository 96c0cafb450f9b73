"""Password hashing in a small pool of its own, so a flood of logins cannot take every thread.

Argon2 is meant to be costly: each hash or verify holds a thread (and 64 MiB) for ~0.1 s. Run on
asyncio's default executor, fifty logins at once would queue file uploads, peer-op verification
and every other `asyncio.to_thread` call behind them. Here hashing has its own threads, fewer
than the machine's cores, so at least one core and all of the default executor stay free; a
login that finds too many others waiting is refused at once rather than queued without end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import ServiceError

__all__ = ["PasswordPool", "HashingBusy", "HASHING_THREADS", "MAX_WAITING"]

T = TypeVar("T")

HASHING_THREADS = max(1, (os.cpu_count() or 1) - 1)
MAX_WAITING = 64
"""Hash jobs queued or running, per process, beyond which a new one is refused (HashingBusy)."""


class HashingBusy(ServiceError):
    """Too many password checks are already waiting; the caller should try again shortly."""

    status = 503
    default_id = "api.user.login.hashing_busy.app_error"


class PasswordPool:
    """Hash and verify passwords on the process's bounded hashing threads.

    The hasher is passed per call (the service reads its module-level hasher then, which tests
    replace with a cheap one); the pool is the same for every node in the process, because the
    bound is about this machine's cores.
    """

    _executor: ThreadPoolExecutor | None = None
    _lock = threading.Lock()
    _waiting = 0
    _decoys: dict[int, tuple[PasswordHasher, str]] = {}

    async def hash(self, hasher: PasswordHasher, password: str) -> str:
        return await self._run(hasher.hash, password)

    async def verify(self, hasher: PasswordHasher, password_hash: str, password: str) -> bool:
        """Whether `password` matches `password_hash` (False for a malformed hash too)."""
        return await self._run(_verify, hasher, password_hash, password)

    async def verify_nobody(self, hasher: PasswordHasher, password: str) -> bool:
        """Do the same work as verify() against a hash nobody's password matches; always False.

        For a login id that names no account: the reply then takes as long as a wrong password for
        a real account, so timing does not tell which accounts exist.
        """
        decoy = await self._decoy(hasher)
        await self._run(_verify, hasher, decoy, password)
        return False

    async def _decoy(self, hasher: PasswordHasher) -> str:
        # One hash per hasher, made with its parameters, so verifying it costs what a real one does.
        cached = PasswordPool._decoys.get(id(hasher))
        if cached is not None and cached[0] is hasher:
            return cached[1]
        decoy = await self._run(hasher.hash, secrets.token_urlsafe(32))
        PasswordPool._decoys[id(hasher)] = (hasher, decoy)
        return decoy

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        cls = PasswordPool
        with cls._lock:
            if cls._waiting >= MAX_WAITING:
                raise HashingBusy("The server is busy checking passwords; try again in a few seconds.")
            cls._waiting += 1
            if cls._executor is None:
                cls._executor = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="edgenode-password")
            executor = cls._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        finally:
            with cls._lock:
                cls._waiting -= 1


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
