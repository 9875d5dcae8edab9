"""Reading packed shards: :class:`ShardImages`, a map-style dataset that reads image ``i`` with
one seek and one read in its shard."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelspace.data.images import Transform
from labelspace.data.shards.manifest import SPLITS, TAR_BLOCK, damaged, index_name, read_manifest
from labelspace.data.streaming import LazyImages
from labelspace.errors import InputError

__all__ = ["ShardImages"]


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
            raise damaged(folder, f"{index_name(split)} cannot be read ({err})", source) from None
        sizes = np.array([(folder / n).stat().st_size for n in manifest["shards"][split]])
        problem = _index_problem(index, sizes, len(manifest["classes"]))
        if problem:
            raise damaged(folder, f"{index_name(split)}: {problem}", source)
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
            header = _read_at(self._file(shard), offset - TAR_BLOCK, TAR_BLOCK)
            member = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape").name
            return where + member.split(".", 1)[0]
        except (OSError, tarfile.TarError, IndexError):
            return f"{where}@{offset}"

    def remedy(self) -> str:
        source = self.manifest.get("source") or "DATASET"
        return (
            f"The shard is damaged: pack the dataset again (`labelspace pack {source} "
            f"{self.folder} --overwrite`), or pass --skip-corrupt to leave such images out."
        )

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
    if offset.min() < TAR_BLOCK or size.min() < 0:
        return "negative sizes or offsets before the first member"
    if np.any(offset + size > sizes[shard]):
        return "images that end past the end of their shard (a truncated shard?)"
    if target.min() < 0 or target.max() >= classes:
        return f"targets outside 0..{classes - 1}"
    return None
