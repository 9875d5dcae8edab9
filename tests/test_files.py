"""Atomic writes: the old file or the new one, never half of one, and nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelspace import files
from labelspace.errors import LabelspaceError, MissingInputError, OutputExistsError


def test_text_and_json_land_whole_with_ordinary_permissions(tmp_path: Path) -> None:
    path = files.atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    files.atomic_write_json(tmp_path / "b.json", {"x": [1, 2]})
    assert (tmp_path / "b.json").read_text() == '{\n  "x": [\n    1,\n    2\n  ]\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json"]


def test_without_overwrite_an_existing_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "keep.txt"
    path.write_text("precious")
    with pytest.raises(OutputExistsError, match="--overwrite") as err:
        files.atomic_write_text(path, "new", overwrite=False)
    assert isinstance(err.value, LabelspaceError) and isinstance(err.value, FileExistsError)
    assert path.read_text() == "precious"
    files.atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_file_that_appears_while_writing_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "race.txt"

    def write(tmp: Path) -> None:
        tmp.write_text("mine")
        path.write_text("theirs")  # someone else creates the target meanwhile

    with pytest.raises(OutputExistsError):
        files.atomic_write(path, write, overwrite=False)
    assert path.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["race.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch) -> None:
    path = files.atomic_write_text(tmp_path / "x.txt", "old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, broken)
    monkeypatch.setattr(files.os, "replace", lambda *_: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError, match="no"):
        files.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="does not exist"):
        files.atomic_write_text(tmp_path / "no" / "x.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_replaces_the_file_still_gives_ordinary_permissions(tmp_path: Path) -> None:
    def replace_privately(tmp: Path) -> None:  # as safetensors' save_file does
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)

    path = files.atomic_write(tmp_path / "t.bin", replace_privately)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
