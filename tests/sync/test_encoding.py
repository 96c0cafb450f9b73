"""sync.encoding: the one canonical byte form of everything that is signed or hashed."""

from __future__ import annotations

import random

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import DecodeError, OversizedError, TruncatedError, encoding
from sync.encoding import pack, unpack

FUZZ = settings(max_examples=150, deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)


def reordered(value, rnd: random.Random):
    """The same value with every map rebuilt in a shuffled insertion order."""
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: reordered(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [reordered(v, rnd) for v in value]
    return value


# --- canonical form -------------------------------------------------------------------------------


def test_pack_writes_the_same_bytes_whatever_the_dict_key_order():
    assert pack({"b": 1, "a": 2, "c": {"z": 0, "y": 1}}) == pack({"c": {"y": 1, "z": 0}, "a": 2, "b": 1})


def test_pack_writes_maps_with_sorted_keys():
    assert pack({"b": 1, "a": 2}) == b"\x82\xa1a\x02\xa1b\x01"


def test_pack_writes_tuples_as_lists():
    assert pack((1, ("x", b"y"))) == pack([1, ["x", b"y"]])


def test_pack_writes_bytes_as_bin_and_str_as_str_so_they_stay_distinct():
    assert unpack(pack([b"abc", "abc"])) == [b"abc", "abc"]
    assert pack(b"abc") != pack("abc")


@FUZZ
@given(value=values, rnd=st.randoms(use_true_random=False))
def test_pack_is_independent_of_dict_key_order_for_any_nested_value(value, rnd):
    assert pack(reordered(value, rnd)) == pack(value)


@FUZZ
@given(value=values)
def test_unpack_of_pack_returns_an_equal_value(value):
    assert unpack(pack(value)) == value


@FUZZ
@given(value=values)
def test_pack_of_unpacked_bytes_gives_the_same_bytes(value):
    data = pack(value)
    assert pack(unpack(data)) == data


@pytest.mark.parametrize(
    "value, reason",
    [
        (object(), "cannot encode"),
        ({"a": 1, 2: 3}, "cannot encode"),  # keys of different types have no canonical order
        (1 << 64, "cannot encode"),
    ],
    ids=["unknown-type", "mixed-key-types", "int-over-64-bits"],
)
def test_pack_refuses_a_value_it_cannot_encode_canonically(value, reason):
    with pytest.raises(DecodeError, match=reason):
        pack(value)


# --- decoding hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"\x92\x01", b"\xc4\x05ab", b"\xcd\x03"], ids=["empty", "list", "bin", "uint16"]
)
def test_unpack_of_cut_off_bytes_raises_truncated(data):
    with pytest.raises(TruncatedError, match="truncated"):
        unpack(data)


@FUZZ
@given(value=values, data=st.data())
def test_unpack_of_any_proper_prefix_raises_truncated(value, data):
    encoded = pack(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1), label="cut")
    with pytest.raises(TruncatedError, match="truncated"):
        unpack(encoded[:cut])


@FUZZ
@given(value=values, extra=st.binary(min_size=1, max_size=20))
def test_unpack_with_trailing_bytes_raises_decode_error_naming_them(value, extra):
    with pytest.raises(DecodeError, match="trailing bytes") as info:
        unpack(pack(value) + extra)
    assert type(info.value) is DecodeError


def test_unpack_over_the_limit_raises_oversized_naming_size_and_limit():
    with pytest.raises(OversizedError, match=r"11 bytes; the limit is 10"):
        unpack(pack("x" * 10), limit=10)  # 11 bytes


def test_unpack_accepts_a_message_exactly_at_the_limit():
    data = pack("x" * 8)
    assert unpack(data, limit=len(data)) == "x" * 8


def test_unpack_checks_the_size_before_parsing_a_single_byte(monkeypatch):
    def parser_must_not_run(*args, **kwargs):
        raise AssertionError("the parser ran on an oversized input")

    monkeypatch.setattr(encoding.msgpack, "unpackb", parser_must_not_run)
    # not even valid MessagePack: only the size check can answer, and it answers Oversized
    with pytest.raises(OversizedError, match="limit"):
        unpack(b"\xc1" * 1000, limit=999)


def test_unpack_default_limit_is_max_message_bytes():
    with pytest.raises(OversizedError):
        unpack(bytes(encoding.MAX_MESSAGE_BYTES + 1))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\xc1", "malformed"),  # the one byte MessagePack never uses
        (b"\xd9\x02\xff\xfe", "utf-8"),  # a str that is not UTF-8
        (b"\x81\x01\x02", "map key"),  # a non-string map key
    ],
    ids=["reserved-byte", "bad-utf8", "int-map-key"],
)
def test_unpack_of_malformed_bytes_raises_decode_error_naming_the_reason(data, reason):
    with pytest.raises(DecodeError, match=reason):
        unpack(data)


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=64))
def test_unpack_of_random_bytes_returns_a_value_or_raises_only_decode_errors(data):
    try:
        unpack(data)
    except DecodeError:
        pass


def test_msgpack_is_the_encoding_used():
    # the canonical form is plain MessagePack: any msgpack reader can read what we write
    assert msgpack.unpackb(pack({"k": [1, b"\x00"]}), raw=False) == {"k": [1, b"\x00"]}
