"""Training losses for classifiers with softmax outputs or outputs in a label-embedding space.

Every loss is an ``nn.Module`` whose ``forward(outputs, targets)`` returns the mean loss over
the batch; ``targets`` are class positions (row ``i`` of the label vectors is class ``i``,
which is ``Hierarchy.classes[i]``). Every loss also has ``scores(outputs) -> (N, C)``: class
scores, higher is better, whose argmax is the prediction (logits, similarities, negative
distances or class log-probabilities).

Label vectors are copied and frozen (a buffer) unless ``trainable=True``, in which case they
are an ``nn.Parameter``. Losses with parameters (trainable labels, the classifier of
:class:`CosineCrossEntropyLoss`) need them in the optimiser: optimise
``[*model.parameters(), *loss.parameters()]``.

Where a loss needs a tree but WordNet gives a DAG, each node keeps the one parent that
:meth:`Hierarchy.path_to_root` follows (the deepest parent, ties to the lower index).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.embeddings.geometry import pairwise_distance, project
from labelspace.hierarchy.graph import Hierarchy


def _as_label_tensor(label_vectors: torch.Tensor | np.ndarray) -> torch.Tensor:
    vectors = torch.as_tensor(label_vectors, dtype=torch.float32).detach().clone()
    if vectors.ndim != 2 or vectors.shape[0] < 1:
        raise ValueError(f"label vectors must be a (C, D) matrix, got shape {tuple(vectors.shape)}")
    return vectors


class _LabelVectorLoss(nn.Module):
    """Base class holding the (C, D) label vectors as a buffer or, if trainable, a parameter."""

    label_vectors: torch.Tensor

    def __init__(self, label_vectors: torch.Tensor | np.ndarray, trainable: bool = False) -> None:
        super().__init__()
        vectors = _as_label_tensor(label_vectors)
        if trainable:
            self.label_vectors = nn.Parameter(vectors)
        else:
            self.register_buffer("label_vectors", vectors)

    @property
    def num_classes(self) -> int:
        return self.label_vectors.shape[0]

    @property
    def dim(self) -> int:
        """Dimension of the label space: the size the model's output must have."""
        return self.label_vectors.shape[1]


# --------------------------------------------------------------------------- softmax baseline
class CrossEntropy(nn.Module):
    """Plain softmax cross-entropy on class logits: the flat baseline.

    ``label_smoothing`` as in Szegedy et al., "Rethinking the Inception Architecture" (CVPR
    2016); 0 gives ordinary cross-entropy.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


# --------------------------------------------------------------------------- DeViSE
class DeviseHingeLoss(_LabelVectorLoss):
    """DeViSE ranking hinge loss (Frome et al., "DeViSE: A Deep Visual-Semantic Embedding
    Model", NeurIPS 2013).

    With scores ``s = outputs @ labels.T``: ``sum_{j != y} max(0, margin - s_y + s_j)``. The
    label vectors are used as given (Frome et al. unit-normalise them beforehand).
    """

    def __init__(
        self,
        label_vectors: torch.Tensor | np.ndarray,
        margin: float = 0.1,
        trainable: bool = False,
    ) -> None:
        super().__init__(label_vectors, trainable)
        self.margin = margin

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs @ self.label_vectors.T

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        s = self.scores(outputs)
        s_true = s.gather(1, targets[:, None])
        hinge = (self.margin - s_true + s).clamp_min(0.0)
        hinge = hinge.masked_fill(F.one_hot(targets, s.shape[1]).bool(), 0.0)
        return hinge.sum(1).mean()


# --------------------------------------------------------------------------- cosine losses
class CosineLoss(_LabelVectorLoss):
    """``1 - cos(output, label_y)`` (Barz & Denzler, "Hierarchy-based Image Embeddings for
    Semantic Image Retrieval", WACV 2019). Predictions are the most cosine-similar labels."""

    def __init__(self, label_vectors: torch.Tensor | np.ndarray, trainable: bool = False) -> None:
        super().__init__(label_vectors, trainable)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(outputs, dim=-1) @ F.normalize(self.label_vectors, dim=-1).T

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (1.0 - F.cosine_similarity(outputs, self.label_vectors[targets], dim=-1)).mean()


class CosineCrossEntropyLoss(CosineLoss):
    """Cosine loss plus ``weight`` × cross-entropy of a linear classifier on the unit-normalised
    output (Barz & Denzler, WACV 2019, "L_CORR + λ L_CLS" with λ = 0.1).

    The linear classifier (``self.classifier``) belongs to this loss module and is trained with
    it: the optimiser must include ``loss.parameters()``. Predictions use the cosine scores,
    as in the paper's retrieval setting.
    """

    def __init__(
        self,
        label_vectors: torch.Tensor | np.ndarray,
        in_dim: int | None = None,
        num_classes: int | None = None,
        weight: float = 0.1,
        trainable: bool = False,
    ) -> None:
        super().__init__(label_vectors, trainable)
        in_dim = self.dim if in_dim is None else in_dim
        num_classes = self.num_classes if num_classes is None else num_classes
        if (in_dim, num_classes) != (self.dim, self.num_classes):
            raise ValueError(
                f"in_dim={in_dim}, num_classes={num_classes} do not match the label vectors "
                f"({self.num_classes} × {self.dim})"
            )
        self.classifier = nn.Linear(in_dim, num_classes)
        self.weight = weight

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(F.normalize(outputs, dim=-1))
        return super().forward(outputs, targets) + self.weight * F.cross_entropy(logits, targets)


# --------------------------------------------------------------------------- Poincaré ball
class PoincareLoss(_LabelVectorLoss):
    """Cross-entropy over ``-d(output, label_j) / temperature`` with the Poincaré distance.

    The distance-based softmax of hyperbolic prototype classifiers (e.g. Khrulkov et al.,
    "Hyperbolic Image Embeddings", CVPR 2020; Long et al., "Searching for Actions on the
    Hyperbole", CVPR 2020). ``outputs`` must lie in the ball of curvature ``-curvature``
    (see :class:`~labelspace.models.heads.HyperbolicHead`). Labels are projected into the
    clamped ball on use; trainable labels get plain Euclidean gradients (an approximation of
    Riemannian optimisation that the projection keeps valid).
    """

    def __init__(
        self,
        label_vectors: torch.Tensor | np.ndarray,
        curvature: float = 1.0,
        temperature: float = 0.1,
        trainable: bool = False,
    ) -> None:
        super().__init__(label_vectors, trainable)
        if curvature <= 0 or temperature <= 0:
            raise ValueError("curvature and temperature must be positive")
        self.curvature = curvature
        self.temperature = temperature

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        labels = project(self.label_vectors, self.curvature)
        return -pairwise_distance(outputs, labels, self.curvature) / self.temperature

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.scores(outputs), targets)


# --------------------------------------------------------------------------- hierarchy-aware
class SoftLabelLoss(nn.Module):
    """Soft-label cross-entropy (Bertinetto et al., "Making Better Mistakes: Leveraging Class
    Hierarchies with Deep Networks", CVPR 2020).

    The target distribution for class ``y`` is ``softmax_j(-beta * lca_height[y, j] / H)``
    with ``H`` the largest entry of ``lca_height`` (so distances lie in [0, 1]); the loss is
    the cross-entropy between it and the softmax of the class logits. Large ``beta`` tends
    to one-hot targets (plain cross-entropy).
    """

    def __init__(self, lca_height: torch.Tensor | np.ndarray, beta: float = 10.0) -> None:
        super().__init__()
        heights = torch.as_tensor(lca_height, dtype=torch.float32)
        if heights.ndim != 2 or heights.shape[0] != heights.shape[1]:
            raise ValueError(f"lca_height must be a (C, C) matrix, got {tuple(heights.shape)}")
        distance = heights / heights.max().clamp_min(1.0)
        self.beta = beta
        self.register_buffer("soft_targets", torch.softmax(-beta * distance, dim=1))

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, self.soft_targets[targets])

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


def _class_paths(hierarchy: Hierarchy) -> list[list[int]]:
    """Node indices of each class's :meth:`~Hierarchy.path_to_root` (class first, root last)."""
    index = hierarchy.index
    return [[index[n] for n in hierarchy.path_to_root(c)] for c in hierarchy.classes]


class HierarchicalCrossEntropy(nn.Module):
    """Hierarchical cross-entropy, HXE (Bertinetto et al., CVPR 2020), on class logits.

    ``p(node)`` is the summed softmax probability of the classes below ``node`` (in the DAG,
    the node included). Along the class's path to the root ``C_0 = y, ..., C_m = root``
    (:meth:`Hierarchy.path_to_root`), the loss is
    ``-sum_l exp(-alpha * height(C_l)) * log(p(C_l) / p(C_{l+1}))``. With ``alpha = 0`` the sum
    telescopes to plain cross-entropy; larger ``alpha`` discounts fine-grained mistakes.
    Computed in log space: ``log p(node)`` is a masked log-sum-exp of class log-probabilities.
    """

    def __init__(self, hierarchy: Hierarchy, alpha: float = 0.1) -> None:
        super().__init__()
        self.alpha = alpha
        paths = _class_paths(hierarchy)
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

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


class HierarchicalSoftmax(nn.Module):
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

    def __init__(self, hierarchy: Hierarchy) -> None:
        super().__init__()
        paths = _class_paths(hierarchy)
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

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.class_log_probs(outputs)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -self.class_log_probs(outputs).gather(1, targets[:, None]).mean()


LOSSES: dict[str, type[nn.Module]] = {
    "ce": CrossEntropy,
    "devise": DeviseHingeLoss,
    "cosine": CosineLoss,
    "cosine-ce": CosineCrossEntropyLoss,
    "poincare": PoincareLoss,
    "soft-labels": SoftLabelLoss,
    "hxe": HierarchicalCrossEntropy,
    "hsoftmax": HierarchicalSoftmax,
}


# --------------------------------------------------------------------------- zero-shot
class SeenClassesLoss(nn.Module):
    """Train ``inner`` as if only the ``seen`` classes existed; score every class.

    Zero-shot learning keeps unseen classes in the label space but shows no image of them.
    A loss that ranks the true label against the others (cross-entropy over logits or over
    -distance/T, DeViSE's hinge) would otherwise push every image away from the unseen labels
    it never saw, which is exactly the knowledge zero-shot recognition needs. Here the
    competitors are the seen labels only; ``scores`` still covers all classes, so decoding
    can reach the unseen ones. Losses that spread the target over the hierarchy's classes
    (soft labels, HXE, hierarchical softmax) have no such restriction and are refused.
    """

    def __init__(self, inner: nn.Module, seen: torch.Tensor | list[int], num_classes: int) -> None:
        super().__init__()
        kind = type(inner).__name__
        if not isinstance(inner, CrossEntropy | PoincareLoss | DeviseHingeLoss | CosineLoss):
            raise ValueError(
                f"{kind} cannot leave classes out of training: zero-shot runs need a loss that "
                "ranks the true label against the others (softmax, poincare, devise, cosine, "
                "cosine-ce)"
            )
        seen = torch.as_tensor(seen, dtype=torch.long)
        if seen.numel() < 2 or int(seen.max()) >= num_classes or int(seen.min()) < 0:
            raise ValueError(f"need >= 2 seen classes among {num_classes}, got {seen.tolist()}")
        remap = torch.full((num_classes,), -1, dtype=torch.long)
        remap[seen] = torch.arange(len(seen))
        self.inner = inner
        self.register_buffer("seen", seen)
        self.register_buffer("remap", remap)

    @property
    def label_vectors(self) -> torch.Tensor:
        return self.inner.label_vectors

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.inner.scores(outputs)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        local = self.remap[targets]
        if bool((local < 0).any()):
            raise ValueError("a training batch holds an image of an unseen class")
        inner = self.inner
        if isinstance(inner, CosineCrossEntropyLoss):
            logits = inner.classifier(F.normalize(outputs, dim=-1))[:, self.seen]
            return CosineLoss.forward(inner, outputs, targets) + inner.weight * F.cross_entropy(
                logits, local
            )
        if isinstance(inner, CosineLoss):  # pulls towards the true label only: nothing to mask
            return inner(outputs, targets)
        scores = inner.scores(outputs)[:, self.seen]
        if isinstance(inner, DeviseHingeLoss):
            hinge = (inner.margin - scores.gather(1, local[:, None]) + scores).clamp_min(0.0)
            hinge = hinge.masked_fill(F.one_hot(local, scores.shape[1]).bool(), 0.0)
            return hinge.sum(1).mean()
        smoothing = getattr(inner, "label_smoothing", 0.0)
        return F.cross_entropy(scores, local, label_smoothing=smoothing)
