"""Methods: which head, loss, label embedding and decoding geometry go together.

A method is the unit ``labelspace train --method`` and ``labelspace compare`` speak of. Each
pairs a head (what the network outputs), a loss (how the output is pulled towards the label)
and a decoding rule (how an output becomes a class: largest logit or nearest label under the
embedding's own geometry).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from labelspace.embeddings.space import LabelSpace
from labelspace.models.decode import label_scores


@dataclass(frozen=True)
class Method:
    """A named recipe: head + loss + default label embedding + decoding geometry."""

    name: str
    head: str  # softmax | embedding | cosine | hyperbolic | hsoftmax
    loss: str  # a key of labelspace.models.losses.LOSSES
    embedding: str | None  # default label-embedding kind, None when no label vectors are used
    geometry: str  # decoding geometry (labelspace.models.decode.GEOMETRIES)
    summary: str

    @property
    def uses_embedding(self) -> bool:
        return self.embedding is not None


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("softmax", "softmax", "ce", None, "logits", "plain softmax + cross-entropy"),
        Method(
            "poincare",
            "hyperbolic",
            "poincare",
            "poincare",
            "poincare",
            "Poincaré ball head, softmax over -distance/T to the hierarchy's label points",
        ),
        Method(
            "devise",
            "embedding",
            "devise",
            "text",
            "dot",
            "DeViSE: linear map to text label vectors, hinge rank loss (Frome et al. 2013)",
        ),
        Method(
            "cosine",
            "cosine",
            "cosine",
            "sphere",
            "cosine",
            "cosine loss to hierarchy-based sphere embedding (Barz & Denzler 2019)",
        ),
        Method(
            "cosine-ce",
            "cosine",
            "cosine-ce",
            "sphere",
            "cosine",
            "cosine loss + 0.1 x cross-entropy (Barz & Denzler 2019)",
        ),
        Method(
            "soft-labels",
            "softmax",
            "soft-labels",
            None,
            "logits",
            "softmax with hierarchy-aware soft labels (Bertinetto et al. 2020)",
        ),
        Method(
            "hxe",
            "softmax",
            "hxe",
            None,
            "logits",
            "hierarchical cross-entropy (Bertinetto et al. 2020)",
        ),
        Method(
            "hsoftmax",
            "hsoftmax",
            "hsoftmax",
            None,
            "logits",
            "YOLO9000 hierarchical softmax over the WordTree (Redmon & Farhadi 2017)",
        ),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


@dataclass(frozen=True)
class MethodOptions:
    """Knobs of the heads and losses (recorded in the run's config)."""

    temperature: float = 0.1  # Poincaré loss
    clip_r: float = 2.3  # hyperbolic head feature clipping
    label_radius: float | None = 3.0  # Poincaré labels: farthest class at this distance from 0
    margin: float = 0.1  # DeViSE hinge
    beta: float = 4.0  # soft labels
    alpha: float = 0.1  # hierarchical cross-entropy
    ce_weight: float = 0.1  # cosine + cross-entropy
    trainable_embedding: bool = False


def build_head(method: Method, in_features: int, space: LabelSpace, opts: MethodOptions):
    """The output layer for ``method`` on top of ``in_features`` backbone features."""
    from labelspace.models.heads import EmbeddingHead, HyperbolicHead, SoftmaxHead

    if method.head == "softmax":
        return SoftmaxHead(in_features, space.num_classes)
    if method.head == "hsoftmax":
        from labelspace.models.losses import HierarchicalSoftmax

        return SoftmaxHead(in_features, HierarchicalSoftmax(space.hierarchy).num_outputs)
    dim = space.class_vectors.shape[1]
    if method.head == "embedding":
        return EmbeddingHead(in_features, dim, normalize=False)
    if method.head == "cosine":
        return EmbeddingHead(in_features, dim, normalize=True)
    if method.head == "hyperbolic":
        return HyperbolicHead(in_features, dim, curvature=space.curvature, clip_r=opts.clip_r)
    raise ValueError(f"unknown head {method.head!r}")


def build_loss(method: Method, space: LabelSpace, opts: MethodOptions) -> nn.Module:
    """The training criterion of ``method`` (a module: some losses own parameters)."""
    from labelspace.models import losses

    vectors = space.class_vectors if method.uses_embedding else None
    trainable = opts.trainable_embedding
    match method.loss:
        case "ce":
            return losses.CrossEntropy()
        case "devise":
            return losses.DeviseHingeLoss(vectors, margin=opts.margin, trainable=trainable)
        case "cosine":
            return losses.CosineLoss(vectors, trainable=trainable)
        case "cosine-ce":
            return losses.CosineCrossEntropyLoss(
                vectors,
                in_dim=vectors.shape[1],
                num_classes=space.num_classes,
                weight=opts.ce_weight,
                trainable=trainable,
            )
        case "poincare":
            return losses.PoincareLoss(
                poincare_class_points(space, opts),
                curvature=space.curvature,
                temperature=opts.temperature,
                trainable=trainable,
            )
        case "soft-labels":
            return losses.SoftLabelLoss(space.lca_height, beta=opts.beta)
        case "hxe":
            return losses.HierarchicalCrossEntropy(space.hierarchy, alpha=opts.alpha)
        case "hsoftmax":
            return losses.HierarchicalSoftmax(space.hierarchy)
    raise ValueError(f"unknown loss {method.loss!r}")


def poincare_class_points(space: LabelSpace, opts: MethodOptions) -> torch.Tensor:
    """The class points a Poincaré head aims at.

    A Poincaré embedding of a hierarchy pushes its leaves (the classes) to the edge of the
    ball, tens of units from the origin, where an image head cannot follow (``clip_r`` keeps
    its outputs within 2 x clip_r of the origin) and the softmax over distances saturates.
    Moving the points along their rays so that the farthest class lies ``label_radius`` from
    the origin keeps the hierarchy's directions and the order of generality, and puts every
    class within reach. ``label_radius=None`` uses the embedding as it is.
    """
    from labelspace.embeddings.geometry import radius_factor, scale_in_tangent_space

    vectors = space.class_vectors
    if opts.label_radius is None:
        return vectors
    c = space.curvature
    factor = radius_factor(space.class_vectors, opts.label_radius, c)
    return scale_in_tangent_space(vectors.double(), factor, c).float()


def class_scores(
    method: Method, criterion: nn.Module, outputs: torch.Tensor, curvature: float
) -> torch.Tensor:
    """Per-class scores (higher is better) from the head's outputs, ``(N, C)``."""
    if method.loss == "hsoftmax":
        return criterion.class_log_probs(outputs)
    if method.geometry == "logits":
        return outputs
    return label_scores(outputs, criterion.label_vectors, method.geometry, curvature=curvature)


def class_probabilities(
    method: Method, criterion: nn.Module, scores: torch.Tensor, opts: MethodOptions
) -> torch.Tensor | None:
    """Probabilities where the method defines them (for calibration), else ``None``.

    Softmax-trained methods: softmax of the logits; hierarchical softmax: its class
    probabilities; Poincaré: the softmax over -distance / T it was trained with. DeViSE and
    the cosine losses train no probability model, so none is claimed for them.
    """
    if method.loss == "hsoftmax":
        return scores.exp()
    if method.geometry == "logits":
        return scores.softmax(-1)
    if method.loss == "poincare":
        return (scores / opts.temperature).softmax(-1)
    return None
