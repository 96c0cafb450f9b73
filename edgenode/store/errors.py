"""The errors raised by the store; every one derives from StoreError."""

__all__ = [
    "StoreError", "SchemaViolation", "MissingDependencyError", "StoreClosedError", "StoreVersionError", "RetractError",
]


class StoreError(Exception):
    """Base of every error raised by edgenode.store."""


class SchemaViolation(StoreError):
    """An op names a kind or field the schema does not declare, gives a field the wrong type, or changes an immutable field."""


class MissingDependencyError(StoreError):
    """A local write refers to an entity this node does not hold."""


class StoreClosedError(StoreError):
    """The store was used after it was closed."""


class StoreVersionError(StoreError):
    """The database was written by a newer version of edgenode; refusing to open it rather than corrupt it."""


class RetractError(StoreError):
    """A retraction the store refuses: a negative sequence number, or a cut of this node's own feeds."""
