"""The errors raised by sync/; every one derives from SyncError and names what was wrong."""

__all__ = [
    "SyncError", "DecodeError", "InvalidOpError", "UnknownOpTypeError", "TruncatedError", "UnsupportedVersionError", "OversizedError",
    "VerificationError", "BadSignatureError", "BrokenLinkError", "ReorderedError", "GapError",
    "ForkError", "WrongFeedError", "UnknownAuthorError",
    "MeshError", "InviteError", "CertificateError", "RevokedError", "UnenrolledAuthorError", "EnrolmentRecordError",
]


class SyncError(Exception):
    """Base of every error raised by sync/."""


class DecodeError(SyncError):
    """Bytes that are not a valid encoding of the expected message."""


class TruncatedError(DecodeError):
    """The input ends before the message does (a cut-off transfer or file)."""


class UnsupportedVersionError(DecodeError):
    """The message was written in a format version newer than this node understands."""


class OversizedError(DecodeError):
    """The input is larger than the limit for its kind, so it was not decoded."""


class InvalidOpError(DecodeError):
    """An op body that decodes but breaks the op model (wrong shape, oversized field, ...)."""


class UnknownOpTypeError(InvalidOpError):
    """An op type this node does not know, probably written by a newer version."""


class VerificationError(SyncError):
    """A well-formed op or segment that is not authentic or not consistent with its feed."""


class BadSignatureError(VerificationError):
    """The signature does not match the content: forged, or altered after signing."""


class BrokenLinkError(VerificationError):
    """An op's previous-hash does not match the op before it: tampered or spliced history."""


class ReorderedError(VerificationError):
    """Sequence numbers or stamps that do not increase along the feed."""


class GapError(VerificationError):
    """Ops missing between what we hold and what arrived; ask for the missing range first."""


class ForkError(VerificationError):
    """Two different ops claim the same sequence number of one feed: the author equivocated."""


class WrongFeedError(VerificationError):
    """An op that does not belong to the feed it was delivered in."""


class UnknownAuthorError(VerificationError):
    """An op signed by a key this node does not accept."""


class MeshError(SyncError):
    """Base of mesh trust errors: enrolment, certificates and revocation."""


class InviteError(MeshError):
    """An invite token that is malformed, damaged or cut off: copy the whole token again."""


class CertificateError(MeshError):
    """A certificate that is not a node certificate of this mesh (other authority, wrong shape, expired)."""


class RevokedError(MeshError):
    """The node was revoked by the mesh authority: it may not connect, and its later ops are refused."""


class UnenrolledAuthorError(MeshError):
    """Ops by a key the mesh authority never certified (no enrolment record of it seen yet): refused."""


class EnrolmentRecordError(MeshError):
    """A node's enrolment record (kind "node") that is not its own certificate from this mesh, stated truly."""
