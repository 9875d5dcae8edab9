"""The method registry: which head, loss, label embedding and decoding go together.

A method is the unit ``labelspace train --method`` and ``labelspace compare`` speak of. Each
entry of :data:`METHODS` pairs a head factory (what the network outputs), a loss class (how
the output is pulled towards the label, and how outputs become class scores and
probabilities) and the label-embedding kind it uses by default. Adding a method is one new
entry here; everything downstream (training, evaluation, analysis, reports, the CLI) reads
the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from labelspace.embeddings.space import LabelSpace
from labelspace.errors import InputError
from labelspace.models import heads
from labelspace.models.losses import (
    ClassScoreLoss,
    CosineCrossEntropyLoss,
    CosineLoss,
    CrossEntropy,
    DeviseHingeLoss,
    FrameLoss,
    HAFLoss,
    HierarchicalCrossEntropy,
    HierarchicalSoftmax,
    JointLoss,
    PoincareLoss,
    SoftLabelLoss,
)
from labelspace.models.options import MethodOptions

HeadFactory = Callable[[int, ClassScoreLoss, MethodOptions], nn.Module]


@dataclass(frozen=True)
class Method:
    """A named recipe: head factory + loss class + default label embedding."""

    name: str
    head: HeadFactory  # (backbone features, the built loss, options) -> head module
    loss: type[ClassScoreLoss]
    embedding: str | None  # default label-embedding kind; None: no label vectors are used
    summary: str

    @property
    def uses_embedding(self) -> bool:
        return self.embedding is not None

    @property
    def geometry(self) -> str:
        """How the head's outputs are compared with labels (models.decode.GEOMETRIES)."""
        return self.loss.geometry

    @property
    def has_probabilities(self) -> bool:
        """Whether the loss trains a probability model (softmax over classes)."""
        return self.loss.probabilities is not ClassScoreLoss.probabilities

    def build(
        self, in_features: int, space: LabelSpace, options: MethodOptions
    ) -> tuple[nn.Module, ClassScoreLoss]:
        """The head on top of ``in_features`` backbone features, and the training loss."""
        loss = self.loss.from_space(space, options)
        return self.head(in_features, loss, options), loss


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("softmax", heads.linear, CrossEntropy, None, "plain softmax + cross-entropy"),
        Method(
            "poincare",
            heads.hyperbolic,
            PoincareLoss,
            "poincare",
            "Poincaré ball head, softmax over -distance/T to the hierarchy's label points",
        ),
        Method(
            "joint",
            heads.joint,
            JointLoss,
            "poincare",
            "cross-entropy on a linear head + the Poincaré prototype loss on the same features; "
            "decodes with the head that is better on validation",
        ),
        Method(
            "devise",
            heads.euclidean,
            DeviseHingeLoss,
            "text",
            "DeViSE: linear map to text label vectors, hinge rank loss (Frome et al. 2013)",
        ),
        Method(
            "cosine",
            heads.unit_sphere,
            CosineLoss,
            "sphere",
            "cosine loss to hierarchy-based sphere embedding (Barz & Denzler 2019)",
        ),
        Method(
            "cosine-ce",
            heads.unit_sphere,
            CosineCrossEntropyLoss,
            "sphere",
            "cosine loss + 0.1 x cross-entropy (Barz & Denzler 2019)",
        ),
        Method(
            "frame",
            heads.unit_sphere,
            FrameLoss,
            "sphere",
            "softmax over scaled cosines to a fixed hierarchy-aware frame (cf. HAFrame, Liang "
            "& Davis 2023)",
        ),
        Method(
            "haf",
            heads.haf,
            HAFLoss,
            None,
            "HAF: cross-entropy + coarse-level consistency and margin losses on unit-weight "
            "classifiers (Garg et al. 2022)",
        ),
        Method(
            "soft-labels",
            heads.linear,
            SoftLabelLoss,
            None,
            "softmax with hierarchy-aware soft labels (Bertinetto et al. 2020)",
        ),
        Method(
            "hxe",
            heads.linear,
            HierarchicalCrossEntropy,
            None,
            "hierarchical cross-entropy (Bertinetto et al. 2020)",
        ),
        Method(
            "hsoftmax",
            heads.linear,
            HierarchicalSoftmax,
            None,
            "YOLO9000 hierarchical softmax over the WordTree (Redmon & Farhadi 2017)",
        ),
    )
}


def get_method(name: str) -> Method:
    """The registered method called ``name``; a clear error naming the others if none is."""
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
