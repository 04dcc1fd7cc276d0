"""``hallmark.files.atomic_write``: the one way Hallmark writes a whole file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hallmark.files import atomic_write


def test_chunks_are_written_whole_with_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "file.bin"
    atomic_write(target, iter([b"ab", b"cd"]), mode=0o640)
    assert target.read_bytes() == b"abcd"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(target.parent) == ["file.bin"]


def test_a_failed_write_leaves_neither_a_half_file_nor_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    atomic_write(target, b"old")

    def broken() -> Iterator[bytes]:
        yield b"half of it"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken())
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_without_replace_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "key"
    atomic_write(target, b"first", mode=0o600, replace=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second", mode=0o600, replace=False)
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["key"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) != 0 and (tmp_path / "key").is_file()


def test_a_private_file_gets_a_private_new_folder(tmp_path: Path) -> None:
    atomic_write(tmp_path / "secrets" / "key", b"k", mode=0o600)
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) & 0o077 == 0
