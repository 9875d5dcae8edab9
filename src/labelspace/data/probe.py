"""What a seeded, class-proportional sample of a dataset's images says: channels, size and
pixel statistics, for datasets read from files or shards (named datasets have theirs fixed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from labelspace.data.errors import CorruptImageError
from labelspace.data.folders import decode_images
from labelspace.data.images_io import open_image
from labelspace.data.splits import stratified_sample
from labelspace.data.transforms import channel_stats

__all__ = ["STATS_SAMPLE", "Probe", "probe_files", "probe_lazy"]

STATS_SAMPLE = 2000
"""Streamed datasets take their channel statistics from this many training images (seeded);
smaller datasets from all of them, exactly as in memory."""


@dataclass(frozen=True)
class Probe:
    """What a sample of a dataset's images says: channels, size, normalisation."""

    in_chans: int
    size: int
    stats: tuple[tuple[float, ...], tuple[float, ...]]


def _sample(n: int, targets: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """At most :data:`STATS_SAMPLE` indices in class proportion (all of them when fewer)."""
    if n <= STATS_SAMPLE:
        return torch.arange(n)
    return stratified_sample(torch.as_tensor(targets), STATS_SAMPLE, 0)


def probe_files(
    paths: Sequence[Path], targets: Sequence[int], image_size: int | None, skip_corrupt: bool
) -> Probe:
    """Decode a seeded, class-proportional sample of the training images."""
    pick = _sample(len(paths), targets).tolist()
    decoded = decode_images([paths[i] for i in pick], image_size=image_size, skip_corrupt=True)
    if decoded.skipped and not skip_corrupt:
        raise CorruptImageError(decoded.skipped[0], "not a readable image")
    return _stats_probe(decoded.images)


def probe_lazy(dataset: Any, image_size: int | None) -> Probe:
    """The same for a dataset read when indexed (:class:`~labelspace.data.streaming.LazyImages`):
    grayscale when the first 200 sampled images are."""
    pick = _sample(len(dataset), dataset.targets).tolist()
    first = open_image(dataset.source(pick[0]))
    size = image_size or first.height
    gray = all(open_image(dataset.source(i)).mode == "L" for i in pick[:200])
    channels = 1 if gray else 3
    probe = dataset.with_size(in_chans=channels, image_size=size, resize=image_size is not None)
    images = torch.stack([probe.read(i) for i in pick])
    return _stats_probe(images)


def _stats_probe(images: torch.Tensor) -> Probe:
    return Probe(int(images.shape[1]), int(images.shape[2]), channel_stats(images))
