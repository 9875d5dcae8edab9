"""DeViSE (Frome et al., "DeViSE: A Deep Visual-Semantic Embedding Model", NeurIPS 2013): a
linear map of the image features into a space of text label vectors, trained with a hinge
rank loss on dot products."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from labelspace.models import heads
from labelspace.models.methods.base import LabelVectorLoss
from labelspace.models.methods.registry import Method, register

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.models.options import MethodOptions


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


register(
    Method(
        "devise",
        heads.euclidean,
        DeviseHingeLoss,
        "text",
        "DeViSE: linear map to text label vectors, hinge rank loss (Frome et al. 2013)",
        options=("margin", "trainable_embedding"),
        order=40,
    )
)
