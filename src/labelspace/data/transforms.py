"""Normalisation and training augmentation for uint8 image tensors.

Transforms take one uint8 ``(C, H, W)`` image (as :class:`~labelspace.data.images.InMemoryImages`
stores them) and return a normalised float tensor. Augmentation is light, as suits small images:
by default a horizontal flip for grayscale (Fashion-MNIST), plus a random crop after zero
padding for RGB (CIFAR); evaluation only normalises. The named datasets' statistics and default
augmentations are in their registry entries (:mod:`labelspace.data.named`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from labelspace.errors import InputError

__all__ = [
    "AUGMENTATIONS",
    "Normalize",
    "channel_stats",
    "default_augmentation",
    "default_padding",
    "eval_transform",
    "stats_from_counts",
    "train_transform",
]

Stats = tuple[tuple[float, ...], tuple[float, ...]]

AUGMENTATIONS = ("none", "flip", "crop", "crop-flip")
"""Training augmentations: nothing; horizontal flip; random crop after zero padding; both."""


class Normalize:
    """uint8 image(s) to float: scale to [0, 1], subtract ``mean``, divide by ``std``.

    Works on one ``(C, H, W)`` image or a ``(N, C, H, W)`` batch on any device; one fused
    step is several times faster per item than ``ToDtype`` followed by ``v2.Normalize``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        if len(mean) != len(std) or not mean:
            raise ValueError(f"mean and std need one value per channel, got {mean} and {std}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {std}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        # Fold the 1/255 scaling in: (x / 255 - mean) / std == x * scale - shift.
        self._scale = torch.tensor([1 / (255 * s) for s in self.std]).view(-1, 1, 1)
        self._shift = torch.tensor([m / s for m, s in zip(self.mean, self.std, strict=True)]).view(
            -1, 1, 1
        )

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if image.dtype != torch.uint8:
            raise TypeError(f"Normalize expects uint8 images, got {image.dtype}")
        if image.shape[-3] != len(self.mean):
            raise ValueError(
                f"image has {image.shape[-3]} channels but the statistics have {len(self.mean)}"
            )
        scale, shift = self._on(image.device)
        return image.to(torch.float32).mul_(scale).sub_(shift)

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale and shift on ``device``, copied there once (not at every batch)."""
        if self._scale.device != device:
            self._scale, self._shift = self._scale.to(device), self._shift.to(device)
        return self._scale, self._shift

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


def channel_stats(images: torch.Tensor) -> Stats:
    """Per-channel mean and std of uint8 images ``(N, C, H, W)``, pixel values scaled to [0, 1].

    Computed exactly from each channel's histogram of the 256 byte values, which is fast and
    needs no float copy of the images. Rounded to 4 decimals, like the fixed statistics of
    the named datasets (:data:`labelspace.data.named.NAMED_DATASETS`).
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or len(images) == 0:
        raise ValueError(
            f"channel_stats needs a non-empty uint8 (N, C, H, W) tensor, got {images.dtype} "
            f"of shape {tuple(images.shape)}"
        )
    counts = torch.stack(
        [torch.bincount(images[:, c].reshape(-1), minlength=256) for c in range(images.shape[1])]
    )
    return stats_from_counts(counts)


def stats_from_counts(counts: torch.Tensor) -> Stats:
    """Per-channel mean and std from each channel's counts of the 256 byte values ``(C, 256)``
    (what :func:`channel_stats` computes, for counts gathered image by image)."""
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in counts.to(torch.float64):
        p = channel / channel.sum()
        mean = float((p * values).sum())
        var = float((p * (values - mean).square()).sum())
        means.append(round(mean, 4))
        stds.append(max(round(var**0.5, 4), 1e-4))  # a constant channel still divides safely
    return tuple(means), tuple(stds)


def default_augmentation(in_chans: int) -> str:
    """``"flip"`` for grayscale images, ``"crop-flip"`` for RGB ones.

    Grayscale here means Fashion-MNIST-like data: small centred objects, where a random crop
    slowed learning in short budgets and a flip did not; RGB means CIFAR-like photos, for which
    crop and flip are the standard recipe.
    """
    return "flip" if in_chans == 1 else "crop-flip"


def default_padding(augment: str, size: int) -> int:
    """Zero padding before a random crop of ``size`` pixels (see :func:`train_transform`)."""
    # 2 pixels for 28 x 28 grayscale, 4 for 32 x 32 RGB; scaled for other sizes.
    return max(1, round(size / (14 if augment == "crop" else 8)))


def train_transform(
    mean: Sequence[float],
    std: Sequence[float],
    *,
    image_size: int | tuple[int, int],
    augment: str = "crop-flip",
    padding: int | None = None,
) -> v2.Compose:
    """Augment a uint8 image (see :data:`AUGMENTATIONS`), then :class:`Normalize` it.

    ``padding`` is the zero padding before the random crop back to ``image_size``; by default
    2 pixels for 28-pixel grayscale images and 4 for 32-pixel RGB ones, scaled with size.
    """
    if augment not in AUGMENTATIONS:
        raise InputError(f"unknown augmentation {augment!r}; choose one of {list(AUGMENTATIONS)}")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    steps: list = []
    if augment in ("crop", "crop-flip"):
        pad = default_padding(augment, min(size)) if padding is None else padding
        steps.append(v2.RandomCrop(size, padding=pad))
    if augment in ("flip", "crop-flip"):
        steps.append(v2.RandomHorizontalFlip())
    steps.append(Normalize(mean, std))
    return v2.Compose(steps)


def eval_transform(mean: Sequence[float], std: Sequence[float]) -> Normalize:
    """Normalisation only, for validation and test images."""
    return Normalize(mean, std)
