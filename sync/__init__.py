"""The wire: canonical encoding, signed hash-linked feeds, and (later) reconciliation and transports."""

from .codec import decode_op, decode_segment, encode_op, encode_segment
from .errors import (
    BadSignatureError, BrokenLinkError, DecodeError, ForkError, GapError, InvalidOpError,
    OversizedError, ReorderedError, SyncError, TruncatedError, UnknownAuthorError,
    UnknownOpTypeError, UnsupportedVersionError, VerificationError, WrongFeedError,
)
from .feed import (
    FORMAT_VERSION, GENESIS, FeedHead, FeedId, SignedOp, Signer, check_continues, verify_op,
    verify_segment,
)

__all__ = [
    "BadSignatureError", "BrokenLinkError", "DecodeError", "FORMAT_VERSION", "FeedHead", "FeedId",
    "ForkError", "GENESIS", "GapError", "InvalidOpError", "OversizedError", "ReorderedError",
    "SignedOp", "Signer", "SyncError", "TruncatedError", "UnknownAuthorError", "UnknownOpTypeError",
    "UnsupportedVersionError", "VerificationError", "WrongFeedError", "check_continues",
    "decode_op", "decode_segment", "encode_op", "encode_segment", "verify_op", "verify_segment",
]
