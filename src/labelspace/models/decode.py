"""Nearest-label decoding: turn model outputs into label scores under the embedding's geometry.

All scores are "higher is better". Geometries (:func:`labelspace.embeddings.geometry.get_geometry`,
which owns each one's ranking key and scores):

- ``logits``: the outputs already are per-label scores ``(N, C)``; label vectors are unused.
- ``dot``: ``outputs @ labels.T``.
- ``cosine``: cosine similarity (scale-free).
- ``euclidean``: minus the Euclidean distance.
- ``poincare``: minus the Poincaré distance in the ball of curvature ``-c``
  (:func:`labelspace.embeddings.geometry.pairwise_distance`).

:func:`topk_labels` decodes against label sets too large for a full ``(N, C)`` score matrix
(all 82,115 WordNet nouns) by scoring chunks of labels and keeping a running top-k. Label
vectors may stay on the CPU: each chunk is moved to the outputs' device and dtype.
"""

from __future__ import annotations

import logging
import operator

import torch

from labelspace.embeddings.geometry import Geometry, geometry_names, get_geometry

log = logging.getLogger(__name__)

GEOMETRIES = geometry_names()

__all__ = ["GEOMETRIES", "label_scores", "score_labels", "scores_to_probs", "topk_labels"]


# ------------------------------------------------------------------------------ validation
def _check_inputs(
    outputs: torch.Tensor, label_vectors: torch.Tensor | None, geometry: Geometry
) -> int:
    """Validate shapes and values; return the number of labels C."""
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
        raise ValueError(
            f"outputs must be a (N, D) tensor, got {getattr(outputs, 'shape', outputs)}"
        )
    if not outputs.is_floating_point():
        raise ValueError(f"outputs must be a floating-point tensor, got {outputs.dtype}")
    if not geometry.compares_vectors:
        if outputs.shape[1] == 0:
            raise ValueError("logits must have at least one label column (N, C) with C >= 1")
        if bool(torch.isnan(outputs).any()):
            raise ValueError("logits contain NaN")
        return outputs.shape[1]
    if not isinstance(label_vectors, torch.Tensor) or label_vectors.dim() != 2:
        raise ValueError(
            f"geometry {geometry.name!r} needs label_vectors of shape (C, D), "
            f"got {getattr(label_vectors, 'shape', label_vectors)}"
        )
    if not label_vectors.is_floating_point():
        raise ValueError(
            f"label_vectors must be a floating-point tensor, got {label_vectors.dtype}"
        )
    if label_vectors.shape[1] != outputs.shape[1]:
        raise ValueError(
            f"dimension mismatch: outputs are {outputs.shape[1]}-d but label_vectors are "
            f"{label_vectors.shape[1]}-d"
        )
    if label_vectors.shape[0] == 0:
        raise ValueError("label_vectors is empty: need at least one label")
    if not bool(torch.isfinite(outputs).all()) or not bool(torch.isfinite(label_vectors).all()):
        raise ValueError("outputs and label_vectors must be finite (no NaN or inf)")
    for name, x in (("outputs", outputs), ("label_vectors", label_vectors)):
        geometry.check_points(x, name)
    return label_vectors.shape[0]


def _positive_int(value: object, name: str) -> int:
    """An integer >= 1 (numpy / 0-d tensor integers accepted, bools and floats refused)."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return number


# ------------------------------------------------------------------------------ scoring
def label_scores(
    outputs: torch.Tensor,
    label_vectors: torch.Tensor | None,
    geometry: str,
    curvature: float = 1.0,
) -> torch.Tensor:
    """Scores ``(N, C)`` of every label for every output row, higher is better.

    ``logits`` returns ``outputs`` unchanged (``label_vectors`` ignored, may be None). Label
    vectors are cast to the outputs' device and dtype. Materialises the full matrix: use
    :func:`topk_labels` for large label sets. Inputs are validated first; the losses, which
    call this on every training batch, use :func:`score_labels` instead.
    """
    space = get_geometry(geometry, curvature)
    _check_inputs(outputs, label_vectors, space)
    if not space.compares_vectors:
        return outputs
    assert label_vectors is not None  # checked above
    return space.scores(outputs, label_vectors)


def score_labels(
    outputs: torch.Tensor, label_vectors: torch.Tensor, geometry: str, curvature: float = 1.0
) -> torch.Tensor:
    """:func:`label_scores` for a label-vector geometry, without validating the inputs.

    The one definition of every label-space score: training losses, evaluation and the
    chunked :func:`topk_labels` all rank by it.
    """
    return get_geometry(geometry, curvature).scores(outputs, label_vectors)


def topk_labels(
    outputs: torch.Tensor,
    label_vectors: torch.Tensor | None,
    geometry: str,
    k: int,
    *,
    curvature: float = 1.0,
    subset: torch.Tensor | None = None,
    chunk_size: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best labels per output row: ``(scores, indices)``, both ``(N, k)``, best first.

    Labels are scored ``chunk_size`` at a time and merged into a running top-k, so memory is
    ``O(N × (chunk_size + k))`` whatever the number of labels. ``subset`` (1-D indices into the
    label set; duplicates are dropped, order is irrelevant) restricts the candidates, e.g. to
    unseen labels for zero-shot; returned indices always index the full label set. Scores are
    those of :func:`label_scores` (minus the distance for ``euclidean``/``poincare``; the
    ranking itself uses cheaper monotone keys). If k exceeds the number of candidate labels it
    is clamped to that number, so fewer than k columns come back. Ties among the
    returned labels are ordered by label index; the result is deterministic. Indices are
    long, on the outputs' device.
    """
    space = get_geometry(geometry, curvature)
    num_labels = _check_inputs(outputs, label_vectors, space)
    k = _positive_int(k, "k")
    chunk_size = _positive_int(chunk_size, "chunk_size")
    device = outputs.device
    if subset is None:
        candidates = torch.arange(num_labels, device=device)
    else:
        if not isinstance(subset, torch.Tensor) or subset.dim() != 1 or subset.numel() == 0:
            raise ValueError("subset must be a non-empty 1-D tensor of label indices")
        if subset.is_floating_point() or subset.dtype == torch.bool:
            raise ValueError(f"subset must hold integer label indices, got dtype {subset.dtype}")
        lo, hi = int(subset.min()), int(subset.max())
        if lo < 0 or hi >= num_labels:
            raise ValueError(
                f"subset indices must lie in [0, {num_labels}), got values in [{lo}, {hi}]"
            )
        # sorted: merging in increasing index order lets a stable sort break ties by index
        candidates = torch.unique(subset.long()).to(device)
    if k > candidates.numel():
        log.debug("k = %d > %d candidate labels: clamping k", k, candidates.numel())
        k = candidates.numel()

    n = outputs.shape[0]
    best_keys = outputs.new_empty((n, 0))
    best_idx = torch.empty((n, 0), dtype=torch.long, device=device)
    for start in range(0, candidates.numel(), chunk_size):
        idx = candidates[start : start + chunk_size]
        if not space.compares_vectors:
            keys = outputs[:, idx]
        else:
            assert label_vectors is not None  # checked above
            chunk = label_vectors[idx.to(label_vectors.device)]
            keys = space.rank_keys(outputs, chunk.to(device=device, dtype=outputs.dtype))
        # topk per chunk (a full sort of N x chunk_size keys costs several times more), then
        # a stable merge of the small running best (smaller indices first) with the chunk's
        # best, re-sorted by index so that equal keys keep increasing label-index order
        kk = min(k, keys.shape[1])
        top_pos = keys.topk(kk, dim=1).indices.sort(dim=1).values
        keys = torch.cat([best_keys, keys.gather(1, top_pos)], dim=1)
        idx_all = torch.cat([best_idx, idx[top_pos]], dim=1)
        order = torch.sort(keys, dim=1, descending=True, stable=True).indices[:, :k]
        best_keys = keys.gather(1, order)
        best_idx = idx_all.gather(1, order)
    return space.finish(best_keys), best_idx


def scores_to_probs(scores: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``softmax(scores / temperature)`` over the last (label) dimension.

    A temperature below 1 sharpens and above 1 flattens; it is the knob for calibration.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() < 1 or not scores.is_floating_point():
        raise ValueError("scores must be a floating-point tensor (N, C)")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(scores / temperature, dim=-1)
