"""The data folder lock (edgenode/data_lock.py) as a specification: one owner, readers create nothing and block no one."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from edgenode.data_lock import (
    LOCK_FILE, DataFolderBusyError, NoNodeError, Owner, hold_data_folder, owner_of, require_node,
)
from edgenode.identity import load_or_create_identity


def test_a_folder_nobody_ever_owned_has_no_owner_and_asking_creates_nothing(tmp_path: Path) -> None:
    assert owner_of(tmp_path / "missing") is None
    assert owner_of(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_the_owner_is_named_to_others_and_a_second_owner_is_refused_until_it_lets_go(tmp_path: Path) -> None:
    with hold_data_folder(tmp_path / "node", "serving"):
        assert owner_of(tmp_path / "node") == Owner(os.getpid(), "serving")
        with pytest.raises(DataFolderBusyError, match=rf"already in use: serving \(pid {os.getpid()}\)"):
            with hold_data_folder(tmp_path / "node", "sync"):
                pass
    assert (tmp_path / "node" / LOCK_FILE).stat().st_mode & 0o777 == 0o600
    assert owner_of(tmp_path / "node") is None
    with hold_data_folder(tmp_path / "node", "sync"):
        assert owner_of(tmp_path / "node") == Owner(os.getpid(), "sync")


def test_a_reader_testing_the_lock_does_not_make_an_owner_to_be_fail(tmp_path: Path) -> None:
    data = tmp_path / "node"
    with hold_data_folder(data, "serving"):
        pass  # the lock file exists from now on
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            owner_of(data)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(50):
            with hold_data_folder(data, "serving"):
                pass
    finally:
        stop.set()
        for reader in readers:
            reader.join()


def test_a_folder_holds_a_node_once_it_has_a_node_key(tmp_path: Path) -> None:
    with pytest.raises(NoNodeError, match="does not exist"):
        require_node(tmp_path / "missing")
    with pytest.raises(NoNodeError, match="holds no node"):
        require_node(tmp_path)
    load_or_create_identity(tmp_path)
    require_node(tmp_path)
