"""HAF, hierarchy-aware features (Garg, Sani & Anand, "Learning Hierarchy Aware Features for
Reducing Mistake Severity", ECCV 2022): class and coarse-level logits from unit weight
vectors, with consistency and margin losses at every depth of the tree."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.models.methods.base import ClassScoreLoss, SoftmaxLoss, class_paths
from labelspace.models.methods.registry import Method, register

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.hierarchy.graph import Hierarchy
    from labelspace.models.options import MethodOptions


class HAFHead(nn.Module):
    """Class logits and the logits of each coarse level, from unit weight vectors (HAF).

    Each coarse group's weight vector is the normalised sum of its classes' unit weight
    vectors (``members``: per level, a ``(groups, classes)`` 0/1 matrix), each with a bias of
    its own: the geometric consistency of Garg et al. (ECCV 2022) held exactly.
    """

    def __init__(self, in_features: int, num_classes: int, members: list[torch.Tensor]) -> None:
        super().__init__()
        self.classes = nn.Linear(in_features, num_classes)
        self.level_bias = nn.ParameterList(torch.nn.Parameter(torch.zeros(len(m))) for m in members)
        for i, m in enumerate(members):
            self.register_buffer(f"members_{i}", m.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = F.normalize(self.classes.weight, dim=-1)
        out = [features @ weights.T + self.classes.bias]
        for i, bias in enumerate(self.level_bias):
            coarse = F.normalize(getattr(self, f"members_{i}") @ weights, dim=-1)
            out.append(features @ coarse.T + bias)
        return torch.cat(out, dim=-1)


def haf_head(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Class and coarse-level logits from unit weight vectors (:class:`HAFHead`)."""
    return HAFHead(in_features, loss.num_classes, loss.members)


def depth_levels(hierarchy: Hierarchy) -> list[np.ndarray]:
    """The hierarchy cut at each depth: for depth d, every class's ancestor at depth d on its
    :meth:`~Hierarchy.path_to_root` (the class itself where its path is shorter), as a group
    index per class. Cuts that group nothing new (the same partition as the depth above, one
    group for all, or every class alone) are left out.

    Each path steps from a node to the same parent whichever class it belongs to, so every cut
    refines the one above: two cuts are the same partition exactly when they have as many
    groups (their group labels, ordered by node index, may differ)."""
    paths = [path[::-1] for path in class_paths(hierarchy)]  # root first
    levels: list[np.ndarray] = []
    for d in range(1, max(len(p) for p in paths)):
        nodes = [p[min(d, len(p) - 1)] for p in paths]
        _, groups = np.unique(nodes, return_inverse=True)
        if groups.max() in (0, len(paths) - 1):
            continue
        if levels and groups.max() == levels[-1].max():
            continue
        levels.append(groups)
    return levels


def _jsd_terms(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``KL(p || m)`` and ``KL(q || m)`` per row, ``m = (p + q) / 2``."""
    log_mix = (0.5 * (p + q)).clamp_min(1e-7).log()
    return (
        F.kl_div(log_mix, p, reduction="none").sum(-1),
        F.kl_div(log_mix, q, reduction="none").sum(-1),
    )


class HAFLoss(SoftmaxLoss):
    """HAF, hierarchy-aware features (Garg, Sani & Anand, "Learning Hierarchy Aware Features
    for Reducing Mistake Severity", ECCV 2022), on WordNet's tree cut at every depth.

    The head (:class:`~labelspace.models.heads.HAFHead`) scores the classes and every coarse
    level with unit weight vectors on the same features. The loss is cross-entropy on the
    classes, plus for each coarse level: the Jensen-Shannon divergence between the level's
    softmax and the class softmax summed into the level's groups (soft hierarchical
    consistency), and a margin loss that pushes apart the level's predictions for two images
    of different groups (``max(0, margin - KL(p || mix))``; each image is paired with the
    previous one of the batch rather than with all of them, which keeps the cost linear).
    HAF's margin is 3, more than the largest KL to the mixture (ln 2), so its hinge is never
    inactive; the default margin here is ln 2, which gives the same gradients and a term that
    is 0 when the two predictions are disjoint.
    HAF's geometric consistency term (a coarse weight vector should point along the normalised
    sum of its classes') is built in as a constraint rather than a loss: the head's coarse
    weights *are* those sums. Levels are depth cuts of the tree
    (:func:`depth_levels`) because WordNet's classes sit at many depths. Predictions are the
    class logits, as in HAF."""

    trains_on_seen_only = False

    def __init__(self, hierarchy: Hierarchy, margin: float = math.log(2.0)) -> None:
        levels = depth_levels(hierarchy)
        super().__init__(len(hierarchy.classes))
        self.margin = margin
        self.level_sizes = [int(g.max()) + 1 for g in levels]
        for i, groups in enumerate(levels):
            members = torch.zeros(self.level_sizes[i], self.num_classes)
            members[torch.as_tensor(groups), torch.arange(self.num_classes)] = 1.0
            self.register_buffer(f"members_{i}", members)  # (groups, classes)
            self.register_buffer(f"groups_{i}", torch.as_tensor(groups, dtype=torch.long))

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> HAFLoss:
        return cls(space.hierarchy)

    @property
    def members(self) -> list[torch.Tensor]:
        """Per coarse level, which classes each group holds, ``(groups, classes)``."""
        return [getattr(self, f"members_{i}") for i in range(len(self.level_sizes))]

    @property
    def num_outputs(self) -> int:
        return self.num_classes + sum(self.level_sizes)

    def split(self, outputs: torch.Tensor) -> list[torch.Tensor]:
        """The head's outputs as [class logits, logits of each coarse level]."""
        return list(outputs.split([self.num_classes, *self.level_sizes], dim=-1))

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[..., : self.num_classes]

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        fine, *coarse = self.split(outputs.float())
        loss = F.cross_entropy(fine, targets)
        p_fine = fine.softmax(-1)
        for i, logits in enumerate(coarse):
            p_level = logits.softmax(-1)
            summed = p_fine @ self.members[i].T
            kl_summed, kl_level = _jsd_terms(summed, p_level)
            loss = loss + 0.5 * (kl_summed + kl_level).mean()
            groups = getattr(self, f"groups_{i}")[targets]
            apart = (groups != groups.roll(1)).float()  # the pairs (i, i - 1) of different groups
            kl_p, kl_q = _jsd_terms(p_level, p_level.roll(1, dims=0))
            hinge = (self.margin - kl_p).clamp_min(0) + (self.margin - kl_q).clamp_min(0)
            loss = loss + 0.5 * (hinge * apart).sum() / apart.sum().clamp_min(1.0)
        return loss


register(
    Method(
        "haf",
        haf_head,
        HAFLoss,
        None,
        "HAF: cross-entropy + coarse-level consistency and margin losses on unit-weight "
        "classifiers (Garg et al. 2022)",
        order=80,
    )
)
