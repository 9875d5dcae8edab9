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

The loaders deliver uint8 batches (:class:`PixelBatches`: a batch of images in memory is one
indexing operation; streamed ones are decoded in the workers), and the batches are augmented
and normalised where they arrive, on the accelerator
(:meth:`ImageDataModule.on_after_batch_transfer`, :mod:`labelspace.data.batch_transforms`).
On a GPU, images held in memory are moved there once (when they take at most
:data:`DEVICE_SHARE` of its free memory), so a training step reads no host memory at all;
streamed batches come through pinned memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from labelspace.data.batch_transforms import BatchTransform, batch_transforms
from labelspace.data.images import InMemoryImages, filter_classes
from labelspace.data.splits import stratified_split, stratified_subset
from labelspace.data.storage import default_workers, fitting_batch

__all__ = [
    "DEVICE_SHARE",
    "EVAL_BATCH_SIZE",
    "EpochSeededSampler",
    "ImageDataModule",
    "PixelBatches",
    "default_workers",
    "eval_loader",
    "steps_per_epoch",
    "to_device",
    "train_loader",
]

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 512

DEVICE_SHARE = 0.5
"""Images held in memory move to the accelerator when they take at most this share of its
free memory (the model, its activations and the optimizer need the rest)."""


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


class PixelBatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A dataset's uint8 images and their targets, read a batch at a time.

    DataLoader hands a whole batch of indices to :meth:`__getitems__`: images in memory are
    gathered in one indexing operation (on the accelerator, after :meth:`to`), streamed ones
    are decoded one by one (in the loader's workers) and stacked. The dataset's own per-item
    transform is not applied: the batch is augmented and normalised where it arrives
    (:class:`~labelspace.data.batch_transforms.BatchTransform`).
    """

    def __init__(self, dataset: Any) -> None:  # InMemoryImages or LazyImages
        self.dataset = dataset
        self.images = dataset.images if isinstance(dataset, InMemoryImages) else None
        self.targets = dataset.targets

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def device(self) -> torch.device:
        return self.targets.device

    @property
    def nbytes(self) -> int:
        """Bytes of the images held in memory (0 for streamed images)."""
        return 0 if self.images is None else self.images.numel()

    def to(self, device: torch.device) -> PixelBatches:
        """These images and targets on ``device`` (images in memory only)."""
        if self.images is None:
            raise ValueError("streamed images are decoded in the loader; they cannot move")
        moved = PixelBatches(self.dataset)
        moved.images, moved.targets = self.images.to(device), self.targets.to(device)
        return moved

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = to_device(torch.as_tensor(indices, dtype=torch.int64), self.device)
        if self.images is not None:
            return self.images[index], self.targets[index]
        images = torch.stack([self.dataset.read(int(i)) for i in indices])
        return images, self.targets[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets = self.__getitems__([index])
        return images[0], targets[0]


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` (on the host) on ``device``. To a GPU through pinned memory, without waiting:
    a copy from pageable memory would first wait for all the work queued on the GPU, so the
    host could not prepare the next step while the GPU runs this one."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _batched(batch: Any) -> Any:
    """The collate function of loaders over :class:`PixelBatches`, whose batches come whole."""
    return batch


def train_loader(
    dataset: Dataset, batch_size: int, seed: int, workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    """Training batches in the seeded order of :class:`EpochSeededSampler`; a
    :class:`PixelBatches` dataset gives whole uint8 batches."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSeededSampler(len(dataset), seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=len(dataset) > batch_size,
        pin_memory=pin_memory,
        **({"collate_fn": _batched} if isinstance(dataset, PixelBatches) else {}),
    )


def eval_loader(
    dataset: Dataset,
    batch_size: int = EVAL_BATCH_SIZE,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches in order; at most ``batch_size``, fewer where large images would not fit in
    memory (:func:`~labelspace.data.storage.fitting_batch`)."""
    source = dataset.dataset if isinstance(dataset, PixelBatches) else dataset
    chans, size = getattr(source, "in_chans", None), getattr(source, "image_size", None)
    if chans is not None and size is not None:
        batch_size = fitting_batch(batch_size, chans * size[0] * size[1], workers)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
        **({"collate_fn": _batched} if isinstance(dataset, PixelBatches) else {}),
    )


def _free_memory(device: torch.device) -> int:
    """Free bytes on an accelerator (none known: 0, so nothing is moved there)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return 0


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
        self.train_transform, self.eval_transform = batch_transforms(
            data.mean, data.std, data.augment, data.image_size
        )
        self._pixels: dict[tuple[str, str], PixelBatches] = {}  # per split and device

    # loaders ------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        """The device this process trains on (the CPU before a trainer is attached)."""
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def pixels(self, split: str) -> PixelBatches:
        """The uint8 batches of ``split`` (train, val or test), held on the accelerator when
        they are in memory, read in the main process and fit in :data:`DEVICE_SHARE` of its
        free memory; moved once, then reused by every epoch."""
        device = self._device()
        held = self._pixels.get((split, str(device)))
        if held is not None:
            return held
        pixels = PixelBatches(getattr(self, f"{split}_set"))
        if device.type != "cpu" and pixels.images is not None and self.workers == 0:
            free = _free_memory(device)
            if pixels.nbytes <= DEVICE_SHARE * free:
                pixels = pixels.to(device)
                log.info(
                    "%s images held on %s (%.2f GiB): batches are gathered and augmented there",
                    split,
                    device,
                    pixels.nbytes / 2**30,
                )
            else:
                log.info(
                    "%s images (%.2f GiB) stay in host memory: more than %.0f %% of the "
                    "%.1f GiB free on %s",
                    split,
                    pixels.nbytes / 2**30,
                    100 * DEVICE_SHARE,
                    free / 2**30,
                    device,
                )
        self._pixels[(split, str(device))] = pixels
        return pixels

    def _pin(self, pixels: PixelBatches) -> bool:
        """Pinned host memory for batches copied to a GPU (asynchronous copies)."""
        return self._device().type == "cuda" and pixels.device.type == "cpu"

    def train_dataloader(self) -> DataLoader:
        pixels = self.pixels("train")
        return train_loader(pixels, self.batch_size, self.seed, self.workers, self._pin(pixels))

    def val_dataloader(self) -> DataLoader:
        pixels = self.pixels("val")
        return eval_loader(pixels, EVAL_BATCH_SIZE, self.workers, self._pin(pixels))

    def test_dataloader(self) -> DataLoader:
        pixels = self.pixels("test")
        return eval_loader(pixels, EVAL_BATCH_SIZE, self.workers, self._pin(pixels))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment (training) or only normalise (evaluation) a uint8 batch on its device."""
        images, targets = batch
        if images.dtype != torch.uint8:  # a loader of already transformed images
            return batch
        trainer = getattr(self, "trainer", None)
        training = trainer is not None and trainer.training
        transform: BatchTransform = self.train_transform if training else self.eval_transform
        return transform(images), targets

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
