"""Images decoded when they are read, for datasets larger than memory.

A :class:`LazyImages` holds where each image is (a file, or a member of a shard) and its target;
``dataset[i]`` reads and decodes image ``i`` per the resize policy of
:mod:`labelspace.data.images_io` and applies the transform, in whichever DataLoader worker asks
for it (``--workers``). It offers the interface of
:class:`~labelspace.data.images.InMemoryImages` (``targets``, ``subset``, ``with_transform``,
``in_chans``, ``image_size``), so splits, limits and zero-shot filtering treat both alike.
Memory held per image: one path and one target, whatever the number of images.

With ``skip_corrupt``, a training image that does not decode is replaced by the next readable
one and its name is written to a :class:`SkipLog` (a file every worker appends to), so the run
report lists it; the test split is checked before the run (:func:`drop_unreadable`), so that
it is tested on exactly the readable images, as in memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from labelspace.data.errors import CorruptImageError, ImageSizeError
from labelspace.data.images import Indices, InMemoryImages, Transform
from labelspace.data.images_io import DECODE_ERRORS, decode_error_reason, open_image, read_image

__all__ = ["FileImages", "LazyImages", "SkipLog", "drop_unreadable"]

log = logging.getLogger(__name__)


class SkipLog:
    """The names of the images skipped as unreadable while streaming, from every process.

    A small temporary file that DataLoader workers append one line to per skipped image (an
    append of a short line is atomic, so workers never mix lines); the process that made it
    reads it back with :meth:`names` and removes it when the log is garbage or at exit. It
    pickles as its path, so spawned workers append to the same file.
    """

    def __init__(self) -> None:
        handle, name = tempfile.mkstemp(prefix="labelspace-skipped-", suffix=".txt")
        os.close(handle)
        self.path = name
        self.owner = os.getpid()
        weakref.finalize(self, _remove, name, self.owner)

    def record(self, name: str) -> None:
        """Add one skipped image's name (from any process)."""
        line = name.replace("\n", " ") + "\n"
        with open(self.path, "a", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(line)

    def names(self) -> list[str]:
        """Every name recorded so far, each once, in the order first recorded."""
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        return list(dict.fromkeys(line for line in lines if line))


def _remove(path: str, owner: int) -> None:
    """Delete a skip log's file, in the process that made it only (not in a forked worker)."""
    if os.getpid() == owner:
        with contextlib.suppress(OSError):
            os.unlink(path)


class LazyImages(Dataset[tuple[torch.Tensor, int]]):
    """Images read on demand; subclasses say where image ``i``'s bytes are (:meth:`source`).

    ``image_size`` is the side of the square every image has: with ``resize`` each is brought
    to it by the resize policy, without it an image of another size is an error (as in
    memory: differing sizes are never resized silently); ``in_chans`` is 1 or 3.
    With ``skip_corrupt``, an unreadable image is replaced by the next readable one (and
    logged once), since a streamed dataset is not read in full before training; without it,
    the error names the file.
    """

    def __init__(
        self,
        targets: torch.Tensor | Sequence[int],
        *,
        in_chans: int,
        image_size: int,
        transform: Transform | None = None,
        skip_corrupt: bool = False,
        resize: bool = True,
        skip_log: SkipLog | None = None,
    ) -> None:
        self.targets = torch.as_tensor(targets, dtype=torch.int64).reshape(-1)
        self._in_chans = int(in_chans)
        self._image_size = int(image_size)
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.resize = resize
        self.skip_log = skip_log

    def options(self) -> dict[str, Any]:
        """The keyword arguments that make another dataset read images as this one does."""
        return {
            "in_chans": self._in_chans,
            "image_size": self._image_size,
            "transform": self.transform,
            "skip_corrupt": self.skip_corrupt,
            "resize": self.resize,
            "skip_log": self.skip_log,
        }

    # subclasses ------------------------------------------------------------------------
    def source(self, index: int) -> Path | bytes:
        """The file, or the encoded bytes, of image ``index``."""
        raise NotImplementedError

    def name(self, index: int) -> str:
        """How image ``index`` is named in messages."""
        return str(self.source(index))

    def remedy(self) -> str | None:
        """What to do about an image that does not decode (None: replace the file, or skip)."""
        return None

    def _take(self, index: np.ndarray) -> LazyImages:
        """A dataset of the images at ``index`` (same transform), without checks."""
        raise NotImplementedError

    # the InMemoryImages interface ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self.targets)

    @property
    def in_chans(self) -> int:
        return self._in_chans

    @property
    def image_size(self) -> tuple[int, int]:
        return self._image_size, self._image_size

    def read(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 ``(C, N, N)``, before the transform."""
        for offset in range(len(self)):
            i = (index + offset) % len(self)
            try:
                size = self._image_size if self.resize else None
                image = read_image(self.source(i), channels=self._in_chans, size=size)
            except DECODE_ERRORS as err:
                if not self.skip_corrupt:
                    reason = decode_error_reason(err)
                    raise CorruptImageError(self.name(i), reason, self.remedy()) from None
                log.warning(
                    "skipping unreadable image %s: %s", self.name(i), decode_error_reason(err)
                )
                if self.skip_log is not None:
                    self.skip_log.record(self.name(i))
                continue
            if image.shape[-2:] != (self._image_size, self._image_size):
                h, w = image.shape[-2:]
                s = self._image_size
                raise ImageSizeError(
                    f"{self.name(i)} is {h}x{w} (height x width) but the dataset's images are "
                    f"{s}x{s}; images of differing sizes are not resized silently: pass "
                    "--image-size N (shorter side to N, centre N x N crop)"
                )
            return image
        raise CorruptImageError(
            self.name(index),
            "no image of the dataset could be decoded",
            "Check that the dataset's files are images (Pillow reads none of them).",
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.read(int(index))
        target = int(self.targets[index])
        if self.transform is None:
            return image.to(torch.float32).div_(255), target
        return self.transform(image), target

    def subset(self, indices: Indices) -> LazyImages:
        """The images at ``indices``, with the same transform and original targets."""
        index = np.asarray(
            indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64
        ).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(
                f"subset indices must lie in [0, {len(self)}); got {index.min()} to {index.max()}"
            )
        return self._take(index)

    def with_transform(self, transform: Transform | None) -> LazyImages:
        """The same images and targets with another transform."""
        out = self._take(np.arange(len(self)))
        out.transform = transform
        return out

    def in_memory(self) -> InMemoryImages:
        """Every image decoded into one uint8 tensor, with the same transform (for small
        subsets that are read many times, such as the images an attack perturbs)."""
        images = torch.stack([self.read(i) for i in range(len(self))])
        return InMemoryImages(images, self.targets, self.transform)

    def with_size(self, *, in_chans: int, image_size: int, resize: bool) -> LazyImages:
        """The same images read with other channels or size."""
        out = self._take(np.arange(len(self)))
        out._in_chans, out._image_size, out.resize = int(in_chans), int(image_size), resize
        return out


class _Readable(Dataset[str]):
    """Image ``i`` of a lazy dataset: "" when it decodes, else its name (for a DataLoader
    that checks images in its workers)."""

    def __init__(self, dataset: LazyImages) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> str:
        try:
            open_image(self.dataset.source(index))
        except DECODE_ERRORS as err:
            name = self.dataset.name(index)
            log.warning("skipping unreadable image %s: %s", name, decode_error_reason(err))
            return name
        return ""


def drop_unreadable(
    dataset: LazyImages,
    workers: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[LazyImages, list[str]]:
    """The images of ``dataset`` that decode, and the names of those that do not: every image
    is decoded once, in ``workers`` DataLoader processes."""
    loader = torch.utils.data.DataLoader(
        _Readable(dataset), batch_size=32, num_workers=workers, collate_fn=list
    )
    bad: list[str] = []
    keep: list[int] = []
    done = 0
    for batch in loader:
        for offset, name in enumerate(batch):
            if name:
                bad.append(name)
            else:
                keep.append(done + offset)
        done += len(batch)
        if on_progress is not None:
            on_progress(done, len(dataset))
    if not bad:
        return dataset, []
    return dataset.subset(keep), bad


class FileImages(LazyImages):
    """Images read from their files (an image folder, a CSV manifest, ImageNet)."""

    def __init__(self, paths: Sequence[Path], targets: torch.Tensor | Sequence[int], **kwargs):
        super().__init__(targets, **kwargs)
        # one NumPy array of bytes rather than a list of Path: DataLoader workers fork and would
        # otherwise touch (and copy) every Python object's reference count; bytes take a
        # quarter of NumPy's 4-byte str characters (ImageNet: about 100 MB instead of 400)
        self.paths = (
            paths
            if isinstance(paths, np.ndarray) and paths.dtype.kind == "S"
            else np.asarray([os.fsencode(p) for p in paths], dtype=np.bytes_)
        )
        if len(self.paths) != len(self.targets):
            raise ValueError(f"{len(self.paths)} paths but {len(self.targets)} targets")

    def source(self, index: int) -> Path:
        return Path(os.fsdecode(self.paths[index]))

    def _take(self, index: np.ndarray) -> FileImages:
        return FileImages(
            self.paths[index], self.targets[torch.from_numpy(index)], **self.options()
        )

    def __repr__(self) -> str:
        n, s = len(self), self._image_size
        return f"FileImages({n} images, {self._in_chans}x{s}x{s}, transform={self.transform!r})"
