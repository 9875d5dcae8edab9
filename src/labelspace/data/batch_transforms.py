"""Augmentation and normalisation of whole uint8 batches, on whatever device holds them.

Training loaders deliver uint8 batches ``(N, C, H, W)`` (a quarter of the bytes of float32 to
move to an accelerator), and :class:`BatchTransform` augments and normalises them where they
arrive, as a few tensor operations on the whole batch instead of a chain of per-image
transforms in Python: the random crop after zero padding and the horizontal flip are one
gather with per-image offsets, followed by one fused normalisation. The distribution is that
of the per-image transforms of :func:`~labelspace.data.transforms.train_transform`
(torchvision's ``RandomCrop(size, padding=p)``: each offset uniform in ``0..2p``;
``RandomHorizontalFlip``: each image flipped with probability 1/2), and without randomness
(evaluation, ``augment="none"``) the pixels are identical to theirs.

Random numbers come from the global generator of the batch's device, which the training
loop seeds every epoch, so a run stays repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from labelspace.data.transforms import AUGMENTATIONS, Normalize, default_padding
from labelspace.errors import InputError

__all__ = ["BatchTransform", "augment_batch", "batch_transforms"]


def augment_batch(
    images: torch.Tensor,
    *,
    crop_padding: int = 0,
    flip: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly crop (after ``crop_padding`` zero pixels on every side) and flip a uint8 batch.

    Every image gets its own offsets and flip; the result has the input's shape and dtype.
    Both are one ``gather`` along the flattened pixels of each padded image: output pixel
    ``(r, c)`` reads padded pixel ``(top + r, left + c)``, or ``(top + r, left + W - 1 - c)``
    when flipped (about four times faster on a CPU than indexing with four index tensors).
    """
    if images.ndim != 4:
        raise ValueError(f"augment_batch needs an (N, C, H, W) batch, got {tuple(images.shape)}")
    if crop_padding < 0:
        raise ValueError(f"crop_padding must be at least 0, got {crop_padding}")
    n, c, h, w = images.shape
    if n == 0 or (crop_padding == 0 and not flip):
        return images
    device = images.device
    p = crop_padding
    source = torch.nn.functional.pad(images, (p, p, p, p)) if p else images
    padded_w = w + 2 * p
    if p:  # offsets uniform in 0..2p, as RandomCrop draws them on the padded image
        top = torch.randint(0, 2 * p + 1, (n, 1, 1), device=device, generator=generator)
        left = torch.randint(0, 2 * p + 1, (n, 1, 1), device=device, generator=generator)
    else:
        top = left = torch.zeros((n, 1, 1), dtype=torch.long, device=device)
    cols = torch.arange(w, device=device).expand(n, 1, w)
    if flip:
        flipped = torch.rand((n, 1, 1), device=device, generator=generator) < 0.5
        cols = torch.where(flipped, cols.flip(-1), cols)
    rows = torch.arange(h, device=device).view(1, h, 1)
    index = ((top + rows) * padded_w + left + cols).reshape(n, 1, h * w).expand(n, c, h * w)
    return source.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


@dataclass(frozen=True)
class BatchTransform:
    """Augment (see :data:`~labelspace.data.transforms.AUGMENTATIONS`), then normalise a uint8
    batch into float32; ``augment="none"`` only normalises (evaluation)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str = "none"
    padding: int = 0

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTATIONS:
            raise InputError(
                f"unknown augmentation {self.augment!r}; choose one of {list(AUGMENTATIONS)}"
            )
        object.__setattr__(self, "_normalize", Normalize(self.mean, self.std))

    @property
    def crops(self) -> bool:
        return self.augment in ("crop", "crop-flip")

    @property
    def flips(self) -> bool:
        return self.augment in ("flip", "crop-flip")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"BatchTransform expects a uint8 batch, got {images.dtype}")
        images = augment_batch(
            images, crop_padding=self.padding if self.crops else 0, flip=self.flips
        )
        return self._normalize(images)  # type: ignore[attr-defined]


def batch_transforms(
    mean: Sequence[float], std: Sequence[float], augment: str, image_size: tuple[int, int]
) -> tuple[BatchTransform, BatchTransform]:
    """The training transform (``augment``, with the padding of
    :func:`~labelspace.data.transforms.train_transform`) and the evaluation one."""
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    padding = default_padding(augment, min(image_size))
    return BatchTransform(mean, std, augment, padding), BatchTransform(mean, std)
