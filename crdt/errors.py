"""The errors raised by the pure CRDT core; every one derives from CrdtError."""

__all__ = ["CrdtError", "EncodingError", "UnknownOpError", "OversizedError", "ClockSkewError"]


class CrdtError(Exception):
    """Base of every error raised by crdt/."""


class EncodingError(CrdtError):
    """A value or op has the wrong shape or type for the op model."""


class UnknownOpError(EncodingError):
    """An op carries a type tag this version does not know (written by a newer node?)."""


class OversizedError(EncodingError):
    """A field, name or collection is larger than the op model allows."""


class ClockSkewError(CrdtError):
    """A remote stamp is too far ahead of the local wall clock to be accepted now."""
