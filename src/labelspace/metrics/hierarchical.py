"""Flat and hierarchy-aware classification metrics.

Every hierarchical metric takes ``lca_height``, the ``(C, C)`` matrix of heights of the lowest
common ancestor of two classes (``Hierarchy.class_lca_height``: 0 on the diagonal, classes are
leaves), rather than the hierarchy itself, so the functions stay pure tensor code.

Definitions (the project's design notes):

- top-k accuracy: the target is among the top-k predictions.
- mistake severity (Bertinetto et al., CVPR 2020): mean ``lca_height[y, ŷ]`` over the
  misclassified samples only; NaN when there are no mistakes.
- hdist@k: mean over all samples of the mean ``lca_height[y, ŷ_i]`` over the top-k predictions.
- hierarchical precision@k (Frome et al., DeViSE 2013): the labels counted correct for ``y``
  are ``{j : lca_height[y, j] <= h}`` with ``h`` the smallest height at which that set holds at
  least k labels; hp@k is ``|top-k ∩ set| / k``, averaged over samples.
- accuracy at height h: ``lca_height[y, ŷ] <= h``, for every h from 0 (top-1) to the maximum.
- expected calibration error: 15 equal-width bins ``[lo, hi)`` of top-1 confidence, weighted
  by bin size (Guo et al., ICML 2017).
- severity histogram: counts of ``lca_height[y, ŷ]`` over mistakes, one bin per height 1..max.

Rankings from scores (:func:`summarize`) break ties towards the smaller class index, the same
rule as :func:`labelspace.models.decode.topk_labels`.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

ECE_BINS = 15
SUMMARY_TOPK = (1, 5)
SUMMARY_HDIST_K = (1, 5)
SUMMARY_HP_K = (1, 2, 5)

__all__ = [
    "coarse_accuracy",
    "expected_calibration_error",
    "hdist_at_k",
    "hierarchical_precision_at_k",
    "mistake_severity",
    "severity_histogram",
    "summarize",
    "topk_accuracy",
]


# ------------------------------------------------------------------------------ validation
def check_targets(
    targets: torch.Tensor, num_classes: int | None = None, rows: int | None = None
) -> torch.Tensor:
    """1-D integer targets, non-empty, one per row when ``rows`` (the number of images scored)
    is given, and within ``[0, num_classes)`` when that is known; returned as long.

    The one check of targets for the metrics and the analyses that score against them."""
    if not isinstance(targets, torch.Tensor):
        raise ValueError(f"targets must be a tensor, got {type(targets).__name__}")
    if targets.dim() != 1:
        raise ValueError(f"targets must be 1-D (N,), got shape {tuple(targets.shape)}")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise ValueError(f"targets must be an integer tensor, got dtype {targets.dtype}")
    if rows is not None and targets.shape[0] != rows:
        raise ValueError(
            f"targets has {targets.shape[0]} entries but there are {rows} rows of scores"
        )
    if targets.numel() == 0:
        raise ValueError("targets is empty: metrics need at least one sample")
    if num_classes is not None:
        _check_range(targets, num_classes, "targets")
    return targets.long()


def _check_range(indices: torch.Tensor, num_classes: int, name: str) -> None:
    lo, hi = int(indices.min()), int(indices.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name} must be class indices in [0, {num_classes}), got values in [{lo}, {hi}]"
        )


def _check_predictions(
    pred: torch.Tensor, targets: torch.Tensor, num_classes: int | None, name: str
) -> torch.Tensor:
    """Class indices predicted for each target: ``(N,)`` for ``pred``, ``(N, k)`` with k >= 1
    for ``topk``; integer, within range when ``num_classes`` is known."""
    if not isinstance(pred, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(pred).__name__}")
    ndim, shape = (1, "(N,)") if name == "pred" else (2, "(N, k)")
    if pred.dim() != ndim or pred.shape[0] != targets.shape[0]:
        raise ValueError(
            f"{name} must have shape {shape} with N = {targets.shape[0]} like targets, "
            f"got {tuple(pred.shape)}"
        )
    if pred.dim() == 2 and pred.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (k >= 1)")
    if pred.is_floating_point() or pred.is_complex() or pred.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of class indices, got {pred.dtype}")
    if num_classes is not None:
        _check_range(pred, num_classes, name)
    return pred.long().to(targets.device)


def _check_pred(pred: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Top-1 predictions: 1-D integer tensor, one per target, within range."""
    return _check_predictions(pred, targets, num_classes, "pred")


def _check_topk(
    topk: torch.Tensor, targets: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Top-k predictions: ``(N, k)`` integer tensor with k >= 1, within range if known."""
    return _check_predictions(topk, targets, num_classes, "topk")


def _check_lca(lca_height: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Square, integer-valued, non-negative, zero diagonal; returned as long on ``device``."""
    if not isinstance(lca_height, torch.Tensor):
        raise ValueError(f"lca_height must be a tensor, got {type(lca_height).__name__}")
    if lca_height.dim() != 2 or lca_height.shape[0] != lca_height.shape[1]:
        raise ValueError(
            f"lca_height must be a square (C, C) matrix, got {tuple(lca_height.shape)}"
        )
    if lca_height.shape[0] == 0:
        raise ValueError("lca_height is empty: need at least one class")
    if lca_height.is_floating_point() and not bool((lca_height == lca_height.round()).all()):
        raise ValueError("lca_height must hold integer heights")
    lca = lca_height.long()
    if bool((lca < 0).any()):
        raise ValueError("lca_height must be non-negative")
    if bool(lca.diagonal().any()):
        raise ValueError("lca_height must be 0 on the diagonal (classes are leaves of height 0)")
    return lca.to(device)


def _ranked(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k highest scores per row; ties go to the smaller index (stable sort)."""
    return torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]


# ------------------------------------------------------------------------------- metrics
def topk_accuracy(topk: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose target is among the given top-k columns ``(N, k)``."""
    targets = check_targets(targets)
    topk = _check_topk(topk, targets)
    return (topk == targets[:, None]).any(dim=1).double().mean().item()


def mistake_severity(pred: torch.Tensor, targets: torch.Tensor, lca_height: torch.Tensor) -> float:
    """Mean LCA height of (target, prediction) over misclassified samples; NaN if none.

    Only mistakes count, so this measures *how bad* errors are, independently of how many.
    """
    targets = check_targets(targets)
    lca = _check_lca(lca_height, targets.device)
    _check_range(targets, lca.shape[0], "targets")
    pred = _check_pred(pred, targets, lca.shape[0])
    wrong = pred != targets
    if not bool(wrong.any()):
        return float("nan")
    return lca[targets[wrong], pred[wrong]].double().mean().item()


def hdist_at_k(topk: torch.Tensor, targets: torch.Tensor, lca_height: torch.Tensor) -> float:
    """Mean over all samples of the mean LCA height between the target and each top-k label.

    Correct predictions contribute 0, so this mixes error rate and error severity.
    """
    targets = check_targets(targets)
    lca = _check_lca(lca_height, targets.device)
    _check_range(targets, lca.shape[0], "targets")
    topk = _check_topk(topk, targets, lca.shape[0])
    return lca[targets[:, None], topk].double().mean(dim=1).mean().item()


def hierarchical_precision_at_k(
    topk: torch.Tensor, targets: torch.Tensor, lca_height: torch.Tensor
) -> float:
    """DeViSE hierarchical precision@k with ``k = topk.shape[1]`` (distinct labels per row).

    For target y the correct set is ``{j : lca_height[y, j] <= h}`` with h the smallest height
    whose set has at least k labels (the k-th smallest entry of row y); the score of a sample is
    the fraction of its top-k inside that set. hp@1 equals top-1 accuracy.
    """
    targets = check_targets(targets)
    lca = _check_lca(lca_height, targets.device)
    num_classes = lca.shape[0]
    _check_range(targets, num_classes, "targets")
    topk = _check_topk(topk, targets, num_classes)
    k = topk.shape[1]
    if k > num_classes:
        raise ValueError(f"k = {k} exceeds the number of classes C = {num_classes}")
    if k > 1 and bool((topk.sort(dim=1).values.diff(dim=1) == 0).any()):
        raise ValueError("topk rows must hold distinct labels for hierarchical precision")
    rows = lca[targets]  # (N, C)
    radius = rows.sort(dim=1).values[:, k - 1]  # smallest h with |{j: row[j] <= h}| >= k
    inside = rows.gather(1, topk) <= radius[:, None]
    return (inside.double().sum(dim=1) / k).mean().item()


def coarse_accuracy(
    pred: torch.Tensor, targets: torch.Tensor, lca_height: torch.Tensor
) -> dict[int, float]:
    """Accuracy at every height h in ``0..max(lca_height)``: correct when ``lca[y, ŷ] <= h``.

    Height 0 is top-1 accuracy; the maximum height always gives 1.0.
    """
    targets = check_targets(targets)
    lca = _check_lca(lca_height, targets.device)
    _check_range(targets, lca.shape[0], "targets")
    pred = _check_pred(pred, targets, lca.shape[0])
    heights = lca[targets, pred]
    return {h: (heights <= h).double().mean().item() for h in range(int(lca.max()) + 1)}


def expected_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS
) -> float:
    """ECE of top-1 confidence: sum over equal-width bins ``[lo, hi)`` of
    ``|bin| / N * |accuracy(bin) - mean confidence(bin)|``; empty bins contribute 0.

    ``probs`` are per-class probabilities ``(N, C)`` (e.g. :func:`decode.scores_to_probs`);
    the prediction is their argmax (ties: smaller index). Computed by torchmetrics'
    ``multiclass_calibration_error`` (L1 norm) after labelspace's input checks.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    targets = check_targets(targets)
    if not isinstance(probs, torch.Tensor) or probs.dim() != 2:
        raise ValueError(f"probs must be a (N, C) tensor, got {getattr(probs, 'shape', probs)}")
    if probs.shape[0] != targets.shape[0] or probs.shape[1] == 0:
        raise ValueError(
            f"probs must have shape (N, C) with N = {targets.shape[0]} and C >= 1, "
            f"got {tuple(probs.shape)}"
        )
    _check_range(targets, probs.shape[1], "targets")
    probs = probs.to(device=targets.device, dtype=torch.float64)
    if not bool(torch.isfinite(probs).all()) or bool((probs < 0).any() | (probs > 1).any()):
        raise ValueError("probs must be finite probabilities in [0, 1] (apply softmax first)")
    from torchmetrics.functional.classification import multiclass_calibration_error

    return multiclass_calibration_error(
        probs, targets, num_classes=probs.shape[1], n_bins=bins, norm="l1", validate_args=False
    ).item()


def severity_histogram(
    pred: torch.Tensor, targets: torch.Tensor, lca_height: torch.Tensor
) -> torch.Tensor:
    """Counts of mistakes by LCA height: entry ``i`` counts mistakes at height ``i + 1``.

    Length is ``max(lca_height)`` (heights 1..max); a long tensor on the targets' device.
    """
    targets = check_targets(targets)
    lca = _check_lca(lca_height, targets.device)
    _check_range(targets, lca.shape[0], "targets")
    pred = _check_pred(pred, targets, lca.shape[0])
    top = int(lca.max())
    wrong = pred != targets
    heights = lca[targets[wrong], pred[wrong]]
    heights = heights[heights >= 1]  # 0 only if two distinct classes share a leaf; not a bin
    return torch.bincount(heights - 1, minlength=top)


def summarize(
    scores: torch.Tensor,
    targets: torch.Tensor,
    lca_height: torch.Tensor,
    probs: torch.Tensor | None = None,
) -> dict[str, float]:
    """All headline metrics from per-class scores ``(N, C)`` (higher is better).

    Keys: ``top1, top5, severity, hdist@1, hdist@5, hp@1, hp@2, hp@5`` and ``acc@h{h}`` for
    every height ``h >= 1`` (acc@h0 would repeat top1), plus ``ece`` when ``probs`` is given
    (its own argmax is used). When there are fewer than 5 classes every k is clamped to C and
    the key names stay the same (e.g. ``top5`` is top-C accuracy, i.e. 1.0). ``severity`` is
    NaN when there are no mistakes. Rankings break ties towards the smaller class index.
    """
    targets = check_targets(targets)
    lca = _check_lca(lca_height, targets.device)
    num_classes = lca.shape[0]
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        raise ValueError(f"scores must be a (N, C) tensor, got {getattr(scores, 'shape', scores)}")
    if scores.shape != (targets.shape[0], num_classes):
        raise ValueError(
            f"scores must have shape (N, C) = ({targets.shape[0]}, {num_classes}) to match "
            f"targets and lca_height, got {tuple(scores.shape)}"
        )
    if probs is not None and tuple(probs.shape) != tuple(scores.shape):
        raise ValueError(
            f"probs must have the same shape as scores {tuple(scores.shape)}, "
            f"got {tuple(probs.shape)}"
        )
    _check_range(targets, num_classes, "targets")
    scores = scores.to(targets.device)
    ks = sorted({*SUMMARY_TOPK, *SUMMARY_HDIST_K, *SUMMARY_HP_K})
    if num_classes < max(ks):
        log.debug("only %d classes: clamping k in summarize to %d", num_classes, num_classes)
    ranked = _ranked(scores, min(max(ks), num_classes))
    pred = ranked[:, 0]

    def top(k: int) -> torch.Tensor:
        return ranked[:, : min(k, num_classes)]

    out: dict[str, float] = {}
    for k in SUMMARY_TOPK:
        out[f"top{k}"] = topk_accuracy(top(k), targets)
    out["severity"] = mistake_severity(pred, targets, lca)
    for k in SUMMARY_HDIST_K:
        out[f"hdist@{k}"] = hdist_at_k(top(k), targets, lca)
    for k in SUMMARY_HP_K:
        out[f"hp@{k}"] = hierarchical_precision_at_k(top(k), targets, lca)
    if probs is not None:
        out["ece"] = expected_calibration_error(probs, targets)
    for h, acc in coarse_accuracy(pred, targets, lca).items():
        if h >= 1:
            out[f"acc@h{h}"] = acc
    return out
