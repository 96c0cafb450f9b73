"""The errors of bundle files (sync/bundle_*.py); each derives from a sync error and says what to do."""

from .errors import DecodeError, MeshError, OversizedError, SyncError

__all__ = [
    "BundleError", "NotABundleError", "BundleBombError", "BundleKeyError", "ForeignMeshError",
    "WrongRecipientError", "BundleSizeError",
]


class BundleError(SyncError):
    """A bundle file that cannot be used as asked."""


class NotABundleError(BundleError, DecodeError):
    """The file does not start like an Edgenode bundle (wrong file, or cut before its header)."""


class BundleSizeError(BundleError, OversizedError):
    """The bundle, or one record of it, is larger than the limit for it: refused before it is read."""


class BundleBombError(BundleSizeError):
    """A record that inflates far beyond what real ops do: a decompression bomb, refused unread."""


class BundleKeyError(BundleError):
    """The bundle cannot be opened with the key given: it is for another node, or the passphrase is wrong."""


class ForeignMeshError(BundleError, MeshError):
    """The bundle was written in another mesh."""


class WrongRecipientError(BundleError, MeshError):
    """The bundle was written for another node."""
