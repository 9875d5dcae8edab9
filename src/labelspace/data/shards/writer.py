"""Packing a dataset listing into shards: checked images in WebDataset-style tar files, an
index per split and the manifest, written into a temporary folder moved into place at the end.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from labelspace.data.errors import CorruptImageError, DatasetError
from labelspace.data.images_io import DECODE_ERRORS, decode_error_reason, open_image
from labelspace.data.layouts import FileSplit, Listing
from labelspace.data.shards.manifest import (
    SHARDS_MANIFEST,
    TAR_BLOCK,
    index_name,
    is_packed,
    new_manifest,
    shard_name,
    write_manifest,
)
from labelspace.errors import InputError, OutputExistsError
from labelspace.files import first_missing, publish_folder

__all__ = ["DEFAULT_SHARD_BYTES", "check_out", "pack"]

log = logging.getLogger(__name__)

DEFAULT_SHARD_BYTES = 256 << 20

_TAR_END = 2 * TAR_BLOCK  # the two zero blocks that end an archive
_KEY_DIGITS = 8
_EXT = re.compile(r"[a-z0-9]+")
_PIL_EXT = {"JPEG": "jpg", "TIFF": "tif"}


def pack(
    listing: Listing,
    synsets: list[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    shard_size: int | None = None,
    skip_corrupt: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write ``listing``'s images as shards, indexes and a manifest into the folder ``out``.

    Shards hold at most ``shard_bytes`` bytes (a single larger image gets a shard of its own)
    and at most ``shard_size`` images (None: no limit), whichever comes first. Every image is
    decoded before it is written; an unreadable one raises
    :class:`~labelspace.data.errors.CorruptImageError`, or with ``skip_corrupt`` is left out
    and named in the manifest's notes. ``on_progress(done, total)`` is called after each image.
    Returns the manifest.
    """
    out = Path(out)
    target = out.resolve()  # renames need a real name: "." or "a/.." have none
    if len(synsets) != len(listing.classes):
        raise InputError(
            f"{len(synsets)} synsets for {len(listing.classes)} classes; give one synset per "
            "class, in the order of the classes"
        )
    if shard_bytes < 1:
        raise InputError(f"the shard size in bytes must be >= 1, got {shard_bytes}")
    if shard_size is not None and shard_size < 1:
        raise InputError(f"the number of images per shard must be >= 1, got {shard_size}")
    check_out(out, listing.root, overwrite=overwrite)

    made_parent = first_missing(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}-{secrets.token_hex(3)}")
    tmp.mkdir()
    try:
        manifest = _write_all(
            listing, synsets, tmp, shard_bytes, shard_size, skip_corrupt, on_progress
        )
        publish_folder(tmp, target, overwrite=True)  # out was checked before writing
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if made_parent is not None:
            shutil.rmtree(made_parent, ignore_errors=True)
        raise
    return manifest


def check_out(out: Path, source: Path, *, overwrite: bool) -> None:
    """Refuse an ``out`` that cannot be written, before any work starts: a file, a folder
    inside the dataset's folder (its shards would be read as a class folder next time), the
    folder holding the dataset, or an existing folder that ``--overwrite`` would not replace.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; give the path of a folder to pack the dataset into")
    folder = source if source.is_dir() else None  # a CSV manifest lists its files: no scan
    try:
        real_out, real_source = out.resolve(), source.resolve()
        inside = folder is not None and real_out.is_relative_to(folder.resolve())
        source_in_out = real_source.is_relative_to(real_out)
    except OSError:
        inside = source_in_out = False
    if inside:
        raise InputError(
            f"cannot pack into {out}: it lies inside the dataset {source}, whose next scan would "
            "read the shards as a class folder; choose a folder outside it (e.g. "
            f"{source.parent / (source.name + '-shards')})"
        )
    if source_in_out:
        raise InputError(
            f"cannot pack into {out}: the dataset {source} is inside it; choose another folder"
        )
    if out.is_dir() and any(out.iterdir()):
        if not is_packed(out):
            raise OutputExistsError(
                f"{out} exists, is not empty and was not written by `labelspace pack` (it has no "
                f"{SHARDS_MANIFEST}), so pack does not replace it, even with --overwrite; "
                "choose a new or empty folder, or delete this one yourself"
            )
        if not overwrite:
            raise OutputExistsError(
                f"{out} holds packed shards already; pass --overwrite to replace them"
            )


def _write_all(
    listing: Listing,
    synsets: list[str],
    folder: Path,
    shard_bytes: int,
    shard_size: int | None,
    skip_corrupt: bool,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Write both splits and then the manifest into ``folder``; returns the manifest."""
    splits: dict[str, FileSplit] = {"train": listing.train, "test": listing.test}
    total = sum(len(s.paths) for s in splits.values())
    progress = _Progress(total, on_progress)
    modes: set[str] = set()
    skipped: list[str] = []
    counts: dict[str, int] = {}
    shards: dict[str, list[str]] = {}
    for split, files in splits.items():
        if len(files.paths) != len(files.targets):
            raise DatasetError(
                f"the {split} split lists {len(files.paths)} files but {len(files.targets)} "
                "targets; this is a bug in the dataset's layout"
            )
        writer = _SplitWriter(folder, split, shard_bytes, shard_size)
        try:
            for path, target in zip(files.paths, files.targets, strict=True):
                if not 0 <= int(target) < len(listing.classes):
                    raise DatasetError(
                        f"{path}: target {target} is not the number of one of the "
                        f"{len(listing.classes)} classes; this is a bug in the dataset's layout"
                    )
                try:
                    data, ext, mode = _checked_image(Path(path))
                except CorruptImageError as err:
                    if not skip_corrupt:
                        raise
                    log.warning("skipping unreadable image %s: %s", path, err.reason)
                    skipped.append(str(path))
                else:
                    modes.add(mode)
                    writer.add(data, ext, int(target), _mtime(Path(path)))
                progress.step()
        finally:
            writer.close()
        with open(folder / index_name(split), "xb") as handle:
            np.save(handle, writer.index())
            handle.flush()
            os.fsync(handle.fileno())
        counts[split] = len(writer.rows)
        shards[split] = writer.names
    notes = list(listing.notes)
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        notes.append(f"{len(skipped)} unreadable images were left out when packing: {shown}")
    manifest = new_manifest(
        listing,
        synsets,
        in_chans=(1 if modes == {"L"} else 3) if modes else None,
        counts=counts,
        shards=shards,
        notes=notes,
    )
    write_manifest(folder, manifest)
    return manifest


class _Progress:
    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.callback = total, 0, callback

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)


def _checked_image(path: Path) -> tuple[bytes, str, str]:
    """The file's bytes, its member extension and its decoded mode ("L" or "RGB"); raises
    :class:`CorruptImageError` if it cannot be read or decoded."""
    try:
        data = path.read_bytes()
        mode = open_image(data).mode
    except DECODE_ERRORS as err:
        raise CorruptImageError(path, decode_error_reason(err)) from None
    ext = path.suffix[1:].lower()
    if not _EXT.fullmatch(ext):  # no suffix, or one a WebDataset key split would misread
        kind = Image.open(io.BytesIO(data)).format or "img"
        ext = _PIL_EXT.get(kind, kind.lower())
    return data, ext, mode


def _mtime(path: Path) -> int:
    try:
        return int(path.stat().st_mtime)
    except (OSError, OverflowError, ValueError):
        return 0


class _SplitWriter:
    """Writes one split's samples into shards that roll over at the size limits."""

    def __init__(self, folder: Path, split: str, shard_bytes: int, shard_size: int | None):
        self.folder, self.split = folder, split
        self.shard_bytes, self.shard_size = shard_bytes, shard_size
        self.names: list[str] = []
        self.rows: list[tuple[int, int, int, int]] = []
        self._file: io.BufferedWriter | None = None
        self._tar: tarfile.TarFile | None = None
        self._in_shard = 0

    def add(self, data: bytes, ext: str, target: int, mtime: int) -> None:
        key = f"{len(self.rows):0{_KEY_DIGITS}d}"
        label = str(target).encode("ascii")
        need = _member_bytes(len(data)) + _member_bytes(len(label))
        if self._tar is None or self._full(need):
            self._next_shard()
        assert self._tar is not None
        offset = self._add_member(f"{key}.{ext}", data, mtime)
        self._add_member(f"{key}.cls", label, mtime)
        self.rows.append((len(self.names) - 1, offset, len(data), target))
        self._in_shard += 1

    def _full(self, need: int) -> bool:
        assert self._tar is not None
        if self._in_shard == 0:
            return False
        if self.shard_size is not None and self._in_shard >= self.shard_size:
            return True
        # the file's final size: members, the end blocks, padded to tarfile's record size
        end = self._tar.offset + need + _TAR_END
        return -(-end // tarfile.RECORDSIZE) * tarfile.RECORDSIZE > self.shard_bytes

    def _add_member(self, name: str, data: bytes, mtime: int) -> int:
        """Append one member; returns the offset of its data in the shard."""
        assert self._tar is not None
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), mtime, 0o644
        offset = self._tar.offset + len(info.tobuf(self._tar.format, "utf-8", "strict"))
        self._tar.addfile(info, io.BytesIO(data))
        return offset

    def _next_shard(self) -> None:
        self.close()
        name = shard_name(self.split, len(self.names))
        self._file = open(self.folder / name, "xb")  # noqa: SIM115 - closed in close()
        # ustar only: a member's header is then exactly the 512 bytes before its data, which
        # ShardImages.name reads to say which member an image is
        self._tar = tarfile.TarFile(fileobj=self._file, mode="w", format=tarfile.USTAR_FORMAT)
        self.names.append(name)
        self._in_shard = 0

    def close(self) -> None:
        """Finish the current shard (end blocks, flushed to disk)."""
        if self._tar is not None and self._file is not None:
            self._tar.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        self._tar = self._file = None

    def index(self) -> np.ndarray:
        return np.asarray(self.rows, dtype=np.int64).reshape(-1, 4)


def _member_bytes(size: int) -> int:
    """Bytes a member of ``size`` data bytes takes in a ustar archive."""
    return TAR_BLOCK + -(-size // TAR_BLOCK) * TAR_BLOCK
