"""Reference label embeddings that know nothing about label meaning.

``random_embedding`` (Gaussian directions on the unit sphere) and ``onehot_embedding`` (the
identity) are the controls: a semantic embedding has to beat them to be worth its cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from labelspace.embeddings.store import LabelEmbedding


def _checked_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str):
        raise TypeError("labels must be a sequence of strings, not a single string")
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty: there is nothing to embed")
    return labels


def random_embedding(labels: Sequence[str], dim: int, seed: int = 0) -> LabelEmbedding:
    """Independent Gaussian vectors scaled to unit norm; the same seed gives the same vectors."""
    labels = _checked_labels(labels)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    vectors = torch.randn(len(labels), dim, generator=generator, dtype=torch.float64)
    vectors = torch.nn.functional.normalize(vectors, dim=1)
    return LabelEmbedding(
        labels=labels,
        vectors=vectors.to(torch.float32),
        kind="random",
        manifold="sphere",
        training={"method": "gaussian_normalized", "seed": seed, "dim": dim},
    )


def onehot_embedding(labels: Sequence[str]) -> LabelEmbedding:
    """The identity matrix: every label its own axis, all labels equally far apart."""
    labels = _checked_labels(labels)
    return LabelEmbedding(
        labels=labels,
        vectors=torch.eye(len(labels), dtype=torch.float32),
        kind="onehot",
        manifold="euclidean",
        training={"method": "identity"},
    )
