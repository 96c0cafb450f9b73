"""The bundle file: signed segments and the attachment bytes they name, carried on a USB stick.

    MAGIC | u32 header length | header | frames ... | signature (64 bytes)
    frame = u32 length | record, sealed by the bundle's KeyWrap (sync/bundle_crypto.py)
    record = kind (1 byte) | zstandard-compressed body

The header (canonical msgpack, in clear) says where the bundle may go: format version, mesh id,
exporting node and its mesh certificate, recipient (a node key, or none), how it is sealed, and
when it was written. What it covers travels sealed, in the first records: the frontier it covers
(per feed, the ops after `after` up to `upto`) and the exporter's own frontier, so a lost stick
shows nothing but its routing. Then the segments (sync/codec.py's encoding, as LAN sync moves them)
and the blobs (BLOB then BLOB_DATA chunks), then END with the counts. The last record of a sealed
bundle carries the stream's FINAL tag; the exporter's ed25519 signature over the blake2b hash of
every byte before it ends the file, so a cut, spliced or altered file never reads as whole.

Reading is streamed and bounded: every length is checked against its limit before it is read,
every record inflates to at most its limit (a bomb is refused, not inflated), and the whole file
to at most `BundleLimits.max_bytes`. A reader yields records as typed values; they are unverified
until the iterator ends, which it does only after the signature checked: callers apply nothing
before that.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import zstandard
from nacl.exceptions import BadSignatureError as _NaclBadSignature
from nacl.signing import VerifyKey

from . import encoding
from .bundle_crypto import ABYTES, KeyWrap, RecordOpener, RecordSealer, Sealing
from .bundle_errors import BundleBombError, BundleSizeError, NotABundleError
from .codec import MAX_SEGMENT_BYTES, decode_segment, encode_segment
from .errors import BadSignatureError, DecodeError, TruncatedError, UnsupportedVersionError
from .feed import MAX_SCOPE_LEN, FeedId, SignedOp, Signer

__all__ = [
    "MAGIC", "BUNDLE_VERSION", "BundleHeader", "BundleLimits", "Extent", "Covers", "Frontier", "Segment",
    "BlobStart", "BlobData", "End", "Record", "BundleWriter", "BundleReader", "BLOB_CHUNK",
]

MAGIC = b"EDGENODE-BUNDLE\n"
BUNDLE_VERSION = 1
BLOB_CHUNK = 1024 * 1024
_U32 = struct.Struct(">I")
_SIGNATURE = 64
_MAX_HEADER = 64 * 1024
_LIST_CHUNK = 10_000  # frontier entries per record: a record stays far below its limit
_DOMAIN = b"edgenode-bundle-signature-v1"
_MAX_RECORD = MAX_SEGMENT_BYTES + 64 * 1024
_HASH_HEX = 64
_MAX_WINDOW = 1 << 25

_COVERS, _FRONTIER, _SEGMENT, _BLOB, _BLOB_DATA, _END = range(1, 7)


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """What a reader accepts: the whole file, and how far all records together may inflate."""

    max_bytes: int = 64 * 1024**3
    max_ratio: int = 64
    """Records may inflate to `max_ratio` times the file's bytes read so far (plus one record):
    msgpack ops compress 3-6 times; a bomb, thousands of times."""


@dataclass(frozen=True, slots=True)
class BundleHeader:
    mesh_id: str
    exporter: bytes
    exporter_certificate: bytes
    recipient: bytes | None
    created_ms: int
    key: KeyWrap

    def to_bytes(self) -> bytes:
        k = self.key
        return encoding.pack([BUNDLE_VERSION, self.mesh_id, self.exporter, self.exporter_certificate,
                              self.recipient, self.created_ms, k.sealing.value, k.wrapped, k.opslimit, k.memlimit,
                              k.stream_header])

    @classmethod
    def from_bytes(cls, data: bytes) -> BundleHeader:
        wire = encoding.unpack(data, limit=_MAX_HEADER)
        if not isinstance(wire, list) or not wire:
            raise DecodeError("a bundle header is a non-empty list")
        version = wire[0]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise DecodeError("a bundle header starts with its format version")
        if version > BUNDLE_VERSION:
            raise UnsupportedVersionError(f"the bundle is in format version {version}; this node reads up to "
                                          f"{BUNDLE_VERSION}: upgrade it")
        if len(wire) != 11:
            raise DecodeError(f"a bundle header has 11 parts, got {len(wire)}")
        _, mesh, exporter, cert, recipient, created, sealing, wrapped, ops, mem, stream = wire
        if not isinstance(mesh, str) or not 0 < len(mesh) <= 128:
            raise DecodeError("the bundle's mesh id must be a short string")
        if not _is_key(exporter) or not (recipient is None or _is_key(recipient)):
            raise DecodeError("the bundle's exporter and recipient must be 32-byte node keys")
        if not isinstance(cert, bytes) or not _is_int(created):
            raise DecodeError("the bundle's certificate must be bytes and its time an integer")
        if not all(isinstance(v, bytes) for v in (wrapped, stream)) or not _is_int(ops) or not _is_int(mem):
            raise DecodeError("the bundle's key parameters are malformed")
        try:
            how = Sealing(sealing)
        except ValueError:
            raise DecodeError(f"unknown sealing {sealing!r}") from None
        key = KeyWrap(how, wrapped, ops, mem, stream)
        key.check()
        if (how is Sealing.NODE) != (recipient is not None):
            raise DecodeError("a bundle names a recipient exactly when it is sealed to one node")
        return cls(mesh, exporter, cert, recipient, created, key)


def _is_key(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


@dataclass(frozen=True, slots=True)
class Extent:
    """A feed position: for Covers, the ops after `after` up to `upto`; for Frontier, `upto` is the head."""

    feed: FeedId
    after: int
    upto: int


@dataclass(frozen=True, slots=True)
class Covers:
    extents: list[Extent]


@dataclass(frozen=True, slots=True)
class Frontier:
    extents: list[Extent]


@dataclass(frozen=True, slots=True)
class Segment:
    ops: list[SignedOp]


@dataclass(frozen=True, slots=True)
class BlobStart:
    content_hash: str
    size: int


@dataclass(frozen=True, slots=True)
class BlobData:
    data: bytes


@dataclass(frozen=True, slots=True)
class End:
    segments: int
    ops: int
    blobs: int
    blob_bytes: int


Record = Covers | Frontier | Segment | BlobStart | BlobData | End


@dataclass(slots=True)
class _Counts:
    segments: int = 0
    ops: int = 0
    blobs: int = 0
    blob_bytes: int = 0


class BundleWriter:
    """Writes one bundle to `out`: covers and frontier first, then segments and blobs, then `finish()`."""

    def __init__(self, out: BinaryIO, header: BundleHeader, sealer: RecordSealer, signer: Signer, *, level: int = 3):
        if signer.public_key != header.exporter:
            raise ValueError("a bundle is signed by the node it names as its exporter")
        self._out = out
        self._sealer = sealer
        self._signer = signer
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._hash = hashlib.blake2b(digest_size=32)
        self._header = header.to_bytes()
        self._associated = hashlib.blake2b(self._header, digest_size=32).digest()
        self._counts = _Counts()
        self.bytes_written = 0
        self._emit(MAGIC + _U32.pack(len(self._header)) + self._header)

    def _emit(self, data: bytes) -> None:
        self._hash.update(data)
        self._out.write(data)
        self.bytes_written += len(data)

    def _record(self, kind: int, body: bytes, *, final: bool = False) -> None:
        frame = self._sealer.seal(bytes([kind]) + self._compressor.compress(body), self._associated, final)
        self._emit(_U32.pack(len(frame)) + frame)

    def covers(self, extents: Sequence[Extent]) -> None:
        self._extents(_COVERS, extents)

    def frontier(self, extents: Sequence[Extent]) -> None:
        self._extents(_FRONTIER, extents)

    def _extents(self, kind: int, extents: Sequence[Extent]) -> None:
        for start in range(0, len(extents), _LIST_CHUNK) or [0]:
            self._record(kind, encoding.pack([[e.feed.author, e.feed.scope, e.after, e.upto]
                                              for e in extents[start:start + _LIST_CHUNK]]))

    def segment(self, ops: Sequence[SignedOp]) -> None:
        self._record(_SEGMENT, encode_segment(ops))
        self._counts.segments += 1
        self._counts.ops += len(ops)

    def blob(self, content_hash: str, size: int, chunks: Iterator[bytes]) -> None:
        """A blob of `size` bytes, from `chunks` (of at most BLOB_CHUNK bytes each)."""
        self._record(_BLOB, encoding.pack([content_hash, size]))
        written = 0
        for chunk in chunks:
            if len(chunk) > BLOB_CHUNK:
                raise ValueError(f"blob chunks are at most {BLOB_CHUNK} bytes")
            self._record(_BLOB_DATA, chunk)
            written += len(chunk)
        if written != size:
            raise ValueError(f"blob {content_hash} was announced as {size} bytes and gave {written}")
        self._counts.blobs += 1
        self._counts.blob_bytes += size

    def finish(self) -> End:
        """Write END and the signature; the bundle is whole only after this."""
        c = self._counts
        end = End(c.segments, c.ops, c.blobs, c.blob_bytes)
        self._record(_END, encoding.pack([end.segments, end.ops, end.blobs, end.blob_bytes]), final=True)
        signature = self._signer.sign_digest(_DOMAIN + self._hash.digest())
        self._out.write(signature)
        self.bytes_written += len(signature)
        return end


def read_header(src: BinaryIO) -> tuple[BundleHeader, bytes]:
    """The header, and the bytes it was read from (the reader hashes them)."""
    start = src.read(len(MAGIC) + _U32.size)
    if len(start) < len(MAGIC) or start[:len(MAGIC)] != MAGIC:
        raise NotABundleError("this file is not an Edgenode bundle (it does not start like one)")
    if len(start) < len(MAGIC) + _U32.size:
        raise TruncatedError("the bundle ends inside its header: the copy is incomplete")
    (length,) = _U32.unpack(start[len(MAGIC):])
    if length > _MAX_HEADER:
        raise BundleSizeError(f"the bundle header is {length} bytes; the limit is {_MAX_HEADER}")
    data = src.read(length)
    if len(data) < length:
        raise TruncatedError("the bundle ends inside its header: the copy is incomplete")
    return BundleHeader.from_bytes(data), start + data


@dataclass(slots=True)
class BundleReader:
    """Reads one bundle from `src`: `header` at once, then `records(opener)` once, streamed."""

    src: BinaryIO
    limits: BundleLimits = field(default_factory=BundleLimits)
    header: BundleHeader = field(init=False)
    bytes_read: int = field(init=False, default=0)
    signed_digest: bytes = field(init=False, default=b"")
    """The hash the exporter signed, once `records` ended: two reads of one file give the same."""
    _prefix: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.header, self._prefix = read_header(self.src)
        self.bytes_read = len(self._prefix)

    def records(self, opener: RecordOpener) -> Iterator[Record]:
        """Every record in order; raises a typed error (sync.errors) for anything that is not a whole,
        authentic bundle. The last record (End) is yielded only after the signature checked."""
        digest = hashlib.blake2b(self._prefix, digest_size=32)
        associated = hashlib.blake2b(self._prefix[len(MAGIC) + _U32.size:], digest_size=32).digest()
        sealed = self.header.key.sealing is not Sealing.PLAIN
        inflated = 0
        blob_left: int | None = None
        seen_segment = False
        # a frame header may ask for a window of gigabytes: refuse more than a record could need
        decompressor = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW)
        while True:
            size_bytes = self._read(_U32.size, "a record's length")
            (size,) = _U32.unpack(size_bytes)
            if size > _MAX_RECORD + ABYTES:
                raise BundleSizeError(f"a record of {size} bytes: the limit is {_MAX_RECORD + ABYTES}")
            frame = self._read(size, "a record")
            digest.update(size_bytes)
            digest.update(frame)
            plain, final = opener.open(frame, associated)
            if not plain:
                raise DecodeError("an empty record")
            kind = plain[0]
            budget = min(_MAX_RECORD, self.limits.max_ratio * self.bytes_read + _MAX_RECORD - inflated)
            body = _inflate(decompressor, plain[1:], budget)
            inflated += len(body)
            if blob_left is not None and kind != _BLOB_DATA:
                raise DecodeError(f"a blob ends {blob_left} bytes short of its announced size")
            if kind == _END:
                if sealed and not final:
                    raise DecodeError("the bundle's end is not marked as its end")
                end = _end(body)
                self._check_signature(digest.digest())
                yield end
                return
            if final:
                raise DecodeError("a record marked as the last one is not the bundle's end")
            if kind in (_COVERS, _FRONTIER):
                if seen_segment:
                    raise DecodeError("what a bundle covers comes before its segments")
                extents = _extents(body)
                yield Covers(extents) if kind == _COVERS else Frontier(extents)
            elif kind == _SEGMENT:
                seen_segment = True
                yield Segment(decode_segment(body))
            elif kind == _BLOB:
                start = _blob_start(body)
                blob_left = start.size or None
                yield start
            elif kind == _BLOB_DATA:
                if blob_left is None or len(body) > blob_left or len(body) > BLOB_CHUNK:
                    raise DecodeError("blob bytes beyond the blob's announced size")
                blob_left = blob_left - len(body) or None
                yield BlobData(body)
            else:
                raise DecodeError(f"unknown record kind {kind}")

    def _read(self, size: int, what: str) -> bytes:
        if self.bytes_read + size > self.limits.max_bytes:
            raise BundleSizeError(f"the bundle is larger than the limit of {self.limits.max_bytes} bytes")
        data = self.src.read(size)
        self.bytes_read += len(data)
        if len(data) < size:
            raise TruncatedError(f"the bundle ends inside {what}: the copy is incomplete")
        return data

    def _check_signature(self, digest: bytes) -> None:
        signature = self._read(_SIGNATURE, "its signature")
        if self.src.read(1):
            raise DecodeError("bytes after the bundle's signature")
        try:
            VerifyKey(self.header.exporter).verify(_DOMAIN + digest, signature)
        except (_NaclBadSignature, ValueError):
            raise BadSignatureError("the bundle does not match its exporter's signature: it was altered") from None
        self.signed_digest = digest


def _inflate(decompressor: zstandard.ZstdDecompressor, data: bytes, budget: int) -> bytes:
    """Decompress one record, reading at most `budget` bytes of output (a bomb stops there)."""
    try:
        with decompressor.stream_reader(io.BytesIO(data), read_across_frames=False) as reader:
            body = reader.read(budget + 1)
            if len(body) > budget:
                raise BundleBombError(f"a record inflates beyond {budget} bytes from {len(data)}: a decompression "
                                      "bomb, refused")
            if reader.read(1):
                raise BundleBombError("a record inflates beyond its limit")
    except zstandard.ZstdError as exc:
        raise DecodeError(f"a record is not valid zstandard data: {exc}") from None
    return bytes(body)


def _rows(body: bytes) -> list[object]:
    wire = encoding.unpack(body, limit=_MAX_RECORD)
    if not isinstance(wire, list):
        raise DecodeError("a bundle record must be a list")
    return wire


def _extents(body: bytes) -> list[Extent]:
    extents = []
    for row in _rows(body):
        if not isinstance(row, list) or len(row) != 4:
            raise DecodeError("a frontier entry is [author, scope, after, upto]")
        author, scope, after, upto = row
        if not isinstance(author, bytes) or not isinstance(scope, str) or len(scope) > MAX_SCOPE_LEN:
            raise DecodeError("a frontier entry names a feed by author key and scope")
        if not _is_int(after) or not _is_int(upto) or after > upto:
            raise DecodeError("a frontier entry's positions must be integers, after <= upto")
        extents.append(Extent(FeedId(author, scope), after, upto))
    return extents


def _blob_start(body: bytes) -> BlobStart:
    row = _rows(body)
    if len(row) != 2:
        raise DecodeError("a blob record is [content hash, size]")
    content_hash, size = row
    if not isinstance(content_hash, str) or len(content_hash) != _HASH_HEX or \
            any(c not in "0123456789abcdef" for c in content_hash) or not _is_int(size):
        raise DecodeError("a blob record names a SHA-256 (lowercase hex) and a size")
    assert isinstance(size, int)
    return BlobStart(content_hash, size)


def _end(body: bytes) -> End:
    row = _rows(body)
    if len(row) != 4 or not all(_is_int(v) for v in row):
        raise DecodeError("the end record holds four counts")
    return End(*row)  # type: ignore[arg-type]
