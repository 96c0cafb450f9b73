"""Canonical MessagePack: the one byte encoding of every signed or hashed structure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from .errors import DecodeError, OversizedError, TruncatedError

__all__ = ["pack", "unpack", "MAX_MESSAGE_BYTES"]

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Largest message we decode at all: size is checked before a single byte is parsed."""


def _canonical(value: Any) -> Any:
    # Maps are written with sorted keys so that equal values always encode to equal bytes.
    if isinstance(value, Mapping):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def pack(value: Any) -> bytes:
    """Deterministic encoding: sorted map keys, bin type for bytes, 64-bit floats, minimal ints."""
    try:
        packed: bytes = msgpack.packb(_canonical(value), use_bin_type=True)
        return packed
    except (TypeError, ValueError, OverflowError) as exc:
        raise DecodeError(f"cannot encode value: {exc}") from None


def unpack(data: bytes, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """Decode one complete message or raise a typed DecodeError; never returns part of one."""
    if len(data) > limit:
        raise OversizedError(f"message is {len(data)} bytes; the limit is {limit}")
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True,
            timestamp=0,
        )
    except msgpack.ExtraData:
        raise DecodeError("trailing bytes after the message") from None
    except ValueError as exc:
        # msgpack reports a cut-off input as "incomplete input", or as a declared length that
        # exceeds what the buffer can hold
        if "incomplete" in str(exc) or "exceeds max" in str(exc):
            raise TruncatedError(f"message is truncated ({exc})") from None
        raise DecodeError(f"malformed message: {exc}") from None
    except Exception as exc:  # FormatError, StackError, UnicodeDecodeError, ...: all hostile input
        raise DecodeError(f"malformed message: {type(exc).__name__}: {exc}") from None
