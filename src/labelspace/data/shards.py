"""Packed shards: a large dataset as a few big files, read by offset on one machine or many.

``labelspace pack`` turns a dataset listing (:class:`~labelspace.data.layouts.Listing`) into a
folder ``OUT``::

    OUT/train-000000.tar, OUT/train-000001.tar, ...   shards of the training images
    OUT/test-000000.tar, ...                          shards of the test images
    OUT/train.index.npy, OUT/test.index.npy           int64 (N, 4): shard, offset, size, target
    OUT/labelspace-shards.json                        the manifest: classes, synsets, counts, ...

**Format: WebDataset's tar convention.** A shard is a plain POSIX (ustar) tar file whose
members are ``<key>.<ext>``, the original encoded image bytes unchanged (``.jpg``, ``.png``, ...
after the source file's suffix), and ``<key>.cls``, the target as decimal text. Any WebDataset
reader, or plain ``tar``, reads them, so a packed dataset is not locked into labelspace; they
are written with Python's :mod:`tarfile`, so packing adds no dependency. Keys are the image's
position in its split, zero-padded (``00000042``), and shards keep the listing's order.
LitData was considered and not chosen: it would bring boto3, obstore and requests, and under
DDP it drops samples to keep ranks level.

**Reading: map-style, by offset.** labelspace adds an index: for every image, its shard, the
byte offset of its data in that tar, its size and its target (one int64 row, the only memory
held per image). :class:`ShardImages` is a map-style dataset (a
:class:`~labelspace.data.streaming.LazyImages`): reading image ``i`` is one seek and one read
in its shard, so Lightning's DistributedSampler decides which rank reads which images exactly
as for images in memory or in files: every rank reads only its own part, and each epoch every
image is read once over all ranks. When the number of images is not a multiple of the number
of ranks, the DistributedSampler repeats up to ``ranks - 1`` images (``drop_last=False``) so
that every rank runs the same number of steps; nothing is dropped.

**Safety.** Every image is decoded once before it is written, so a corrupt file stops the pack
(or is skipped, with ``skip_corrupt``) instead of failing hours into training. Everything is
written into a temporary sibling folder that is moved into place at the end: a failure or
Ctrl-C leaves no ``OUT`` and no temporary folder, and an existing ``OUT`` is replaced only with
``overwrite`` (and only if it is empty or a packed folder, never an arbitrary folder).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import shutil
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from labelspace.data.errors import CorruptImageError, DatasetError
from labelspace.data.images import Transform
from labelspace.data.images_io import DECODE_ERRORS, decode_error_reason, open_image
from labelspace.data.layouts import FileSplit, Listing
from labelspace.data.streaming import LazyImages
from labelspace.errors import InputError, OutputExistsError

__all__ = [
    "SHARDS_FORMAT",
    "SHARDS_MANIFEST",
    "SHARDS_VERSION",
    "ShardImages",
    "is_packed",
    "pack",
    "read_manifest",
]

log = logging.getLogger(__name__)

SHARDS_MANIFEST = "labelspace-shards.json"
SHARDS_FORMAT = "labelspace-shards"
SHARDS_VERSION = 1
SPLITS = ("train", "test")
DEFAULT_SHARD_BYTES = 256 << 20

_BLOCK = tarfile.BLOCKSIZE  # 512: a ustar header, and the unit of member data
_TAR_END = 2 * _BLOCK  # the two zero blocks that end an archive
_KEY_DIGITS = 8
_EXT = re.compile(r"[a-z0-9]+")
_PIL_EXT = {"JPEG": "jpg", "TIFF": "tif"}
_KEYS = (
    "format",
    "version",
    "classes",
    "synsets",
    "source",
    "layout",
    "in_chans",
    "counts",
    "shards",
    "notes",
)


def is_packed(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder written by :func:`pack` (it holds the manifest)."""
    return (Path(path) / SHARDS_MANIFEST).is_file()


def shard_name(split: str, number: int) -> str:
    """The file name of shard ``number`` of ``split``: ``train-000003.tar``."""
    return f"{split}-{number:06d}.tar"


def index_name(split: str) -> str:
    """The file name of the index of ``split``: ``train.index.npy``."""
    return f"{split}.index.npy"


# --------------------------------------------------------------------------- writing
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
    _check_out(out, listing.root, overwrite=overwrite)

    made_parent = _first_missing(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}-{secrets.token_hex(3)}")
    tmp.mkdir()
    try:
        manifest = _write_all(
            listing, synsets, tmp, shard_bytes, shard_size, skip_corrupt, on_progress
        )
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if made_parent is not None:
            shutil.rmtree(made_parent, ignore_errors=True)
        raise
    return manifest


def _check_out(out: Path, source: Path, *, overwrite: bool) -> None:
    """Refuse an ``out`` that cannot be written, before any work starts."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; give the path of a folder to pack the dataset into")
    try:
        source_in_out = source.resolve().is_relative_to(out.resolve())
    except OSError:
        source_in_out = False
    if source_in_out:
        raise InputError(
            f"cannot pack into {out}: the dataset {source} is inside it; choose another folder"
        )
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(
                f"{out} exists and is not empty; pass --overwrite to replace it"
            )
        if not is_packed(out):
            raise OutputExistsError(
                f"{out} is not a folder written by `labelspace pack` (it has no {SHARDS_MANIFEST}),"
                " so --overwrite does not replace it; choose another folder, or delete it yourself"
            )


def _first_missing(path: Path) -> Path | None:
    """The outermost missing folder of ``path`` and its parents (None: ``path`` exists)."""
    path = path.absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` (checked already) is replaced."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.with_name(f"{out.name}.old-{os.getpid()}-{secrets.token_hex(3)}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


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
    manifest: dict[str, Any] = {
        "format": SHARDS_FORMAT,
        "version": SHARDS_VERSION,
        "classes": list(listing.classes),
        "synsets": list(synsets),
        "source": str(listing.root),
        "layout": listing.layout,
        "in_chans": (1 if modes == {"L"} else 3) if modes else None,
        "counts": counts,
        "shards": shards,
        "notes": notes,
    }
    with open(folder / SHARDS_MANIFEST, "x", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(manifest, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
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
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


# --------------------------------------------------------------------------- reading
def _damaged(folder: Path, problem: str, source: str | None = None) -> DatasetError:
    return DatasetError(
        f"{folder} is a damaged packed dataset: {problem}. Pack it again with "
        f"`labelspace pack {source or 'DATASET'} {folder} --overwrite`"
    )


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked manifest of the packed folder ``path`` (or of its manifest file).

    Checks the manifest's format, version and keys, and that both indexes and all shards are
    there, the indexes with one row per image; raises
    :class:`~labelspace.data.errors.DatasetError` saying what is wrong otherwise.
    """
    folder = Path(path)
    if folder.name == SHARDS_MANIFEST and folder.is_file():
        folder = folder.parent
    file = folder / SHARDS_MANIFEST
    if not folder.is_dir():
        raise DatasetError(
            f"{folder} is not a folder; give the folder written by `labelspace pack`"
        )
    if not file.is_file():
        raise DatasetError(
            f"{folder} holds no {SHARDS_MANIFEST}, so it is not a packed dataset (or its packing "
            f"did not finish); make one with `labelspace pack DATASET {folder}`"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(folder, f"{SHARDS_MANIFEST} cannot be read as JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise _damaged(folder, f"{SHARDS_MANIFEST} holds no JSON object")
    source = manifest.get("source") if isinstance(manifest.get("source"), str) else None
    if manifest.get("format") != SHARDS_FORMAT:
        raise _damaged(folder, f"{SHARDS_MANIFEST} does not say format {SHARDS_FORMAT!r}", source)
    version = manifest.get("version")
    if version != SHARDS_VERSION:
        if isinstance(version, int) and version > SHARDS_VERSION:
            raise DatasetError(
                f"{folder} was packed by a newer labelspace (format version {version}; this one "
                f"reads version {SHARDS_VERSION}); upgrade labelspace, or pack it again with "
                f"`labelspace pack {source or 'DATASET'} {folder} --overwrite`"
            )
        raise _damaged(folder, f"{SHARDS_MANIFEST} has format version {version!r}", source)
    missing = [key for key in _KEYS if key not in manifest]
    if missing:
        raise _damaged(folder, f"{SHARDS_MANIFEST} lacks {', '.join(missing)}", source)
    problem = _manifest_problem(manifest)
    if problem:
        raise _damaged(folder, f"{SHARDS_MANIFEST}: {problem}", source)
    for split in SPLITS:
        for name in manifest["shards"][split]:
            if not (folder / name).is_file():
                raise _damaged(folder, f"shard {name} is missing", source)
        rows = _index_rows(folder / index_name(split))
        if isinstance(rows, str):
            raise _damaged(folder, rows, source)
        if rows != manifest["counts"][split]:
            raise _damaged(
                folder,
                f"{index_name(split)} lists {rows} images but the manifest says "
                f"{manifest['counts'][split]}",
                source,
            )
    return manifest


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the manifest's values (None: nothing)."""
    classes, synsets = manifest["classes"], manifest["synsets"]
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        return "classes is not a list of names"
    if not (isinstance(synsets, list) and all(isinstance(s, str) for s in synsets)):
        return "synsets is not a list of names"
    if len(synsets) != len(classes):
        return f"{len(synsets)} synsets for {len(classes)} classes"
    if manifest["in_chans"] not in (1, 3, None):
        return f"in_chans is {manifest['in_chans']!r}, not 1, 3 or null"
    counts, shards = manifest["counts"], manifest["shards"]
    for split in SPLITS:
        count = counts.get(split) if isinstance(counts, dict) else None
        if not (isinstance(count, int) and count >= 0):
            return f"counts has no number of {split} images"
        names = shards.get(split) if isinstance(shards, dict) else None
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            return f"shards has no list of {split} shard files"
        for name in names:  # plain names in the folder: a manifest may not point elsewhere
            if Path(name).name != name or not name.endswith(".tar"):
                return f"shard {name!r} is not the name of a .tar file in the folder"
    return None


def _index_rows(file: Path) -> int | str:
    """The number of rows of an index file, read from its header; a problem as a string."""
    if not file.is_file():
        return f"{file.name} is missing"
    try:
        index = np.load(file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        return f"{file.name} cannot be read ({str(err).splitlines()[0] if str(err) else err!r})"
    if index.dtype != np.int64 or index.ndim != 2 or index.shape[1] != 4:
        return f"{file.name} holds {index.dtype} {index.shape}, not int64 rows of 4"
    return int(index.shape[0])


class ShardImages(LazyImages):
    """Images read from packed shards by offset: one seek and read per image.

    ``index`` rows are (shard number, data offset, size, target); ``shards`` the shard file
    names in ``folder``. Open shard files are cached per process and dropped when the dataset
    is pickled or used in a forked DataLoader worker, which opens its own.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        split: str,
        shards: Sequence[str],
        index: np.ndarray,
        *,
        manifest: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        index = np.asarray(index, dtype=np.int64)
        if index.ndim != 2 or index.shape[1] != 4:
            raise ValueError(f"index must be int64 rows of 4, got shape {index.shape}")
        # targets: a view of the index's last column, so an image costs one index row
        super().__init__(torch.from_numpy(index[:, 3]), **kwargs)
        self.folder = Path(folder)
        self.split = split
        self.shards = list(shards)
        self.index = index
        self.manifest = manifest if manifest is not None else {}
        self._files: dict[int, io.BufferedReader] = {}
        self._pid: int | None = None

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        split: str,
        *,
        in_chans: int,
        image_size: int,
        transform: Transform | None = None,
        skip_corrupt: bool = False,
        resize: bool = True,
    ) -> ShardImages:
        """The ``split`` ("train" or "test") of the packed folder ``folder``, checked.

        Images are brought to ``image_size`` by the resize policy, or with ``resize=False``
        must have that size already (see :class:`~labelspace.data.streaming.LazyImages`).
        """
        if split not in SPLITS:
            raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if in_chans not in (1, 3):
            raise InputError(f"in_chans must be 1 or 3, got {in_chans}")
        folder = Path(folder)
        manifest = read_manifest(folder)
        source = manifest["source"]
        try:
            index = np.load(folder / index_name(split), allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise _damaged(folder, f"{index_name(split)} cannot be read ({err})", source) from None
        sizes = np.array([(folder / n).stat().st_size for n in manifest["shards"][split]])
        problem = _index_problem(index, sizes, len(manifest["classes"]))
        if problem:
            raise _damaged(folder, f"{index_name(split)}: {problem}", source)
        return cls(
            folder,
            split,
            manifest["shards"][split],
            index,
            manifest=manifest,
            in_chans=in_chans,
            image_size=image_size,
            transform=transform,
            skip_corrupt=skip_corrupt,
            resize=resize,
        )

    # LazyImages ------------------------------------------------------------------------
    def source(self, index: int) -> bytes:
        shard, offset, size, _ = (int(v) for v in self.index[index])
        data = _read_at(self._file(shard), offset, size)
        if len(data) != size:
            raise OSError(
                f"the shard is shorter than its index says ({len(data)} of {size} bytes at "
                f"offset {offset}); pack the dataset again with --overwrite"
            )
        return data

    def name(self, index: int) -> str:
        shard, offset = int(self.index[index, 0]), int(self.index[index, 1])
        where = f"{self.folder / self.shards[shard]}#"
        try:  # the member's ustar header is the block before its data
            header = _read_at(self._file(shard), offset - _BLOCK, _BLOCK)
            member = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape").name
            return where + member.split(".", 1)[0]
        except (OSError, tarfile.TarError, IndexError):
            return f"{where}@{offset}"

    def _take(self, index: np.ndarray) -> ShardImages:
        return ShardImages(
            self.folder,
            self.split,
            self.shards,
            self.index[index],
            manifest=self.manifest,
            **self.options(),
        )

    # open files ------------------------------------------------------------------------
    def _file(self, shard: int) -> io.BufferedReader:
        if self._pid != os.getpid():  # a forked worker: the parent's handles are not ours
            self._files, self._pid = {}, os.getpid()
        handle = self._files.get(shard)
        if handle is None:
            handle = self._files[shard] = open(self.folder / self.shards[shard], "rb")  # noqa: SIM115
        return handle

    def close(self) -> None:
        """Close the cached shard files (they reopen when an image is read again)."""
        if self._pid == os.getpid():
            for handle in self._files.values():
                handle.close()
        self._files = {}

    def __del__(self) -> None:
        if getattr(self, "_files", None):
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"], state["_pid"] = {}, None
        del state["targets"]  # a view of the index: rebuilt on unpickling, not sent twice
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.targets = torch.from_numpy(self.index[:, 3])

    def __repr__(self) -> str:
        n, s = len(self), self._image_size
        return (
            f"ShardImages({self.folder} {self.split}, {n} images, {self._in_chans}x{s}x{s}, "
            f"transform={self.transform!r})"
        )


def _read_at(handle: io.BufferedReader, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``: one pread where there is one (no shared file position)."""
    if offset < 0:
        raise OSError(f"offset {offset} is before the start of the shard")
    if hasattr(os, "pread"):
        return os.pread(handle.fileno(), size, offset)
    handle.seek(offset)
    return handle.read(size)


def _index_problem(index: np.ndarray, sizes: np.ndarray, classes: int) -> str | None:
    """What is wrong with an index's rows, given its shards' file sizes (None: nothing)."""
    if len(index) == 0:
        return None
    shard, offset, size, target = index.T
    if shard.min() < 0 or shard.max() >= len(sizes):
        return f"shard numbers outside 0..{len(sizes) - 1}"
    if offset.min() < _BLOCK or size.min() < 0:
        return "negative sizes or offsets before the first member"
    if np.any(offset + size > sizes[shard]):
        return "images that end past the end of their shard (a truncated shard?)"
    if target.min() < 0 or target.max() >= classes:
        return f"targets outside 0..{classes - 1}"
    return None
