"""Ids are base32 of 16 random bytes in Mattermost's alphabet, however they are computed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgenode.ids import base32_id, id_of, is_valid_id, new_id


@given(st.binary(min_size=16, max_size=16))
def test_the_fast_encoding_is_base32_in_mattermosts_alphabet(raw: bytes) -> None:
    assert id_of(raw) == base32_id(raw)


def test_the_extremes_encode_as_base32_does() -> None:
    for raw in (bytes(16), b"\xff" * 16, b"\x80" + bytes(15), bytes(15) + b"\x01"):
        assert id_of(raw) == base32_id(raw)


def test_a_new_id_is_valid_and_new() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_valid_id(i) for i in ids)
