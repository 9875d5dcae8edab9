"""Cosine methods: unit-vector outputs compared with a sphere label embedding by cosine.

``cosine`` and ``cosine-ce`` follow Barz & Denzler ("Hierarchy-based Image Embeddings for
Semantic Image Retrieval", WACV 2019); ``frame`` is a softmax over scaled cosines to the same
vectors held fixed, a hierarchy-aware frame (cf. HAFrame, Liang & Davis, ICCV 2023).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.models import heads
from labelspace.models.methods.base import LabelVectorLoss
from labelspace.models.methods.registry import Method, register

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.models.options import MethodOptions


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
        self, label_vectors: torch.Tensor | np.ndarray, scale: float = 16.0, trainable: bool = False
    ) -> None:
        super().__init__(label_vectors, trainable)
        self.scale = scale  # checked by MethodOptions.validate

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> FrameLoss:
        return cls(space.class_vectors, options.scale, options.trainable_embedding)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return (self.scale * scores).softmax(-1)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, local = self.seen_only(self.scale * self.scores(outputs), targets)
        return F.cross_entropy(logits, local)


register(
    Method(
        "cosine",
        heads.unit_sphere,
        CosineLoss,
        "sphere",
        "cosine loss to hierarchy-based sphere embedding (Barz & Denzler 2019)",
        options=("trainable_embedding",),
        order=50,
    )
)
register(
    Method(
        "cosine-ce",
        heads.unit_sphere,
        CosineCrossEntropyLoss,
        "sphere",
        "cosine loss + 0.1 x cross-entropy (Barz & Denzler 2019)",
        options=("ce_weight", "trainable_embedding"),
        order=60,
    )
)
register(
    Method(
        "frame",
        heads.unit_sphere,
        FrameLoss,
        "sphere",
        "softmax over scaled cosines to a fixed hierarchy-aware frame (cf. HAFrame, Liang "
        "& Davis 2023)",
        options=("scale", "trainable_embedding"),
        order=70,
    )
)
