"""Poincaré methods: image features mapped onto the Poincaré ball and classified by their
distance to the hierarchy's class points there.

``poincare`` is the distance softmax of hyperbolic prototype classifiers; ``joint`` adds that
loss, on a ball point of the same features, to a linear softmax head's cross-entropy and
decodes with whichever head is better on validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.embeddings.geometry import expmap0, radius_factor, scale_in_tangent_space
from labelspace.models.heads import SoftmaxHead
from labelspace.models.methods.base import ClassScoreLoss, LabelVectorLoss
from labelspace.models.methods.registry import Method, register

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.models.options import MethodOptions


class HyperbolicHead(nn.Module):
    """Linear projection, feature clipping, then the exponential map onto the Poincaré ball.

    Clipping follows Guo et al., "Clipped Hyperbolic Classifiers Are Super-Hyperbolic
    Classifiers" (CVPR 2022): the Euclidean vector is rescaled to norm at most ``clip_r``
    before :func:`~labelspace.embeddings.geometry.expmap0`. Outputs therefore stay at norm
    ``<= tanh(sqrt(c) * clip_r) / sqrt(c)``, away from the boundary where gradients vanish,
    and are finite and inside the ball for any finite input.
    """

    def __init__(
        self, in_features: int, dim: int, curvature: float = 1.0, clip_r: float = 2.3
    ) -> None:
        super().__init__()
        if curvature <= 0:
            raise ValueError(f"curvature must be positive, got {curvature}")
        self.linear = nn.Linear(in_features, dim)
        self.curvature = curvature
        self.clip_r = clip_r

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        v = self.linear(features)
        norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-15)
        v = v * (self.clip_r / norm).clamp(max=1.0)
        return expmap0(v, self.curvature)


class JointHead(nn.Module):
    """Class logits and a point of the Poincaré ball from the same features, concatenated.

    The joint loss (:class:`JointLoss`) trains both: cross-entropy
    on the logits, the distance softmax to the hierarchy's class points on the ball point.
    One tensor out keeps every caller (training, evaluation, attacks) unchanged; the loss
    splits it.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        dim: int,
        curvature: float = 1.0,
        clip_r: float = 2.3,
    ) -> None:
        super().__init__()
        self.logits = SoftmaxHead(in_features, num_classes)
        self.ball = HyperbolicHead(in_features, dim, curvature, clip_r)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.logits(features), self.ball(features)], dim=-1)


def hyperbolic_head(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Points of the loss's Poincaré ball, clipped at ``options.clip_r``."""
    curvature = getattr(loss, "curvature", 1.0)
    return HyperbolicHead(in_features, loss.num_outputs, curvature, options.clip_r)


def joint_head(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Class logits and a Poincaré ball point side by side (:class:`JointHead`)."""
    curvature = getattr(loss, "curvature", 1.0)
    dim = loss.num_outputs - loss.num_classes
    return JointHead(in_features, loss.num_classes, dim, curvature, options.clip_r)


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
        if curvature <= 0:
            raise ValueError(f"curvature must be positive, got {curvature}")
        self.curvature = curvature
        self.temperature = temperature
        if trainable:
            import geoopt

            ball = self.label_geometry
            points = ball.project(self.label_vectors)
            del self.label_vectors  # the buffer becomes a point on the manifold
            self.label_vectors = geoopt.ManifoldParameter(points, manifold=ball.manifold)

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> PoincareLoss:
        return cls(**_ball_arguments(space, options), trainable=options.trainable_embedding)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        ball = self.label_geometry
        return ball.scores(outputs, ball.project(self.label_vectors))

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
        self.prototypes = PoincareLoss(label_vectors, curvature, temperature)
        self.weight = weight
        self.register_buffer("decoder", torch.zeros((), dtype=torch.long))  # index in decoders

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> JointLoss:
        return cls(**_ball_arguments(space, options), weight=options.prototype_weight)

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
    classes = space.class_vectors
    points = classes if vectors is None else vectors
    if label_radius is None:
        return points
    c = space.curvature
    factor = radius_factor(classes, label_radius, c)
    return scale_in_tangent_space(points.double(), factor, c).float()


def _ball_arguments(space: LabelSpace, options: MethodOptions) -> dict[str, Any]:
    """The class points, curvature and temperature of the distance softmax on ``space``."""
    return {
        "label_vectors": poincare_class_points(space, options.label_radius),
        "curvature": space.curvature,
        "temperature": options.temperature,
    }


def _label_points(
    space: LabelSpace, options: MethodOptions, vectors: torch.Tensor | None
) -> torch.Tensor:
    return poincare_class_points(space, options.label_radius, vectors)


register(
    Method(
        "poincare",
        hyperbolic_head,
        PoincareLoss,
        "poincare",
        "Poincaré ball head, softmax over -distance/T to the hierarchy's label points",
        options=("temperature", "clip_r", "label_radius", "trainable_embedding"),
        order=20,
        divergence_hint="raise --temperature",
        label_points=_label_points,
    )
)
register(
    Method(
        "joint",
        joint_head,
        JointLoss,
        "poincare",
        "cross-entropy on a linear head + the Poincaré prototype loss on the same features; "
        "decodes with the head that is better on validation",
        options=("temperature", "clip_r", "label_radius", "prototype_weight"),
        order=30,
        label_points=_label_points,
    )
)
