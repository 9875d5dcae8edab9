"""Training losses: each defines how a method learns, and how it scores and ranks classes.

Every loss derives from :class:`ClassScoreLoss`, an ``nn.Module`` with

- ``forward(outputs, targets)``: the mean loss over the batch; ``targets`` are class positions
  (row ``i`` of the label vectors is class ``i``, which is ``Hierarchy.classes[i]``);
- ``scores(outputs) -> (N, C)``: class scores, higher is better, whose argmax is the
  prediction (logits, similarities, negative distances or class log-probabilities): the one
  definition of the method's score, used in training, evaluation, analysis and prediction;
- ``probabilities(scores)``: class probabilities where the method trains a probability model
  (for calibration, back-off and CRM), else ``None``;
- ``restrict_to(seen)``: zero-shot training, where the competitors of the true class are the
  seen classes only while ``scores`` still covers every class;
- ``num_outputs``: how many numbers the model's head must produce;
- ``from_space(space, options)``: the loss of a method on a label space (the method registry,
  :mod:`labelspace.models.methods`, calls it).

Label vectors are copied and frozen (a buffer) unless ``trainable=True``, in which case they
are a parameter (a geoopt ``ManifoldParameter`` on the Poincaré ball, so that the optimiser
takes Riemannian steps and keeps them inside the ball). Losses with parameters need them in
the optimiser: optimise ``[*model.parameters(), *loss.parameters()]``.

Where a loss needs a tree but WordNet gives a DAG, each node keeps the one parent that
:meth:`Hierarchy.path_to_root` follows (the deepest parent, ties to the lower index).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.embeddings.geometry import project
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy
from labelspace.models.decode import score_labels

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.models.options import MethodOptions


class ClassScoreLoss(nn.Module):
    """Base class: a training criterion that also owns the method's class scores."""

    geometry: ClassVar[str] = "logits"  # how outputs become scores (models.decode.GEOMETRIES)
    trains_on_seen_only: ClassVar[bool] = True  # False: the loss needs every class's images
    # a loss with several ways to score classes names them here; the training module measures
    # each on the validation set after every epoch and keeps the best (choose_decoder)
    decoders: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("seen", None)  # zero-shot: the classes trained on, else None
        self.register_buffer("remap", None)  # class position -> position among the seen

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> ClassScoreLoss:
        """The loss of a method on ``space`` with ``options`` (see the method registry)."""
        raise NotImplementedError

    @property
    def num_outputs(self) -> int:
        """How many numbers the head must produce per image."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """How many classes :meth:`scores` ranks."""
        raise NotImplementedError

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, C)``, higher is better."""
        return outputs

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor | None:
        """Class probabilities from :meth:`scores`, or ``None`` where none are trained."""
        return None

    @property
    def scores_are_logits(self) -> bool:
        """Whether :meth:`scores` are logits, comparable between classes of one image only,
        rather than distances or similarities in a label space, comparable between images."""
        return self.geometry == "logits"

    def embedded(self, outputs: torch.Tensor) -> torch.Tensor:
        """The part of the head's outputs that lies in the label space (all of it here)."""
        return outputs

    def decoder_scores(self, outputs: torch.Tensor) -> list[torch.Tensor]:
        """Class scores of each of :attr:`decoders`, in that order (none here)."""
        return []

    def choose_decoder(self, index: int) -> None:
        """Decode with ``decoders[index]`` from now on (saved with the weights)."""
        raise NotImplementedError(f"{type(self).__name__} has one way to score classes")

    def restrict_to(self, seen: Sequence[int], num_classes: int) -> ClassScoreLoss:
        """Zero-shot training: rank the true class against the ``seen`` classes only.

        A loss that ranks the true label against the others would otherwise push every image
        away from the unseen labels it never saw, which is exactly the knowledge zero-shot
        recognition needs. :meth:`scores` still covers every class, so decoding can reach the
        unseen ones.
        """
        if not self.trains_on_seen_only:
            raise InputError(
                f"{type(self).__name__} cannot leave classes out of training: zero-shot runs "
                "need a loss that ranks the true label against the others (softmax, poincare, "
                "devise, cosine, cosine-ce)"
            )
        seen_ids = torch.as_tensor(list(seen), dtype=torch.long)
        if seen_ids.numel() < 2 or int(seen_ids.max()) >= num_classes or int(seen_ids.min()) < 0:
            raise InputError(f"need >= 2 seen classes among {num_classes}, got {seen_ids.tolist()}")
        remap = torch.full((num_classes,), -1, dtype=torch.long)
        remap[seen_ids] = torch.arange(len(seen_ids))
        self.seen, self.remap = seen_ids, remap
        return self

    def seen_only(
        self, scores: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The score columns and target positions of the seen classes (all when unrestricted)."""
        if self.seen is None:
            return scores, targets
        # no per-batch check (it would make every step wait for the device): the data module
        # leaves the unseen classes' images out of training and validation, checked once there
        return scores[:, self.seen], self.remap[targets]


class SoftmaxLoss(ClassScoreLoss):
    """A loss on one logit per class: scores are the logits, probabilities their softmax."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self._num_classes = num_classes

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_outputs(self) -> int:
        return self._num_classes

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.softmax(-1)


def _as_label_tensor(label_vectors: torch.Tensor | np.ndarray) -> torch.Tensor:
    vectors = torch.as_tensor(label_vectors, dtype=torch.float32).detach().clone()
    if vectors.ndim != 2 or vectors.shape[0] < 1:
        raise ValueError(f"label vectors must be a (C, D) matrix, got shape {tuple(vectors.shape)}")
    return vectors


class LabelVectorLoss(ClassScoreLoss):
    """A loss on outputs in a label space: scores compare the output with every label vector
    under the loss's :attr:`geometry` (:func:`labelspace.models.decode.score_labels`)."""

    label_vectors: torch.Tensor
    curvature: float = 0.0

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

    @property
    def num_outputs(self) -> int:
        return self.dim

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return score_labels(outputs, self.label_vectors, self.geometry, self.curvature)


# --------------------------------------------------------------------------- softmax baseline
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


# --------------------------------------------------------------------------- DeViSE
class DeviseHingeLoss(LabelVectorLoss):
    """DeViSE ranking hinge loss (Frome et al., "DeViSE: A Deep Visual-Semantic Embedding
    Model", NeurIPS 2013).

    With scores ``s = outputs @ labels.T``: ``sum_{j != y} max(0, margin - s_y + s_j)``. The
    label vectors are used as given (Frome et al. unit-normalise them beforehand).
    """

    geometry = "dot"

    def __init__(
        self,
        label_vectors: torch.Tensor | np.ndarray,
        margin: float = 0.1,
        trainable: bool = False,
    ) -> None:
        super().__init__(label_vectors, trainable)
        self.margin = margin

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> DeviseHingeLoss:
        return cls(space.class_vectors, options.margin, options.trainable_embedding)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        s, targets = self.seen_only(self.scores(outputs), targets)
        s_true = s.gather(1, targets[:, None])
        hinge = (self.margin - s_true + s).clamp_min(0.0)
        hinge = hinge.masked_fill(F.one_hot(targets, s.shape[1]).bool(), 0.0)
        return hinge.sum(1).mean()


# --------------------------------------------------------------------------- cosine losses
class CosineLoss(LabelVectorLoss):
    """``1 - cos(output, label_y)`` (Barz & Denzler, "Hierarchy-based Image Embeddings for
    Semantic Image Retrieval", WACV 2019). Predictions are the most cosine-similar labels.

    It pulls each output towards its own label only, so zero-shot training has nothing to
    leave out."""

    geometry = "cosine"

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> CosineLoss:
        return cls(space.class_vectors, trainable=options.trainable_embedding)

    def cosine_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (1.0 - F.cosine_similarity(outputs, self.label_vectors[targets], dim=-1)).mean()

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.cosine_loss(outputs, targets)


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

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> CosineCrossEntropyLoss:
        return cls(
            space.class_vectors, weight=options.ce_weight, trainable=options.trainable_embedding
        )

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, local = self.seen_only(self.classifier(F.normalize(outputs, dim=-1)), targets)
        return self.cosine_loss(outputs, targets) + self.weight * F.cross_entropy(logits, local)


class FrameLoss(CosineLoss):
    """Cross-entropy over ``scale x cos(output, w_c)`` with the class vectors ``w`` fixed to a
    hierarchy-aware frame: unit vectors whose cosines follow the hierarchy.

    With the sphere embedding (Barz & Denzler, WACV 2019) as the frame, ``cos(w_i, w_j) =
    1 - height(LCA(i, j)) / max height``, so the classifier's weights encode the hierarchy and
    are not learnt: the idea of HAFrame (Liang & Davis, "Inducing Neural Collapse to a Fixed
    Hierarchy-Aware Frame for Reducing Mistake Severity", ICCV 2023), whose own frame and
    auxiliary cosine loss differ. ``scale`` is the inverse temperature of the cosine softmax
    (NormFace, Wang et al. 2017): cosines lie in [-1, 1], so without it the softmax could not
    become confident. Scores are the cosines; probabilities the scaled softmax.
    """

    def __init__(
        self, label_vectors: torch.Tensor | np.ndarray, scale: float = 16.0, trainable=False
    ) -> None:
        super().__init__(label_vectors, trainable)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> FrameLoss:
        return cls(space.class_vectors, options.scale, options.trainable_embedding)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return (self.scale * scores).softmax(-1)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, local = self.seen_only(self.scale * self.scores(outputs), targets)
        return F.cross_entropy(logits, local)


# --------------------------------------------------------------------------- Poincaré ball
class PoincareLoss(LabelVectorLoss):
    """Cross-entropy over ``-d(output, label_j) / temperature`` with the Poincaré distance.

    The distance-based softmax of hyperbolic prototype classifiers (e.g. Khrulkov et al.,
    "Hyperbolic Image Embeddings", CVPR 2020; Long et al., "Searching for Actions on the
    Hyperbole", CVPR 2020). ``outputs`` must lie in the ball of curvature ``-curvature``
    (see :class:`~labelspace.models.heads.HyperbolicHead`). The scores are ``-d``; the
    temperature enters once, in :meth:`logits`, which both the loss and the probabilities use.
    Trainable labels are a geoopt ``ManifoldParameter`` on the ball: a Riemannian optimiser
    (:func:`labelspace.training.module.build_optimizer`) steps along the ball's geometry.
    """

    geometry = "poincare"

    def __init__(
        self,
        label_vectors: torch.Tensor | np.ndarray,
        curvature: float = 1.0,
        temperature: float = 0.1,
        trainable: bool = False,
    ) -> None:
        super().__init__(label_vectors, trainable=False)
        if curvature <= 0 or temperature <= 0:
            raise ValueError("curvature and temperature must be positive")
        self.curvature = curvature
        self.temperature = temperature
        if trainable:
            import geoopt

            points = project(self.label_vectors, curvature)
            del self.label_vectors  # the buffer becomes a point on the manifold
            self.label_vectors = geoopt.ManifoldParameter(
                points, manifold=geoopt.PoincareBall(c=curvature)
            )

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> PoincareLoss:
        return cls(
            poincare_class_points(space, options.label_radius),
            curvature=space.curvature,
            temperature=options.temperature,
            trainable=options.trainable_embedding,
        )

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        labels = project(self.label_vectors, self.curvature)
        return score_labels(outputs, labels, self.geometry, self.curvature)

    def logits(self, scores: torch.Tensor) -> torch.Tensor:
        """``-d / T``: the logits of the distance softmax."""
        return scores / self.temperature

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return self.logits(scores).softmax(-1)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, targets = self.seen_only(self.logits(self.scores(outputs)), targets)
        return F.cross_entropy(logits, targets)


class JointLoss(ClassScoreLoss):
    """Cross-entropy on class logits plus ``weight`` x the Poincaré prototype loss on a ball
    point computed from the same backbone features (:class:`~labelspace.models.heads.JointHead`).

    The cross-entropy keeps the flat classifier's accuracy; the prototype term pulls the shared
    features into the hierarchy's geometry, so that the features, and with them the linear
    head's mistakes, follow the hierarchy (the idea of hierarchy-aware feature losses such as
    HAF, Garg et al., ECCV 2022, with the distance softmax of :class:`PoincareLoss` as the
    auxiliary). It can decode with either head (:attr:`decoders`): after every epoch the
    training module measures validation top-1 with both and keeps the better, the linear one
    on ties, so the choice is made on validation and never on test. Zero-shot runs always
    decode with the ball, the only head that can score a class it never saw.
    """

    geometry = "poincare"  # of the label-space part of the outputs (:meth:`embedded`)
    decoders = ("linear", "poincare")

    def __init__(
        self,
        label_vectors: torch.Tensor | np.ndarray,
        curvature: float = 1.0,
        temperature: float = 0.1,
        weight: float = 1.0,
    ) -> None:
        super().__init__()
        if not weight >= 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.prototypes = PoincareLoss(label_vectors, curvature, temperature)
        self.weight = weight
        self.register_buffer("decoder", torch.zeros((), dtype=torch.long))  # index in decoders

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> JointLoss:
        return cls(
            poincare_class_points(space, options.label_radius),
            curvature=space.curvature,
            temperature=options.temperature,
            weight=options.prototype_weight,
        )

    @property
    def curvature(self) -> float:
        return self.prototypes.curvature

    @property
    def label_vectors(self) -> torch.Tensor:
        return self.prototypes.label_vectors

    @property
    def num_classes(self) -> int:
        return self.prototypes.num_classes

    @property
    def num_outputs(self) -> int:
        return self.num_classes + self.prototypes.dim

    def split(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's outputs as (class logits, ball point)."""
        return outputs[..., : self.num_classes], outputs[..., self.num_classes :]

    @property
    def scores_are_logits(self) -> bool:
        return self.decoders[int(self.decoder)] == "linear"

    def embedded(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.split(outputs)[1]

    def decoder_scores(self, outputs: torch.Tensor) -> list[torch.Tensor]:
        logits, points = self.split(outputs)
        return [logits, self.prototypes.scores(points)]

    def choose_decoder(self, index: int) -> None:
        if self.seen is not None:  # zero-shot: only the ball scores the unseen classes
            index = self.decoders.index("poincare")
        self.decoder.fill_(int(index))

    def restrict_to(self, seen: Sequence[int], num_classes: int) -> JointLoss:
        super().restrict_to(seen, num_classes)
        self.prototypes.restrict_to(seen, num_classes)
        self.choose_decoder(0)
        return self

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        # both are cheap; selecting on the device keeps evaluation free of host syncs
        linear, ball = self.decoder_scores(outputs)
        return torch.where(self.decoder.bool(), ball, linear)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        on_ball = bool(self.decoder)
        return (scores / self.prototypes.temperature if on_ball else scores).softmax(-1)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, points = self.split(outputs)
        logits, local = self.seen_only(logits, targets)
        return F.cross_entropy(logits, local) + self.weight * self.prototypes(points, targets)


def poincare_class_points(
    space: LabelSpace, label_radius: float | None, vectors: torch.Tensor | None = None
) -> torch.Tensor:
    """The class points a Poincaré head aims at (or, with ``vectors``, other points of the same
    embedding moved as the classes were: open-vocabulary candidates).

    A Poincaré embedding of a hierarchy pushes its leaves (the classes) to the edge of the
    ball, tens of units from the origin, where an image head cannot follow (``clip_r`` keeps
    its outputs within 2 x clip_r of the origin) and the softmax over distances saturates.
    Moving the points along their rays so that the farthest class lies ``label_radius`` from
    the origin keeps the hierarchy's directions and the order of generality, and puts every
    class within reach. ``label_radius=None`` uses the embedding as it is.
    """
    from labelspace.embeddings.geometry import radius_factor, scale_in_tangent_space

    classes = space.class_vectors
    points = classes if vectors is None else vectors
    if label_radius is None:
        return points
    c = space.curvature
    factor = radius_factor(classes, label_radius, c)
    return scale_in_tangent_space(points.double(), factor, c).float()


# --------------------------------------------------------------------------- hierarchy-aware
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


def _class_paths(hierarchy: Hierarchy) -> list[list[int]]:
    """Node indices of each class's :meth:`~Hierarchy.path_to_root` (class first, root last)."""
    index = hierarchy.index
    return [[index[n] for n in hierarchy.path_to_root(c)] for c in hierarchy.classes]


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

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> HierarchicalCrossEntropy:
        return cls(space.hierarchy, alpha=options.alpha)


def depth_levels(hierarchy: Hierarchy) -> list[np.ndarray]:
    """The hierarchy cut at each depth: for depth d, every class's ancestor at depth d on its
    :meth:`~Hierarchy.path_to_root` (the class itself where its path is shorter), as a group
    index per class. Cuts that group nothing new (the same partition as the depth above, one
    group for all, or every class alone) are left out.

    Each path steps from a node to the same parent whichever class it belongs to, so every cut
    refines the one above: two cuts are the same partition exactly when they have as many
    groups (their group labels, ordered by node index, may differ)."""
    paths = [path[::-1] for path in _class_paths(hierarchy)]  # root first
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
