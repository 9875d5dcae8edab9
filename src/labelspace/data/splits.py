"""Seeded, stratified train/validation splits.

Validation accuracy per class is only meaningful when every class is in the validation set in
its training proportion, and runs are only comparable when the same seed gives the same split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from labelspace.errors import InputError

__all__ = ["stratified_split", "stratified_subset", "val_count"]


def val_count(class_size: int, val_fraction: float) -> int:
    """Validation images of a class of ``class_size``: round(fraction x size), half up, >= 1.

    At least one when ``val_fraction > 0``, so every class is validated.
    """
    if val_fraction <= 0:
        return 0
    return max(1, math.floor(val_fraction * class_size + 0.5))


def stratified_split(
    targets: torch.Tensor | np.ndarray | Sequence[int], val_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into ``(train_idx, val_idx)``, each class in proportion.

    Each class gives :func:`val_count` of its images, chosen by a NumPy generator seeded with
    ``seed``, to validation; the rest train. Both index tensors (int64) are sorted, disjoint and
    together cover ``range(len(targets))``; the same targets, fraction and seed always give the
    same split.

    Raises:
        ValueError: ``val_fraction`` outside [0, 1), or a class too small to split (it would
            leave no training or no validation image; the message lists such classes).
    """
    if not 0 <= val_fraction < 1:  # also rejects NaN
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if isinstance(targets, torch.Tensor):
        labels = targets.detach().cpu().numpy()
    else:
        labels = np.asarray(targets)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"targets must be a 1-D sequence of integers, got shape {labels.shape}")
    if val_fraction == 0:
        return torch.arange(len(labels), dtype=torch.int64), torch.empty(0, dtype=torch.int64)

    classes, counts = np.unique(labels, return_counts=True)
    too_small = [
        f"{c} ({n} image{'s' if n != 1 else ''})"
        for c, n in zip(classes.tolist(), counts.tolist(), strict=True)
        if val_count(n, val_fraction) >= n
    ]
    if too_small:
        raise InputError(
            f"cannot split with --val-fraction {val_fraction}: class(es) "
            f"{', '.join(too_small)} would leave no training image; lower --val-fraction, or "
            "leave such classes out"
        )
    rng = np.random.default_rng(seed)
    val_parts = []
    for c, n in zip(classes.tolist(), counts.tolist(), strict=True):
        members = np.flatnonzero(labels == c)  # ascending, so the draw depends only on the seed
        val_parts.append(rng.permutation(members)[: val_count(n, val_fraction)])
    is_val = np.zeros(len(labels), dtype=bool)
    is_val[np.concatenate(val_parts)] = True
    train_idx = torch.from_numpy(np.flatnonzero(~is_val).astype(np.int64))
    val_idx = torch.from_numpy(np.flatnonzero(is_val).astype(np.int64))
    return train_idx, val_idx


def stratified_subset(dataset, limit: int | None, seed: int):
    """At most ``limit`` images of ``dataset`` in class proportion (for quick runs and tests).

    ``dataset`` has ``targets`` and ``subset(indices)`` (:class:`InMemoryImages`); it is
    returned unchanged when ``limit`` is None or not smaller than it.
    """
    if limit is None or limit >= len(dataset):
        return dataset
    _, keep = stratified_split(dataset.targets, limit / len(dataset), seed)
    return dataset.subset(keep)
