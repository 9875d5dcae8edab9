"""What a seeded, class-proportional sample of a dataset's images says, for datasets read
from files or shards (named datasets have theirs fixed).

Two looks, cheap first: :func:`peek` reads image headers only (channels and size, to plan
the storage before anything is decoded); :func:`probe_files` and :func:`probe_lazy` decode
the sample for its channels, size and pixel statistics, one image at a time, so that memory
does not grow with the sample or the image size.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from labelspace.data.errors import CorruptImageError, DatasetError
from labelspace.data.folders import differing_sizes
from labelspace.data.images_io import (
    DECODE_ERRORS,
    GRAY_MODES,
    decode_error_reason,
    fit_image,
    open_image,
    orientation,
)
from labelspace.data.splits import stratified_sample
from labelspace.data.transforms import stats_from_counts

__all__ = ["PEEK_IMAGES", "STATS_SAMPLE", "Probe", "peek", "probe_files", "probe_lazy", "sample"]

STATS_SAMPLE = 2000
"""Streamed datasets take their channel statistics from this many training images (seeded);
smaller datasets from all of them, exactly as in memory."""

PEEK_IMAGES = 200
"""Image headers read to plan the storage (and, for shards, to tell grayscale from RGB)."""


@dataclass(frozen=True)
class Probe:
    """What a sample of a dataset's images says: channels, size, normalisation."""

    in_chans: int
    size: int
    stats: tuple[tuple[float, ...], tuple[float, ...]]


def sample(n: int, targets: Sequence[int] | torch.Tensor) -> list[int]:
    """At most :data:`STATS_SAMPLE` indices in class proportion (all of them when fewer)."""
    if n <= STATS_SAMPLE:
        return list(range(n))
    return stratified_sample(torch.as_tensor(targets), STATS_SAMPLE, 0).tolist()


def peek(sources: Iterable[Path | bytes]) -> tuple[int, tuple[int, int]] | None:
    """Channels (1 when every image is grayscale, else 3) and the (height, width) of the first
    image, upright, from the headers of ``sources``; None when no header can be read (the
    decoding that follows names the file)."""
    gray, size = True, None
    for source in sources:
        try:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            with Image.open(io.BytesIO(data)) as pil:
                mode, (w, h) = pil.mode, pil.size
                turned = orientation(pil) in (5, 6, 7, 8)
        except DECODE_ERRORS:
            continue
        gray = gray and (mode in GRAY_MODES or mode.startswith("I;16"))
        if size is None:
            size = (w, h) if turned else (h, w)
    return None if size is None else (1 if gray else 3, size)


class _Counts:
    """Per-channel counts of the 256 byte values over images of one or three channels; a
    grayscale image among RGB ones counts for all three, as decoding it as RGB would."""

    def __init__(self) -> None:
        self.gray = np.zeros(256, dtype=np.int64)
        self.rgb = np.zeros((3, 256), dtype=np.int64)
        self.any_rgb = False

    def add(self, pixels: np.ndarray) -> None:
        """One image: (H, W) grayscale, or (C, H, W) with C of 1 or 3."""
        if pixels.ndim == 2 or pixels.shape[0] == 1:
            self.gray += np.bincount(pixels.reshape(-1), minlength=256)
            return
        self.any_rgb = True
        for c in range(3):
            self.rgb[c] += np.bincount(pixels[c].reshape(-1), minlength=256)

    @property
    def channels(self) -> int:
        return 3 if self.any_rgb else 1

    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        counts = self.rgb + self.gray if self.any_rgb else self.gray[None]
        return stats_from_counts(torch.from_numpy(counts))


def probe_files(
    paths: Sequence[Path], targets: Sequence[int], image_size: int | None, skip_corrupt: bool
) -> Probe:
    """Decode a seeded, class-proportional sample of the training images, one at a time.

    Raises:
        CorruptImageError: an unreadable image (unless ``skip_corrupt``).
        ImageSizeError: images of differing sizes and no ``image_size``.
        DatasetError: no image of the sample could be decoded.
    """
    counts = _Counts()
    size: tuple[int, int] | None = None
    first: Path | None = None
    pick = sample(len(paths), targets)
    for i in pick:
        try:
            pil = open_image(paths[i])
        except DECODE_ERRORS as err:
            if not skip_corrupt:
                raise CorruptImageError(paths[i], decode_error_reason(err)) from None
            continue
        if image_size is not None:
            pil = fit_image(pil, image_size)
        hw = (pil.height, pil.width)
        if size is None:
            size, first = hw, paths[i]
        elif hw != size:
            raise differing_sizes(paths[i], hw, first, size)
        pixels = np.asarray(pil)
        counts.add(pixels if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    if size is None:
        raise DatasetError(
            f"none of the {len(pick)} training images sampled could be decoded (e.g. "
            f"{paths[pick[0]]}); check that the dataset's files are images"
        )
    return Probe(counts.channels, size[0], counts.stats())


def probe_lazy(dataset: Any, image_size: int | None, channels: int | None = None) -> Probe:
    """The same for a dataset read when indexed (:class:`~labelspace.data.streaming.LazyImages`):
    ``channels`` as given (e.g. from a peek), else grayscale when the first
    :data:`PEEK_IMAGES` sampled images are."""
    pick = sample(len(dataset), dataset.targets)
    if channels is None:
        peeked = peek(dataset.source(i) for i in pick[:PEEK_IMAGES])
        channels = peeked[0] if peeked else 3
    size = image_size or open_image(dataset.source(pick[0])).height
    probe = dataset.with_size(in_chans=channels, image_size=size, resize=image_size is not None)
    counts = _Counts()
    for i in pick:
        counts.add(probe.read(i).numpy())
    return Probe(channels, size, counts.stats())
