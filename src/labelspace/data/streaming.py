"""Images decoded when they are read, for datasets larger than memory.

A :class:`LazyImages` holds where each image is (a file, or a member of a shard) and its target;
``dataset[i]`` reads and decodes image ``i`` per the resize policy of
:mod:`labelspace.data.images_io` and applies the transform, in whichever DataLoader worker asks
for it (``--workers``). It offers the interface of
:class:`~labelspace.data.images.InMemoryImages` (``targets``, ``subset``, ``with_transform``,
``in_chans``, ``image_size``), so splits, limits and zero-shot filtering treat both alike.
Memory held per image: one path and one target, whatever the number of images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from labelspace.data.errors import CorruptImageError, ImageSizeError
from labelspace.data.images import Indices, InMemoryImages, Transform
from labelspace.data.images_io import DECODE_ERRORS, decode_error_reason, read_image

__all__ = ["FileImages", "LazyImages"]

log = logging.getLogger(__name__)


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
    ) -> None:
        self.targets = torch.as_tensor(targets, dtype=torch.int64).reshape(-1)
        self._in_chans = int(in_chans)
        self._image_size = int(image_size)
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.resize = resize

    def options(self) -> dict[str, Any]:
        """The keyword arguments that make another dataset read images as this one does."""
        return {
            "in_chans": self._in_chans,
            "image_size": self._image_size,
            "transform": self.transform,
            "skip_corrupt": self.skip_corrupt,
            "resize": self.resize,
        }

    # subclasses ------------------------------------------------------------------------
    def source(self, index: int) -> Path | bytes:
        """The file, or the encoded bytes, of image ``index``."""
        raise NotImplementedError

    def name(self, index: int) -> str:
        """How image ``index`` is named in messages."""
        return str(self.source(index))

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
                    raise CorruptImageError(self.name(i), decode_error_reason(err)) from None
                log.warning(
                    "skipping unreadable image %s: %s", self.name(i), decode_error_reason(err)
                )
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
        raise CorruptImageError(self.name(index), "no image of the dataset could be decoded")

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
