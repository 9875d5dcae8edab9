"""Hierarchical softmax over a WordTree (Redmon & Farhadi, "YOLO9000: Better, Faster,
Stronger", CVPR 2017): one softmax per parent, class probabilities the product along the path."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import torch

from labelspace.models import heads
from labelspace.models.methods.base import ClassScoreLoss, class_paths
from labelspace.models.methods.registry import Method, register

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.hierarchy.graph import Hierarchy
    from labelspace.models.options import MethodOptions


class HierarchicalSoftmax(ClassScoreLoss):
    """Hierarchical softmax over a WordTree (Redmon & Farhadi, "YOLO9000: Better, Faster,
    Stronger", CVPR 2017).

    The tree keeps, for each node, the parent that :meth:`Hierarchy.path_to_root` follows, and
    only nodes on some class's path (so no probability flows to a subtree without classes).
    The model gives one logit per non-root tree node (:attr:`num_outputs`, named by
    :attr:`output_nodes`, in hierarchy order); a softmax over each parent's children gives
    ``p(child | parent)``, and ``log p(class)`` is the sum of the log conditionals along the
    class's path. A class that also has classes below it gets one extra output, named
    ``"<node>#self"``, for "this node itself" among its children, so that class probabilities
    always sum to one. Only-children get conditional 1 (their logit is unused).
    """

    trains_on_seen_only = False

    def __init__(self, hierarchy: Hierarchy) -> None:
        super().__init__()
        paths = class_paths(hierarchy)
        tree_parent: dict[int, int] = {}
        for path in paths:
            tree_parent.update(itertools.pairwise(path))
        internal_classes = sorted(
            {int(n) for n in hierarchy.class_indices} & set(tree_parent.values())
        )
        # outputs: real tree nodes (hierarchy order), then one "itself" leaf per internal class
        slots = [(n, tree_parent[n]) for n in sorted(tree_parent)]
        slot_of = {n: k for k, (n, _) in enumerate(slots)}
        self_slot = {n: len(slots) + i for i, n in enumerate(internal_classes)}
        slots += [(n, n) for n in internal_classes]
        self.output_nodes = tuple(
            hierarchy.nodes[n] + ("#self" if k >= len(slot_of) else "")
            for k, (n, _) in enumerate(slots)
        )
        group_ids = {p: g for g, p in enumerate(sorted({p for _, p in slots}))}
        self.num_groups = len(group_ids)
        group = torch.tensor([group_ids[p] for _, p in slots], dtype=torch.long)

        membership = torch.zeros(len(paths), len(slots))  # (C, K): outputs on each class's path
        for c, path in enumerate(paths):
            for n in path[:-1]:
                membership[c, slot_of[n]] = 1.0
            if path[0] in self_slot:
                membership[c, self_slot[path[0]]] = 1.0
        self.register_buffer("group", group)
        self.register_buffer("membership", membership)

    @property
    def num_outputs(self) -> int:
        """Logits the model must produce: one per non-root tree node (+ ``#self`` leaves)."""
        return self.group.numel()

    @property
    def num_classes(self) -> int:
        return self.membership.shape[0]

    def conditional_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """``log p(node | tree parent)`` per output: a log-softmax within each sibling group."""
        logits = logits.float()
        index = self.group.expand_as(logits)
        shape = (logits.shape[0], self.num_groups)
        peak = logits.new_full(shape, float("-inf")).scatter_reduce(
            1, index, logits.detach(), reduce="amax"
        )
        shifted = logits - peak.gather(1, index)
        total = logits.new_zeros(shape).scatter_add(1, index, shifted.exp())
        return shifted - total.log().gather(1, index)

    def class_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """``log p(class)`` for every class, ``(N, C)``: the scores to decode predictions from."""
        return self.conditional_log_probs(logits) @ self.membership.T

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> HierarchicalSoftmax:
        return cls(space.hierarchy)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.class_log_probs(outputs)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.exp()

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -self.class_log_probs(outputs).gather(1, targets[:, None]).mean()


register(
    Method(
        "hsoftmax",
        heads.linear,
        HierarchicalSoftmax,
        None,
        "YOLO9000 hierarchical softmax over the WordTree (Redmon & Farhadi 2017)",
        order=110,
    )
)
