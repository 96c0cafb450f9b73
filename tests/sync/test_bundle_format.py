"""sync.bundle_format and sync.bundle_crypto: a bundle file round-trips, opens only with its key, and
anything that is not a whole authentic bundle (cut, altered, inflated, oversized) raises a typed error."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import BadSignatureError, DecodeError, SignedOp, Signer, SyncError, TruncatedError
from sync.bundle_crypto import (
    KeyWrap, RecordOpener, RecordSealer, open_for_node, open_plain, open_with_passphrase, seal_for_node,
    seal_for_passphrase, seal_plain,
)
from sync.bundle_errors import BundleBombError, BundleKeyError, BundleSizeError, NotABundleError
from sync.bundle_format import (
    BLOB_CHUNK, BlobData, BlobStart, BundleHeader, BundleLimits, BundleReader, BundleWriter, Covers, End,
    Extent, Frontier, Record, Segment,
)
from sync.feed import FeedId

from .conftest import AUTHOR_SEED, OTHER_SEED, build_feed

MESH = "mesh-0123456789abcdef"
RECIPIENT = Signer(bytes(range(50, 82)))
CHEAP = {"opslimit": 1, "memlimit": 8192}  # argon2id at its floor: the tests derive many keys
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(sealing: tuple[KeyWrap, RecordSealer], *, exporter: Signer, ops: list[SignedOp],
           blob: bytes = b"", recipient: bytes | None = None) -> bytes:
    wrap, sealer = sealing
    header = BundleHeader(MESH, exporter.public_key, b"certificate", recipient, 1_700_000_000_000, wrap)
    out = io.BytesIO()
    writer = BundleWriter(out, header, sealer, exporter)
    feed = ops[0].feed
    writer.covers([Extent(feed, 0, ops[-1].seq)])
    writer.frontier([Extent(feed, 0, ops[-1].seq)])
    for start in range(0, len(ops), 4):
        writer.segment(ops[start:start + 4])
    if blob:
        chunks = (blob[i:i + BLOB_CHUNK] for i in range(0, len(blob), BLOB_CHUNK))
        writer.blob(hashlib.sha256(blob).hexdigest(), len(blob), chunks)
    writer.finish()
    return out.getvalue()


def _read(data: bytes, opener: Callable[[KeyWrap], RecordOpener] = open_plain,
          limits: BundleLimits = BundleLimits()) -> list[Record]:
    reader = BundleReader(io.BytesIO(data), limits)
    return list(reader.records(opener(reader.header.key)))


@pytest.fixture(scope="module")
def exporter() -> Signer:
    return Signer(AUTHOR_SEED)


@pytest.fixture(scope="module")
def ops(exporter: Signer) -> list[SignedOp]:
    return build_feed(exporter, 10)


@pytest.fixture(scope="module")
def plain(exporter: Signer, ops: list[SignedOp]) -> bytes:
    return _write(seal_plain(), exporter=exporter, ops=ops, blob=b"attachment " * 100_000)


def test_a_plain_bundle_reads_back_its_covers_frontier_segments_blob_and_counts(
        plain: bytes, ops: list[SignedOp]) -> None:
    records = _read(plain)
    feed = ops[0].feed
    blob = b"attachment " * 100_000
    assert records[0] == Covers([Extent(feed, 0, 10)])
    assert records[1] == Frontier([Extent(feed, 0, 10)])
    assert [op for r in records if isinstance(r, Segment) for op in r.ops] == ops
    assert [r for r in records if isinstance(r, BlobStart)] == [BlobStart(hashlib.sha256(blob).hexdigest(), len(blob))]
    assert b"".join(r.data for r in records if isinstance(r, BlobData)) == blob
    assert records[-1] == End(segments=3, ops=10, blobs=1, blob_bytes=len(blob))


def test_compression_makes_the_bundle_smaller_than_the_ops_and_blob_it_carries(plain: bytes, ops: list[SignedOp]) -> None:
    raw = sum(len(op.to_bytes()) for op in ops) + len(b"attachment " * 100_000)
    assert len(plain) < raw / 10


def test_a_bundle_sealed_to_a_node_opens_with_that_nodes_key_only(exporter: Signer, ops: list[SignedOp]) -> None:
    data = _write(seal_for_node(RECIPIENT.public_key), exporter=exporter, ops=ops, recipient=RECIPIENT.public_key)
    records = _read(data, lambda wrap: open_for_node(wrap, RECIPIENT.seed))
    assert [op for r in records if isinstance(r, Segment) for op in r.ops] == ops
    assert ops[0].body not in data  # nothing of the ops is in clear
    with pytest.raises(BundleKeyError, match="sealed to another node"):
        _read(data, lambda wrap: open_for_node(wrap, OTHER_SEED))
    with pytest.raises(BundleKeyError, match="is sealed"):
        _read(data)


def test_a_passphrase_bundle_opens_with_its_passphrase_only(exporter: Signer, ops: list[SignedOp]) -> None:
    data = _write(seal_for_passphrase("correct horse", **CHEAP), exporter=exporter, ops=ops)
    records = _read(data, lambda wrap: open_with_passphrase(wrap, "correct horse"))
    assert isinstance(records[-1], End) and records[-1].ops == 10
    with pytest.raises(BundleKeyError, match="does not decrypt"):
        _read(data, lambda wrap: open_with_passphrase(wrap, "wrong horse"))


def test_a_passphrase_header_asking_for_more_memory_than_allowed_is_refused_before_deriving(
        exporter: Signer, ops: list[SignedOp]) -> None:
    wrap, sealer = seal_for_passphrase("pw", **CHEAP)
    greedy = KeyWrap(wrap.sealing, wrap.wrapped, 1, 4 * 1024**3, wrap.stream_header)
    data = _write((greedy, sealer), exporter=exporter, ops=ops)
    with pytest.raises(BundleSizeError, match="memlimit"):
        _read(data, lambda wrap: open_with_passphrase(wrap, "pw"))


@pytest.mark.parametrize("sealed", [False, True])
def test_every_cut_of_a_bundle_raises_a_typed_error(exporter: Signer, ops: list[SignedOp], sealed: bool) -> None:
    if sealed:
        data = _write(seal_for_node(RECIPIENT.public_key), exporter=exporter, ops=ops, recipient=RECIPIENT.public_key)
        opener: Callable[[KeyWrap], RecordOpener] = lambda wrap: open_for_node(wrap, RECIPIENT.seed)  # noqa: E731
    else:
        data, opener = _write(seal_plain(), exporter=exporter, ops=ops), open_plain
    for cut in range(0, len(data), 7):
        with pytest.raises((TruncatedError, NotABundleError)):
            _read(data[:cut], opener)


def test_an_altered_byte_is_refused_by_the_signature_and_extra_bytes_are_refused(plain: bytes) -> None:
    altered = bytearray(plain)
    altered[-100] ^= 1  # inside the last blob chunk's compressed bytes
    with pytest.raises(SyncError):
        _read(bytes(altered))
    tampered_sig = plain[:-1] + bytes([plain[-1] ^ 1])
    with pytest.raises(BadSignatureError):
        _read(tampered_sig)
    with pytest.raises(DecodeError, match="after the bundle's signature"):
        _read(plain + b"\0")


def test_a_bundle_signed_by_another_key_than_its_exporter_is_refused(ops: list[SignedOp]) -> None:
    forger = Signer(OTHER_SEED)
    data = _write(seal_plain(), exporter=forger, ops=ops)
    header = BundleHeader.from_bytes(data[20:20 + int.from_bytes(data[16:20], "big")])
    claimed = BundleHeader(header.mesh_id, Signer(AUTHOR_SEED).public_key, header.exporter_certificate, None,
                           header.created_ms, header.key).to_bytes()
    swapped = data[:16] + len(claimed).to_bytes(4, "big") + claimed + data[20 + len(header.to_bytes()):]
    with pytest.raises(BadSignatureError):
        _read(swapped)


def test_a_decompression_bomb_is_refused_without_inflating_it(exporter: Signer, ops: list[SignedOp]) -> None:
    wrap, sealer = seal_plain()
    out = io.BytesIO()
    writer = BundleWriter(out, BundleHeader(MESH, exporter.public_key, b"", None, 0, wrap), sealer, exporter)
    writer.segment(ops)
    # a blob chunk of 200 MB of zeros compresses to a few KB: the reader stops at its budget
    bomb = zstandard.ZstdCompressor().compress(bytes(200 * 1024 * 1024))
    writer._emit((len(bomb) + 1).to_bytes(4, "big") + bytes([5]) + bomb)  # kind 5: blob data
    writer.finish()
    with pytest.raises(BundleBombError):
        _read(out.getvalue())


def test_a_bundle_beyond_the_readers_size_limit_is_refused(plain: bytes) -> None:
    with pytest.raises(BundleSizeError, match="larger than the limit"):
        _read(plain, limits=BundleLimits(max_bytes=len(plain) - 1))
    assert isinstance(_read(plain, limits=BundleLimits(max_bytes=len(plain)))[-1], End)


def test_a_header_of_another_format_or_kind_of_file_is_refused(plain: bytes) -> None:
    with pytest.raises(NotABundleError):
        _read(b"PK\x03\x04 a zip file")
    with pytest.raises(NotABundleError):
        _read(b"")


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_typed_errors(data: bytes) -> None:
    with pytest.raises(SyncError):
        _read(data)


@FUZZ
@given(st.data())
def test_mutated_bundles_raise_only_typed_errors(plain: bytes, data: st.DataObject) -> None:
    original = plain[:4096] + plain[-200:]  # a short bundle keeps each example quick
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            mutated[index] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del mutated[index]
        else:
            mutated.insert(index, data.draw(st.integers(0, 255)))
    with pytest.raises(SyncError):  # the cut-down bundle never reads as whole, mutated or not
        _read(bytes(mutated))


@FUZZ
@given(st.data())
def test_mutated_whole_small_bundles_never_read_as_whole(exporter: Signer, ops: list[SignedOp],
                                                         data: st.DataObject) -> None:
    bundle = bytearray(_write(seal_plain(), exporter=exporter, ops=ops[:3]))
    index = data.draw(st.integers(0, len(bundle) - 1))
    bundle[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SyncError):
        _read(bytes(bundle))


def test_a_feed_id_in_a_frontier_is_checked(exporter: Signer) -> None:
    with pytest.raises(DecodeError):
        FeedId(b"short", "channel:x")


@FUZZ
@given(st.data())
def test_mutated_sealed_bundles_raise_only_typed_errors(exporter: Signer, ops: list[SignedOp],
                                                        data: st.DataObject) -> None:
    bundle = bytearray(_write(seal_for_node(RECIPIENT.public_key), exporter=exporter, ops=ops[:3],
                              recipient=RECIPIENT.public_key))
    for index in data.draw(st.lists(st.integers(0, len(bundle) - 1), min_size=1, max_size=3, unique=True)):
        bundle[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SyncError):
        _read(bytes(bundle), lambda wrap: open_for_node(wrap, RECIPIENT.seed))


def test_a_record_asking_for_a_huge_decompression_window_is_refused(exporter: Signer, ops: list[SignedOp]) -> None:
    wrap, sealer = seal_plain()
    out = io.BytesIO()
    writer = BundleWriter(out, BundleHeader(MESH, exporter.public_key, b"", None, 0, wrap), sealer, exporter)
    params = zstandard.ZstdCompressionParameters(window_log=30, enable_ldm=True, write_content_size=False)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    greedy = stream.compress(b"x" * 1000) + stream.flush()
    assert zstandard.get_frame_parameters(greedy).window_size == 1 << 30  # asks for a 1 GiB window
    writer._emit((len(greedy) + 1).to_bytes(4, "big") + bytes([5]) + greedy)
    writer.finish()
    with pytest.raises(DecodeError, match="zstandard"):
        _read(out.getvalue())
