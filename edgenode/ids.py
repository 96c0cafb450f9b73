"""Mattermost-style identifiers: 26 lowercase characters, a random 128-bit value in base32."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

__all__ = ["base32_id", "id_of", "new_id", "is_valid_id", "new_token", "token_hash"]

_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_MM = "ybndrfg8ejkmcpqxot1uwisza345h769"  # Mattermost's alphabet (server/public/model/utils.go)
_TO_MM = str.maketrans(_STD, _MM)
_ID_RE = re.compile(r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{26}$")
_PAIRS = [a + b for a in _MM for b in _MM]  # every 10-bit value as two characters


def new_id() -> str:
    """A fresh id in Mattermost's format, from 16 random bytes.

    The same characters as base32 of the bytes (padding dropped) in Mattermost's alphabet, 10 bits at a
    time: base64.b32encode is pure Python and was 5% of a post's CPU, as every request makes two ids.
    """
    return id_of(secrets.token_bytes(16))


def id_of(raw: bytes) -> str:
    """16 bytes as an id: base32_id(raw), computed faster."""
    bits = int.from_bytes(raw, "big") << 2  # 128 bits, filled to 26 characters of 5
    return "".join([_PAIRS[(bits >> shift) & 1023] for shift in range(120, -1, -10)])


def base32_id(raw: bytes) -> str:
    """16 bytes as an id, by definition: base32 in Mattermost's alphabet, padding dropped."""
    return base64.b32encode(raw).decode().rstrip("=").translate(_TO_MM)


def new_token() -> str:
    """Session, access-token and hook secrets share the id format, as in Mattermost."""
    return new_id()


def token_hash(token: str) -> str:
    """What the node stores for a session or access token: its SHA-256, hex. The tokens are 128-bit
    random values, so an unsalted fast hash is enough; a copy of the database holds nothing that
    authenticates."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.match(value) is not None
