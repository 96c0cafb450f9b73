"""The node key: created once as a private file, loaded back as the same identity, refused when unsafe."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from edgenode.identity import KEY_FILE, IdentityError, load_or_create_identity, node_display_id
from sync import Signer


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_file_is_created_private_and_loads_back_as_the_same_identity(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "node"  # created on first start
    created = load_or_create_identity(data_dir)
    key_file = data_dir / KEY_FILE
    assert _mode(key_file) == 0o600
    assert key_file.read_bytes() == created.seed
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]  # no temporary file left behind

    loaded = load_or_create_identity(data_dir)
    assert (loaded.seed, loaded.public_key) == (created.seed, created.public_key)


def test_the_key_file_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_identity(tmp_path)
    finally:
        os.umask(old)
    assert _mode(tmp_path / KEY_FILE) == 0o600


def test_a_leftover_temporary_key_file_does_not_make_the_key_public(tmp_path: Path) -> None:
    # a crash between writing the temporary file and renaming it leaves it behind, with any mode
    leftover = (tmp_path / KEY_FILE).with_suffix(".tmp")
    leftover.write_bytes(b"partial")
    leftover.chmod(0o644)
    signer = load_or_create_identity(tmp_path)
    assert _mode(tmp_path / KEY_FILE) == 0o600
    assert load_or_create_identity(tmp_path).public_key == signer.public_key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602])
def test_a_key_file_other_users_can_access_is_refused_with_the_chmod_to_run(tmp_path: Path, mode: int) -> None:
    load_or_create_identity(tmp_path)
    key_file = tmp_path / KEY_FILE
    key_file.chmod(mode)
    with pytest.raises(IdentityError) as excinfo:
        load_or_create_identity(tmp_path)
    assert str(excinfo.value) == (
        f"{key_file} is readable by other users (mode {mode:o}); run: chmod 600 {key_file}"
    )


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_key_file_of_the_wrong_length_is_refused(tmp_path: Path, size: int) -> None:
    key_file = tmp_path / KEY_FILE
    key_file.write_bytes(b"k" * size)
    key_file.chmod(0o600)
    with pytest.raises(IdentityError, match=re.escape(f"is not a node key ({size} bytes, expected 32)")):
        load_or_create_identity(tmp_path)
    assert key_file.read_bytes() == b"k" * size  # never overwritten: it may be someone's real key


def test_a_32_byte_key_file_written_elsewhere_is_loaded_as_that_key(tmp_path: Path) -> None:
    signer = Signer.generate()
    key_file = tmp_path / KEY_FILE
    key_file.write_bytes(signer.seed)
    key_file.chmod(0o600)
    assert load_or_create_identity(tmp_path).public_key == signer.public_key


def test_the_display_id_is_26_lowercase_base32_characters_of_the_key() -> None:
    signer = Signer.generate()
    display = node_display_id(signer.public_key)
    assert re.fullmatch(r"[a-z2-7]{26}", display)
    assert node_display_id(signer.public_key) == display
    assert node_display_id(bytes(32)) == "a" * 26
    assert node_display_id(bytes(16) + b"\xff" * 16) == "a" * 26  # only the first 16 bytes count
    assert node_display_id(b"\xff" * 16 + bytes(16)) == "7" * 25 + "4"  # 128 bits: the last character holds 3
