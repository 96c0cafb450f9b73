"""Feed benchmark: signing, verification, op codec and wire size, each against a raw baseline.

Run from the repository root:

    python bench/bench_feed.py [--ops N] [--repeat R]

Every line reads `name: value unit (ratio x baseline)`; baselines are measured in the same run on
the same machine, so the ratios (not the absolute rates) are what to compare across machines.
Importing this module runs nothing.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import crdt  # noqa: F401
except ImportError:  # run as a script from anywhere: the project root is the parent of bench/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgpack
from nacl.signing import SigningKey

from crdt import Create, HybridClock, op_to_wire
from sync import (
    GENESIS,
    FeedHead,
    SignedOp,
    Signer,
    decode_op,
    decode_segment,
    encode_op,
    encode_segment,
    verify_op,
    verify_segment,
)

SEGMENT_OPS = 1000
MESSAGE_CHARS = 100
RAW_MESSAGE_BYTES = 100
ID_CHARS = 26
SCOPE = "channel:" + "c" * ID_CHARS
T0_MS = 1_700_000_000_000
_ID_ALPHABET = string.ascii_lowercase + string.digits


# --- inputs ---------------------------------------------------------------------------------------


def new_id(rnd: random.Random) -> str:
    """A 26-character id like the ones the application uses."""
    return "".join(rnd.choice(_ID_ALPHABET) for _ in range(ID_CHARS))


def typical_post(rnd: random.Random, create_at: int) -> Create:
    """A post as the application writes it: the message is the only user payload."""
    message = "".join(rnd.choice(string.ascii_letters + " ") for _ in range(MESSAGE_CHARS))
    return Create("post", new_id(rnd), {
        "channel_id": new_id(rnd),
        "user_id": new_id(rnd),
        "message": message,
        "create_at": create_at,
        "root_id": "",
    })


def make_posts(n: int, seed: int = 1) -> list[Create]:
    rnd = random.Random(seed)
    return [typical_post(rnd, T0_MS + i) for i in range(n)]


def segments_of(ops: Sequence[SignedOp], size: int = SEGMENT_OPS) -> list[bytes]:
    return [encode_segment(ops[i:i + size]) for i in range(0, len(ops), size)]


# --- timing ---------------------------------------------------------------------------------------


@dataclass
class Rate:
    per_second: float
    seconds: float


def measure(items: int, run: Callable[[], object], repeat: int) -> Rate:
    """Items per second of the fastest of `repeat` runs (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return Rate(items / best, best)


def line(name: str, value: float, unit: str, ratio: float, baseline: str, fmt: str = ",.0f") -> str:
    return f"{name}: {value:{fmt}} {unit} ({ratio:.2f} x {baseline})"


# --- the benchmark --------------------------------------------------------------------------------


def run(n_ops: int, repeat: int = 3, out: Callable[[str], None] = print) -> dict[str, float]:
    """Run every measurement on `n_ops` ops, print the report through `out`, return the numbers."""
    started = time.perf_counter()
    results: dict[str, float] = {}
    rnd = random.Random(7)

    # (1) raw ed25519 with pynacl on 100-byte messages: the baselines
    raw_key = SigningKey(bytes(range(32)))
    raw_verify_key = raw_key.verify_key
    messages = [rnd.randbytes(RAW_MESSAGE_BYTES) for _ in range(n_ops)]
    signatures: list[bytes] = []

    def raw_sign() -> None:
        signatures[:] = [raw_key.sign(m).signature for m in messages]

    def raw_verify() -> None:
        for m, s in zip(messages, signatures, strict=True):
            raw_verify_key.verify(m, s)

    sign = measure(n_ops, raw_sign, repeat)
    verify = measure(n_ops, raw_verify, repeat)
    results["raw_sign_per_s"] = sign.per_second
    results["raw_verify_per_s"] = verify.per_second
    out(line("ed25519 sign (pynacl, 100 B)", sign.per_second, "sig/s", 1.0, "baseline"))
    out(line("ed25519 verify (pynacl, 100 B)", verify.per_second, "sig/s", 1.0, "baseline"))

    # (2) Signer.seal: encode + hash + sign, building the feed every later step uses
    signer = Signer(bytes(range(32)))
    posts = make_posts(n_ops)
    bodies = [encode_op(p) for p in posts]
    clock = HybridClock(signer.node_tag)
    stamps = [clock.tick(T0_MS + i) for i in range(n_ops)]
    ops: list[SignedOp] = []

    def seal_feed() -> None:
        ops.clear()
        head = FeedHead(0, GENESIS)
        for stamp, body in zip(stamps, bodies, strict=True):
            op = signer.seal(SCOPE, head, stamp, body)
            ops.append(op)
            head = FeedHead(op.seq, op.link())

    seal = measure(n_ops, seal_feed, repeat)
    results["seal_per_s"] = seal.per_second
    out(line("Signer.seal (incl. link)", seal.per_second, "op/s",
             seal.per_second / sign.per_second, "raw sign"))

    # (3) one signature per op vs one per segment
    def verify_each() -> None:
        for op in ops:
            verify_op(op)

    standalone = [op.to_bytes() for op in ops]

    def decode_and_verify_each() -> None:
        for data in standalone:
            verify_op(SignedOp.from_bytes(data))

    segments = segments_of(ops)

    def verify_segments() -> None:
        head = FeedHead(0, GENESIS)
        for data in segments:
            head = verify_segment(head, decode_segment(data))
        assert head == FeedHead(ops[-1].seq, ops[-1].link())

    per_op = measure(n_ops, verify_each, repeat)
    per_op_decoded = measure(n_ops, decode_and_verify_each, repeat)
    per_segment = measure(n_ops, verify_segments, repeat)
    results["verify_op_per_s"] = per_op.per_second
    results["from_bytes_verify_op_per_s"] = per_op_decoded.per_second
    results["segment_verify_per_s"] = per_segment.per_second
    results["segment_vs_per_op"] = per_segment.per_second / per_op.per_second
    out(line("verify_op on each op", per_op.per_second, "op/s",
             per_op.per_second / verify.per_second, "raw verify"))
    out(line("SignedOp.from_bytes + verify_op on each op", per_op_decoded.per_second, "op/s",
             per_op_decoded.per_second / verify.per_second, "raw verify"))
    out(line(f"decode_segment + verify_segment ({min(SEGMENT_OPS, n_ops)} ops/segment)",
             per_segment.per_second, "op/s", per_segment.per_second / verify.per_second, "raw verify"))
    out(line("segment vs per-op verification", results["segment_vs_per_op"], "speedup",
             results["segment_vs_per_op"], "verify_op on each op", fmt=".1f"))

    # (4) op codec vs plain msgpack of the same wire form
    wires = [op_to_wire(p) for p in posts]

    def msgpack_round_trip() -> None:
        for w in wires:
            msgpack.unpackb(msgpack.packb(w, use_bin_type=True), raw=False)

    def codec_round_trip() -> None:
        for p in posts:
            decode_op(encode_op(p))

    raw_codec = measure(n_ops, msgpack_round_trip, repeat)
    codec = measure(n_ops, codec_round_trip, repeat)
    results["msgpack_round_trip_per_s"] = raw_codec.per_second
    results["codec_round_trip_per_s"] = codec.per_second
    out(line("msgpack pack+unpack of op wire form", raw_codec.per_second, "op/s", 1.0, "baseline"))
    out(line("encode_op + decode_op", codec.per_second, "op/s",
             codec.per_second / raw_codec.per_second, "msgpack round trip"))

    # (5) the size of a typical op on the wire
    sample = ops[0]
    body_size = len(sample.body)
    message_size = len(dict(posts[0].fields)["message"].encode())
    standalone_size = len(sample.to_bytes())
    # with fewer ops than a segment (small --ops), seal a full segment just for the size
    size_ops = ops[:SEGMENT_OPS] if len(ops) >= SEGMENT_OPS else _seal_posts(signer, SEGMENT_OPS)
    in_segment = len(encode_segment(size_ops)) / len(size_ops)
    avg_body = sum(len(op.body) for op in size_ops) / len(size_ops)
    results.update(body_bytes=body_size, message_bytes=message_size, standalone_bytes=standalone_size,
                   segment_bytes_per_op=in_segment, overhead_over_body=in_segment - avg_body,
                   overhead_over_message=in_segment - message_size)
    out(line("op body (encode_op of a post)", body_size, "bytes", body_size / message_size, "message"))
    out(line("user payload (message)", message_size, "bytes", 1.0, "message"))
    out(line("standalone SignedOp.to_bytes", standalone_size, "bytes", standalone_size / body_size, "body"))
    out(line(f"per op in a {SEGMENT_OPS}-op segment", in_segment, "bytes", in_segment / avg_body, "body",
             fmt=",.1f"))
    out(line("per-op overhead beyond the body (segment)", in_segment - avg_body, "bytes",
             (in_segment - avg_body) / avg_body, "body", fmt=",.1f"))
    out(line("per-op overhead beyond the message (segment)", in_segment - message_size, "bytes",
             (in_segment - message_size) / message_size, "message", fmt=",.1f"))
    out(line("per-op overhead beyond the body (standalone)", standalone_size - body_size, "bytes",
             (standalone_size - body_size) / body_size, "body"))

    out(
        f"summary: {n_ops} ops; "
        f"seal {seal.per_second:,.0f} op/s ({seal.per_second / sign.per_second:.2f} x sign); "
        f"verify_op {per_op.per_second:,.0f} op/s vs segment {per_segment.per_second:,.0f} op/s "
        f"({results['segment_vs_per_op']:.1f} x faster); "
        f"codec {codec.per_second / raw_codec.per_second:.2f} x msgpack; "
        f"a {message_size} B message costs {standalone_size} B alone, {in_segment:.0f} B in a segment; "
        f"{time.perf_counter() - started:.1f} s"
    )
    return results


def _seal_posts(signer: Signer, n: int) -> list[SignedOp]:
    clock = HybridClock(signer.node_tag)
    head = FeedHead(0, GENESIS)
    ops = []
    for i, post in enumerate(make_posts(n, seed=2)):
        op = signer.seal(SCOPE, head, clock.tick(T0_MS + i), encode_op(post))
        ops.append(op)
        head = FeedHead(op.seq, op.link())
    return ops


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000, help="ops per measurement (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args(argv)
    if args.ops < 1 or args.repeat < 1:
        parser.error("--ops and --repeat must be at least 1")
    run(args.ops, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
