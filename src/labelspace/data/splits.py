"""Seeded, stratified splits and samples.

Validation accuracy per class is only meaningful when every class is in the validation set in
its training proportion, and runs are only comparable when the same seed gives the same split.
:func:`stratified_split` splits a dataset in two; :func:`stratified_sample` draws at most a
given number of images from it in class proportion (quick runs, attacks, saliency, statistics).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from labelspace.errors import InputError

__all__ = [
    "smallest_splittable",
    "stratified_sample",
    "stratified_split",
    "stratified_subset",
    "too_small_error",
    "val_count",
]


def val_count(class_size: int, val_fraction: float) -> int:
    """Validation images of a class of ``class_size``: round(fraction x size), half up, >= 1.

    At least one when ``val_fraction > 0``, so every class is validated.
    """
    if val_fraction <= 0:
        return 0
    return max(1, math.floor(val_fraction * class_size + 0.5))


def stratified_split(
    targets: torch.Tensor | np.ndarray | Sequence[int],
    val_fraction: float,
    seed: int,
    names: Sequence[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into ``(train_idx, val_idx)``, each class in proportion.

    Each class gives :func:`val_count` of its images, chosen by a NumPy generator seeded with
    ``seed``, to validation; the rest train. Both index tensors (int64) are sorted, disjoint and
    together cover ``range(len(targets))``; the same targets, fraction and seed always give the
    same split. ``names`` (indexed by target) name the classes in messages.

    Raises:
        ValueError: ``val_fraction`` outside [0, 1), or a class too small to split (it would
            leave no training image; the message names a few such classes).
    """
    if not 0 <= val_fraction < 1:  # also rejects NaN
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    labels = _labels(targets)
    if val_fraction == 0:
        return torch.arange(len(labels), dtype=torch.int64), torch.empty(0, dtype=torch.int64)

    classes, counts = np.unique(labels, return_counts=True)
    too_small = [
        (c, n)
        for c, n in zip(classes.tolist(), counts.tolist(), strict=True)
        if val_count(n, val_fraction) >= n
    ]
    if too_small:
        raise too_small_error(too_small, val_fraction, names)
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


def smallest_splittable(val_fraction: float) -> int:
    """The fewest images a class needs to keep a training image after giving
    :func:`val_count` images to validation (2 for any fraction below a half)."""
    n = 2
    while val_count(n, val_fraction) >= n:
        n += 1
    return n


def too_small_error(
    too_small: Sequence[tuple[int, int]],
    val_fraction: float,
    names: Sequence[str] | None = None,
    shown: int = 3,
) -> InputError:
    """The error for classes (target, images) too small to split: a few of them by name, how
    many images a class needs, and what helps (a lower fraction only helps classes of two or
    more images)."""
    listed = [
        f"{names[c] if names is not None else f'class {c}'} ({n} image{'s' if n != 1 else ''})"
        for c, n in too_small[:shown]
    ]
    more = f" and {len(too_small) - shown} more" if len(too_small) > shown else ""
    need = smallest_splittable(val_fraction)
    lower = " or lower the validation fraction" if all(n >= 2 for _, n in too_small) else ""
    return InputError(
        f"cannot hold out {val_fraction:g} of each class's training images for validation: "
        f"{', '.join(listed)}{more} would keep no image to train on. A class needs at least "
        f"{need} training images (one validated, one trained on): add images to "
        f"{'this class' if len(too_small) == 1 else 'these classes'}, or leave "
        f"{'it' if len(too_small) == 1 else 'them'} out of the dataset{lower}"
    )


def _labels(targets: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    """``targets`` as a 1-D NumPy array of integers; ValueError otherwise."""
    if isinstance(targets, torch.Tensor):
        labels = targets.detach().cpu().numpy()
    else:
        labels = np.asarray(targets)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"targets must be a 1-D sequence of integers, got shape {labels.shape}")
    return labels


def stratified_sample(
    targets: torch.Tensor | np.ndarray | Sequence[int], limit: int | None, seed: int
) -> torch.Tensor:
    """Sorted int64 indices of at most ``limit`` images, each class in proportion.

    All indices when ``limit`` is None or not smaller than ``len(targets)``. Otherwise each
    class ``c`` of ``n_c`` images gives ``round(limit x n_c / N)`` (half up, at least one)
    images, the first of a permutation of its members drawn, class by class in ascending
    order, from a NumPy generator seeded with ``seed``: the validation draw of
    :func:`stratified_split` with the fraction ``limit / N``. Where that rounding would take
    more than ``limit`` images (more classes than ``limit``, or many classes rounded up), each
    class keeps the first ``floor(limit x n_c / N)`` of its draw and the classes with the
    largest remainders (ties in a seeded random order) one more, so the total is exactly
    ``limit``: the limit is a true upper bound. The same targets, limit and seed always give
    the same sample.

    Raises:
        ValueError: ``limit`` below 0, or ``targets`` not a 1-D sequence of integers.
    """
    labels = _labels(targets)
    total = len(labels)
    if limit is None or limit >= total:
        return torch.arange(total, dtype=torch.int64)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if limit == 0:
        return torch.empty(0, dtype=torch.int64)
    classes, counts = np.unique(labels, return_counts=True)
    fraction = limit / total
    rng = np.random.default_rng(seed)
    # ascending members, so the draw depends only on the seed
    draws = [rng.permutation(np.flatnonzero(labels == c)) for c in classes.tolist()]
    take = [min(n, val_count(n, fraction)) for n in counts.tolist()]
    if sum(take) > limit:
        take = _largest_remainders(counts, limit, total, rng)
    chosen = np.concatenate([draw[:k] for draw, k in zip(draws, take, strict=True)])
    return torch.from_numpy(np.sort(chosen).astype(np.int64))


def _largest_remainders(
    counts: np.ndarray, limit: int, total: int, rng: np.random.Generator
) -> list[int]:
    """Per-class shares of ``limit`` in proportion to ``counts``, summing to exactly ``limit``.

    Each class gets the floor of its exact share ``limit x n_c / total`` (integer arithmetic),
    and the classes with the largest remainders one more; equal remainders are ordered by a
    permutation drawn from ``rng``.
    """
    shares = [limit * n for n in counts.tolist()]
    take = [share // total for share in shares]
    remainders = [share % total for share in shares]
    tiebreak = rng.permutation(len(shares)).tolist()
    order = sorted(range(len(shares)), key=lambda c: (-remainders[c], tiebreak[c]))
    for c in order[: limit - sum(take)]:
        take[c] += 1
    return take


def stratified_subset(dataset, limit: int | None, seed: int):
    """At most ``limit`` images of ``dataset`` in class proportion (:func:`stratified_sample`).

    ``dataset`` has ``targets`` and ``subset(indices)`` (:class:`InMemoryImages`); it is
    returned unchanged when ``limit`` is None or not smaller than it.
    """
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.subset(stratified_sample(dataset.targets, limit, seed))
