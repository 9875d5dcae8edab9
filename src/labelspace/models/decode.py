"""Nearest-label decoding: turn model outputs into label scores under the embedding's geometry.

All scores are "higher is better". Geometries:

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
import torch.nn.functional as F

from labelspace.embeddings.geometry import arcosh, pairwise_distance_argument

log = logging.getLogger(__name__)

GEOMETRIES = ("logits", "dot", "cosine", "euclidean", "poincare")

__all__ = ["GEOMETRIES", "label_scores", "score_labels", "scores_to_probs", "topk_labels"]


# ------------------------------------------------------------------------------ validation
def _check_geometry(geometry: str) -> None:
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; expected one of {', '.join(GEOMETRIES)}")


def _check_inputs(
    outputs: torch.Tensor, label_vectors: torch.Tensor | None, geometry: str, curvature: float
) -> int:
    """Validate shapes and values; return the number of labels C."""
    _check_geometry(geometry)
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
        raise ValueError(
            f"outputs must be a (N, D) tensor, got {getattr(outputs, 'shape', outputs)}"
        )
    if not outputs.is_floating_point():
        raise ValueError(f"outputs must be a floating-point tensor, got {outputs.dtype}")
    if geometry == "logits":
        if outputs.shape[1] == 0:
            raise ValueError("logits must have at least one label column (N, C) with C >= 1")
        if bool(torch.isnan(outputs).any()):
            raise ValueError("logits contain NaN")
        return outputs.shape[1]
    if not isinstance(label_vectors, torch.Tensor) or label_vectors.dim() != 2:
        raise ValueError(
            f"geometry {geometry!r} needs label_vectors of shape (C, D), "
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
    if geometry == "poincare":
        if curvature <= 0:
            raise ValueError(f"curvature must be > 0 (ball of curvature -c), got {curvature}")
        for name, x in (("outputs", outputs), ("label_vectors", label_vectors)):
            if bool((curvature * x.pow(2).sum(-1) >= 1.0).any()):
                raise ValueError(
                    f"{name} must lie inside the Poincaré ball |x| < 1/sqrt(c) = "
                    f"{curvature**-0.5:.6g} (use geometry.project / expmap0)"
                )
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
def _rank_keys(
    outputs: torch.Tensor, labels: torch.Tensor, geometry: str, curvature: float
) -> torch.Tensor:
    """Scores that order like the final scores but are cheaper (no sqrt / arcosh)."""
    labels = labels.to(device=outputs.device, dtype=outputs.dtype)
    if geometry == "dot":
        return outputs @ labels.T
    if geometry == "cosine":
        return F.normalize(outputs, dim=-1) @ F.normalize(labels, dim=-1).T
    if geometry == "euclidean":  # minus the squared distance
        xx = outputs.pow(2).sum(-1)[:, None]
        yy = labels.pow(2).sum(-1)[None, :]
        return -(xx + yy - 2.0 * outputs @ labels.T).clamp_min(0.0)
    # poincare: minus the distance argument, monotone in the distance
    return -pairwise_distance_argument(outputs, labels, curvature)


def _finish(keys: torch.Tensor, geometry: str, curvature: float) -> torch.Tensor:
    """Map rank keys to the documented scores (minus a distance where relevant)."""
    if geometry == "euclidean":
        return -(-keys).sqrt()
    if geometry == "poincare":
        return -arcosh(-keys) / curvature**0.5
    return keys


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
    _check_inputs(outputs, label_vectors, geometry, curvature)
    if geometry == "logits":
        return outputs
    assert label_vectors is not None  # checked above
    return score_labels(outputs, label_vectors, geometry, curvature)


def score_labels(
    outputs: torch.Tensor, label_vectors: torch.Tensor, geometry: str, curvature: float = 1.0
) -> torch.Tensor:
    """:func:`label_scores` for a label-vector geometry, without validating the inputs.

    The one definition of every label-space score: training losses, evaluation and the
    chunked :func:`topk_labels` all rank by it.
    """
    return _finish(_rank_keys(outputs, label_vectors, geometry, curvature), geometry, curvature)


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
    num_labels = _check_inputs(outputs, label_vectors, geometry, curvature)
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
        if geometry == "logits":
            keys = outputs[:, idx]
        else:
            assert label_vectors is not None  # checked above
            chunk = label_vectors[idx.to(label_vectors.device)]
            keys = _rank_keys(outputs, chunk, geometry, curvature)
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
    return _finish(best_keys, geometry, curvature), best_idx


def scores_to_probs(scores: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``softmax(scores / temperature)`` over the last (label) dimension.

    A temperature below 1 sharpens and above 1 flattens; it is the knob for calibration.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() < 1 or not scores.is_floating_point():
        raise ValueError("scores must be a floating-point tensor (N, C)")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(scores / temperature, dim=-1)
