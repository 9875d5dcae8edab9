"""Softmax-like methods: one logit per class, a softmax over them, and three ways to target it.

``softmax`` is plain cross-entropy, the flat baseline; ``soft-labels`` and ``hxe`` (Bertinetto
et al., "Making Better Mistakes: Leveraging Class Hierarchies with Deep Networks", CVPR 2020)
make the target, or the loss along the path to the root, follow the hierarchy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from labelspace.models import heads
from labelspace.models.methods.base import SoftmaxLoss, class_paths
from labelspace.models.methods.registry import Method, register

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.hierarchy.graph import Hierarchy
    from labelspace.models.options import MethodOptions


class CrossEntropy(SoftmaxLoss):
    """Plain softmax cross-entropy on class logits: the flat baseline.

    ``label_smoothing`` as in Szegedy et al., "Rethinking the Inception Architecture" (CVPR
    2016); 0 gives ordinary cross-entropy.
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        super().__init__(num_classes)
        self.label_smoothing = label_smoothing

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> CrossEntropy:
        return cls(space.num_classes)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, targets = self.seen_only(outputs, targets)
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)


class SoftLabelLoss(SoftmaxLoss):
    """Soft-label cross-entropy (Bertinetto et al., "Making Better Mistakes: Leveraging Class
    Hierarchies with Deep Networks", CVPR 2020).

    The target distribution for class ``y`` is ``softmax_j(-beta * lca_height[y, j] / H)``
    with ``H`` the largest entry of ``lca_height`` (so distances lie in [0, 1]); the loss is
    the cross-entropy between it and the softmax of the class logits. Large ``beta`` tends
    to one-hot targets (plain cross-entropy).
    """

    trains_on_seen_only = False

    def __init__(self, lca_height: torch.Tensor | np.ndarray, beta: float = 10.0) -> None:
        heights = torch.as_tensor(lca_height, dtype=torch.float32)
        if heights.ndim != 2 or heights.shape[0] != heights.shape[1]:
            raise ValueError(f"lca_height must be a (C, C) matrix, got {tuple(heights.shape)}")
        super().__init__(heights.shape[0])
        distance = heights / heights.max().clamp_min(1.0)
        self.beta = beta
        self.register_buffer("soft_targets", torch.softmax(-beta * distance, dim=1))

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> SoftLabelLoss:
        return cls(space.lca_height, beta=options.beta)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, self.soft_targets[targets])


class HierarchicalCrossEntropy(SoftmaxLoss):
    """Hierarchical cross-entropy, HXE (Bertinetto et al., CVPR 2020), on class logits.

    ``p(node)`` is the summed softmax probability of the classes below ``node`` (in the DAG,
    the node included). Along the class's path to the root ``C_0 = y, ..., C_m = root``
    (:meth:`Hierarchy.path_to_root`), the loss is
    ``-sum_l exp(-alpha * height(C_l)) * log(p(C_l) / p(C_{l+1}))``. With ``alpha = 0`` the sum
    telescopes to plain cross-entropy; larger ``alpha`` discounts fine-grained mistakes.
    Computed in log space: ``log p(node)`` is a masked log-sum-exp of class log-probabilities.
    """

    trains_on_seen_only = False

    def __init__(self, hierarchy: Hierarchy, alpha: float = 0.1) -> None:
        super().__init__(len(hierarchy.classes))
        self.alpha = alpha
        paths = class_paths(hierarchy)
        on_paths = sorted({n for p in paths for n in p})
        local = {n: i for i, n in enumerate(on_paths)}
        num_classes = len(hierarchy.classes)

        # member[v, c] = 0 if class c is under path node v (or is v), else -inf
        class_pos = {int(n): c for c, n in enumerate(hierarchy.class_indices)}
        member = torch.full((len(on_paths), num_classes), float("-inf"))
        for node, c in class_pos.items():
            member[local[node], c] = 0.0
        for desc, anc in hierarchy.closure().tolist():
            if desc in class_pos and anc in local:
                member[local[anc], class_pos[desc]] = 0.0

        length = max(len(p) for p in paths)
        root = local[hierarchy.index[hierarchy.root]]
        path_index = torch.full((num_classes, length), root, dtype=torch.long)
        weights = torch.zeros(num_classes, length - 1)
        height = torch.as_tensor(hierarchy.height, dtype=torch.float32)
        for c, path in enumerate(paths):
            path_index[c, : len(path)] = torch.tensor([local[n] for n in path])
            weights[c, : len(path) - 1] = torch.exp(-alpha * height[path[:-1]])
        self.register_buffer("member", member)
        self.register_buffer("path_index", path_index)
        self.register_buffer("weights", weights)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(outputs.float(), dim=-1)  # (N, C)
        mask = self.member[self.path_index[targets]]  # (N, L, C)
        log_p_nodes = torch.logsumexp(log_p[:, None, :] + mask, dim=-1)  # (N, L)
        log_conditional = log_p_nodes[:, :-1] - log_p_nodes[:, 1:]
        return -(self.weights[targets] * log_conditional).sum(1).mean()

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> HierarchicalCrossEntropy:
        return cls(space.hierarchy, alpha=options.alpha)


register(
    Method("softmax", heads.linear, CrossEntropy, None, "plain softmax + cross-entropy", order=10)
)
register(
    Method(
        "soft-labels",
        heads.linear,
        SoftLabelLoss,
        None,
        "softmax with hierarchy-aware soft labels (Bertinetto et al. 2020)",
        options=("beta",),
        order=90,
    )
)
register(
    Method(
        "hxe",
        heads.linear,
        HierarchicalCrossEntropy,
        None,
        "hierarchical cross-entropy (Bertinetto et al. 2020)",
        options=("alpha",),
        order=100,
    )
)
