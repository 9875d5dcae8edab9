"""Models: backbones (feature extractors) and heads (logits or label-space outputs)."""

from labelspace.models.backbones import BACKBONES, SmallCNN, create_backbone
from labelspace.models.heads import EmbeddingHead, HyperbolicHead, SoftmaxHead

__all__ = [
    "BACKBONES",
    "EmbeddingHead",
    "HyperbolicHead",
    "SmallCNN",
    "SoftmaxHead",
    "create_backbone",
]
