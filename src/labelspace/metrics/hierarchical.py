"""Flat and hierarchy-aware classification metrics.

Every hierarchical metric takes ``cost``, the ``(C, C)`` matrix of the cost of predicting one
class for another, rather than the hierarchy itself, so the functions stay pure tensor code.
By default it is the height of the lowest common ancestor of the two classes in the class tree
(``Hierarchy.class_lca_height``: integers, 0 on the diagonal, classes are leaves); with a
published distance file (:mod:`labelspace.hierarchy.distances`) it is that file's distances.
Either way it is non-negative, finite and 0 exactly where a class meets itself.

Definitions (docs/concepts.md):

- top-k accuracy: the target is among the top-k predictions.
- mistake severity (Bertinetto et al., CVPR 2020): mean ``cost[y, ŷ]`` over the misclassified
  samples only; NaN when there are no mistakes.
- hdist@k: mean over all samples of the mean ``cost[y, ŷ_i]`` over the top-k predictions.
- hierarchical precision@k (Frome et al., DeViSE 2013): the labels counted correct for ``y``
  are ``{j : cost[y, j] <= h}`` with ``h`` the smallest cost at which that set holds at
  least k labels; hp@k is ``|top-k ∩ set| / k``, averaged over samples.
- hsim@k, the hierarchical precision of Bertinetto et al.'s code: with similarity
  ``1 - cost / D`` (``D`` the largest distance of the cost's source), the summed similarity
  of every sample's top-k to its target, over the most that k labels could sum to.
- accuracy at height h (integer costs only): ``cost[y, ŷ] <= h``, for every h from 0 (top-1)
  to the maximum.
- expected calibration error: 15 equal-width bins ``[lo, hi)`` of top-1 confidence, weighted
  by bin size (Guo et al., ICML 2017).
- severity histogram (integer costs only): counts of ``cost[y, ŷ]`` over mistakes, one bin per
  height 1..max.

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
SUMMARY_HSIM_K = (1, 5)

__all__ = [
    "coarse_accuracy",
    "expected_calibration_error",
    "hdist_at_k",
    "hierarchical_precision_at_k",
    "hierarchical_similarity_at_k",
    "is_integer_cost",
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


def _check_cost(cost: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Square, finite, non-negative, zero diagonal; returned as float64 on ``device``."""
    if not isinstance(cost, torch.Tensor):
        raise ValueError(f"cost must be a tensor, got {type(cost).__name__}")
    if cost.dim() != 2 or cost.shape[0] != cost.shape[1]:
        raise ValueError(f"cost must be a square (C, C) matrix, got {tuple(cost.shape)}")
    if cost.shape[0] == 0:
        raise ValueError("cost is empty: need at least one class")
    out = cost.to(device=device, dtype=torch.float64)
    if not bool(torch.isfinite(out).all()):
        raise ValueError("cost must be finite")
    if bool((out < 0).any()):
        raise ValueError("cost must be non-negative")
    if bool(out.diagonal().any()):
        raise ValueError("cost must be 0 on the diagonal (a class and itself cost nothing)")
    return out


def is_integer_cost(cost: torch.Tensor) -> bool:
    """Whether every cost is a whole number (LCA heights are), so heights can be binned."""
    return bool((cost == cost.round()).all())


def _require_integer(cost: torch.Tensor, what: str) -> torch.Tensor:
    if not is_integer_cost(cost):
        raise ValueError(f"{what} needs integer costs (LCA heights); these are not")
    return cost.long()


def _ranked(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k highest scores per row; ties go to the smaller index.

    The same as a stable descending sort, without sorting every row in full (ImageNet's
    50,000 x 1,000): ``topk`` picks k, which are put in order by (score, index); a row where
    the k-th score is tied with a score that ``topk`` left out is sorted in full instead,
    since ``topk`` may have kept the larger of the tied indices."""
    values, indices = torch.topk(scores, k, dim=1)
    by_index = indices.sort(dim=1).indices  # ascending index, then stable by score
    indices = indices.gather(1, by_index)
    order = values.gather(1, by_index).sort(dim=1, descending=True, stable=True).indices
    indices = indices.gather(1, order)
    kth = values[:, -1:]
    unsure = ((scores == kth).sum(dim=1) > (values == kth).sum(dim=1)).nonzero().flatten()
    if len(unsure):
        full = torch.sort(scores[unsure], dim=1, descending=True, stable=True).indices[:, :k]
        indices[unsure] = full
    return indices


# ------------------------------------------------------------------------------- metrics
def topk_accuracy(topk: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose target is among the given top-k columns ``(N, k)``."""
    targets = check_targets(targets)
    topk = _check_topk(topk, targets)
    return (topk == targets[:, None]).any(dim=1).double().mean().item()


def mistake_severity(pred: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor) -> float:
    """Mean cost of (target, prediction) over misclassified samples; NaN if none.

    Only mistakes count, so this measures *how bad* errors are, independently of how many.
    """
    targets = check_targets(targets)
    cost = _check_cost(cost, targets.device)
    _check_range(targets, cost.shape[0], "targets")
    pred = _check_pred(pred, targets, cost.shape[0])
    wrong = pred != targets
    if not bool(wrong.any()):
        return float("nan")
    return cost[targets[wrong], pred[wrong]].mean().item()


def hdist_at_k(topk: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor) -> float:
    """Mean over all samples of the mean cost between the target and each top-k label.

    Correct predictions contribute 0, so this mixes error rate and error severity.
    """
    targets = check_targets(targets)
    cost = _check_cost(cost, targets.device)
    _check_range(targets, cost.shape[0], "targets")
    topk = _check_topk(topk, targets, cost.shape[0])
    return cost[targets[:, None], topk].mean(dim=1).mean().item()


def _distinct_topk(topk: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor) -> int:
    """k of a top-k whose rows hold distinct labels, checked against the number of classes."""
    num_classes = cost.shape[0]
    _check_range(targets, num_classes, "targets")
    k = topk.shape[1]
    if k > num_classes:
        raise ValueError(f"k = {k} exceeds the number of classes C = {num_classes}")
    if k > 1 and bool((topk.sort(dim=1).values.diff(dim=1) == 0).any()):
        raise ValueError("topk rows must hold distinct labels for hierarchical precision")
    return k


def hierarchical_precision_at_k(
    topk: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor
) -> float:
    """DeViSE hierarchical precision@k with ``k = topk.shape[1]`` (distinct labels per row).

    For target y the correct set is ``{j : cost[y, j] <= h}`` with h the smallest cost whose
    set has at least k labels (the k-th smallest entry of row y); the score of a sample is the
    fraction of its top-k inside that set. hp@1 equals top-1 accuracy.
    """
    targets = check_targets(targets)
    cost = _check_cost(cost, targets.device)
    topk = _check_topk(topk, targets, cost.shape[0])
    k = _distinct_topk(topk, targets, cost)
    radius = cost.sort(dim=1).values[:, k - 1]  # per class: smallest h with >= k labels
    inside = cost[targets[:, None], topk] <= radius[targets][:, None]
    return (inside.double().sum(dim=1) / k).mean().item()


def hierarchical_similarity_at_k(
    topk: torch.Tensor,
    targets: torch.Tensor,
    cost: torch.Tensor,
    max_distance: float | None = None,
) -> float:
    """hsim@k: the hierarchical precision that Bertinetto et al.'s code reports.

    Similarity is ``1 - cost / D`` with ``D = max_distance`` (default: the largest cost; a
    distance file's own maximum over all its node pairs, where it has one). The result is the
    similarity of every sample's top-k to its target, summed, over the sum of the k largest
    similarities each target has (its k nearest classes, itself first): 1 when every top-k is
    as close as it could be. A wrong top-1 still earns its similarity, so hsim@1 is not top-1
    accuracy.
    """
    targets = check_targets(targets)
    cost = _check_cost(cost, targets.device)
    topk = _check_topk(topk, targets, cost.shape[0])
    k = _distinct_topk(topk, targets, cost)
    top = float(cost.max()) if max_distance is None else float(max_distance)
    if top <= 0:
        return topk_accuracy(topk[:, :1], targets)  # one class, or every cost 0
    if top < float(cost.max()):
        raise ValueError(f"max_distance {top:g} is below the largest cost {float(cost.max()):g}")
    got = (1 - cost[targets[:, None], topk] / top).sum()
    best = (1 - cost.sort(dim=1).values[:, :k] / top).sum(dim=1)  # per class
    return (got / best[targets].sum()).item()


def coarse_accuracy(
    pred: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor
) -> dict[int, float]:
    """Accuracy at every height h in ``0..max(cost)``: correct when ``cost[y, ŷ] <= h``.

    Integer costs (LCA heights) only. Height 0 is top-1 accuracy; the maximum height always
    gives 1.0.
    """
    targets = check_targets(targets)
    heights = _require_integer(_check_cost(cost, targets.device), "coarse accuracy")
    _check_range(targets, heights.shape[0], "targets")
    pred = _check_pred(pred, targets, heights.shape[0])
    got = heights[targets, pred]
    return {h: (got <= h).double().mean().item() for h in range(int(heights.max()) + 1)}


def expected_calibration_error(
    probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS
) -> float:
    """ECE of top-1 confidence: sum over equal-width bins ``[lo, hi)`` of
    ``|bin| / N * |accuracy(bin) - mean confidence(bin)|``; empty bins contribute 0.

    ``probs`` are per-class probabilities ``(N, C)`` (e.g. :func:`decode.scores_to_probs`);
    the prediction is their argmax (ties: smaller index). The same as torchmetrics'
    ``multiclass_calibration_error`` with the L1 norm: a confidence of exactly 1 falls in the
    last bin.
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
    # torchmetrics' multiclass_calibration_error (L1) computes the same (a test checks it),
    # but importing torchmetrics takes seconds (it pulls in transformers), which `score`
    # would pay on every call for a dozen lines of binning
    confidence, pred = probs.max(dim=1)
    correct = (pred == targets).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64, device=probs.device)
    which = (torch.bucketize(confidence, edges, right=True) - 1).clamp(0, bins - 1)
    count = torch.bincount(which, minlength=bins).double()
    gap = torch.bincount(which, weights=confidence, minlength=bins)
    gap = gap - torch.bincount(which, weights=correct, minlength=bins)
    return (gap.abs().sum() / count.sum()).item()


def severity_histogram(
    pred: torch.Tensor, targets: torch.Tensor, cost: torch.Tensor
) -> torch.Tensor:
    """Counts of mistakes by cost: entry ``i`` counts mistakes at height ``i + 1``.

    Integer costs (LCA heights) only. Length is ``max(cost)`` (heights 1..max); a long tensor
    on the targets' device.
    """
    targets = check_targets(targets)
    heights = _require_integer(_check_cost(cost, targets.device), "a severity histogram")
    _check_range(targets, heights.shape[0], "targets")
    pred = _check_pred(pred, targets, heights.shape[0])
    top = int(heights.max())
    wrong = pred != targets
    got = heights[targets[wrong], pred[wrong]]
    got = got[got >= 1]  # 0 only if two distinct classes share a leaf; not a bin
    return torch.bincount(got - 1, minlength=top)


def summarize(
    scores: torch.Tensor,
    targets: torch.Tensor,
    cost: torch.Tensor,
    probs: torch.Tensor | None = None,
    *,
    max_distance: float | None = None,
) -> dict[str, float]:
    """All headline metrics from per-class scores ``(N, C)`` (higher is better).

    Keys: ``top1, top5, severity, hdist@1, hdist@5, hp@1, hp@2, hp@5, hsim@1, hsim@5``, and
    for integer costs ``acc@h{h}`` for every height ``h >= 1`` (acc@h0 would repeat top1),
    plus ``ece`` when ``probs`` is given (its own argmax is used). ``max_distance`` is the
    similarity scale of hsim@k (:func:`hierarchical_similarity_at_k`). When there are fewer
    than 5 classes every k is clamped to C and the key names stay the same (e.g. ``top5`` is
    top-C accuracy, i.e. 1.0). ``severity`` is NaN when there are no mistakes. Rankings break
    ties towards the smaller class index.
    """
    targets = check_targets(targets)
    cost = _check_cost(cost, targets.device)
    num_classes = cost.shape[0]
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        raise ValueError(f"scores must be a (N, C) tensor, got {getattr(scores, 'shape', scores)}")
    if scores.shape != (targets.shape[0], num_classes):
        raise ValueError(
            f"scores must have shape (N, C) = ({targets.shape[0]}, {num_classes}) to match "
            f"targets and the cost matrix, got {tuple(scores.shape)}"
        )
    if probs is not None and tuple(probs.shape) != tuple(scores.shape):
        raise ValueError(
            f"probs must have the same shape as scores {tuple(scores.shape)}, "
            f"got {tuple(probs.shape)}"
        )
    _check_range(targets, num_classes, "targets")
    scores = scores.to(targets.device)
    ks = sorted({*SUMMARY_TOPK, *SUMMARY_HDIST_K, *SUMMARY_HP_K, *SUMMARY_HSIM_K})
    if num_classes < max(ks):
        log.debug("only %d classes: clamping k in summarize to %d", num_classes, num_classes)
    ranked = _ranked(scores, min(max(ks), num_classes))
    pred = ranked[:, 0]

    def top(k: int) -> torch.Tensor:
        return ranked[:, : min(k, num_classes)]

    out: dict[str, float] = {}
    for k in SUMMARY_TOPK:
        out[f"top{k}"] = topk_accuracy(top(k), targets)
    out["severity"] = mistake_severity(pred, targets, cost)
    for k in SUMMARY_HDIST_K:
        out[f"hdist@{k}"] = hdist_at_k(top(k), targets, cost)
    for k in SUMMARY_HP_K:
        out[f"hp@{k}"] = hierarchical_precision_at_k(top(k), targets, cost)
    for k in SUMMARY_HSIM_K:
        out[f"hsim@{k}"] = hierarchical_similarity_at_k(top(k), targets, cost, max_distance)
    if probs is not None:
        out["ece"] = expected_calibration_error(probs, targets)
    if is_integer_cost(cost):
        for h, acc in coarse_accuracy(pred, targets, cost).items():
            if h >= 1:
                out[f"acc@h{h}"] = acc
    return out
