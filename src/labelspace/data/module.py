"""The data path of a run as a LightningDataModule: splits, subsets and loaders in one place.

:class:`ImageDataModule` takes a loaded :class:`~labelspace.data.datasets.ImageData` (in memory,
streamed from files, or from shards) and makes what training and evaluation read:

- a seeded stratified validation split of the training images (``val_fraction``);
- ``train_limit`` / ``test_limit``: class-proportional subsets for quick runs;
- zero-shot training: the images of ``unseen`` targets are left out of training and
  validation (targets keep their numbers);
- loaders: training batches shuffled with ``seed + epoch`` (:class:`EpochSeededSampler`;
  under DDP Lightning wraps it in a DistributedSampler, so every rank reads its own part),
  evaluation in order. ``workers`` DataLoader processes decode streamed images.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from labelspace.data.images import filter_classes
from labelspace.data.splits import stratified_split, stratified_subset
from labelspace.data.storage import default_workers, fitting_batch

__all__ = [
    "EVAL_BATCH_SIZE",
    "EpochSeededSampler",
    "ImageDataModule",
    "default_workers",
    "eval_loader",
    "steps_per_epoch",
    "train_loader",
]

EVAL_BATCH_SIZE = 512


class EpochSeededSampler(Sampler[int]):
    """Shuffles with ``seed + epoch`` (Lightning calls :meth:`set_epoch` every epoch)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        # the global RNG drives the augmentations; Lightning may fetch the first batch before
        # any epoch hook runs, so the epoch's seed is set here, where iteration starts. Under
        # DDP every rank draws the same order (each takes its own share of it) but its own
        # augmentations
        torch.manual_seed(self.seed + self.epoch + AUGMENT_SEED_STRIDE * _rank())
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=gen).tolist())


AUGMENT_SEED_STRIDE = 1_000_003  # keeps the ranks' augmentation seeds apart


def _rank() -> int:
    """This process's rank under torch.distributed (0 without it)."""
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def train_loader(dataset: Dataset, batch_size: int, seed: int, workers: int = 0) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSeededSampler(len(dataset), seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=len(dataset) > batch_size,
    )


def eval_loader(
    dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE, workers: int = 0
) -> DataLoader:
    """Batches in order; at most ``batch_size``, fewer where large images would not fit in
    memory (:func:`~labelspace.data.storage.fitting_batch`)."""
    chans, size = getattr(dataset, "in_chans", None), getattr(dataset, "image_size", None)
    if chans is not None and size is not None:
        batch_size = fitting_batch(batch_size, chans * size[0] * size[1], workers)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)


def steps_per_epoch(num_images: int, batch_size: int, world_size: int) -> int:
    per_rank = math.ceil(num_images / max(world_size, 1))
    return max(1, per_rank // batch_size if per_rank > batch_size else 1)


class ImageDataModule(L.LightningDataModule):
    """Training, validation and test sets of one run, and their loaders."""

    def __init__(
        self,
        data: Any,  # labelspace.data.datasets.ImageData
        *,
        batch_size: int,
        seed: int,
        val_fraction: float,
        train_limit: int | None = None,
        test_limit: int | None = None,
        unseen: Iterable[int] = (),
        workers: int | None = None,
    ) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.workers = default_workers(data.streaming) if workers is None else workers
        train_idx, val_idx = stratified_split(data.train.targets, val_fraction, seed, data.classes)
        # the training images carry augmentation + normalisation; validation gets the test's
        train_set = stratified_subset(data.train.subset(train_idx), train_limit, seed)
        val_set = data.train.subset(val_idx).with_transform(data.test.transform)
        unseen = set(unseen)
        if unseen:  # zero-shot: no image of an unseen class is trained or validated on
            seen = [t for t in range(len(data.classes)) if t not in unseen]
            train_set, val_set = filter_classes(train_set, seen), filter_classes(val_set, seen)
        if train_limit is not None:  # a quick run validates on a proportionate share
            share = val_fraction / (1 - val_fraction)
            val_set = stratified_subset(
                val_set, max(len(data.classes), round(train_limit * share)), seed
            )
        self.train_set = train_set
        self.val_set = val_set
        self.test_set = stratified_subset(data.test, test_limit, seed)

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.train_set, self.batch_size, self.seed, self.workers)

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self.val_set, EVAL_BATCH_SIZE, self.workers)

    def test_dataloader(self) -> DataLoader:
        return eval_loader(self.test_set, EVAL_BATCH_SIZE, self.workers)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
