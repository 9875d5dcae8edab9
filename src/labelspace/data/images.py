"""Small-image datasets held in memory as one uint8 tensor.

Fashion-MNIST and CIFAR fit in memory many times over (CIFAR-10: 184 MB as uint8), and on a
machine with two CPU cores decoding files every epoch would cost more than the training step.
So images are decoded once into a ``(N, C, H, W)`` uint8 tensor; augmentation and normalisation
run per item on that tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["InMemoryImages", "Transform", "filter_classes"]

Transform = Callable[[torch.Tensor], torch.Tensor]
"""A per-item transform: a uint8 ``(C, H, W)`` image in, a float ``(C, H', W')`` tensor out."""

Indices = torch.Tensor | np.ndarray | Sequence[int]


class InMemoryImages(Dataset[tuple[torch.Tensor, int]]):
    """uint8 images ``(N, C, H, W)`` with int64 targets ``(N,)``; items are ``(float image, int)``.

    ``transform`` maps one uint8 ``(C, H, W)`` image to a float tensor (augment, then
    normalise; see :mod:`labelspace.data.transforms`). Without one, items are scaled to [0, 1].
    ``images`` and ``targets`` are public so a trainer may also index whole batches directly.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor | Sequence[int],
        transform: Transform | None = None,
    ):
        targets = torch.as_tensor(targets)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(
                f"images must be a uint8 tensor of shape (N, C, H, W), got {images.dtype} "
                f"of shape {tuple(images.shape)}"
            )
        if targets.ndim != 1 or targets.dtype.is_floating_point or targets.dtype == torch.bool:
            raise TypeError(
                f"targets must be a 1-D integer tensor, got {targets.dtype} of shape "
                f"{tuple(targets.shape)}"
            )
        if len(targets) != len(images):
            raise ValueError(f"{len(images)} images but {len(targets)} targets; they must match")
        self.images = images
        self.targets = targets.to(torch.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is None:
            return image.to(torch.float32).div_(255), int(self.targets[index])
        out = self.transform(image)
        if not out.is_floating_point():
            raise TypeError(
                f"the transform returned a {out.dtype} tensor; it must return floats: end it "
                "with a normalisation such as labelspace.data.transforms.eval_transform(...)"
            )
        return out, int(self.targets[index])

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"InMemoryImages({n} images, {c}x{h}x{w}, transform={self.transform!r})"

    @property
    def in_chans(self) -> int:
        """Number of channels (1 for grayscale, 3 for RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """Image height and width."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, indices: Indices) -> InMemoryImages:
        """The images at ``indices`` (copied), with the same transform and original targets."""
        if isinstance(indices, torch.Tensor):
            index = indices.to(device="cpu", dtype=torch.int64).reshape(-1)
        else:
            index = torch.as_tensor(np.asarray(indices, dtype=np.int64)).reshape(-1)
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise IndexError(
                f"subset indices must lie in [0, {len(self)}); got {int(index.min())} to "
                f"{int(index.max())}"
            )
        return InMemoryImages(self.images[index], self.targets[index], self.transform)

    def in_memory(self) -> InMemoryImages:
        """This dataset (already decoded); streamed datasets decode theirs here."""
        return self

    def with_transform(self, transform: Transform | None) -> InMemoryImages:
        """The same images and targets (shared, not copied) with another transform."""
        return InMemoryImages(self.images, self.targets, transform)


def filter_classes(dataset: InMemoryImages, keep_targets: Iterable[int]) -> InMemoryImages:
    """The images whose target is in ``keep_targets``, keeping their ORIGINAL target ids.

    Zero-shot training leaves some classes out of training while keeping the full label space,
    so targets are not renumbered. Asking to keep a target with no images is an error: it
    almost always means the targets were numbered differently from this dataset's.
    """
    keep = sorted({int(t) for t in keep_targets})
    present = set(torch.unique(dataset.targets).tolist())
    absent = [t for t in keep if t not in present]
    if absent:
        raise ValueError(
            f"targets {absent} have no images in this dataset (its targets are "
            f"{sorted(present)}); pass target ids of the dataset's classes"
        )
    mask = torch.isin(dataset.targets, torch.tensor(keep, dtype=torch.int64))
    return dataset.subset(torch.nonzero(mask).reshape(-1))
