"""Hierarchical back-off: answer with a coarser node when the classifier is unsure.

A flat classifier must name a class; a hierarchy lets it hedge. The probability of a node is
the summed probability of the classes below it (YOLO9000's WordTree, Redmon & Farhadi 2017),
so walking up from the predicted class trades specificity for confidence. Back-off with
threshold ``t`` predicts the deepest node on the predicted class's way up whose probability is
at least ``t``: ``t = 0`` is flat top-1, ``t > 1`` is always the root. Sweeping ``t`` traces the
accuracy-specificity curve of Deng et al., "Hedging your bets" (CVPR 2012):

- correctness: the share of images whose predicted node is the true class or an ancestor of it;
- informativeness: the mean depth of the predicted nodes over the mean depth of the true
  classes (1 ≈ always a class, 0 = always the root). Depth counts from the deepest node that
  lies above every class (``artifact`` for Fashion-MNIST), not from WordNet's ``entity``:
  the chain between them holds every class and says nothing about an image.

A classifier whose probabilities put mass on the right branch keeps high correctness as it
backs off; one whose mass is spread over unrelated classes has to retreat to the root.

:func:`crm_scores` is the other way to use the hierarchy at test time without retraining:
conditional risk minimisation (Karthik et al., "No cost likelihood manipulation at test time
for making better mistakes", ICLR 2021) re-ranks the classes by expected LCA height.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from labelspace.hierarchy.graph import Hierarchy
from labelspace.metrics.hierarchical import check_targets

SUM_TOLERANCE = 1e-2  # rows of class probabilities must sum to 1 within this (low precision ok)


# --------------------------------------------------------------------------- validation
def _check_probs(class_probs: Any, num_classes: int | None = None, name: str = "class_probs"):
    """Raise ValueError unless ``class_probs`` is an ``(N, C)`` float tensor of probabilities."""
    if not isinstance(class_probs, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(class_probs).__name__}")
    if class_probs.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, C), got shape {tuple(class_probs.shape)}")
    if not class_probs.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got dtype {class_probs.dtype}")
    if num_classes is not None and class_probs.shape[1] != num_classes:
        raise ValueError(
            f"{name} has {class_probs.shape[1]} columns but the hierarchy has {num_classes} classes"
        )
    if class_probs.numel() == 0:
        return
    if not torch.isfinite(class_probs).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (class_probs < 0).any():
        raise ValueError(f"{name} contains negative values: pass probabilities, not logits")
    sums = class_probs.double().sum(dim=1)
    worst = (sums - 1).abs().max().item()
    if worst > SUM_TOLERANCE:
        raise ValueError(
            f"rows of {name} must sum to 1 (probabilities, e.g. a softmax); the worst row is "
            f"off by {worst:.3g}"
        )


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return threshold


# --------------------------------------------------------------------------- node probabilities
def descendant_matrix(hierarchy: Hierarchy) -> torch.Tensor:
    """``(K, C)`` bool: ``[k, c]`` is True when class ``c`` is node ``k`` or lies below it.

    Rows follow ``hierarchy.nodes``, columns ``hierarchy.classes``; the root's row is all True.
    """
    k = len(hierarchy.nodes)
    pairs = torch.as_tensor(hierarchy.closure(), dtype=torch.long)  # (descendant, ancestor)
    below = torch.eye(k, dtype=torch.bool)  # below[i, j]: node i is node j or lies below it
    below[pairs[:, 0], pairs[:, 1]] = True
    return below[torch.as_tensor(hierarchy.class_indices, dtype=torch.long)].T.contiguous()


def node_probabilities(class_probs: torch.Tensor, descendants: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` probability of every node: the sum over the classes below it (or equal to it).

    An ancestor therefore never has less probability than a descendant, and the root has 1.
    ``descendants`` is :func:`descendant_matrix` of the hierarchy.
    """
    if not isinstance(descendants, torch.Tensor) or descendants.ndim != 2:
        raise ValueError("descendants must be a 2-D (K, C) tensor (see descendant_matrix)")
    if descendants.dtype != torch.bool:
        raise ValueError(f"descendants must be a bool tensor, got dtype {descendants.dtype}")
    _check_probs(class_probs, descendants.shape[1])
    return class_probs @ descendants.to(class_probs.dtype).T


# --------------------------------------------------------------------------- back-off
@dataclass(frozen=True)
class _Candidates:
    """Per image, the predicted class and its ancestors in back-off preference order."""

    nodes: torch.Tensor  # (N, M) node indices, preferred first; padding after the root
    probs: torch.Tensor  # (N, M) their node probabilities
    always: torch.Tensor  # (N, M) True at the root: it is accepted whatever the threshold


def _candidates(
    class_probs: torch.Tensor, hierarchy: Hierarchy, descendants: torch.Tensor
) -> _Candidates:
    """Rank, once per image, the nodes back-off may answer with.

    The candidates are the flat argmax class and its ancestors (the ``(C, K)`` ancestor-or-self
    mask, padded to the longest list), sorted by depth (deepest first), then probability
    (higher first), then node index (lower first). A threshold then selects the first candidate
    whose probability reaches it, so sweeping thresholds costs one ``(N, M)`` pass each.
    """
    probs = node_probabilities(class_probs, descendants)  # validates class_probs
    ancestors = descendants.T  # (C, K): ancestor-or-self of each class
    depth = torch.as_tensor(hierarchy.depth, dtype=torch.long)
    root = hierarchy.index[hierarchy.root]
    width = int(ancestors.sum(dim=1).max())
    table = torch.full((ancestors.shape[0], width), root, dtype=torch.long)
    valid = torch.zeros(ancestors.shape[0], width, dtype=torch.bool)
    for c, row in enumerate(ancestors):
        idx = row.nonzero().flatten()  # ascending index
        idx = idx[torch.sort(depth[idx], descending=True, stable=True).indices]
        table[c, : len(idx)] = idx
        valid[c, : len(idx)] = True

    predicted = class_probs.argmax(dim=1)  # the first maximum: ties go to the lower class
    nodes = table[predicted]  # (N, M)
    ok = valid[predicted]
    node_probs = probs.gather(1, nodes).masked_fill(~ok, 0.0)
    node_depth = depth[nodes].masked_fill(~ok, -1)  # padding sorts after the root (depth 0)
    # Least significant key first; stable sorts keep the lower index among exact ties.
    order = torch.sort(node_probs, dim=1, descending=True, stable=True).indices
    order = order.gather(
        1, torch.sort(node_depth.gather(1, order), dim=1, descending=True, stable=True).indices
    )
    nodes = nodes.gather(1, order)
    return _Candidates(nodes, node_probs.gather(1, order), nodes == root)


def _select(cand: _Candidates, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    passes = (cand.probs >= threshold) | cand.always
    first = passes.to(torch.uint8).argmax(dim=1, keepdim=True)  # the first True
    return cand.nodes.gather(1, first).squeeze(1), cand.probs.gather(1, first).squeeze(1)


def backoff_predictions(
    class_probs: torch.Tensor, hierarchy: Hierarchy, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Back off each image's flat prediction to the deepest node that is probable enough.

    Among the argmax class and its ancestors, returns the deepest node (ties: higher
    probability, then lower index) whose node probability is at least ``threshold``, as
    ``(nodes (N,) long indices into hierarchy.nodes, confidence (N,) its probability)``.
    ``threshold = 0`` gives the argmax class (flat top-1); a threshold above every non-root
    probability gives the root, which is always accepted (its probability is 1 up to rounding).

    In a tree the answer only moves up as the threshold grows. With several parents it can
    jump to a shallower node on another branch, so correctness need not be monotone there.
    """
    threshold = _check_threshold(threshold)
    _check_probs(class_probs, len(hierarchy.classes))
    return _select(_candidates(class_probs, hierarchy, descendant_matrix(hierarchy)), threshold)


def backoff_label(
    class_probs_row: torch.Tensor, hierarchy: Hierarchy, threshold: float
) -> tuple[str, float]:
    """Back-off for one image's ``(C,)`` probabilities: ``(node name, its probability)``."""
    if not isinstance(class_probs_row, torch.Tensor) or class_probs_row.ndim != 1:
        shape = getattr(class_probs_row, "shape", None)
        raise ValueError(f"class_probs_row must be a 1-D (C,) tensor, got shape {shape}")
    nodes, confidence = backoff_predictions(class_probs_row[None], hierarchy, threshold)
    return hierarchy.nodes[int(nodes[0])], float(confidence[0])


# --------------------------------------------------------------------------- the curve
def default_thresholds() -> torch.Tensor:
    """0, 0.02, ..., 1 plus 0.99 and 0.999 (where confident classifiers still differ)."""
    grid = torch.cat([torch.linspace(0, 1, 51, dtype=torch.float64), torch.tensor([0.99, 0.999])])
    return torch.unique(grid)  # sorted


@dataclass(frozen=True)
class BackoffCurve:
    """Correctness against informativeness of back-off, one point per threshold.

    ``thresholds``, ``correctness`` and ``informativeness`` are float64 tensors of equal length,
    thresholds ascending (0 always included). ``auc`` is the area under correctness as a
    function of informativeness over ``[0, x_max]`` by the trapezoid rule, after adding the
    root point ``(0, 1)`` and sorting by informativeness; ``x_max`` is the informativeness at
    threshold 0 (flat top-1), the largest on the curve since backing off never deepens an
    answer. Of two methods over the same range, one whose curve lies higher everywhere has the
    larger area; a method that predicts deeper classes also extends the range.
    """

    thresholds: torch.Tensor
    correctness: torch.Tensor
    informativeness: torch.Tensor
    auc: float

    def points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` as integrated: the root point added, sorted by informativeness."""
        x = torch.cat([torch.zeros(1, dtype=torch.float64), self.informativeness.double()])
        y = torch.cat([torch.ones(1, dtype=torch.float64), self.correctness.double()])
        order = torch.sort(x, stable=True).indices
        return x[order], y[order]

    def to_dict(self) -> dict[str, Any]:
        """Plain floats and lists, for JSON."""
        return {
            "thresholds": [float(v) for v in self.thresholds],
            "correctness": [float(v) for v in self.correctness],
            "informativeness": [float(v) for v in self.informativeness],
            "auc": float(self.auc),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackoffCurve:
        """Inverse of :meth:`to_dict` (for rebuilding reports from metrics files)."""
        return cls(
            torch.tensor(data["thresholds"], dtype=torch.float64),
            torch.tensor(data["correctness"], dtype=torch.float64),
            torch.tensor(data["informativeness"], dtype=torch.float64),
            float(data["auc"]),
        )


def _trapezoid_auc(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2).sum())


def backoff_curve(
    class_probs: torch.Tensor,
    targets: torch.Tensor,
    hierarchy: Hierarchy,
    thresholds: torch.Tensor | None = None,
) -> BackoffCurve:
    """Sweep back-off thresholds and measure correctness and informativeness at each.

    ``thresholds`` defaults to :func:`default_thresholds`; given ones must lie in [0, 1] and are
    sorted, deduplicated and completed with 0 (the flat top-1 end of the curve).
    """
    num_classes = len(hierarchy.classes)
    _check_probs(class_probs, num_classes)
    n = class_probs.shape[0]
    if n == 0:
        raise ValueError("class_probs is empty: the curve needs at least one image")
    targets = check_targets(targets, num_classes, rows=n)
    if thresholds is None:
        thresholds = default_thresholds()
    else:
        thresholds = torch.as_tensor(thresholds, dtype=torch.float64).flatten()
        if thresholds.numel() and not ((thresholds >= 0) & (thresholds <= 1)).all():
            raise ValueError("thresholds must lie in [0, 1]")
        thresholds = torch.unique(torch.cat([torch.zeros(1, dtype=torch.float64), thresholds]))

    descendants = descendant_matrix(hierarchy)
    depth = torch.as_tensor(hierarchy.depth, dtype=torch.float64)
    shared = depth[descendants.all(dim=1)].max()  # the deepest node above every class
    depth = (depth - shared).clamp_min(0.0)
    true_nodes = torch.as_tensor(hierarchy.class_indices)[targets]
    true_depth = depth[true_nodes].mean()
    if true_depth <= 0:
        raise ValueError("the true classes all sit at the root: informativeness is undefined")
    correct_rows = descendants.T[targets]  # (N, K): the nodes that are right for each image

    cand = _candidates(class_probs, hierarchy, descendants)
    correctness = torch.empty(len(thresholds), dtype=torch.float64)
    informativeness = torch.empty(len(thresholds), dtype=torch.float64)
    for i, t in enumerate(thresholds.tolist()):
        nodes, _ = _select(cand, t)
        correctness[i] = correct_rows.gather(1, nodes[:, None]).double().mean()
        informativeness[i] = depth[nodes].mean() / true_depth
    curve = BackoffCurve(thresholds, correctness, informativeness, 0.0)
    return BackoffCurve(thresholds, correctness, informativeness, _trapezoid_auc(*curve.points()))


# --------------------------------------------------------------------------- CRM
def crm_scores(class_probs: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
    """``(N, C)`` negative expected cost of predicting each class: ``-(probs @ cost.T)``.

    ``cost[j, i]`` is the cost of predicting ``j`` when the truth is ``i``; with
    ``hierarchy.class_lca_height`` (symmetric) the argmax is the class of least expected LCA
    height, Karthik et al.'s conditional risk minimisation (ICLR 2021). It is the peer to beat
    for any hierarchy-aware method: it needs no retraining, only the flat model's probabilities,
    and it reduces mistake severity at almost no cost in top-1 accuracy, so a method that
    changes training must do better than this free re-ranking of a flat classifier.
    """
    if not isinstance(cost, torch.Tensor) or cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        shape = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost).__name__
        raise ValueError(f"cost must be a square (C, C) tensor, got {shape}")
    _check_probs(class_probs, cost.shape[0])
    return -(class_probs @ cost.to(class_probs.dtype).T)


# --------------------------------------------------------------------------- figure
